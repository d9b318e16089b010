/* broker/platform/notify.c: systemd's readiness notification (notify.h).
 *
 * A unit of Type=notify starts the broker with NOTIFY_SOCKET naming a
 * datagram socket (a path, or "@name" in the abstract namespace); the
 * broker sends it "READY=1" once it listens, "RELOADING=1" and
 * "READY=1" around a SIGHUP reload, and "STOPPING=1" when it drains.
 * The protocol is one sendmsg() of text; systemd documents it as stable
 * and meant to be spoken without libsystemd, which RingMQ therefore does
 * not link.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

int
rmq_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return 1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len);
	int rc = w < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int
rmq_notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char msg[96];
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
		(unsigned long long)ts.tv_nsec / 1000ULL);
	return rmq_notify(msg);
}
