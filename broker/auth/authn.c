/* broker/auth/authn.c: the node's authenticator from its settings
 * (authn.h): anonymous access by listener, the password file, certified
 * user names, and a thread for checks too costly for a loop.
 */
#include "authn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "passwd.h"
#include "reason.h"

/* Rounds of PBKDF2 past which a check leaves the loop: 2,000 rounds of
 * SHA-512 take about 2 ms here, the loop's budget for costly work in a
 * turn; Mosquitto 2.0 writes 101, 2.1 writes 210,000. */
#define AUTHN_LOOP_ROUNDS 2000

/* Checks waiting for the thread, at most: past it a login is refused at
 * once as Server busy (0x89; 3.x: 3, server unavailable), so a flood of
 * logins cannot queue the node's memory away. */
#define AUTHN_QUEUE_MAX 1024

/* A password file, shared by the loops and the check thread: a reload
 * swaps it while checks may still hold the old one. */
struct authn_file {
	atomic_int refs;
	struct rmq_passwd *pw;
	int slow; /* checks go to the thread */
};

/* A check handed to the thread. */
struct authn_job {
	struct authn_job *next;
	struct authn_file *f;
	char *user, *pass; /* copies: the CONNECT's live only for the call */
	size_t ulen, plen;
	void (*done)(void *arg, enum rmq_auth_verdict v, uint8_t reason);
	void *done_arg;
	struct timespec queued; /* CLOCK_MONOTONIC */
};

struct rmq_authn {
	struct rmq_authenticator contract;
	atomic_int allow_anonymous; /* enum rmq_anonymous */
	uint8_t loopback[RMQ_MAX_LISTENERS];
	char path[sizeof(((struct rmq_config *)0)->password_file)];
	pthread_mutex_t mu; /* file, and the thread's queue */
	struct authn_file *file; /* NULL: no password file */
	pthread_cond_t cv;
	struct authn_job *jobs, **jobs_tail;
	unsigned njobs;
	/* A check that waited longer than the connect timeout has no client
	 * left to answer (the session closed it): not computed. */
	_Atomic uint32_t stale_ms;
	pthread_t thread;
	int thread_started, stopping;
};

int
rmq_authn_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

static void
authn_file_put(struct authn_file *f)
{
	if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
		rmq_passwd_free(f->pw);
		free(f);
	}
}

static struct authn_file *
authn_file_get(struct rmq_authn *a)
{
	pthread_mutex_lock(&a->mu);
	struct authn_file *f = a->file;
	if (f)
		atomic_fetch_add(&f->refs, 1);
	pthread_mutex_unlock(&a->mu);
	return f;
}

static int
authn_file_load(const char *path, struct authn_file **out, char *err,
    size_t errlen)
{
	struct authn_file *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = rmq_passwd_load(path, &f->pw, err, errlen);
	if (rc != 0) {
		free(f);
		return rc;
	}
	unsigned type, rounds;
	rmq_passwd_dummy_cost(f->pw, &type, &rounds);
	/* $7$ and $scram-sha-256$ are PBKDF2 (SHA-512, SHA-256). */
	f->slow = (type == 7 || type == 8) && rounds > AUTHN_LOOP_ROUNDS;
	atomic_init(&f->refs, 1);
	*out = f;
	return 0;
}

/* The verdict of the password file on a user name and password. */
static enum rmq_auth_verdict
authn_check(const struct authn_file *f, const char *user, size_t ulen,
    const char *pass, size_t plen, int has_password, uint8_t *reason)
{
	/* A user name without a password does not match an empty one, as
	 * Mosquitto has it. */
	if (has_password &&
	    rmq_passwd_check(f->pw, user, ulen, pass, plen) == RMQ_PASSWD_OK)
		return RMQ_AUTH_ALLOW;
	*reason = RMQ_RC_BAD_USERNAME_OR_PASSWORD;
	return RMQ_AUTH_DENY;
}

