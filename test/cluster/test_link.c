/* test/cluster/test_link.c: what links say on the wire (cluster/link.h):
 * the dialling node's hello, and the frames that follow it.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "forward.h"
#include "link.h"

static uint8_t buf[RMQ_LINK_HELLO_MAX + 16];

Test(link_hello, both_ways)
{
	size_t n = rmq_link_hello_encode(buf, "ringmq-1", 0x0102030405060708ull,
	    0x1112131415161718ull, 3);
	cr_assert_eq(n, 3 + 1 + 8 + 8 + 8 + 1);
	char name[64];
	uint64_t epoch, to;
	uint8_t w;
	cr_assert_eq(rmq_link_hello_decode(buf, n, name, sizeof(name), &epoch,
			 &to, &w),
	    (int)n);
	cr_assert_str_eq(name, "ringmq-1");
	cr_assert_eq(epoch, 0x0102030405060708ull);
	cr_assert_eq(to, 0x1112131415161718ull);
	cr_assert_eq(w, 3);
	/* What follows it is not the hello's: the length says where it
	 * ends. */
	buf[n] = 0;
	cr_assert_eq(rmq_link_hello_decode(buf, n + 1, name, sizeof(name),
			 &epoch, &to, &w),
	    (int)n);
}

Test(link_hello, a_part_asks_for_more)
{
	size_t n = rmq_link_hello_encode(buf, "a", 1, 2, 0);
	char name[64];
	uint64_t epoch, to;
	uint8_t w;
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(rmq_link_hello_decode(buf, k, name, sizeof(name),
				 &epoch, &to, &w),
		    0, "%zu of %zu bytes", k, n);
}

Test(link_hello, not_a_hello)
{
	char name[8];
	uint64_t epoch, to;
	uint8_t w;
	/* An MQTT CONNECT sent to the wrong port, at its first byte. */
	const uint8_t connect[] = { 0x10, 0x0c, 0x00, 0x04, 'M', 'Q' };
	cr_assert_eq(rmq_link_hello_decode(connect, 1, name, sizeof(name),
			 &epoch, &to, &w),
	    -1);
	size_t n = rmq_link_hello_encode(buf, "node", 1, 2, 0);
	buf[2] = 9; /* a version this node does not read */
	cr_assert_eq(rmq_link_hello_decode(buf, n, name, sizeof(name), &epoch,
			 &to, &w),
	    -1);
	buf[2] = 1;
	buf[3] = 0; /* an empty name */
	cr_assert_eq(rmq_link_hello_decode(buf, n, name, sizeof(name), &epoch,
			 &to, &w),
	    -1);
	/* A name longer than the reader holds. */
	n = rmq_link_hello_encode(buf, "a-long-node-name", 1, 2, 0);
	cr_assert_eq(rmq_link_hello_decode(buf, n, name, sizeof(name), &epoch,
			 &to, &w),
	    -1);
	/* And none is written for a name past 255 bytes. */
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(rmq_link_hello_encode(buf, big, 1, 2, 0), 0);
}

static size_t
frame(uint8_t *p, uint32_t len, char kind)
{
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[4] = 'R';
	p[5] = (uint8_t)kind;
	return 4 + len;
}

Test(link_frame, whole_parts_and_bad)
{
	uint8_t f[64] = { 0 };
	size_t flen = 0;
	size_t n = frame(f, 20, 'F');
	cr_assert_eq(rmq_link_frame(f, n, &flen), 1);
	cr_assert_eq(flen, 20);
	/* Cut anywhere: more is needed, nothing claimed. */
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(rmq_link_frame(f, k, &flen), 0, "%zu bytes", k);
	frame(f, 20, 'K');
	cr_assert_eq(rmq_link_frame(f, n, &flen), 1);
	/* Neither a batch nor an acknowledgement (a hello is not a
	 * frame), told as soon as its byte is there. */
	frame(f, 20, 'H');
	cr_assert_eq(rmq_link_frame(f, 6, &flen), -1);
	f[4] = 'X';
	cr_assert_eq(rmq_link_frame(f, 5, &flen), -1);
	/* Too short to be a message, or past the largest batch. */
	frame(f, 1, 'F');
	cr_assert_eq(rmq_link_frame(f, 5, &flen), -1);
	frame(f, RMQ_LINK_FRAME_MAX + 1, 'F');
	cr_assert_eq(rmq_link_frame(f, 4, &flen), -1);
	frame(f, RMQ_LINK_FRAME_MAX, 'F');
	cr_assert_eq(rmq_link_frame(f, 6, &flen), 0);
}

/* ---- the reading side: frames out of reads cut anywhere ---- */

struct taken {
	uint8_t got[4096];
	size_t len; /* the messages taken, one after another */
	unsigned n, stop_at, refuse_at;
};

