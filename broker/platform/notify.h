/* broker/platform/notify.h: telling a service manager how the process
 * stands (systemd's sd_notify protocol), when one asked to be told.
 */
#ifndef RMQ_NOTIFY_H
#define RMQ_NOTIFY_H

/* Sends STATE (newline-separated assignments, "READY=1",
 * "RELOADING=1", "STOPPING=1", "STATUS=...") to the socket named by
 * $NOTIFY_SOCKET.  0 when sent, 1 when no manager listens (no
 * NOTIFY_SOCKET: nothing to do), -errno when sending failed. */
int rmq_notify(const char *state);

/* RELOADING=1 with the CLOCK_MONOTONIC time systemd wants beside it
 * (MONOTONIC_USEC), for a reload that starts now. */
int rmq_notify_reloading(void);

#endif
