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
