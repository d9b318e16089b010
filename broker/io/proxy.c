/* broker/io/proxy.c: the PROXY protocol layer (proxy.h).
 *
 * The header is gathered (it may come in pieces), checked against the
 * specification of HAProxy's PROXY protocol (version 1: one text line of
 * at most 107 bytes; version 2: a 16-byte binary head, then the addresses
 * and TLVs it announces, which this layer bounds), and what follows it
 * goes up in the same read.  After the header the layer only passes calls
 * through; it never holds bytes, so a detach carries no early bytes.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "iobuf.h"
#include "log.h"

#define PROXY_V1_MAX 107 /* the specification's bound, CRLF included */
#define PROXY_V2_MAX 4096 /* head, addresses and TLVs this layer takes */

static const uint8_t proxy_v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

struct rmq_proxy {
	int version;
	char name[80];
	_Atomic uint64_t headers, refused;
};

struct proxy_conn {
	/* First: a moving connection's state names its layer (conn.h). */
	const struct rmq_conn_layer *layer;
	struct rmq_conn up;
	struct rmq_conn *down;
	struct rmq_proxy *p;
	rmq_read_cb up_read;
	rmq_write_cb up_write;
	rmq_close_cb up_close;
	rmq_detach_cb up_detach;
	struct rmq_iobuf head; /* the header so far, when it came in pieces */
	struct sockaddr_storage src; /* the client's, when has_src */
	uint8_t has_src, done, failed;
};

static const struct rmq_conn_layer proxy_layer;

#define PROXY_CONN(c)                                                          \
	((struct proxy_conn *)(void *)((                                       \
	    char *)(c)-offsetof(struct proxy_conn, up)))

/* ---- the header ---- */

/* One decimal port of a v1 line: 0 to 65535, no sign, no leading zero. */
static int
proxy_v1_port(const char *s, uint16_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static long
proxy_v1(const uint8_t *data, size_t n, struct sockaddr_storage *src,
    int *has_src)
{
	/* Whatever does not start as a header is refused at once, not after
	 * 107 bytes or connect_timeout. */
	if (memcmp(data, "PROXY ", n < 6 ? n : 6) != 0)
		return -1;
	const uint8_t *lf =
	    memchr(data, '\n', n < PROXY_V1_MAX ? n : PROXY_V1_MAX);
	if (lf == NULL)
		return n < PROXY_V1_MAX ? 0 : -1;
	size_t len = (size_t)(lf - data) + 1;
	if (len < 8 || data[len - 2] != '\r')
		return -1;
	char line[PROXY_V1_MAX + 1];
	memcpy(line, data, len - 2);
	line[len - 2] = '\0';
	if (memchr(line, '\0', len - 2) != NULL)
		return -1;
	/* PROXY SP proto SP src SP dst SP sport SP dport */
	char *f[6];
	int k = 0;
	for (char *s = line, *sp; k < 6; s = sp + 1) {
		f[k++] = s;
		sp = strchr(s, ' ');
		if (k == 6 && sp != NULL)
			return -1; /* a seventh field */
		if (sp == NULL)
			break;
		*sp = '\0';
	}
	if (strcmp(f[0], "PROXY") != 0 || k < 2)
		return -1;
	if (strcmp(f[1], "UNKNOWN") == 0) {
		*has_src = 0; /* the rest of the line is to be ignored */
		return (long)len;
	}
	if (k != 6)
		return -1;
	uint16_t sport, dport;
	if (proxy_v1_port(f[4], &sport) != 0 ||
	    proxy_v1_port(f[5], &dport) != 0)
		return -1;
	memset(src, 0, sizeof(*src));
	if (strcmp(f[1], "TCP4") == 0) {
		struct sockaddr_in *in = (void *)src;
		struct in_addr dst;
		if (inet_pton(AF_INET, f[2], &in->sin_addr) != 1 ||
		    inet_pton(AF_INET, f[3], &dst) != 1)
			return -1;
		in->sin_family = AF_INET;
		in->sin_port = htons(sport);
	} else if (strcmp(f[1], "TCP6") == 0) {
		struct sockaddr_in6 *in6 = (void *)src;
		struct in6_addr dst;
		if (inet_pton(AF_INET6, f[2], &in6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, f[3], &dst) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(sport);
	} else {
		return -1;
	}
	*has_src = 1;
	return (long)len;
}

static long
proxy_v2(const uint8_t *data, size_t n, struct sockaddr_storage *src,
    int *has_src)
{
	size_t k = n < sizeof(proxy_v2_sig) ? n : sizeof(proxy_v2_sig);
	if (memcmp(data, proxy_v2_sig, k) != 0)
		return -1;
	if (n < 16)
		return 0;
	uint8_t ver = data[12] >> 4, cmd = data[12] & 0x0f;
	uint8_t fam = data[13];
	size_t len = (size_t)data[14] << 8 | data[15];
	if (ver != 2 || cmd > 1 || 16 + len > PROXY_V2_MAX)
		return -1;
	if (n < 16 + len)
		return 0;
	const uint8_t *a = data + 16;
	*has_src = 0;
	memset(src, 0, sizeof(*src));
	if (cmd == 0) /* LOCAL: the proxy's own connection (a health check) */
		return (long)(16 + len);
	switch (fam) {
	case 0x11: { /* TCP over IPv4 */
		if (len < 12)
			return -1;
		struct sockaddr_in *in = (void *)src;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a, 4);
		memcpy(&in->sin_port, a + 8, 2);
		*has_src = 1;
		break;
	}
	case 0x21: { /* TCP over IPv6 */
		if (len < 36)
			return -1;
		struct sockaddr_in6 *in6 = (void *)src;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a, 16);
		memcpy(&in6->sin6_port, a + 32, 2);
		*has_src = 1;
		break;
	}
	case 0x00: /* UNSPEC: addresses unknown, to be ignored */ break;
	default: /* UDP and UNIX sockets do not carry MQTT here */ return -1;
	}
	return (long)(16 + len); /* TLVs are skipped */
}

