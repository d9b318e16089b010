/* test/cluster/test_sock.c: the cluster's sockets (cluster/sock.c): the
 * bus socket's receive queue, and closing with a bound.  NNG 1.5.2's
 * reaper thread can wedge, and then every nng_close() waits for ever:
 * the close must come back after its wait with the count of sockets
 * left, and the sockets still close once NNG moves again.  The wedge is
 * made here as it happens: the reaper held in a pipe's removal
 * callback. */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/bus0/bus.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "sock.h"

/* The broker's log, as the cluster's code calls it: the last line kept. */
static char logged[256];

void
rmq_cluster_log(int level, const char *fmt, ...)
{
	(void)level;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(logged, sizeof(logged), fmt, ap);
	va_end(ap);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int hold, held, removed, added;

/* A pipe gone: on NNG's reaper.  While `hold`, the reaper stays here. */
static void
pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	pthread_mutex_lock(&mu);
	removed++;
	held += hold;
	pthread_cond_broadcast(&cv);
	while (hold)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

/* A pipe joined its socket. */
static void
pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	pthread_mutex_lock(&mu);
	added++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* Two bus sockets joined over inproc, one pipe each way.  One message
 * crosses once both ends have their pipe, and no other is sent: a
 * message left in a socket that a test then wedges would outlive it. */
static void
pair(nng_socket s[2], const char *url)
{
	cr_assert_eq(nng_bus0_open(&s[0]), 0);
	cr_assert_eq(nng_bus0_open(&s[1]), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(nng_pipe_notify(s[i], NNG_PIPE_EV_REM_POST,
				 pipe_removed, NULL),
		    0);
		cr_assert_eq(nng_pipe_notify(s[i], NNG_PIPE_EV_ADD_POST,
				 pipe_added, NULL),
		    0);
	}
	pthread_mutex_lock(&mu);
	int want = added + 2;
	pthread_mutex_unlock(&mu);
	cr_assert_eq(nng_listen(s[0], url, NULL, 0), 0);
	cr_assert_eq(nng_dial(s[1], url, NULL, 0), 0);
	pthread_mutex_lock(&mu);
	for (int tries = 0; added < want && tries < 500; tries++) {
		pthread_mutex_unlock(&mu);
		sleep_ms(10);
		pthread_mutex_lock(&mu);
	}
	int joined = added >= want;
	pthread_mutex_unlock(&mu);
	cr_assert(joined, "the pair never joined");
	cr_assert_eq(nng_socket_set_ms(s[0], NNG_OPT_RECVTIMEO, 5000), 0);
	cr_assert_eq(nng_send(s[1], "x", 1, 0), 0);
	nng_msg *m = NULL;
	cr_assert_eq(nng_recvmsg(s[0], &m, 0), 0, "nothing crossed");
	nng_msg_free(m);
}

Test(close_all, closes_every_socket_when_nng_moves)
{
	nng_socket s[2];
	pair(s, "inproc://close-all-moves");
	cr_assert_eq(rmq_nng_close_all(s, 2, 5000, "the test's"), 0);
	cr_assert_eq(logged[0], '\0', "%s", logged);
	/* Closed: NNG no longer knows them. */
	cr_assert_eq(nng_send(s[0], "x", 1, NNG_FLAG_NONBLOCK), NNG_ECLOSED);
	cr_assert_eq(nng_send(s[1], "x", 1, NNG_FLAG_NONBLOCK), NNG_ECLOSED);
}

Test(close_all, comes_back_when_the_reaper_is_wedged)
{
	nng_socket s[2], t[2];
	pair(s, "inproc://close-all-wedged");
	pthread_mutex_lock(&mu);
	hold = 1;
	pthread_mutex_unlock(&mu);
	/* The reaper is held in the first pipe's removal: neither socket
	 * can finish closing, and the call comes back after its wait. */
	unsigned left = rmq_nng_close_all(s, 2, 100, "the test's");
	cr_assert_gt(left, 0, "a close went through a wedged reaper");
	cr_assert_not_null(strstr(logged,
			       "sockets of the test's did not close"),
	    "%s", logged);
	pthread_mutex_lock(&mu);
	cr_assert_gt(held, 0, "the reaper was never held");
	hold = 0;
	pthread_cond_broadcast(&cv);
	/* Free again: the abandoned closes end, every pipe is removed. */
	for (int tries = 0; removed < 2 && tries < 1000; tries++) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 10000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &until);
	}
	cr_assert_eq(removed, 2);
	pthread_mutex_unlock(&mu);
	/* And closes are bounded no more: new sockets close in time. */
	pair(t, "inproc://close-all-after");
	cr_assert_eq(rmq_nng_close_all(t, 2, 5000, "the test's"), 0);
	/* The abandoned ones closed too (within NNG's own time). */
	int rv0 = 0, rv1 = 0;
	for (int tries = 0; tries < 500; tries++) {
		rv0 = nng_send(s[0], "x", 1, NNG_FLAG_NONBLOCK);
		rv1 = nng_send(s[1], "x", 1, NNG_FLAG_NONBLOCK);
		if (rv0 == NNG_ECLOSED && rv1 == NNG_ECLOSED)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(rv0, NNG_ECLOSED);
	cr_assert_eq(rv1, NNG_ECLOSED);
}

