/* test/broker/mqtt/test_access.c: what the ACL lets a session do
 * (broker/mqtt/access.c) on a node on the fake loop backend, with a real
 * acl_file in Mosquitto's format: SUBSCRIBE refused per filter, PUBLISH
 * dropped with 5.0 0x87, deliveries a wide filter would bring filtered,
 * %c patterns, a will refused at CONNECT, and a reload.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz.h"
#include "codec.h"
#include "rmq_test.h"
#include "rmq_test_node.h"

static char dir[64], file[128];

static const char acl_text[] = "# anonymous clients\n"
			       "topic read public/#\n"
			       "topic write public/anon\n"
			       "user alice\n"
			       "topic readwrite alice/#\n"
			       "topic write public/#\n"
			       "topic write secret/#\n"
			       "topic write other/#\n"
			       "user carol\n"
			       "topic read #\n"
			       "topic deny secret/#\n"
			       "pattern readwrite clients/%c/#\n";

static void
write_file(const char *text)
{
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void
tweak(struct rmq_config *cfg)
{
	snprintf(cfg->acl_file, sizeof(cfg->acl_file), "%s", file);
}

static void
start(void)
{
	snprintf(dir, sizeof(dir), "/tmp/rmq-acl-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/acl", dir);
	write_file(acl_text);
	rmq_test_node_start(1, tweak);
	cr_assert_not_null(rmq_test_node.authz);
}

static void
stop(void)
{
	rmq_test_node_stop();
	unlink(file);
	rmdir(dir);
}

TestSuite(access, .init = start, .fini = stop, .timeout = 30);

/* A client of version that connects as id with user name `user` (NULL:
 * none; no password file, so on the unit tests' loopback listener the
 * name is taken as given). */
static struct rmq_fake_client *
client(uint8_t version, const char *id, const char *user)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = version;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str(id);
	if (user)
		p.connect.username = rmq_test_str(user);
	rmq_test_send_packet(c, &p, version);
	uint8_t ack[64];
	cr_assert_gt(rmq_test_next_packet(c, ack, sizeof(ack)), 0);
	cr_assert_eq(ack[0], 0x20);
	cr_assert_eq(ack[3], 0, "%s connected", id);
	return c;
}

/* SUBSCRIBE to one filter; returns the SUBACK's code. */
static uint8_t
subscribe(struct rmq_fake_client *c, uint8_t version, const char *filter)
{
	struct rmq_sub_entry e = { .filter = rmq_test_str(filter), .qos = 1 };
	struct rmq_packet p = { .type = RMQ_SUBSCRIBE, .flags = 2 };
	p.subscribe.packet_id = 1;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	rmq_test_send_packet(c, &p, version);
	uint8_t ack[64];
	size_t n = rmq_test_next_packet(c, ack, sizeof(ack));
	cr_assert_geq(n, 5);
	cr_assert_eq(ack[0], 0x90);
	return ack[n - 1];
}

/* The topic of the next PUBLISH c got, into buf ("" when none came). */
static void
next_topic(struct rmq_fake_client *c, char *buf, size_t len)
{
	uint8_t pkt[512];
	size_t n = rmq_test_next_packet(c, pkt, sizeof(pkt));
	buf[0] = '\0';
	if (n == 0)
		return;
	cr_assert_eq(pkt[0] & 0xf0, 0x30, "a PUBLISH");
	/* Fixed header of one length byte for these small packets. */
	size_t tl = (size_t)pkt[2] << 8 | pkt[3];
	cr_assert_lt(tl, len);
	memcpy(buf, pkt + 4, tl);
	buf[tl] = '\0';
}

/* [MQTT-3.9.3-1] 0x80 in 3.1.1; 5.0 3.9.3 0x87 Not authorized: a filter
 * without wildcards names the one topic it brings, refused when that
 * topic may not be read; a filter with wildcards is refused when no topic
 * it matches could be read, granted otherwise and filtered on delivery
 * (below). */
Test(access, subscribe_refused_per_filter)
{
	struct rmq_fake_client *a3 = client(RMQ_V311, "anon3", NULL);
	cr_assert_eq(subscribe(a3, RMQ_V311, "public/#"), 1);
	cr_assert_eq(subscribe(a3, RMQ_V311, "alice/diary"), 0x80);
	cr_assert_eq(subscribe(a3, RMQ_V311, "alice/#"), 0x80);
	cr_assert_eq(subscribe(a3, RMQ_V311, "+/#"), 1, "public/x passes");
	struct rmq_fake_client *a5 = client(RMQ_V5, "anon5", NULL);
	cr_assert_eq(subscribe(a5, RMQ_V5, "alice/diary"), 0x87);
	cr_assert_eq(subscribe(a5, RMQ_V5, "$share/g/alice/diary"), 0x87);
	cr_assert_eq(subscribe(a5, RMQ_V5, "$share/g/public/news"), 1);
	struct rmq_fake_client *al = client(RMQ_V311, "al", "alice");
	cr_assert_eq(subscribe(al, RMQ_V311, "alice/diary"), 1);
	/* What +/# brings the anonymous client: nothing of alice's. */
	rmq_test_publish(al, RMQ_V311, "alice/diary", "dear", 0, 0);
	char t[128];
	next_topic(al, t, sizeof(t));
	cr_assert_str_eq(t, "alice/diary");
	RMQ_EXPECT_NOTHING(a3);
	cr_assert_geq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(acl_denied)), 3);
}

