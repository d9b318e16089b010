/* test/broker/store/test_persist.c: the stored form of a message
 * (record.c) and the writer that keeps the retained store in the data
 * directory (persist.c): what is written is read back by a new store, a
 * cleared topic is gone, expiry counts the time in between, a record
 * that does not read stops the open naming the path and changes nothing,
 * and stopping commits what is left whatever the policy. */
#include <criterion/criterion.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "disk.h"
#include "msg.h"
#include "persist.h"
#include "record.h"
#include "retain.h"
#include "rmq_test_dir.h"

static char dir[256];

static void
setup(void)
{
	rmq_test_dir_make(dir, sizeof(dir), "persist");
}

static void
teardown(void)
{
	rmq_test_dir_remove(dir);
}

TestSuite(persist, .init = setup, .fini = teardown, .timeout = 60);

static struct rmq_msg *
msg(const char *topic, const char *payload, uint32_t expiry_s, uint64_t now)
{
	struct rmq_publish pub = { .qos = 1, .retain = 1 };
	pub.topic.p = topic;
	pub.topic.len = (uint32_t)strlen(topic);
	pub.payload.p = payload;
	pub.payload.len = (uint32_t)strlen(payload);
	if (expiry_s) {
		RMQ_PROP_SET(&pub.props, RMQ_PROP_MESSAGE_EXPIRY);
		pub.props.message_expiry = expiry_s;
	}
	RMQ_PROP_SET(&pub.props, RMQ_PROP_CONTENT_TYPE);
	pub.props.content_type.p = "text/plain";
	pub.props.content_type.len = 10;
	struct rmq_msg *m = rmq_msg_new(&pub, 7, now);
	cr_assert_not_null(m);
	return m;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

Test(persist, a_record_reads_back_as_the_message_it_was)
{
	struct rmq_msg *m = msg("a/b", "hello", 60, 1000);
	size_t n = rmq_record_msg_size(m);
	uint8_t buf[256];
	cr_assert_leq(n, sizeof(buf));
	/* Wall clock 5,000,000 ms ahead of the monotonic one. */
	rmq_record_msg_encode(m, 5000000, buf);
	struct rmq_msg *r;
	const char *why;
	/* Read back 20 s later, on another monotonic clock: 40 s left. */
	cr_assert_eq(rmq_record_msg_decode(buf, n, 90000, 5000000 + 21000, &r,
			 &why),
	    0, "%s", why);
	cr_assert_eq(r->topic.len, 3);
	cr_assert_eq(memcmp(r->topic.p, "a/b", 3), 0);
	cr_assert_eq(r->payload.len, 5);
	cr_assert_eq(memcmp(r->payload.p, "hello", 5), 0);
	cr_assert_eq(r->qos, 1);
	cr_assert_eq(r->retain, 1);
	cr_assert_eq(r->origin, 0);
	cr_assert(r->has_expiry);
	cr_assert_eq(r->expire_ms, 90000 + 40000);
	/* The shared properties (the content type) are the same bytes. */
	cr_assert_eq(r->v5.props_len, m->v5.props_len);
	cr_assert_eq(memcmp(r->v5.props, m->v5.props, m->v5.props_len), 0);
	rmq_msg_rele(r);
	/* Read back after its expiry: gone. */
	cr_assert_eq(rmq_record_msg_decode(buf, n, 90000, 5000000 + 61000, &r,
			 &why),
	    -ETIME);
	rmq_msg_rele(m);
}

Test(persist, a_damaged_record_is_refused_with_what_is_wrong)
{
	struct rmq_msg *m = msg("a/b", "hello", 0, 0);
	size_t n = rmq_record_msg_size(m);
	uint8_t good[256], bad[256];
	rmq_record_msg_encode(m, 0, good);
	rmq_msg_rele(m);
	struct rmq_msg *r;
	const char *why;
	static const struct {
		size_t at;
		uint8_t value;
		const char *why;
	} cases[] = {
		{ 0, 9, "a record version" },
		{ 1, 3, "a QoS or flag" },
		{ 2, 0x80, "a QoS or flag" },
		{ 12, 200, "lengths" },
		{ RMQ_RECORD_HEAD + 1, '+', "not a valid topic name" },
		{ RMQ_RECORD_HEAD + 3, 0x7f, "properties" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, good, n);
		bad[cases[i].at] = cases[i].value;
		cr_assert_eq(rmq_record_msg_decode(bad, n, 0, 0, &r, &why),
		    -EINVAL, "byte %zu", cases[i].at);
		cr_assert(strstr(why, cases[i].why) != NULL, "byte %zu: %s",
		    cases[i].at, why);
	}
	cr_assert_eq(rmq_record_msg_decode(good, n - 1, 0, 0, &r, &why),
	    -EINVAL);
	cr_assert_eq(rmq_record_msg_decode(good, 10, 0, 0, &r, &why), -EINVAL);
}

/* The writer's commits, counted by its hook. */
static _Atomic uint64_t hook_gen;
static _Atomic int hook_calls;

static void
hook(void *ctx, uint64_t gen, int ok)
{
	(void)ctx;
	cr_assert(ok);
	atomic_store(&hook_gen, gen);
	atomic_fetch_add(&hook_calls, 1);
}

static struct rmq_persist *
open_store(struct rmq_retain **r, uint32_t interval_ms)
{
	cr_assert_eq(rmq_retain_new(r), 0);
	struct rmq_persist_conf pc = { .dir = dir,
		.interval_ms = interval_ms,
		.retain = *r,
		.committed = hook };
	struct rmq_persist *p;
	char err[512];
	cr_assert_eq(rmq_persist_open(&pc, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rmq_persist_start(p), 0);
	return p;
}

static uint64_t
put(struct rmq_retain *r, struct rmq_persist *p, struct rmq_msg *m)
{
	uint64_t gen;
	cr_assert_eq(rmq_retain_put_gen(r, m, 0, 0, &gen), 0);
	rmq_msg_rele(m);
	if (gen)
		rmq_persist_changed(p);
	return gen;
}

/* Wait (bounded) for the writer to have committed gen. */
static void
committed(struct rmq_persist *p, uint64_t gen)
{
	for (int i = 0; i < 20000 && rmq_persist_committed(p) < gen; i++)
		usleep(1000);
	cr_assert_geq(rmq_persist_committed(p), gen,
	    "generation %llu not committed", (unsigned long long)gen);
}

static void
fetch_one(void *ctx, struct rmq_msg *m)
{
	char *out = ctx;
	snprintf(out, 64, "%.*s", (int)m->payload.len, m->payload.p);
}

static const char *
payload_of(struct rmq_retain *r, const char *topic, char out[64])
{
	out[0] = '\0';
	rmq_retain_match(r, topic, strlen(topic), mono_ms(), fetch_one, out);
	return out;
}

Test(persist, what_the_writer_commits_a_new_store_reads_back)
{
	struct rmq_retain *r;
	struct rmq_persist *p = open_store(&r, 0);
	uint64_t now = mono_ms();
	/* Topics longer than a key holds, alike in their first 400 bytes. */
	char long1[1001], long2[1001];
	memset(long1, 'x', 1000);
	long1[1000] = '\0';
	memcpy(long2, long1, sizeof(long2));
	long2[999] = 'y';
	uint64_t g1 = put(r, p, msg("a/1", "one", 0, now));
	cr_assert_gt(g1, 0, "a tracked change has a generation");
	put(r, p, msg("a/2", "two", 0, now));
	put(r, p, msg("a/3", "three", 0, now));
	put(r, p, msg(long1, "L1", 0, now));
	put(r, p, msg(long2, "L2", 0, now));
	put(r, p, msg("$SYS/broker/uptime", "5", 0, now));
	committed(p, g1);
	/* Replaced and cleared after a commit. */
	put(r, p, msg("a/2", "deux", 0, now));
	struct rmq_msg *clear = msg("a/3", "", 0, now);
	uint64_t g2 = put(r, p, clear);
	committed(p, g2);
	cr_assert_geq(atomic_load(&hook_gen), g2);
	const struct rmq_persist_stats *st = rmq_persist_stats(p);
	cr_assert_geq(atomic_load(&st->commits), 2);
	rmq_persist_close(p);
	rmq_retain_free(r);

	p = open_store(&r, 0);
	st = rmq_persist_stats(p);
	char out[64];
	cr_assert_eq(atomic_load(&st->loaded_retained), 4);
	cr_assert_eq(rmq_retain_count(r), 4, "$SYS is not kept");
	cr_assert_str_eq(payload_of(r, "a/1", out), "one");
	cr_assert_str_eq(payload_of(r, "a/2", out), "deux");
	cr_assert_str_eq(payload_of(r, "a/3", out), "");
	cr_assert_str_eq(payload_of(r, long1, out), "L1");
	cr_assert_str_eq(payload_of(r, long2, out), "L2");
	rmq_persist_close(p);
	rmq_retain_free(r);
}

Test(persist, expiry_counts_the_time_the_broker_was_down)
{
	struct rmq_retain *r;
	struct rmq_persist *p = open_store(&r, 0);
	uint64_t now = mono_ms();
	put(r, p, msg("keep", "k", 3600, now));
	uint64_t g = put(r, p, msg("short", "s", 1, now));
	committed(p, g);
	rmq_persist_close(p);
	rmq_retain_free(r);
	usleep(1100 * 1000); /* down for longer than its expiry */

	p = open_store(&r, 0);
	const struct rmq_persist_stats *st = rmq_persist_stats(p);
	cr_assert_eq(atomic_load(&st->loaded_retained), 1);
	cr_assert_eq(atomic_load(&st->expired_at_load), 1);
	char out[64];
	cr_assert_str_eq(payload_of(r, "keep", out), "k");
	rmq_persist_close(p);
	rmq_retain_free(r);

	/* And it was removed from the disk, not skipped each time. */
	struct rmq_disk *d;
	struct rmq_disk_report rep;
	char err[512];
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_READONLY, &d, err,
			 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(rmq_disk_check(d, &rep, err, sizeof(err)), 0, "%s", err);
	int seen = 0;
	for (unsigned i = 0; i < rep.ndbs; i++)
		if (strcmp(rep.dbs[i].name, "retained") == 0) {
			cr_assert_eq(rep.dbs[i].records, 1);
			seen = 1;
		}
	cr_assert(seen);
	rmq_disk_close(d);
}

Test(persist, stopping_commits_what_an_interval_left)
{
	struct rmq_retain *r;
	/* An hour: nothing would be committed before the stop. */
	struct rmq_persist *p = open_store(&r, 3600000);
	put(r, p, msg("late", "l", 0, mono_ms()));
	cr_assert_eq(atomic_load(&rmq_persist_stats(p)->commits), 0);
	rmq_persist_close(p);
	rmq_retain_free(r);
	p = open_store(&r, 0);
	char out[64];
	cr_assert_str_eq(payload_of(r, "late", out), "l");
	rmq_persist_close(p);
	rmq_retain_free(r);
}

Test(persist, a_damaged_record_stops_the_open_and_stays)
{
	struct rmq_retain *r;
	struct rmq_persist *p = open_store(&r, 0);
	uint64_t g = put(r, p, msg("good", "g", 0, mono_ms()));
	committed(p, g);
	rmq_persist_close(p);
	rmq_retain_free(r);

	/* A record with a bad version byte, written behind the store. */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 64ull << 30), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "retained", 0, &dbi), 0);
	uint8_t junk[RMQ_RECORD_HEAD] = { 42 };
	MDB_val k = { 3, (void *)"bad" }, v = { sizeof(junk), junk };
	cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	cr_assert_eq(rmq_retain_new(&r), 0);
	struct rmq_persist_conf pc = { .dir = dir, .retain = r };
	char err[512];
	cr_assert_eq(rmq_persist_open(&pc, &p, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, dir) != NULL && strstr(err, "data.mdb") != NULL,
	    "%s", err);
	cr_assert(strstr(err, "'bad'") != NULL &&
		strstr(err, "record version") != NULL,
	    "%s", err);
	rmq_retain_free(r);

	/* Nothing was deleted: both records are still there. */
	struct rmq_disk *d;
	struct rmq_disk_report rep;
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_READONLY, &d, err,
			 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(rmq_disk_check(d, &rep, err, sizeof(err)), 0, "%s", err);
	for (unsigned i = 0; i < rep.ndbs; i++)
		if (strcmp(rep.dbs[i].name, "retained") == 0)
			cr_assert_eq(rep.dbs[i].records, 2);
	rmq_disk_close(d);
}