/* A node's bus socket holds what its peers send while its thread is
 * behind (sock.h: NNG 1.5.2 leaves a closing pipe's put on a full queue's
 * writers).  Over inproc nothing else buffers: with NNG's default of one
 * message, a peer's 16-message send queue overflows and the bus drops
 * the rest, so the count received tells the queue's room. */
Test(bus, holds_what_peers_send_while_its_reader_is_behind)
{
	nng_socket s[2];
	cr_assert_eq(rmq_nng_bus_open(&s[0], 1024), 0);
	cr_assert_eq(rmq_nng_bus_open(&s[1], 1024), 0);
	int buf = 0;
	cr_assert_eq(nng_socket_get_int(s[0], NNG_OPT_RECVBUF, &buf), 0);
	cr_assert_eq(buf, RMQ_NNG_BUS_RECVBUF);
	size_t max = 0;
	cr_assert_eq(nng_socket_get_size(s[0], NNG_OPT_RECVMAXSZ, &max), 0);
	cr_assert_eq(max, 1024);
	cr_assert_eq(nng_listen(s[0], "inproc://bus-recvbuf", NULL, 0), 0);
	cr_assert_eq(nng_dial(s[1], "inproc://bus-recvbuf", NULL, 0), 0);
	/* Joined once a message crosses (the pipe comes up on NNG's
	 * threads). */
	nng_msg *m = NULL;
	for (int tries = 0; tries < 500 && m == NULL; tries++) {
		cr_assert_eq(nng_send(s[1], "j", 1, 0), 0);
		sleep_ms(10);
		while (nng_recvmsg(s[0], &m, NNG_FLAG_NONBLOCK) == 0) {
			nng_msg_free(m);
			m = (nng_msg *)1;
		}
	}
	cr_assert_not_null(m, "the pair never joined");
	/* 100 messages, none read until all are sent, each given time to
	 * pass the peer's send queue (16: a stall of 48 ms overflows it). */
	enum { SENT = 100 };
	cr_assert_lt(SENT, RMQ_NNG_BUS_RECVBUF);
	for (int i = 0; i < SENT; i++) {
		cr_assert_eq(nng_send(s[1], "m", 1, 0), 0);
		sleep_ms(3);
	}
	int got = 0;
	for (int idle = 0; idle < 100 && got < SENT; idle++) {
		while (nng_recvmsg(s[0], &m, NNG_FLAG_NONBLOCK) == 0) {
			nng_msg_free(m);
			got++;
			idle = 0;
		}
		sleep_ms(5);
	}
	cr_assert_eq(got, SENT, "%d of %d messages held", got, SENT);
	cr_assert_eq(rmq_nng_close_all(s, 2, 5000, "the test's"), 0);
}