static void *
authn_thread(void *arg)
{
	struct rmq_authn *a = arg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->jobs == NULL && !a->stopping)
			pthread_cond_wait(&a->cv, &a->mu);
		struct authn_job *j = a->jobs;
		if (j == NULL)
			break;
		a->jobs = j->next;
		if (a->jobs == NULL)
			a->jobs_tail = &a->jobs;
		a->njobs--;
		pthread_mutex_unlock(&a->mu);
		uint8_t reason = RMQ_RC_SERVER_UNAVAILABLE;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t waited =
		    (uint64_t)(now.tv_sec - j->queued.tv_sec) * 1000 +
		    (uint64_t)((now.tv_nsec - j->queued.tv_nsec) / 1000000);
		uint32_t stale = atomic_load(&a->stale_ms);
		enum rmq_auth_verdict v =
		    a->stopping || (stale && waited > stale)
		    ? RMQ_AUTH_DENY
		    : authn_check(j->f, j->user, j->ulen, j->pass, j->plen,
			  j->pass != NULL, &reason);
		j->done(j->done_arg, v, reason);
		authn_file_put(j->f);
		if (j->pass)
			memset(j->pass, 0, j->plen);
		free(j->user);
		free(j->pass);
		free(j);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Hand a check to the thread (started at its first job).  Returns 0; 1
 * when AUTHN_QUEUE_MAX checks wait already; -1 when it cannot (the caller
 * answers at once). */