static const struct rmq_record_sub session_subs[] = {
	{ "a/+/c", 5, { .qos = 1, .flags = RMQ_SUB_NO_LOCAL, .subid = 7 } },
	{ "$share/g/x/#", 12,
	    { .qos = 2,
		.flags = RMQ_SUB_RETAIN_AS_PUBLISHED,
		.retain_handling = 2 } },
	{ "z", 1, { .qos = 0, .subid = RMQ_VARINT_MAX } },
};

static size_t
session_record(uint8_t *buf, size_t cap, uint8_t version)
{
	struct rmq_record_session s = {
		.version = version,
		.session_expiry = 0xFFFFFFFFu,
		.offline_since = 1700000000123ull,
		.client_id = "dev-1",
		.client_id_len = 5,
		.key = 0x0100000200000007ull,
		.nsubs = 3,
		.subs = (struct rmq_record_sub *)session_subs,
	};
	size_t n = rmq_record_session_size(&s);
	cr_assert_leq(n, cap);
	rmq_record_session_encode(&s, buf);
	return n;
}

Test(persist, a_session_record_reads_back_with_every_option)
{
	uint8_t buf[256];
	size_t n = session_record(buf, sizeof(buf), RMQ_V5);
	struct rmq_record_session r;
	const char *why;
	cr_assert_eq(rmq_record_session_decode(buf, n, &r, &why), 0, "%s", why);
	cr_assert_eq(r.version, RMQ_V5);
	cr_assert_eq(r.session_expiry, 0xFFFFFFFFu);
	cr_assert_eq(r.offline_since, 1700000000123ull);
	cr_assert_eq(r.key, 0x0100000200000007ull);
	cr_assert_eq(r.client_id_len, 5);
	cr_assert_eq(memcmp(r.client_id, "dev-1", 5), 0);
	cr_assert_eq(r.nsubs, 3);
	for (unsigned i = 0; i < 3; i++) {
		const struct rmq_record_sub *w = &session_subs[i];
		cr_assert_eq(r.subs[i].len, w->len);
		cr_assert_eq(memcmp(r.subs[i].filter, w->filter, w->len), 0);
		cr_assert_eq(r.subs[i].opt.qos, w->opt.qos);
		cr_assert_eq(r.subs[i].opt.flags, w->opt.flags);
		cr_assert_eq(r.subs[i].opt.retain_handling,
		    w->opt.retain_handling);
		cr_assert_eq(r.subs[i].opt.subid, w->opt.subid);
		cr_assert_eq(r.subs[i].opt.version, RMQ_V5);
	}
	free(r.subs);
}

