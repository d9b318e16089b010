/* broker/ctl_cmd.h: the `ringmq ctl` command (ctl_cmd.c). */
#ifndef RMQ_CTL_CMD_H
#define RMQ_CTL_CMD_H

/* Run `ringmq ctl ...` (argv[1] is "ctl"); returns the exit status. */
int rmq_ctl_command(int argc, char **argv);

#endif
