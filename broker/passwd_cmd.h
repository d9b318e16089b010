/* broker/passwd_cmd.h: the `ringmq passwd` command (passwd_cmd.c). */
#ifndef RMQ_PASSWD_CMD_H
#define RMQ_PASSWD_CMD_H

/* Run `ringmq passwd ...` (argv[1] is "passwd"); returns the exit
 * status. */
int rmq_passwd_command(int argc, char **argv);

#endif
