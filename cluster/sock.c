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

/* The sockets being closed, one thread each; whichever of the waiter and
 * the closers is last frees it. */
struct closer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned left; /* closers still in nng_close() */
	int abandoned;
	unsigned n;
	nng_socket socks[];
};

struct closing {
	struct closer *c;
	unsigned i;
};

static void
closer_free(struct closer *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

/* One socket closed; the count, and maybe the last word. */
static void
closer_done(struct closer *c)
{
	pthread_mutex_lock(&c->mu);
	int last = --c->left == 0;
	int alone = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (last && alone)
		closer_free(c);
}

static void *
close_run(void *arg)
{
	struct closing *k = arg;
	struct closer *c = k->c;
	nng_close(c->socks[k->i]);
	free(k);
	closer_done(c);
	return NULL;
}

void
rmq_nng_close_all(const nng_socket *socks, unsigned n, unsigned wait_ms,
    const char *what)
{
	struct closer *c = calloc(1, sizeof(*c) + n * sizeof(*socks));
	if (c == NULL) {
		for (unsigned i = 0; i < n; i++)
			nng_close(socks[i]);
		return;
	}
	c->n = c->left = n;
	memcpy(c->socks, socks, n * sizeof(*socks));
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < n; i++) {
		struct closing *k = malloc(sizeof(*k));
		pthread_t t;
		if (k != NULL) {
			*k = (struct closing){ c, i };
			if (pthread_create(&t, NULL, close_run, k) == 0) {
				pthread_detach(t);
				continue;
			}
			free(k);
		}
		nng_close(socks[i]); /* no thread: here, unbounded */
		closer_done(c);
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
	while (c->left &&
	    pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT)
		;
	unsigned left = c->left;
	c->abandoned = left != 0;
	pthread_mutex_unlock(&c->mu);
	if (left) {
		rmq_cluster_log(1,
		    "%u of %u sockets of %s did not close within %u ms (NNG); going on without waiting",
		    left, n, what, wait_ms);
		return; /* the last closer frees c */
	}
	closer_free(c);
}
