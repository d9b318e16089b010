/* cluster/sock.c: listening, and a bounded nng_close() (sock.h). */
#include "sock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"

int
rmq_nng_listen(nng_socket sock, const char *host, uint16_t port,
    const char *what, uint16_t *bound, char *err, size_t errlen)
{
	char url[160];
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		snprintf(url, sizeof(url), "tcp://:%u", port);
	else
		snprintf(url, sizeof(url), "tcp://%s:%u", host, port);
	nng_listener l;
	int rv = nng_listen(sock, url, &l, 0);
	if (rv != 0) {
		snprintf(err, errlen, "%s %s: %s", what, url + 6,
		    nng_strerror(rv));
		return -1;
	}
	int p = 0;
	nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &p);
	*bound = (uint16_t)p;
	return 0;
}

struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, abandoned;
};

static void *
close_run(void *arg)
{
	struct closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	int alone = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (alone) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
	}
	return NULL;
}

void
rmq_nng_close_bounded(nng_socket sock, unsigned wait_ms, const char *what)
{
	struct closer *c = calloc(1, sizeof(*c));
	pthread_t t;
	if (c == NULL) {
		nng_close(sock);
		return;
	}
	c->sock = sock;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t, NULL, close_run, c) != 0) {
		nng_close(sock);
		c->done = 1;
	} else {
		pthread_detach(t);
	}
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->done &&
	    pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT)
		;
	int done = c->done;
	c->abandoned = !done;
	pthread_mutex_unlock(&c->mu);
	if (!done) {
		rmq_cluster_log(1,
		    "%s did not close within %u ms (NNG); going on without waiting",
		    what, wait_ms);
		return; /* the closing thread frees c */
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