long
rmq_proxy_parse(int version, const uint8_t *data, size_t n,
    struct sockaddr_storage *src, int *has_src)
{
	if (n == 0)
		return 0;
	return version == 1 ? proxy_v1(data, n, src, has_src)
			    : proxy_v2(data, n, src, has_src);
}

/* ---- a connection ---- */

static void
proxy_on_read(struct rmq_conn *down, const uint8_t *data, ssize_t n)
{
	struct proxy_conn *pc = down->data;
	if (pc->done || n <= 0) {
		if (pc->up_read && !pc->up.closing)
			pc->up_read(&pc->up, data, n);
		return;
	}
	if (pc->failed)
		return;
	/* The header, from this read alone or from what came before. */
	const uint8_t *h = data;
	size_t hn = (size_t)n, had = pc->head.len;
	if (had) {
		size_t max = pc->p->version == 1 ? PROXY_V1_MAX : PROXY_V2_MAX;
		size_t take = had + hn > max ? max - had : hn;
		if (rmq_iobuf_put(&pc->head, data, take) != 0)
			goto refuse;
		h = pc->head.p;
		hn = pc->head.len;
	}
	int has_src = 0;
	long used = rmq_proxy_parse(pc->p->version, h, hn, &pc->src, &has_src);
	if (used < 0)
		goto refuse;
	if (used == 0) {
		if (had == 0 && rmq_iobuf_put(&pc->head, data, (size_t)n) != 0)
			goto refuse;
		return;
	}
	pc->done = 1;
	pc->has_src = (uint8_t)has_src;
	atomic_fetch_add(&pc->p->headers, 1);
	/* What followed the header in this read goes up. */
	size_t rest_from = (size_t)used - had;
	rmq_iobuf_free(&pc->head);
	if (rest_from < (size_t)n && pc->up_read && !pc->up.closing)
		pc->up_read(&pc->up, data + rest_from,
		    (ssize_t)((size_t)n - rest_from));
	return;
refuse:
	pc->failed = 1;
	rmq_iobuf_free(&pc->head);
	atomic_fetch_add(&pc->p->refused, 1);
	rmq_log(RMQ_LOG_INFO,
	    "listener %s: connection closed: no valid PROXY protocol v%d header",
	    pc->p->name, pc->p->version);
	if (pc->up_read && !pc->up.closing)
		pc->up_read(&pc->up, NULL, -EPROTO);
}

static int
proxy_read_start(struct rmq_conn *c, rmq_read_cb cb)
{
	struct proxy_conn *pc = PROXY_CONN(c);
	pc->up_read = cb;
	return rmq_conn_read_start(pc->down, proxy_on_read);
}

static void
proxy_on_written(struct rmq_conn *down, int status)
{
	struct proxy_conn *pc = down->data;
	rmq_write_cb cb = pc->up_write;
	pc->up_write = NULL;
	if (cb)
		cb(&pc->up, status);
}

static int
proxy_write(struct rmq_conn *c, struct iovec *iov, int n, rmq_write_cb cb)
{
	struct proxy_conn *pc = PROXY_CONN(c);
	if (c->closing)
		return -EPIPE;
	if (pc->up_write)
		return -EBUSY;
	int rc = rmq_conn_write(pc->down, iov, n, proxy_on_written);
	if (rc == 0)
		pc->up_write = cb;
	return rc;
}