Test(persist, a_damaged_session_record_is_refused_with_what_is_wrong)
{
	uint8_t good[256], bad[256];
	size_t n = session_record(good, sizeof(good), RMQ_V5);
	struct rmq_record_session r;
	const char *why;
	/* The first subscription's bytes begin after the head, the key and
	 * "dev-1". */
	enum { id0 = RMQ_RECORD_HEAD + 8, sub0 = id0 + 5 };
	static const struct {
		size_t at;
		uint8_t value;
		const char *why;
	} cases[] = {
		{ 0, 4, "a record version" }, { 1, 6, "a protocol level" },
		{ 2, 2, "flag" }, /* a head flag this version has not */
		{ 4, 0, NULL }, /* expiry 0: not a persistent session */
		{ 16, 200, "lengths" }, { 18, 9, "lengths" },
		{ id0, 0xff, "client identifier" },
		{ sub0 + 2 + 1, '#', "topic filter" },
		{ sub0 + 2 + 5, 3, "options" }, /* QoS 3 */
		{ sub0 + 2 + 5 + 1, 0x80, "options" }, /* a remote flag */
		{ sub0 + 2 + 5 + 2, 3, "options" }, /* Retain Handling 3 */
		{ sub0 + 2 + 5 + 7, 0x10, "options" }, /* subid > 2^28 - 1 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, good, n);
		bad[cases[i].at] = cases[i].value;
		if (cases[i].at == 4) /* all four bytes of the expiry */
			memset(bad + 4, 0, 4);
		cr_assert_eq(rmq_record_session_decode(bad, n, &r, &why),
		    -EINVAL, "byte %zu", cases[i].at);
		cr_assert_null(r.subs);
		cr_assert(cases[i].why == NULL ||
			strstr(why, cases[i].why) != NULL,
		    "byte %zu: %s", cases[i].at, why);
	}
	cr_assert_eq(rmq_record_session_decode(good, n - 1, &r, &why), -EINVAL);
	memcpy(bad, good, n);
	bad[n] = 0;
	cr_assert_eq(rmq_record_session_decode(bad, n + 1, &r, &why), -EINVAL);
	/* A Subscription Identifier has no place before 5.0. */
	n = session_record(good, sizeof(good), RMQ_V311);
	cr_assert_eq(rmq_record_session_decode(good, n, &r, &why), -EINVAL);
	cr_assert(strstr(why, "options") != NULL, "%s", why);
}

