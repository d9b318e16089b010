/* test/broker/platform/test_notify.c: systemd's notification protocol
 * (broker/platform/notify.c), against a datagram socket of the test's
 * own, named by path and in the abstract namespace, as systemd names
 * it in NOTIFY_SOCKET. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

/* A datagram socket bound at NAME (a path, or "@..." abstract). */
static int
listener(const char *name)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa,
			 (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			     n)),
	    0, "bind %s: %s", name, strerror(errno));
	return fd;
}

static void
received(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
	cr_assert_gt(n, 0, "nothing received: %s", strerror(errno));
	buf[n] = '\0';
}

Test(notify, nothing_to_do_without_a_manager)
{
	unsetenv("NOTIFY_SOCKET");
	cr_assert_eq(rmq_notify("READY=1"), 1);
	setenv("NOTIFY_SOCKET", "", 1);
	cr_assert_eq(rmq_notify("READY=1"), 1);
}

Test(notify, a_path_socket_is_told)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/rmq-notify-%d", (int)getpid());
	unlink(path);
	int fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	cr_assert_eq(rmq_notify("READY=1\nSTATUS=listening"), 0);
	char buf[256];
	received(fd, buf, sizeof(buf));
	cr_assert_str_eq(buf, "READY=1\nSTATUS=listening");
	close(fd);
	unlink(path);
}

Test(notify, an_abstract_socket_is_told_reloading_with_the_time)
{
	char name[64];
	snprintf(name, sizeof(name), "@rmq-notify-%d", (int)getpid());
	int fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	struct timespec before, after;
	clock_gettime(CLOCK_MONOTONIC, &before);
	cr_assert_eq(rmq_notify_reloading(), 0);
	clock_gettime(CLOCK_MONOTONIC, &after);
	char buf[256];
	received(fd, buf, sizeof(buf));
	unsigned long long usec = 0;
	cr_assert_eq(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1,
	    "%s", buf);
	unsigned long long lo = (unsigned long long)before.tv_sec * 1000000ULL +
	    (unsigned long long)before.tv_nsec / 1000ULL;
	unsigned long long hi = (unsigned long long)after.tv_sec * 1000000ULL +
	    (unsigned long long)after.tv_nsec / 1000ULL;
	cr_assert(usec >= lo && usec <= hi, "%llu not in [%llu, %llu]", usec,
	    lo, hi);
	close(fd);
}

Test(notify, a_name_that_is_no_socket_is_an_error)
{
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	cr_assert_eq(rmq_notify("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "/nonexistent/rmq-notify", 1);
	cr_assert_eq(rmq_notify("READY=1"), -ENOENT);
}