/* A PUBLISH the client may not make: 5.0 PUBACK 0x87, 3.1.1 a plain
 * PUBACK; never delivered, never retained. */
Test(access, publish_refused_is_acknowledged_and_dropped)
{
	struct rmq_fake_client *sub = client(RMQ_V311, "reader", NULL);
	cr_assert_eq(subscribe(sub, RMQ_V311, "public/#"), 1);
	struct rmq_fake_client *a5 = client(RMQ_V5, "anon5", NULL);
	rmq_test_publish(a5, RMQ_V5, "public/news", "nope", 1, 7);
	RMQ_EXPECT(a5, 0x40, 0x03, 0x00, 0x07, 0x87);
	struct rmq_fake_client *a3 = client(RMQ_V311, "anon3", NULL);
	rmq_test_publish(a3, RMQ_V311, "public/news", "nope", 1, 8);
	RMQ_EXPECT(a3, 0x40, 0x02, 0x00, 0x08);
	RMQ_EXPECT_NOTHING(sub);
	/* What it may publish goes through. */
	rmq_test_publish(a3, RMQ_V311, "public/anon", "yes", 0, 0);
	char t[128];
	next_topic(sub, t, sizeof(t));
	cr_assert_str_eq(t, "public/anon");
}

/* A filter wider than what the subscriber may read: each delivery is
 * asked (read # but deny secret/#). */
Test(access, deliveries_filtered_by_read_access)
{
	struct rmq_fake_client *carol = client(RMQ_V311, "carol", "carol");
	cr_assert_eq(subscribe(carol, RMQ_V311, "#"), 1);
	struct rmq_fake_client *al = client(RMQ_V311, "al", "alice");
	rmq_test_publish(al, RMQ_V311, "secret/plans", "x", 0, 0);
	rmq_test_publish(al, RMQ_V311, "other/news", "y", 0, 0);
	rmq_test_publish(al, RMQ_V311, "secret/plans", "x", 0, 0);
	char t[128];
	next_topic(carol, t, sizeof(t));
	cr_assert_str_eq(t, "other/news", "secret/ never reaches carol");
	RMQ_EXPECT_NOTHING(carol);
}

/* pattern lines: %c is the client's own identifier. */
Test(access, pattern_with_client_id)
{
	struct rmq_fake_client *c = client(RMQ_V311, "c1", NULL);
	cr_assert_eq(subscribe(c, RMQ_V311, "clients/c1/#"), 1);
	cr_assert_eq(subscribe(c, RMQ_V311, "clients/c2/state"), 0x80);
	rmq_test_publish(c, RMQ_V311, "clients/c1/state", "on", 0, 0);
	char t[128];
	next_topic(c, t, sizeof(t));
	cr_assert_str_eq(t, "clients/c1/state");
}

/* A will whose topic the client may not publish to: CONNECT refused,
 * 5.0 0x87, 3.1.1 return code 5. */
Test(access, will_refused_at_connect)
{
	static const char *const versions[] = { "v311", "v5" };
	for (int v = 0; v < 2; v++) {
		uint8_t version = v ? RMQ_V5 : RMQ_V311;
		struct rmq_fake_client *c = rmq_test_client(0);
		struct rmq_packet p = { .type = RMQ_CONNECT };
		p.connect.version = version;
		p.connect.clean = 1;
		p.connect.client_id = rmq_test_str("willer");
		p.connect.will = 1;
		p.connect.will_topic = rmq_test_str("alice/last");
		p.connect.will_payload = rmq_test_str("gone");
		rmq_test_send_packet(c, &p, version);
		uint8_t ack[64];
		cr_assert_gt(rmq_test_next_packet(c, ack, sizeof(ack)), 0);
		cr_assert_eq(ack[3], v ? 0x87 : 5, "%s", versions[v]);
		RMQ_EXPECT_CLOSED(c);
	}
}

/* A reload reads the file again; answers remembered before are asked
 * again. */
Test(access, reload_changes_the_answers)
{
	struct rmq_fake_client *sub = client(RMQ_V311, "reader", NULL);
	cr_assert_eq(subscribe(sub, RMQ_V311, "public/#"), 1);
	struct rmq_fake_client *a3 = client(RMQ_V311, "anon3", NULL);
	rmq_test_publish(a3, RMQ_V311, "public/anon", "1", 0, 0);
	char t[128];
	next_topic(sub, t, sizeof(t));
	cr_assert_str_eq(t, "public/anon");

	write_file("topic read public/#\n");
	struct rmq_config cfg = rmq_test_node.cfg;
	char err[512];
	cr_assert_eq(rmq_authz_reload(rmq_test_node.authz_impl, &cfg, err,
			 sizeof(err)),
	    0, "%s", err);
	rmq_test_publish(a3, RMQ_V311, "public/anon", "2", 0, 0);
	RMQ_EXPECT_NOTHING(sub);

	/* A broken file: refused, with its line; the one before stays. */
	write_file("topic read public/#\ntopic sideways x\n");
	cr_assert_neq(rmq_authz_reload(rmq_test_node.authz_impl, &cfg, err,
			  sizeof(err)),
	    0);
	char want[160];
	snprintf(want, sizeof(want), "%s:2:", file);
	cr_assert(strstr(err, want) != NULL, "%s", err);
}