Test(persist, a_version_1_session_record_reads_with_no_key)
{
	/* Version 1 (the first release of session records) had no key
	 * after the head: the same record without those 8 bytes. */
	uint8_t v2[256], v1[256];
	size_t n = session_record(v2, sizeof(v2), RMQ_V5);
	memcpy(v1, v2, RMQ_RECORD_HEAD);
	memcpy(v1 + RMQ_RECORD_HEAD, v2 + RMQ_RECORD_HEAD + 8,
	    n - RMQ_RECORD_HEAD - 8);
	v1[0] = 1;
	struct rmq_record_session r;
	const char *why;
	cr_assert_eq(rmq_record_session_decode(v1, n - 8, &r, &why), 0, "%s",
	    why);
	cr_assert_eq(r.key, 0);
	cr_assert_eq(r.nsubs, 3);
	cr_assert_eq(memcmp(r.client_id, "dev-1", 5), 0);
	free(r.subs);
}

Test(persist, a_queued_record_reads_back_and_refuses_what_is_wrong)
{
	uint8_t b[RMQ_RECORD_QUEUED];
	struct rmq_record_queued q = { 2, RMQ_QUEUED_RELEASED, 513 }, r;
	const char *why;
	rmq_record_queued_encode(&q, b);
	cr_assert_eq(rmq_record_queued_decode(b, sizeof(b), &r, &why), 0);
	cr_assert_eq(r.qos, 2);
	cr_assert_eq(r.state, RMQ_QUEUED_RELEASED);
	cr_assert_eq(r.pid, 513);
	cr_assert_eq(rmq_record_queued_decode(b, sizeof(b) - 1, &r, &why),
	    -EINVAL);
	/* Released is a QoS 2 state; a waiting message has no id; a sent
	 * one has one. */
	struct rmq_record_queued bad[] = { { 1, RMQ_QUEUED_RELEASED, 5 },
		{ 1, RMQ_QUEUED_WAITING, 5 }, { 2, RMQ_QUEUED_SENT, 0 },
		{ 3, RMQ_QUEUED_WAITING, 0 }, { 0, RMQ_QUEUED_WAITING, 0 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rmq_record_queued_encode(&bad[i], b);
		cr_assert_eq(rmq_record_queued_decode(b, sizeof(b), &r, &why),
		    -EINVAL, "case %zu", i);
		cr_assert(strstr(why, "out of range") != NULL);
	}
	rmq_record_queued_encode(&q, b);
	b[0] = 9;
	cr_assert_eq(rmq_record_queued_decode(b, sizeof(b), &r, &why), -EINVAL);
	cr_assert(strstr(why, "version") != NULL);
}

Test(persist, a_session_record_keeps_its_will)
{
	uint64_t now = mono_ms();
	struct rmq_msg *will = msg("gone/dev-1", "offline", 0, now);
	struct rmq_record_session s = {
		.version = RMQ_V5,
		.session_expiry = 3600,
		.offline_since = 1700000000123ull,
		.client_id = "dev-1",
		.client_id_len = 5,
		.key = 42,
		.will = will,
		.will_delay = 60,
		.will_at = 1700000060123ull,
	};
	uint8_t buf[512];
	size_t n = rmq_record_session_size(&s);
	cr_assert_leq(n, sizeof(buf));
	rmq_record_session_encode(&s, buf);
	struct rmq_record_session r;
	const char *why;
	cr_assert_eq(rmq_record_session_decode(buf, n, &r, &why), 0, "%s", why);
	cr_assert_eq(r.will_delay, 60);
	cr_assert_eq(r.will_at, 1700000060123ull);
	cr_assert_not_null(r.will_rec);
	struct rmq_msg *back;
	cr_assert_eq(rmq_record_msg_decode(r.will_rec, r.will_rec_len, now,
			 1700000000000ull, &back, &why),
	    0, "%s", why);
	cr_assert_eq(back->topic.len, 10);
	cr_assert_eq(memcmp(back->payload.p, "offline", 7), 0);
	rmq_msg_rele(back);
	/* A will's length that does not add up is refused. */
	buf[n - rmq_record_msg_size(will) - 4] ^= 1;
	cr_assert_eq(rmq_record_session_decode(buf, n, &r, &why), -EINVAL);
	cr_assert(strstr(why, "lengths") != NULL);
	rmq_msg_rele(will);
}
