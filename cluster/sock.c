/* cluster/sock.c: listening, and a bounded nng_close() (sock.h). */
#include "sock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/protocol/bus0/bus.h>

#include "cluster.h"

/* A whole file into a string (malloc'd); NULL with errno. */
static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		size_t n = fread(buf + len, 1, cap - 1 - len, f);
		len += n;
		if (len < cap - 1)
			break;
		if (cap >= (1u << 20)) { /* no PEM file of ours is that big */
			free(buf);
			buf = NULL;
			errno = EFBIG;
			break;
		}
		char *more = realloc(buf, cap * 2);
		if (more == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = more;
		cap *= 2;
	}
	int failed = ferror(f);
	fclose(f);
	if (buf != NULL && failed) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

/* One side's configuration: the node's own certificate, the CA, the
 * peer's certificate required. */
static int
tls_side(nng_tls_mode mode, const char *certpem, const char *keypem,
    const char *ca, const char *peer_name, nng_tls_config **out, char *err,
    size_t errlen)
{
	nng_tls_config *c;
	int rv = nng_tls_config_alloc(&c, mode);
	if (rv != 0) {
		snprintf(err, errlen, "cluster TLS: %s", nng_strerror(rv));
		return -1;
	}
	if ((rv = nng_tls_config_own_cert(c, certpem, keypem, NULL)) != 0) {
		snprintf(err, errlen,
		    "cluster_tls_certfile and cluster_tls_keyfile: not a certificate and its key: %s",
		    nng_strerror(rv));
	} else if ((rv = nng_tls_config_ca_file(c, ca)) != 0) {
		snprintf(err, errlen, "cluster_tls_cafile %s: %s", ca,
		    nng_strerror(rv));
	} else if ((rv = nng_tls_config_auth_mode(c,
			NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
		snprintf(err, errlen, "cluster TLS: %s", nng_strerror(rv));
	} else if (mode == NNG_TLS_MODE_CLIENT && peer_name[0] &&
	    (rv = nng_tls_config_server_name(c, peer_name)) != 0) {
		snprintf(err, errlen, "cluster_tls_peer_name %s: %s", peer_name,
		    nng_strerror(rv));
	}
	if (rv != 0) {
		nng_tls_config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int
rmq_nng_tls_new(const char *cert, const char *key, const char *ca,
    const char *peer_name, struct rmq_nng_tls **out, char *err, size_t errlen)
{
	*out = NULL;
	int given = (cert[0] != 0) + (key[0] != 0) + (ca[0] != 0);
	if (given == 0)
		return 0;
	if (given != 3) {
		snprintf(err, errlen,
		    "cluster_tls_certfile, cluster_tls_keyfile and cluster_tls_cafile go together: %s is missing",
		    !cert[0]      ? "cluster_tls_certfile"
			: !key[0] ? "cluster_tls_keyfile"
				  : "cluster_tls_cafile");
		return -1;
	}
	char *certpem = read_file(cert);
	if (certpem == NULL) {
		snprintf(err, errlen, "cluster_tls_certfile %s: %s", cert,
		    strerror(errno));
		return -1;
	}
	char *keypem = read_file(key);
	if (keypem == NULL) {
		snprintf(err, errlen, "cluster_tls_keyfile %s: %s", key,
		    strerror(errno));
		free(certpem);
		return -1;
	}
	struct rmq_nng_tls *t = calloc(1, sizeof(*t));
	int rc = -1;
	if (t == NULL)
		snprintf(err, errlen, "cluster TLS: out of memory");
	else if (tls_side(NNG_TLS_MODE_SERVER, certpem, keypem, ca, peer_name,
		     &t->server, err, errlen) == 0 &&
	    tls_side(NNG_TLS_MODE_CLIENT, certpem, keypem, ca, peer_name,
		&t->client, err, errlen) == 0)
		rc = 0;
	/* The key's copy is not kept about. */
	memset(keypem, 0, strlen(keypem));
	free(keypem);
	free(certpem);
	if (rc != 0) {
		rmq_nng_tls_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

void
rmq_nng_tls_free(struct rmq_nng_tls *t)
{
	if (t == NULL)
		return;
	if (t->server)
		nng_tls_config_free(t->server);
	if (t->client)
		nng_tls_config_free(t->client);
	free(t);
}

const char *
rmq_nng_scheme(const struct rmq_nng_tls *t)
{
	return t ? "tls+tcp" : "tcp";
}

int
rmq_nng_bus_open(nng_socket *sock, size_t recv_max)
{
	int rv = nng_bus0_open(sock);
	if (rv != 0)
		return rv;
	if ((rv = nng_socket_set_int(*sock, NNG_OPT_RECVBUF,
		 RMQ_NNG_BUS_RECVBUF)) != 0 ||
	    (rv = nng_socket_set_size(*sock, NNG_OPT_RECVMAXSZ, recv_max)) !=
		0 ||
	    (rv = nng_socket_set_ms(*sock, NNG_OPT_RECONNMINT, 100)) != 0 ||
	    (rv = nng_socket_set_ms(*sock, NNG_OPT_RECONNMAXT, 1000)) != 0) {
		nng_close(*sock);
		return rv;
	}
	return 0;
}

int
rmq_nng_listen(nng_socket sock, const char *host, uint16_t port,
    const struct rmq_nng_tls *tls, const char *what, uint16_t *bound, char *err,
    size_t errlen)
{
	char url[160];
	const char *scheme = rmq_nng_scheme(tls);
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		snprintf(url, sizeof(url), "%s://:%u", scheme, port);
	else
		snprintf(url, sizeof(url), "%s://%s:%u", scheme, host, port);
	nng_listener l;
	int rv = nng_listener_create(&l, sock, url);
	if (rv == 0 && tls != NULL)
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls->server);
	if (rv == 0)
		rv = nng_listener_start(l, 0);
	if (rv != 0) {
		snprintf(err, errlen, "%s %s: %s", what,
		    url + strlen(scheme) + 3, nng_strerror(rv));
		return -1;
	}
	int p = 0;
	nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &p);
	*bound = (uint16_t)p;
	return 0;
}

int
rmq_nng_dial(nng_socket sock, const char *url, nng_dialer *d,
    const struct rmq_nng_tls *tls)
{
	char with[RMQ_NNG_URL_MAX + 8];
	if (tls != NULL && strncmp(url, "tcp://", 6) == 0) {
		snprintf(with, sizeof(with), "tls+%s", url);
		url = with;
	}
	int rv = nng_dialer_create(d, sock, url);
	if (rv != 0)
		return rv;
	if (tls != NULL &&
	    (rv = nng_dialer_set_ptr(*d, NNG_OPT_TLS_CONFIG, tls->client)) !=
		0) {
		nng_dialer_close(*d);
		return rv;
	}
	if ((rv = nng_dialer_start(*d, NNG_FLAG_NONBLOCK)) != 0)
		nng_dialer_close(*d);
	return rv;
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

unsigned
rmq_nng_close_all(const nng_socket *socks, unsigned n, unsigned wait_ms,
    const char *what)
{
	struct closer *c = calloc(1, sizeof(*c) + n * sizeof(*socks));
	if (c == NULL) {
		for (unsigned i = 0; i < n; i++)
			nng_close(socks[i]);
		return 0;
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
		return left; /* the last closer frees c */
	}
	closer_free(c);
	return 0;
}
