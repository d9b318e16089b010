/* test/broker/io/test_psk.c: pre-shared keys (broker/io/psk.c) and TLS-PSK
 * listeners (broker/io/tls.c) on a node on the fake loop backend: the
 * file's format and its refusals by PATH:LINE, handshakes of TLS 1.2 and
 * 1.3 with the right key, refusals with a wrong key or an unknown
 * identity, the identity as the user name, and keys read again at a
 * reload. */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "psk.h"
#include "rmq_test.h"
#include "rmq_test_dir.h"
#include "rmq_test_node.h"
#include "rmq_test_seen.h"
#include "rmq_test_tls.h"
#include "tls.h"

static char dir[64], path[128];

static void
write_keys(const char *text)
{
	rmq_test_write_file(path, text, strlen(text));
}

static void
files_make(void)
{
	rmq_test_dir_make(dir, sizeof(dir), "psk");
	snprintf(path, sizeof(path), "%s/keys", dir);
}

static void
files_remove(void)
{
	rmq_test_dir_remove(dir);
}

/* ---- the file ---- */

TestSuite(psk_file, .init = files_make, .fini = files_remove);

Test(psk_file, lines_comments_and_lookups)
{
	write_keys("# devices\n\nsensor-1:00112233445566778899AABBccddeeff\r\n"
		   "sensor-2:deadbeef\nlast:0102");
	struct rmq_psk *p;
	char err[256];
	cr_assert_eq(rmq_psk_load(path, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rmq_psk_count(p), 3);
	uint8_t key[RMQ_PSK_KEY_MAX];
	cr_assert_eq(rmq_psk_find(p, "sensor-1", key, sizeof(key)), 16);
	cr_assert_eq(key[0], 0x00);
	cr_assert_eq(key[10], 0xAA);
	cr_assert_eq(key[15], 0xff);
	cr_assert_eq(rmq_psk_find(p, "sensor-2", key, sizeof(key)), 4);
	cr_assert_eq(rmq_psk_find(p, "sensor", key, sizeof(key)), 0);
	cr_assert_eq(rmq_psk_find(p, "last", key, sizeof(key)), 2);
	cr_assert_eq(rmq_psk_find(p, "nobody", key, sizeof(key)), 0);
	cr_assert_eq(rmq_psk_find(p, "sensor-1", key, 8), 0,
	    "a key that does not fit is no key");
	rmq_psk_free(p);
}

/* The identity ends at the first ':', as Mosquitto reads it. */
Test(psk_file, a_colon_in_the_key_is_refused)
{
	write_keys("sensor:2:deadbeef\n");
	struct rmq_psk *p;
	char err[256];
	cr_assert_eq(rmq_psk_load(path, &p, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, ":1: the key is not hexadecimal"), "%s", err);
}

Test(psk_file, each_bad_line_is_named)
{
	static const char *const bad[][2] = {
		{ "a:00\nnocolon\n", ":2: no ':' between" },
		{ ":00\n", ":1: empty identity" },
		{ "a:\n", ":1: empty key" },
		{ "a:123\n", ":1: the key has an odd number" },
		{ "a:zz\n", ":1: the key is not hexadecimal" },
		{ "a:00\nb:11\na:22\n",
		    ":3: duplicate identity (first on line 1)" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_keys(bad[i][0]);
		struct rmq_psk *p;
		char err[256] = "";
		cr_assert_eq(rmq_psk_load(path, &p, err, sizeof(err)), -EINVAL,
		    "%s", bad[i][0]);
		cr_assert(strncmp(err, path, strlen(path)) == 0, "%s", err);
		cr_assert(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
	}
	char line[300];
	memset(line, 'a', 129);
	snprintf(line + 129, sizeof(line) - 129, ":00\n");
	write_keys(line);
	struct rmq_psk *p;
	char err[256];
	cr_assert_eq(rmq_psk_load(path, &p, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "identity longer than 128 bytes"), "%s", err);
	memset(line, '0', 132); /* 130 digits: 65 bytes */
	memcpy(line, "a:", 2);
	line[132] = '\0';
	write_keys(line);
	cr_assert_eq(rmq_psk_load(path, &p, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "key longer than 64 bytes"), "%s", err);
}

Test(psk_file, a_missing_file_is_named)
{
	struct rmq_psk *p;
	char err[256];
	cr_assert_lt(rmq_psk_load("/nonexistent/keys", &p, err, sizeof(err)),
	    0);
	cr_assert(strstr(err, "/nonexistent/keys"), "%s", err);
}

/* ---- a TLS-PSK listener ---- */

static const uint8_t key1[] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

static void
psk_tweak(struct rmq_config *cfg)
{
	struct rmq_tls_conf *t = &cfg->listeners[0].tls;
	snprintf(t->psk_hint, sizeof(t->psk_hint), "ringmq-test");
	snprintf(cfg->psk_file, sizeof(cfg->psk_file), "%s", path);
	t->use_identity_as_username = 1;
}

static void
psk_start(void)
{
	files_make();
	write_keys("sensor-1:00112233445566778899aabbccddeeff\n");
	memset(&rmq_test_seen, 0, sizeof(rmq_test_seen));
	rmq_test_node_start(1, psk_tweak);
	cr_assert_not_null(rmq_test_node.transports[0].tls);
	rmq_test_node.auth = &rmq_test_seen_auth;
}

static void
psk_stop(void)
{
	rmq_test_node_stop();
	files_remove();
}

TestSuite(psk, .init = psk_start, .fini = psk_stop, .timeout = 30);

/* A client offering identity/key at max_version: the handshake's end. */
static int
psk_handshake(const char *identity, const uint8_t *key, size_t n,
    int max_version, struct rmq_test_tls **out)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t =
	    rmq_test_tls_new(fc, NULL, NULL, NULL, max_version);
	rmq_test_tls_psk(t, identity, key, n);
	int ok = rmq_test_tls_handshake(t);
	*out = t;
	return ok;
}

/* CONNECT over t as "c" with user name "claimed": the CONNACK's code. */
static int
psk_connack(struct rmq_test_tls *t)
{
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V311;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str("c");
	p.connect.username = rmq_test_str("claimed");
	uint8_t b[64];
	rmq_test_tls_send(t, b, rmq_test_encode(&p, RMQ_V311, b, sizeof(b)));
	int closed;
	size_t got = rmq_test_tls_recv(t, b, 4, &closed);
	cr_assert_eq(got, 4, "a CONNACK");
	cr_assert_eq(b[0], 0x20);
	return b[3];
}

Test(psk, tls13_with_the_right_key_and_the_identity_as_user)
{
	struct rmq_test_tls *t;
	cr_assert_eq(psk_handshake("sensor-1", key1, sizeof(key1), 0, &t), 1,
	    "%s", rmq_test_tls_error(t));
	cr_assert_eq(rmq_test_tls_version(t), TLS1_3_VERSION);
	cr_assert_eq(psk_connack(t), 0);
	cr_assert_eq(rmq_test_seen.calls, 1);
	cr_assert_str_eq(rmq_test_seen.username, "sensor-1",
	    "use_identity_as_username: the PSK identity");
	cr_assert_eq(rmq_test_seen.certified, 1,
	    "proven by the key: no password");
	rmq_test_tls_free(t);
}

Test(psk, tls12_with_the_right_key_hears_the_hint)
{
	struct rmq_test_tls *t;
	cr_assert_eq(psk_handshake("sensor-1", key1, sizeof(key1),
			 TLS1_2_VERSION, &t),
	    1, "%s", rmq_test_tls_error(t));
	cr_assert_eq(rmq_test_tls_version(t), TLS1_2_VERSION);
	cr_assert_str_eq(rmq_test_tls_psk_hint(t), "ringmq-test");
	cr_assert_eq(psk_connack(t), 0);
	cr_assert_str_eq(rmq_test_seen.username, "sensor-1");
	rmq_test_tls_free(t);
}

Test(psk, a_wrong_key_or_an_unknown_identity_fails_the_handshake)
{
	uint8_t wrong[sizeof(key1)];
	memcpy(wrong, key1, sizeof(key1));
	wrong[15] ^= 1;
	struct rmq_tls_stats before;
	rmq_tls_stats(rmq_test_node.transports[0].tls, &before);
	const int versions[] = { 0, TLS1_2_VERSION };
	for (int v = 0; v < 2; v++) {
		struct rmq_test_tls *t;
		cr_assert_eq(psk_handshake("sensor-1", wrong, sizeof(wrong),
				 versions[v], &t),
		    0);
		rmq_test_tls_free(t);
		cr_assert_eq(psk_handshake("sensor-9", key1, sizeof(key1),
				 versions[v], &t),
		    0);
		rmq_test_tls_free(t);
	}
	struct rmq_tls_stats after;
	rmq_tls_stats(rmq_test_node.transports[0].tls, &after);
	cr_assert_eq(after.failures - before.failures, 4);
	cr_assert_eq(rmq_test_seen.calls, 0, "no CONNECT got through");
}

Test(psk, a_reload_reads_the_keys_again)
{
	write_keys("sensor-2:0102030405060708\n");
	char err[256];
	cr_assert_eq(rmq_tls_reload(rmq_test_node.transports[0].tls, err,
			 sizeof(err)),
	    0, "%s", err);
	static const uint8_t key2[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct rmq_test_tls *t;
	cr_assert_eq(psk_handshake("sensor-2", key2, sizeof(key2), 0, &t), 1,
	    "%s", rmq_test_tls_error(t));
	rmq_test_tls_free(t);
	cr_assert_eq(psk_handshake("sensor-1", key1, sizeof(key1), 0, &t), 0,
	    "a key no longer in the file");
	rmq_test_tls_free(t);
	/* A bad file is refused and the keys read before stay. */
	write_keys("sensor-3:xyz\n");
	cr_assert_neq(rmq_tls_reload(rmq_test_node.transports[0].tls, err,
			  sizeof(err)),
	    0);
	cr_assert(strstr(err, ":1: the key"), "%s", err);
	cr_assert_eq(psk_handshake("sensor-2", key2, sizeof(key2), 0, &t), 1);
	rmq_test_tls_free(t);
}
