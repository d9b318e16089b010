/* broker/ops/sys.h: the $SYS/broker/... topics: the node's state published as
 * retained messages every sys_interval seconds, the way Mosquitto does, so
 * that MQTT tools can read it without the HTTP endpoint. */
#ifndef RMQ_SYS_H
#define RMQ_SYS_H

struct rmq_worker;

/* Publish the $SYS topics if they are due; called from worker 0's tick. */
void rmq_sys_tick(struct rmq_worker *w);

#endif