static int
proxy_shutdown(struct rmq_conn *c)
{
	struct proxy_conn *pc = PROXY_CONN(c);
	if (c->closing)
		return -EPIPE;
	if (pc->up_write)
		return -EBUSY;
	return rmq_conn_shutdown(pc->down);
}

static void
proxy_conn_free(struct proxy_conn *pc)
{
	rmq_iobuf_free(&pc->head);
	free(pc);
}

static void
proxy_on_down_closed(struct rmq_conn *down)
{
	struct proxy_conn *pc = down->data;
	if (pc->up_close)
		pc->up_close(&pc->up);
	proxy_conn_free(pc);
}

static void
proxy_close(struct rmq_conn *c, rmq_close_cb cb)
{
	struct proxy_conn *pc = PROXY_CONN(c);
	if (c->closing)
		return;
	c->closing = 1;
	pc->up_close = cb;
	rmq_conn_close(pc->down, proxy_on_down_closed);
}

static void
proxy_on_down_detached(struct rmq_conn *down, struct rmq_conn_move *below)
{
	struct proxy_conn *pc = down->data;
	struct rmq_conn_move mv = {
		.fd = below->fd,
		.layers = pc,
		.early = below->early,
		.early_len = below->early_len,
	};
	pc->down = NULL;
	pc->up_detach(&pc->up, &mv);
}

static void
proxy_detach(struct rmq_conn *c, rmq_detach_cb cb)
{
	struct proxy_conn *pc = PROXY_CONN(c);
	if (c->closing)
		return;
	c->closing = 1;
	pc->up_detach = cb;
	rmq_conn_detach(pc->down, proxy_on_down_detached);
}

static int
proxy_adopt(void *layers, struct rmq_conn *below, struct rmq_conn **out)
{
	struct proxy_conn *pc = layers;
	if (!pc->done)
		return -EPROTO;
	pc->down = below;
	rmq_conn_over(&pc->up, below, pc);
	pc->up_read = NULL;
	pc->up_write = NULL;
	pc->up_detach = NULL;
	*out = &pc->up;
	return 0;
}

static void
proxy_drop(void *layers)
{
	proxy_conn_free(layers);
}

static int
proxy_peer(struct rmq_conn *c, enum rmq_conn_peer what, char *buf, size_t len)
{
	struct proxy_conn *pc = PROXY_CONN(c);
	if (what != RMQ_PEER_ADDR)
		return -ENOENT; /* TLS over this layer answers for itself */
	if (pc->has_src)
		return rmq_conn_addr_text((const struct sockaddr *)&pc->src,
		    buf, len);
	/* A LOCAL or UNKNOWN header: the socket's own peer. */
	struct rmq_conn bare = { .fd = c->fd };
	return rmq_conn_peer(&bare, what, buf, len);
}

static const struct rmq_conn_layer proxy_layer = {
	.name = "proxy",
	.read_start = proxy_read_start,
	.write = proxy_write,
	.shutdown = proxy_shutdown,
	.close = proxy_close,
	.detach = proxy_detach,
	.peer = proxy_peer,
	.adopt = proxy_adopt,
	.drop = proxy_drop,
};

int
rmq_proxy_wrap(struct rmq_proxy *p, struct rmq_conn *below,
    struct rmq_conn **out)
{
	struct proxy_conn *pc = calloc(1, sizeof(*pc));
	if (pc == NULL)
		return -ENOMEM;
	pc->layer = &proxy_layer;
	pc->p = p;
	pc->down = below;
	rmq_conn_over(&pc->up, below, pc);
	pc->up.layer = &proxy_layer;
	*out = &pc->up;
	return 0;
}

struct rmq_conn *
rmq_proxy_upper(struct rmq_conn *below)
{
	struct proxy_conn *pc = below->data;
	return &pc->up;
}

/* ---- the listener's ---- */

int
rmq_proxy_new(int version, const char *name, struct rmq_proxy **out)
{
	struct rmq_proxy *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->version = version;
	snprintf(p->name, sizeof(p->name), "%s", name);
	*out = p;
	return 0;
}

void
rmq_proxy_free(struct rmq_proxy *p)
{
	free(p);
}

void
rmq_proxy_stats(const struct rmq_proxy *p, struct rmq_proxy_stats *out)
{
	struct rmq_proxy *m = (struct rmq_proxy *)p;
	out->headers = atomic_load(&m->headers);
	out->refused = atomic_load(&m->refused);
}