static int
take(void *arg, const uint8_t *msg, size_t len)
{
	struct taken *t = arg;
	cr_assert_leq(t->len + len, sizeof(t->got));
	t->n++;
	if (t->refuse_at && t->n == t->refuse_at)
		return -1;
	memcpy(t->got + t->len, msg, len);
	t->len += len;
	return t->stop_at && t->n == t->stop_at ? 1 : 0;
}

/* Four frames of different lengths, their messages numbered: the
 * stream s[0..n), where each frame ends, and their messages one after
 * another. */
static uint8_t s[512], msgs[512];
static size_t ends[4], mlen, n;

static void
stream(void)
{
	static const size_t lens[] = { 2, 40, 300, 7 };
	size_t at = 0;
	mlen = 0;
	for (size_t i = 0; i < 4; i++) {
		frame(s + at, lens[i], i % 2 ? 'K' : 'F');
		for (size_t k = 2; k < lens[i]; k++)
			s[at + 4 + k] = (uint8_t)(i * 50 + k);
		memcpy(msgs + mlen, s + at + 4, lens[i]);
		mlen += lens[i];
		at += 4 + lens[i];
		ends[i] = at;
	}
	n = at;
}

TestSuite(link_in, .init = stream);

Test(link_in, frames_whole_however_the_reads_cut_them)
{
	/* Every pair of cuts: three reads. */
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct rmq_link_in in = { 0 };
			struct taken t = { 0 };
			cr_assert_eq(rmq_link_in_feed(&in, s, a, take, &t), 0);
			cr_assert_eq(rmq_link_in_feed(&in, s + a, b - a, take,
					 &t),
			    0);
			cr_assert_eq(rmq_link_in_feed(&in, s + b, n - b, take,
					 &t),
			    0);
			cr_assert_eq(t.n, 4, "cuts %zu %zu", a, b);
			cr_assert_eq(t.len, mlen);
			cr_assert_eq(memcmp(t.got, msgs, mlen), 0);
			cr_assert_eq(in.len, 0);
			/* Only the frames a cut falls inside are copied, each
			 * once and whole. */
			size_t want = 0, start = 0;
			for (size_t i = 0; i < 4; i++) {
				int cut = (a > start && a < ends[i]) ||
				    (b > start && b < ends[i]);
				want += cut ? ends[i] - start : 0;
				start = ends[i];
			}
			cr_assert_eq(in.copied, want, "cuts %zu %zu: %llu", a,
			    b, (unsigned long long)in.copied);
			rmq_link_in_free(&in);
		}
	}
}

Test(link_in, one_byte_at_a_time)
{
	struct rmq_link_in in = { 0 };
	struct taken t = { 0 };
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(rmq_link_in_feed(&in, s + i, 1, take, &t), 0);
	cr_assert_eq(t.n, 4);
	cr_assert_eq(memcmp(t.got, msgs, mlen), 0);
	cr_assert_eq(in.copied, n);
	rmq_link_in_free(&in);
}

Test(link_in, bad_frames_and_a_stop)
{
	struct rmq_link_in in = { 0 };
	struct taken t = { 0 };
	/* A frame no link sends, whole or begun in an earlier read. */
	uint8_t bad[512];
	memcpy(bad, s, n);
	bad[ends[1] + 5] = 'H';
	cr_assert_eq(rmq_link_in_feed(&in, bad, n, take, &t), -1);
	cr_assert_eq(t.n, 2);
	rmq_link_in_free(&in);
	memset(&t, 0, sizeof(t));
	cr_assert_eq(rmq_link_in_feed(&in, bad, ends[1] + 5, take, &t), 0);
	cr_assert_eq(rmq_link_in_feed(&in, bad + ends[1] + 5, 1, take, &t), -1);
	rmq_link_in_free(&in);
	/* A length past the largest frame: refused on its four bytes,
	 * nothing more copied. */
	memset(&t, 0, sizeof(t));
	frame(bad, RMQ_LINK_FRAME_MAX + 1, 'F');
	cr_assert_eq(rmq_link_in_feed(&in, bad, 3, take, &t), 0);
	cr_assert_eq(rmq_link_in_feed(&in, bad + 3, 3, take, &t), -1);
	cr_assert_leq(in.copied, 4);
	rmq_link_in_free(&in);
	/* A frame the taker refuses. */
	memset(&t, 0, sizeof(t));
	t.refuse_at = 3;
	cr_assert_eq(rmq_link_in_feed(&in, s, n, take, &t), -1);
	rmq_link_in_free(&in);
	/* The taker stops (its link closed): nothing more taken or kept. */
	memset(&t, 0, sizeof(t));
	t.stop_at = 2;
	cr_assert_eq(rmq_link_in_feed(&in, s, n - 1, take, &t), 0);
	cr_assert_eq(t.n, 2);
	cr_assert_eq(in.len, 0);
	rmq_link_in_free(&in);
}