static int
authn_post(struct rmq_authn *a, struct authn_file *f,
    const struct rmq_auth_request *rq)
{
	struct authn_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -1;
	j->user = malloc(rq->username.len + 1);
	j->pass = rq->has_password ? malloc(rq->password.len + 1) : NULL;
	if (j->user == NULL || (rq->has_password && j->pass == NULL)) {
		free(j->user);
		free(j->pass);
		free(j);
		return -1;
	}
	memcpy(j->user, rq->username.p, rq->username.len);
	j->ulen = rq->username.len;
	if (j->pass) {
		memcpy(j->pass, rq->password.p, rq->password.len);
		j->plen = rq->password.len;
	}
	j->f = f;
	j->done = rq->done;
	j->done_arg = rq->done_arg;
	clock_gettime(CLOCK_MONOTONIC, &j->queued);
	pthread_mutex_lock(&a->mu);
	if (a->njobs >= AUTHN_QUEUE_MAX) {
		pthread_mutex_unlock(&a->mu);
		free(j->user);
		free(j->pass);
		free(j);
		return 1; /* busy */
	}
	if (!a->thread_started) {
		if (pthread_create(&a->thread, NULL, authn_thread, a) != 0) {
			pthread_mutex_unlock(&a->mu);
			free(j->user);
			free(j->pass);
			free(j);
			return -1;
		}
		a->thread_started = 1;
	}
	*a->jobs_tail = j;
	a->jobs_tail = &j->next;
	a->njobs++;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

static enum rmq_auth_verdict
authn_connect(void *ctx, const struct rmq_auth_request *rq, uint8_t *reason)
{
	struct rmq_authn *a = ctx;
	/* The TLS handshake checked the certificate the name comes from. */
	if (rq->certified)
		return RMQ_AUTH_ALLOW;
	struct authn_file *f = rq->has_username ? authn_file_get(a) : NULL;
	if (f == NULL) {
		/* Anonymous: nothing it sent can be checked. */
		int allow = atomic_load_explicit(&a->allow_anonymous,
		    memory_order_relaxed);
		if (allow == RMQ_ANON_YES ||
		    (allow == RMQ_ANON_LOOPBACK &&
			rq->listener < RMQ_MAX_LISTENERS &&
			a->loopback[rq->listener]))
			return RMQ_AUTH_ALLOW;
		*reason = RMQ_RC_NOT_AUTHORIZED;
		return RMQ_AUTH_DENY;
	}
	int posted = f->slow ? authn_post(a, f, rq) : -1;
	if (posted == 0)
		return RMQ_AUTH_LATER; /* the job holds f now */
	if (posted == 1) {
		authn_file_put(f);
		*reason = RMQ_RC_SERVER_BUSY;
		return RMQ_AUTH_DENY;
	}
	enum rmq_auth_verdict v =
	    authn_check(f, rq->username.p, rq->username.len, rq->password.p,
		rq->password.len, rq->has_password, reason);
	authn_file_put(f);
	return v;
}

static void
authn_set(struct rmq_authn *a, const struct rmq_config *cfg)
{
	atomic_store(&a->allow_anonymous, (int)cfg->allow_anonymous);
	atomic_store(&a->stale_ms, cfg->connect_timeout_ms);
	for (unsigned j = 0; j < RMQ_MAX_LISTENERS; j++)
		a->loopback[j] = j < cfg->nlisteners &&
		    rmq_authn_loopback(cfg->listeners[j].host);
}

/* ---- SCRAM-SHA-256 (scram.h), against the password file ---- */

static enum rmq_auth_verdict
authn_xauth_start(void *ctx, const struct rmq_auth_request *rq,
    const uint8_t *data, size_t n, void **exchange, const uint8_t **out,
    size_t *outlen, uint8_t *reason)
{
	struct rmq_authn *a = ctx;
	struct rmq_scram *st = NULL;
	struct authn_file *f = authn_file_get(a);
	*reason = RMQ_RC_NOT_AUTHORIZED;
	if (f == NULL) {
		/* Offered only with a password file to check against. */
		*reason = RMQ_RC_BAD_AUTHENTICATION_METHOD;
		return RMQ_AUTH_DENY;
	}
	if (rmq_scram_start(data, n, &st) != 0) {
		authn_file_put(f);
		return RMQ_AUTH_DENY;
	}
	size_t ulen;
	const char *user = rmq_scram_user(st, &ulen);
	/* A CONNECT that names a user too names the same one. */
	if (rq->has_username &&
	    (rq->username.len != ulen ||
		memcmp(rq->username.p, user, ulen) != 0)) {
		authn_file_put(f);
		rmq_scram_free(st);
		return RMQ_AUTH_DENY;
	}
	struct rmq_scram_creds c;
	if (rmq_passwd_scram(f->pw, user, ulen, &c) != 0)
		rmq_scram_mock(user, ulen, &c);
	authn_file_put(f);
	const char *sf;
	int rc = rmq_scram_server_first(st, &c, NULL, &sf, outlen);
	memset(&c, 0, sizeof(c));
	if (rc != 0) {
		rmq_scram_free(st);
		*reason = RMQ_RC_SERVER_UNAVAILABLE;
		return RMQ_AUTH_DENY;
	}
	*out = (const uint8_t *)sf;
	*exchange = st;
	return RMQ_AUTH_CONTINUE;
}

static enum rmq_auth_verdict
authn_xauth_step(void *ctx, void *exchange, const uint8_t *data, size_t n,
    const uint8_t **out, size_t *outlen, uint8_t *reason)
{
	(void)ctx;
	const char *v;
	if (rmq_scram_finish(exchange, data, n, &v, outlen) != 0) {
		*reason = RMQ_RC_NOT_AUTHORIZED;
		return RMQ_AUTH_DENY;
	}
	*out = (const uint8_t *)v;
	return RMQ_AUTH_ALLOW;
}

static const char *
authn_xauth_user(void *exchange, size_t *len)
{
	return rmq_scram_user(exchange, len);
}

static void
authn_xauth_end(void *exchange)
{
	rmq_scram_free(exchange);
}

int
rmq_authn_new(const struct rmq_config *cfg, struct rmq_authn **out, char *err,
    size_t errlen)
{
	struct rmq_authn *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->contract.ctx = a;
	a->contract.connect = authn_connect;
	a->contract.method = RMQ_SCRAM_METHOD;
	a->contract.start = authn_xauth_start;
	a->contract.step = authn_xauth_step;
	a->contract.user = authn_xauth_user;
	a->contract.end = authn_xauth_end;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->jobs_tail = &a->jobs;
	authn_set(a, cfg);
	snprintf(a->path, sizeof(a->path), "%s", cfg->password_file);
	if (a->path[0]) {
		int rc = authn_file_load(a->path, &a->file, err, errlen);
		if (rc != 0) {
			rmq_authn_free(a);
			return rc;
		}
	}
	*out = a;
	return 0;
}

const struct rmq_authenticator *
rmq_authn_contract(struct rmq_authn *a)
{
	return &a->contract;
}

int
rmq_authn_reload(struct rmq_authn *a, const struct rmq_config *cfg, char *err,
    size_t errlen)
{
	struct authn_file *f = NULL;
	if (cfg->password_file[0]) {
		int rc = authn_file_load(cfg->password_file, &f, err, errlen);
		if (rc != 0)
			return rc; /* the file and settings before stay */
	}
	authn_set(a, cfg);
	pthread_mutex_lock(&a->mu);
	struct authn_file *old = a->file;
	a->file = f;
	snprintf(a->path, sizeof(a->path), "%s", cfg->password_file);
	pthread_mutex_unlock(&a->mu);
	authn_file_put(old); /* freed when the last check lets go */
	return 0;
}

long
rmq_authn_users(struct rmq_authn *a)
{
	struct authn_file *f = authn_file_get(a);
	long n = f ? (long)rmq_passwd_count(f->pw) : -1;
	authn_file_put(f);
	return n;
}

void
rmq_authn_free(struct rmq_authn *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	pthread_cond_signal(&a->cv);
	int started = a->thread_started;
	pthread_mutex_unlock(&a->mu);
	if (started)
		pthread_join(a->thread, NULL); /* answers what waits: denied */
	authn_file_put(a->file);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
