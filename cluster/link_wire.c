/* cluster/link_wire.c: what links say on the wire (link.h): the hello a
 * dialling node opens with, and the frames after it.  Pure, for tests.
 */
#include "link.h"

#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "grow.h"
#include "wire.h"

#define MAGIC0 'R'
#define MAGIC1 'L'
#define VERSION 1

_Static_assert(RMQ_LINK_FRAME_MAX ==
	RMQ_FWD_MSG_MAX + RMQ_FWD_BATCH_BYTES + 4096,
    "a frame holds a batch of one message of MQTT's largest");

size_t
rmq_link_hello_encode(uint8_t *buf, const char *name, uint64_t epoch,
    uint64_t to_epoch, uint8_t worker)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl > 255)
		return 0;
	struct rmq_wout o = { buf, 0, RMQ_LINK_HELLO_MAX, 0 };
	rmq_wput(&o, (const uint8_t[]){ MAGIC0, MAGIC1, VERSION }, 3);
	rmq_wput_str(&o, name, nl, 1);
	rmq_wput_u(&o, epoch, 8);
	rmq_wput_u(&o, to_epoch, 8);
	rmq_wput_u(&o, worker, 1);
	return o.full ? 0 : o.len;
}

int
rmq_link_hello_decode(const uint8_t *p, size_t len, char *name, size_t name_cap,
    uint64_t *epoch, uint64_t *to_epoch, uint8_t *worker)
{
	if (len >= 1 && p[0] != MAGIC0)
		return -1;
	if (len >= 2 && p[1] != MAGIC1)
		return -1;
	if (len >= 3 && p[2] != VERSION)
		return -1;
	if (len < 4)
		return 0;
	size_t nl = p[3], need = 4 + nl + 17;
	if (nl == 0 || nl >= name_cap)
		return -1;
	if (len < need)
		return 0;
	memcpy(name, p + 4, nl);
	name[nl] = '\0';
	struct rmq_win in = { p + 4 + nl, 17, 0 };
	*epoch = rmq_wget_u(&in, 8);
	*to_epoch = rmq_wget_u(&in, 8);
	*worker = (uint8_t)rmq_wget_u(&in, 1);
	return (int)need;
}

int
rmq_link_frame(const uint8_t *p, size_t len, size_t *flen)
{
	if (len < 4)
		return 0;
	size_t n =
	    (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (n < 2 || n > RMQ_LINK_FRAME_MAX || (len > 4 && p[4] != 'R') ||
	    (len > 5 && p[5] != 'F' && p[5] != 'K'))
		return -1;
	*flen = n;
	return len - 4 < n ? 0 : 1;
}

/* len more bytes into in->p. */
static int
in_put(struct rmq_link_in *in, const uint8_t *p, size_t len)
{
	if (in->len + len > RMQ_LINK_FRAME_MAX + 4)
		return -1;
	if (rmq_grow(&in->p, &in->cap, (uint32_t)(in->len + len), 1, 16384,
		RMQ_LINK_FRAME_MAX + 4) != 0)
		return -2;
	memcpy(in->p + in->len, p, len);
	in->len += len;
	in->copied += len;
	return 0;
}

/* Whole frames at p[0..n), taken; *used the bytes they were.  0 (the
 * rest is a frame's beginning, or take stopped), or -1. */
static int
in_frames(const uint8_t *p, size_t n, rmq_link_take_fn take, void *arg,
    size_t *used)
{
	size_t at = 0, flen;
	int got, rc = 0;
	while ((got = rmq_link_frame(p + at, n - at, &flen)) == 1) {
		rc = take(arg, p + at + 4, flen);
		if (rc < 0)
			return -1;
		at += 4 + flen;
		if (rc > 0)
			break;
	}
	*used = at;
	return got < 0 && rc == 0 ? -1 : rc > 0 ? 1 : 0;
}

int
rmq_link_in_feed(struct rmq_link_in *in, const uint8_t *p, size_t n,
    rmq_link_take_fn take, void *arg)
{
	size_t used = 0, flen = 0;
	int got = 0, rc;
	/* A frame begun before: only what it lacks is copied. */
	while (in->len > 0 &&
	    (got = in->len >= 4 ? rmq_link_frame(in->p, in->len, &flen) : 0) ==
		0) {
		size_t more = (in->len >= 4 ? 4 + flen : 4) - in->len;
		if (more > n - used)
			more = n - used;
		if (more == 0)
			return 0; /* still short: the next read */
		if ((rc = in_put(in, p + used, more)) != 0)
			return rc;
		used += more;
	}
	if (in->len > 0) {
		if (got < 0 || (rc = take(arg, in->p + 4, flen)) < 0)
			return -1;
		in->len = 0;
		if (rc > 0)
			return 0;
	}
	/* Whole frames where they lie; the last one's beginning kept. */
	size_t k;
	if ((rc = in_frames(p + used, n - used, take, arg, &k)) != 0)
		return rc < 0 ? -1 : 0;
	used += k;
	return used < n ? in_put(in, p + used, n - used) : 0;
}

void
rmq_link_in_free(struct rmq_link_in *in)
{
	free(in->p);
	memset(in, 0, sizeof(*in));
}
