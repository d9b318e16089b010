/* broker/process.h: what ringmq does as a Unix service for its operator,
 * as Mosquitto does: the pid file (pid_file) and giving up root for
 * `user` once its sockets are bound.  Main thread, at start and exit. */
#ifndef RMQ_PROCESS_H
#define RMQ_PROCESS_H

#ifndef RMQ_LAYER_TOP
#error "process.h is for the top layer (main, tests) only"
#endif

#include <stddef.h>
#include <sys/types.h>

/* The user a process started as root becomes (config.h's `user`). */
struct rmq_process_user {
	char name[64];
	uid_t uid;
	gid_t gid;
};

/* Look `name` up, before anything is bound, so that a user that does not
 * exist stops the start at once.  Returns 1 when there is something to
 * do (root, and a name), 0 when not (no name, or not root: the setting
 * is not used, as in Mosquitto), or -1 with the reason in err. */
int rmq_process_user_find(const char *name, struct rmq_process_user *u,
    char *err, size_t errlen);

/* Become u: its group, its supplementary groups, then its uid
 * (setgid, initgroups, setuid; glibc changes every thread's), and check
 * that root cannot be taken back.  Returns 0 or a negative errno with
 * the failed call in err. */
int rmq_process_user_become(const struct rmq_process_user *u, char *err,
    size_t errlen);

/* Write this process's id and a newline to path (created 0644 or
 * truncated).  Returns 0 or a negative errno with the reason in err. */
int rmq_process_pid_write(const char *path, char *err, size_t errlen);

/* Remove the pid file; returns 0 or a negative errno. */
int rmq_process_pid_remove(const char *path);

#endif
