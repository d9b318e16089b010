/* cluster/resolve.c: the cluster's DNS name looked up on a thread of its
 * own (resolve.h).
 *
 * The thread owns nothing the node needs: it writes its answer under the
 * resolver's lock, and a stop that finds a lookup under way detaches it,
 * the thread freeing the resolver when the lookup ends. */
#include "resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct rmq_resolver {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	char host[256], port[16];
	uint32_t every_ms;
	rmq_resolve_fn fn;
	void (*woke)(void *);
	void *arg;
	/* mu */
	int stop, busy, fresh, failed;
	unsigned n;
	char err[128];
	uint64_t lookups, failures, last_us, started_us;
	char urls[RMQ_RESOLVE_MAX][RMQ_NODE_URL_MAX];
	/* the thread's, without the lock */
	char got[RMQ_RESOLVE_MAX][RMQ_NODE_URL_MAX];
};

static uint64_t
mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static int
lookup(const char *host, const char *port, char (*urls)[RMQ_NODE_URL_MAX],
    unsigned max, unsigned *n, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rv = getaddrinfo(host, port, &hints, &res);
	*n = 0;
	if (rv != 0) {
		snprintf(err, errlen, "%s", gai_strerror(rv));
		return -1;
	}
	for (struct addrinfo *a = res; a && *n < max; a = a->ai_next) {
		char ip[INET6_ADDRSTRLEN];
		if (a->ai_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)a->ai_addr;
			inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
			snprintf(urls[(*n)++], RMQ_NODE_URL_MAX, "tcp://%s:%s",
			    ip, port);
		} else if (a->ai_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)a->ai_addr;
			inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
			snprintf(urls[(*n)++], RMQ_NODE_URL_MAX,
			    "tcp://[%s]:%s", ip, port);
		}
	}
	freeaddrinfo(res);
	return 0;
}

static void *
resolve_run(void *arg)
{
	struct rmq_resolver *r = arg;
	int detached = 0;
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		r->busy = 1;
		r->started_us = mono_us();
		pthread_mutex_unlock(&r->mu);

		unsigned n = 0;
		char err[sizeof(r->err)] = "";
		int rv = r->fn(r->host, r->port, r->got, RMQ_RESOLVE_MAX, &n,
		    err, sizeof(err));

		pthread_mutex_lock(&r->mu);
		detached = r->busy < 0; /* stopped meanwhile */
		r->busy = 0;
		r->lookups++;
		r->last_us = mono_us() - r->started_us;
		r->started_us = 0;
		if (r->stop)
			break;
		r->failed = rv != 0;
		if (rv != 0) {
			r->failures++;
			r->n = 0;
			snprintf(r->err, sizeof(r->err), "%s",
			    err[0] ? err : "lookup failed");
		} else {
			r->n = n;
			memcpy(r->urls, r->got, (size_t)n * RMQ_NODE_URL_MAX);
		}
		r->fresh = 1;
		if (r->woke)
			r->woke(r->arg);
		struct timespec at;
		clock_gettime(CLOCK_MONOTONIC, &at);
		uint64_t ns = (uint64_t)at.tv_nsec + r->every_ms * 1000000ull;
		at.tv_sec += (time_t)(ns / 1000000000u);
		at.tv_nsec = (long)(ns % 1000000000u);
		while (!r->stop &&
		    pthread_cond_timedwait(&r->cv, &r->mu, &at) == 0)
			;
	}
	pthread_mutex_unlock(&r->mu);
	if (detached) {
		/* Stopped during the lookup: nobody joins this thread. */
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
	}
	return NULL;
}

struct rmq_resolver *
rmq_resolver_start(const char *hostport, uint32_t every_ms, rmq_resolve_fn fn,
    void (*woke)(void *), void *arg)
{
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL || colon[1] == '\0')
		return NULL;
	struct rmq_resolver *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	size_t hl = (size_t)(colon - hostport);
	if (hl >= sizeof(r->host) || strlen(colon + 1) >= sizeof(r->port)) {
		free(r);
		return NULL;
	}
	memcpy(r->host, hostport, hl);
	snprintf(r->port, sizeof(r->port), "%s", colon + 1);
	r->every_ms = every_ms;
	r->fn = fn ? fn : lookup;
	r->woke = woke;
	r->arg = arg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&r->mu, NULL);
	if (pthread_create(&r->thread, NULL, resolve_run, r) != 0) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return NULL;
	}
	return r;
}

int
rmq_resolver_take(struct rmq_resolver *r, char (*urls)[RMQ_NODE_URL_MAX],
    unsigned max, unsigned *n, char *err, size_t errlen)
{
	*n = 0;
	if (r == NULL)
		return 0;
	pthread_mutex_lock(&r->mu);
	int fresh = r->fresh;
	if (fresh) {
		r->fresh = 0;
		*n = r->n < max ? r->n : max;
		memcpy(urls, r->urls, (size_t)*n * RMQ_NODE_URL_MAX);
		if (errlen)
			snprintf(err, errlen, "%s", r->failed ? r->err : "");
	}
	pthread_mutex_unlock(&r->mu);
	return fresh;
}

void
rmq_resolver_stats(struct rmq_resolver *r, struct rmq_resolver_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	s->lookups = r->lookups;
	s->failures = r->failures;
	s->last_us = r->last_us;
	s->running_us = r->started_us ? mono_us() - r->started_us : 0;
	pthread_mutex_unlock(&r->mu);
}

void
rmq_resolver_stop(struct rmq_resolver *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	if (r->busy) {
		/* A lookup under way: the thread frees r when it ends. */
		r->busy = -1;
		pthread_detach(r->thread);
		pthread_mutex_unlock(&r->mu);
		return;
	}
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
