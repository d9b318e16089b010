/* test/core/test_packet.c: tests core/packet.c: packet type names and the
 * walk over SUBSCRIBE and UNSUBSCRIBE entries in their two forms (decoded
 * wire bytes, or arrays built by hand).
 */
#include <criterion/criterion.h>

#include "packet.h"
#include "rmq_test.h"

TestSuite(packet);

Test(packet, type_names)
{
	cr_assert_str_eq(rmq_packet_type_name(RMQ_CONNECT), "CONNECT");
	cr_assert_str_eq(rmq_packet_type_name(RMQ_PUBCOMP), "PUBCOMP");
	cr_assert_str_eq(rmq_packet_type_name(RMQ_AUTH), "AUTH");
	cr_assert_str_eq(rmq_packet_type_name(0), "reserved");
	cr_assert_str_eq(rmq_packet_type_name(99), "reserved");
}

Test(packet, subscribe_walk_raw)
{
	/* 5.0: "a" with options 0x2E (RH 2, RAP, NL, QoS 2), then "b/#"
	 * with 0x01. */
	static const char raw[] = { 0, 1, 'a', 0x2E, 0, 3, 'b', '/', '#',
		0x01 };
	struct rmq_subscribe s = { .count = 2, .raw = { raw, sizeof(raw) } };
	struct rmq_sub_entry e;
	uint32_t off = 0;
	cr_assert(rmq_subscribe_next(&s, RMQ_V5, &off, &e));
	cr_assert(rmq_test_str_eq(e.filter, "a"));
	cr_assert_eq(e.qos, 2);
	cr_assert_eq(e.no_local, 1);
	cr_assert_eq(e.retain_as_published, 1);
	cr_assert_eq(e.retain_handling, 2);
	cr_assert(rmq_subscribe_next(&s, RMQ_V5, &off, &e));
	cr_assert(rmq_test_str_eq(e.filter, "b/#"));
	cr_assert_eq(e.qos, 1);
	cr_assert_eq(e.retain_handling, 0);
	cr_assert_not(rmq_subscribe_next(&s, RMQ_V5, &off, &e));
}

Test(packet, subscribe_walk_array_and_empty)
{
	struct rmq_sub_entry in[] = { { .filter = rmq_test_str("x"),
	    .qos = 1 } };
	struct rmq_subscribe s = { .count = 1, .entries = in };
	struct rmq_sub_entry e;
	uint32_t off = 0;
	cr_assert(rmq_subscribe_next(&s, RMQ_V311, &off, &e));
	cr_assert(rmq_test_str_eq(e.filter, "x"));
	cr_assert_not(rmq_subscribe_next(&s, RMQ_V311, &off, &e));
	struct rmq_subscribe empty = { 0 };
	off = 0;
	cr_assert_not(rmq_subscribe_next(&empty, RMQ_V5, &off, &e));
}

Test(packet, unsubscribe_walk)
{
	static const char raw[] = { 0, 1, 'a', 0, 0 };
	struct rmq_unsubscribe u = { .count = 2, .raw = { raw, sizeof(raw) } };
	struct rmq_str f;
	uint32_t off = 0;
	cr_assert(rmq_unsubscribe_next(&u, &off, &f));
	cr_assert(rmq_test_str_eq(f, "a"));
	cr_assert(rmq_unsubscribe_next(&u, &off, &f));
	cr_assert_eq(f.len, 0);
	cr_assert_not(rmq_unsubscribe_next(&u, &off, &f));
	struct rmq_str arr[] = { rmq_test_str("q") };
	struct rmq_unsubscribe v = { .count = 1, .filters = arr };
	off = 0;
	cr_assert(rmq_unsubscribe_next(&v, &off, &f));
	cr_assert(rmq_test_str_eq(f, "q"));
	cr_assert_not(rmq_unsubscribe_next(&v, &off, &f));
}
