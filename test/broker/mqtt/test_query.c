/* test/broker/mqtt/test_query.c: the admin API's questions about sessions
 * (broker/mqtt/query.c) on the fake loop backend: listed with filters,
 * shown with subscriptions, kicked, dropped. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "registry.h"
#include "rmq_test_node.h"
#include "session.h"
#include "text.h"

RMQ_NODE_SUITE(query, 2, NULL);

static struct answer {
	int called, found;
	char *json;
} ans;

static void
on_answer(void *arg, int found, char *json, size_t len)
{
	struct answer *a = arg;
	a->called++;
	a->found = found;
	free(a->json);
	a->json = json ? strndup(json, len) : NULL;
	free(json);
}

static void
ask(enum rmq_query_op op, const char *id, int connected, const char *match)
{
	struct rmq_query_args a = { .op = op, .connected = connected };
	a.id = id;
	a.id_len = id ? strlen(id) : 0;
	a.match = match;
	a.match_len = match ? strlen(match) : 0;
	free(ans.json);
	memset(&ans, 0, sizeof(ans));
	cr_assert_eq(rmq_node_query(&rmq_test_node, &a, on_answer, &ans), 0);
	rmq_fake_settle();
	cr_assert_eq(ans.called, 1, "answered once, by the last worker");
}

static int
has(const char *part)
{
	return ans.json != NULL && strstr(ans.json, part) != NULL;
}

/* Three sessions on two workers: two connected, one kept offline. */
static void
three(struct rmq_fake_client **a, struct rmq_fake_client **b)
{
	*a = rmq_test_connect(0, RMQ_V5, "dev/1", 1, NULL);
	rmq_test_subscribe(*a, RMQ_V5, "t/#", 1, 1);
	*b = rmq_test_connect(1, RMQ_V311, "dev\"2", 1, NULL);
	int present;
	struct rmq_fake_client *c =
	    rmq_test_connect_kept(1, RMQ_V311, "other", &present);
	rmq_test_subscribe(c, RMQ_V311, "x/+", 2, 2);
	rmq_fake_hangup(c);
	rmq_fake_settle();
}

Test(query, list_picks_by_connection_and_identifier)
{
	struct rmq_fake_client *a, *b;
	three(&a, &b);
	ask(RMQ_QUERY_LIST, NULL, -1, "");
	cr_assert_eq(ans.found, 3, "every worker's sessions");
	cr_assert(has("\"client_id\":\"dev/1\""));
	cr_assert(has("\"client_id\":\"dev\\\"2\""), "quoted: %s", ans.json);
	cr_assert(has("\"client_id\":\"other\",\"state\":\"offline\","
		      "\"connected\":false"),
	    "%s", ans.json);
	ask(RMQ_QUERY_LIST, NULL, 1, "");
	cr_assert_eq(ans.found, 2);
	cr_assert_not(has("other"));
	ask(RMQ_QUERY_LIST, NULL, 0, "");
	cr_assert_eq(ans.found, 1);
	cr_assert(has("\"subscriptions\":1"));
	ask(RMQ_QUERY_LIST, NULL, -1, "dev");
	cr_assert_eq(ans.found, 2);
	ask(RMQ_QUERY_LIST, NULL, -1, "nobody");
	cr_assert_eq(ans.found, 0);
	cr_assert_null(ans.json);
	free(ans.json);
	ans.json = NULL;
}

Test(query, show_lists_subscriptions)
{
	struct rmq_fake_client *a, *b;
	three(&a, &b);
	ask(RMQ_QUERY_SHOW, "other", -1, NULL);
	cr_assert_eq(ans.found, 1);
	cr_assert(has("\"subscriptions\":[{\"filter\":\"x/+\",\"qos\":2,"),
	    "%s", ans.json);
	cr_assert(has("\"protocol\":\"3.1.1\""));
	ask(RMQ_QUERY_SHOW, "dev/1", -1, NULL);
	cr_assert(has("\"protocol\":\"5.0\"") && has("\"filter\":\"t/#\""));
	ask(RMQ_QUERY_SHOW, "missing", -1, NULL);
	cr_assert_eq(ans.found, 0);
	free(ans.json);
	ans.json = NULL;
}

/* [MQTT-3.14.0-1]-[MQTT-3.14.2-1]: the server may send DISCONNECT with a
 * reason code before it closes; 0x98 is Administrative action. */
