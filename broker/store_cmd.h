/* broker/store_cmd.h: the `ringmq store` command (store_cmd.c). */
#ifndef RMQ_STORE_CMD_H
#define RMQ_STORE_CMD_H

/* Run `ringmq store ...` (argv[1] is "store"); returns the exit status:
 * 0 the directory is sound, 1 it is not (the message names the path and
 * the problem), 2 a usage error. */
int rmq_store_command(int argc, char **argv);

#endif
