/* test/fuzz/fuzz_cluster.c: libFuzzer target for what a peer's link
 * carries: frames cut into reads as TCP may (cluster/link_wire.c),
 * batches and acknowledgements (cluster/forward.c), each message's head
 * and shared groups, retained changes, and the message itself
 * (broker/mqtt/cluster_msg.c).
 *
 * The first input byte seeds how the rest is cut into reads.  Each form
 * has one encoding, so whatever the decoders accept must encode back to
 * the bytes it came from: a message's head, and a message but for the 8
 * bytes of its expiry, which count from the clock.  A batch's messages
 * must number its count.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "forward.h"
#include "link.h"
#include "loop.h"
#include "msg.h"
#include "retained.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Like assert(), but kept in release builds. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#define MSG_EXPIRY 0x08 /* cluster_msg.c's flag: 8 bytes of time left */

/* broker/cluster.h's form of a message at p. */
static void
fuzz_message(const uint8_t *p, size_t len)
{
	struct rmq_msg *m = NULL;
	const char *why = NULL;
	int rc = rmq_cluster_msg_decode(p, len, 1ull << 63 | 1,
	    rmq_loop_clock_ms(), &m, &why);
	if (rc != 0) {
		CHECK(m == NULL);
		CHECK(rc != -EINVAL || why != NULL);
		return;
	}
	size_t n = rmq_cluster_msg_size(m);
	uint8_t *enc = n ? malloc(n) : NULL;
	if (enc != NULL) { /* n is 0 when it expired meanwhile */
		CHECK(n == len);
		rmq_cluster_msg_encode(m, enc);
		size_t skip = (p[0] & MSG_EXPIRY) ? 8 : 0;
		CHECK(enc[0] == p[0]);
		CHECK(memcmp(enc + 1 + skip, p + 1 + skip, n - 1 - skip) == 0);
		free(enc);
	}
	rmq_msg_rele(m);
}

/* A worker stream's message: head, groups when flagged, the message. */
static void
fuzz_stream_message(const uint8_t *p, size_t len)
{
	uint64_t xid;
	int groups;
	int h = rmq_fwd_msg_head_get(p, len, &xid, &groups);
	if (h < 0)
		return;
	uint8_t head[16];
	CHECK(rmq_fwd_msg_head_size(xid) == (size_t)h);
	CHECK(rmq_fwd_msg_head_put(head, xid, groups) == head + h);
	CHECK(memcmp(head, p, (size_t)h) == 0);
	p += h;
	len -= (size_t)h;
	if (groups) {
		size_t g = rmq_msg_groups_check(p, len);
		if (g == 0)
			return;
		p += g;
		len -= g;
	}
	fuzz_message(p, len);
}

static int
fuzz_take(void *arg, const uint8_t *f, size_t flen)
{
	(void)arg;
	struct rmq_fwd_head h;
	const uint8_t *body, *p;
	size_t left, len;
	if (f[1] == 'K') {
		(void)rmq_fwd_ack_decode(f, flen, &h);
		return 0;
	}
	if (rmq_fwd_batch_decode(f, flen, &h, &body, &left) != 0)
		return 0;
	uint32_t n = 0;
	while (rmq_fwd_next(&body, &left, &p, &len) == 1) {
		n++;
		struct rmq_retained_change c;
		if (rmq_retained_decode(p, len, &c) == 0)
			fuzz_message(c.msg, c.msg_len);
		else
			fuzz_stream_message(p, len);
	}
	CHECK(n == h.count && left == 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned seed = data[0];
	data++;
	size--;
	struct rmq_link_in in = { 0 };
	for (size_t at = 0; at < size;) {
		size_t n = seed == 0
		    ? size - at
		    : 1 + (seed * 31u + at * 17u) % (2u * seed + 1u);
		if (n > size - at)
			n = size - at;
		if (rmq_link_in_feed(&in, data + at, n, fuzz_take, NULL) < 0)
			break;
		at += n;
	}
	rmq_link_in_free(&in);
	return 0;
}