Test(query, kick_closes_the_connection_and_keeps_the_session)
{
	int present = -1;
	struct rmq_fake_client *k =
	    rmq_test_connect_kept(0, RMQ_V5, "kept", &present);
	rmq_test_subscribe(k, RMQ_V5, "k/1", 1, 1);
	ask(RMQ_QUERY_KICK, "kept", -1, NULL);
	cr_assert_eq(ans.found, 1);
	uint8_t buf[64];
	size_t n = rmq_test_next_packet(k, buf, sizeof(buf));
	cr_assert(n >= 3 && buf[0] == 0xE0 && buf[2] == 0x98,
	    "DISCONNECT 0x98, got %zu bytes", n);
	RMQ_EXPECT_CLOSED(k);
	ask(RMQ_QUERY_SHOW, "kept", -1, NULL);
	cr_assert(has("\"state\":\"offline\"") && has("\"filter\":\"k/1\""),
	    "%s", ans.json);
	struct rmq_fake_client *again =
	    rmq_test_connect_kept(1, RMQ_V5, "kept", &present);
	cr_assert_eq(present, 1, "the session was kept");
	(void)again;
	free(ans.json);
	ans.json = NULL;
}

Test(query, drop_ends_the_session_connected_or_not)
{
	int present = -1;
	struct rmq_fake_client *k =
	    rmq_test_connect_kept(0, RMQ_V311, "gone", &present);
	rmq_test_subscribe(k, RMQ_V311, "g/1", 1, 1);
	ask(RMQ_QUERY_DROP, "gone", -1, NULL);
	cr_assert_eq(ans.found, 1);
	RMQ_EXPECT_CLOSED(k); /* 3.1.1: no DISCONNECT from a server */
	ask(RMQ_QUERY_SHOW, "gone", -1, NULL);
	cr_assert_eq(ans.found, 0, "ended with its connection");
	struct rmq_fake_client *o =
	    rmq_test_connect_kept(1, RMQ_V311, "off", &present);
	rmq_fake_hangup(o);
	rmq_fake_settle();
	ask(RMQ_QUERY_DROP, "off", -1, NULL);
	cr_assert_eq(ans.found, 1);
	cr_assert_eq(rmq_registry_count(rmq_test_node.registry), 0);
	rmq_test_connect_kept(0, RMQ_V311, "off", &present);
	cr_assert_eq(present, 0, "no session left to resume");
	ask(RMQ_QUERY_DROP, "nobody", -1, NULL);
	cr_assert_eq(ans.found, 0);
	free(ans.json);
	ans.json = NULL;
}

/* Retained messages for the admin API: listed by filter up to a limit,
 * the payload shown when it is UTF-8; one deleted as an empty retained
 * PUBLISH would, no subscriber told. */
Test(query, retained_listed_and_deleted)
{
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	uint8_t buf[128];
	const char *topics[] = { "r/a", "r/b", "s/c" };
	for (int i = 0; i < 3; i++) {
		struct rmq_packet pk = { .type = RMQ_PUBLISH };
		pk.publish.topic =
		    (struct rmq_str){ topics[i], (uint32_t)strlen(topics[i]) };
		pk.publish.payload = (struct rmq_str){ "v\"1", 3 };
		pk.publish.retain = 1;
		rmq_test_send_packet(p, &pk, RMQ_V311);
	}
	rmq_fake_settle();
	struct rmq_fake_client *s = rmq_test_connect(1, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "r/#", 0, 0);
	(void)rmq_test_next_packet(s, buf, sizeof(buf));
	(void)rmq_test_next_packet(s, buf, sizeof(buf));
	struct rmq_text t = { 0 };
	cr_assert_eq(rmq_node_retained_json(&rmq_test_node, "r/#", 3, 10, &t),
	    2);
	cr_assert(strstr(t.p,
		      "{\"topic\":\"r/a\",\"qos\":0,\"bytes\":3,"
		      "\"payload\":\"v\\\"1\",\"expires_in\":null}"),
	    "%s", t.p);
	rmq_text_reset(&t);
	cr_assert_eq(rmq_node_retained_json(&rmq_test_node, "#", 1, 1, &t), 3,
	    "all counted");
	cr_assert_null(strstr(strstr(t.p, "topic") + 1, "topic"),
	    "one listed: %s", t.p);
	rmq_text_free(&t);
	cr_assert_eq(rmq_node_retained_delete(&rmq_test_node, "r/a", 3), 0);
	rmq_fake_settle();
	RMQ_EXPECT_NOTHING(s);
	rmq_text_reset(&t);
	cr_assert_eq(rmq_node_retained_json(&rmq_test_node, "#", 1, 10, &t), 2);
	cr_assert_null(strstr(t.p, "r/a"));
	rmq_text_free(&t);
	cr_assert_eq(rmq_node_retained_delete(&rmq_test_node, "r/a", 3),
	    -ENOENT);
	cr_assert_eq(rmq_node_retained_delete(&rmq_test_node, "r/+", 3),
	    -EINVAL);
}
