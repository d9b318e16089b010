/* test/broker/mqtt/test_xauth.c: MQTT 5.0 enhanced authentication
 * (section 4.12) with SCRAM-SHA-256 on the fake loop backend
 * (broker/mqtt/connect.c, rmq_session_on_auth): the exchange at CONNECT
 * and again later (re-authentication), refusals, and what the spec
 * forbids during it.  The client's side is test/support/rmq_test_scram.c,
 * the password file a real one with `$scram-sha-256$` entries.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "passwd.h"
#include "rmq_test.h"
#include "rmq_test_dir.h"
#include "rmq_test_node.h"
#include "rmq_test_scram.h"

static char dir[64];

static void
xauth_tweak(struct rmq_config *cfg)
{
	rmq_test_dir_make(dir, sizeof(dir), "xauth");
	char path[128], a[RMQ_PASSWD_HASH_SIZE], b[RMQ_PASSWD_HASH_SIZE],
	    c[RMQ_PASSWD_HASH_SIZE], text[1024];
	/* Few rounds: the iterations are the client's work, and a test's
	 * time is better spent elsewhere. */
	cr_assert_eq(rmq_passwd_hash_scram("pencil", 6, 64, a, sizeof(a)), 0);
	cr_assert_eq(rmq_passwd_hash_scram("crayon", 6, 64, b, sizeof(b)), 0);
	cr_assert_eq(rmq_passwd_hash("oldpw", 5, 0, c, sizeof(c)), 0);
	int n = snprintf(text, sizeof(text), "user:%s\nother:%s\nold:%s\n", a,
	    b, c);
	snprintf(path, sizeof(path), "%s/passwd", dir);
	rmq_test_write_file(path, text, (size_t)n);
	snprintf(cfg->password_file, sizeof(cfg->password_file), "%s", path);
}

static void
xauth_init(void)
{
	rmq_test_node_start(1, xauth_tweak);
}

static void
xauth_fini(void)
{
	rmq_test_node_stop();
	rmq_test_dir_remove(dir);
}

TestSuite(xauth, .init = xauth_init, .fini = xauth_fini, .timeout = 30);

#define METHOD "SCRAM-SHA-256"

static void
set_method(struct rmq_props *pp, const char *data, size_t n)
{
	pp->auth_method = rmq_test_str(METHOD);
	RMQ_PROP_SET(pp, RMQ_PROP_AUTH_METHOD);
	if (data) {
		pp->auth_data = (struct rmq_str){ data, (uint32_t)n };
		RMQ_PROP_SET(pp, RMQ_PROP_AUTH_DATA);
	}
}

/* The next packet the client got, decoded as a 5.0 client does, into
 * *p; its bytes stay in buf. */
static void
next(struct rmq_fake_client *c, uint8_t *buf, size_t cap, struct rmq_packet *p)
{
	size_t n = rmq_test_next_packet(c, buf, cap);
	cr_assert_gt(n, 0, "no packet");
	struct rmq_decoder d;
	struct rmq_codec_err err;
	size_t used;
	rmq_decoder_init(&d, RMQ_FROM_SERVER, RMQ_V5, 0);
	int rc = rmq_decoder_next(&d, buf, n, &used, p, &err);
	cr_assert_eq(rc, 1, "undecodable: %s", err.msg ? err.msg : "");
	/* The strings point into the framer's buffer or buf: keep what the
	 * tests read in buf's copy (the packets here are whole in buf). */
	rmq_decoder_fini(&d);
}

/* CONNECT with the method and client-first as user, cnonce; the AUTH
 * 0x18 back with server-first into sf. */
static struct rmq_fake_client *
scram_connect_begin(struct rmq_test_scram *sc, const char *user,
    const char *cid, char *sf, size_t *sfn)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	char first[256];
	size_t fn = rmq_test_scram_first(sc, user, "rOprNGfwEbeRWgbNEkqO",
	    first, sizeof(first));
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V5;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str(cid);
	set_method(&p.connect.props, first, fn);
	rmq_test_send_packet(c, &p, RMQ_V5);
	uint8_t buf[512];
	struct rmq_packet a;
	next(c, buf, sizeof(buf), &a);
	cr_assert_eq(a.type, RMQ_AUTH, "AUTH, got type %u", a.type);
	cr_assert_eq(a.auth.reason, RMQ_RC_CONTINUE_AUTHENTICATION);
	cr_assert(rmq_test_str_eq(a.auth.props.auth_method, METHOD));
	*sfn = a.auth.props.auth_data.len;
	memcpy(sf, a.auth.props.auth_data.p, *sfn);
	return c;
}

static void
send_auth(struct rmq_fake_client *c, uint8_t reason, const char *data, size_t n)
{
	struct rmq_packet p = { .type = RMQ_AUTH };
	p.auth.reason = reason;
	set_method(&p.auth.props, data, n);
	rmq_test_send_packet(c, &p, RMQ_V5);
}

/* A client connected as `user` with SCRAM. */
static struct rmq_fake_client *
scram_connected(const char *user, const char *pw, const char *cid)
{
	struct rmq_test_scram sc;
	char sf[256], final[512];
	size_t sfn;
	struct rmq_fake_client *c =
	    scram_connect_begin(&sc, user, cid, sf, &sfn);
	size_t n = rmq_test_scram_final(&sc, pw, sf, sfn, final, sizeof(final));
	cr_assert_gt(n, 0);
	send_auth(c, RMQ_RC_CONTINUE_AUTHENTICATION, final, n);
	uint8_t buf[512];
	struct rmq_packet a;
	next(c, buf, sizeof(buf), &a);
	cr_assert_eq(a.type, RMQ_CONNACK);
	cr_assert_eq(a.connack.reason, 0, "CONNACK 0x%02x", a.connack.reason);
	cr_assert(rmq_test_str_eq(a.connack.props.auth_method, METHOD));
	cr_assert(rmq_test_scram_verify(&sc, a.connack.props.auth_data.p,
		      a.connack.props.auth_data.len),
	    "the server proves it knows the credentials too");
	return c;
}

Test(xauth, scram_at_connect_then_the_session_works)
{
	struct rmq_fake_client *c = scram_connected("user", "pencil", "c1");
	struct rmq_session *s = rmq_test_session_of(c);
	cr_assert(s->rare && s->rare->user_len == 4 &&
		memcmp(s->rare->user, "user", 4) == 0,
	    "the session's user is the one SCRAM proved");
	RMQ_SEND(c, 0xC0, 0x00);
	RMQ_EXPECT(c, 0xD0, 0x00);
}

/* user logs in with SCRAM and password pw and is refused 0x87 at the
 * proof; the server-first it got first into sf (when not NULL). */
static void
scram_refused(const char *user, const char *pw, const char *cid, char *sf,
    size_t *sfn)
{
	struct rmq_test_scram sc;
	char first[256], final[512];
	size_t n;
	if (sf == NULL) {
		sf = first;
		sfn = &n;
	}
	struct rmq_fake_client *c =
	    scram_connect_begin(&sc, user, cid, sf, sfn);
	size_t fn =
	    rmq_test_scram_final(&sc, pw, sf, *sfn, final, sizeof(final));
	send_auth(c, RMQ_RC_CONTINUE_AUTHENTICATION, final, fn);
	RMQ_EXPECT(c, 0x20, 0x03, 0x00, 0x87, 0x00);
	RMQ_EXPECT_CLOSED(c);
}

Test(xauth, a_wrong_password_is_refused_not_authorized)
{
	scram_refused("user", "crayon", "c2", NULL, NULL);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(auth_failures)),
	    1);
}

Test(xauth, an_unknown_user_goes_as_far_as_the_proof)
{
	/* Nothing in the first answer tells the user does not exist. */
	char sf[256];
	size_t sfn;
	scram_refused("nobody", "pencil", "c3", sf, &sfn);
	cr_assert(memmem(sf, sfn, ",i=4096", 7) != NULL);
}

Test(xauth, a_user_with_a_password_hash_cannot_use_scram)
{
	scram_refused("old", "oldpw", "c4", NULL, NULL);
}

Test(xauth, a_method_not_offered_is_refused_0x8c)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V5;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str("c5");
	p.connect.props.auth_method = rmq_test_str("SCRAM-SHA-1");
	RMQ_PROP_SET(&p.connect.props, RMQ_PROP_AUTH_METHOD);
	rmq_test_send_packet(c, &p, RMQ_V5);
	RMQ_EXPECT(c, 0x20, 0x03, 0x00, 0x8C, 0x00);
	RMQ_EXPECT_CLOSED(c);
}

Test(xauth, only_auth_or_disconnect_before_the_connack)
{
	/* [MQTT-3.1.2-30]: a PINGREQ during the exchange is a Protocol
	 * Error, answered with CONNACK 0x82. */
	struct rmq_test_scram sc;
	char sf[256];
	size_t sfn;
	struct rmq_fake_client *c =
	    scram_connect_begin(&sc, "user", "c6", sf, &sfn);
	RMQ_SEND(c, 0xC0, 0x00);
	RMQ_EXPECT(c, 0x20, 0x03, 0x00, 0x82, 0x00);
	RMQ_EXPECT_CLOSED(c);
}

Test(xauth, the_connect_user_name_must_be_the_scram_one)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	struct rmq_test_scram sc;
	char first[256];
	size_t fn =
	    rmq_test_scram_first(&sc, "user", "abc", first, sizeof(first));
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V5;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str("c7");
	p.connect.username = rmq_test_str("other");
	set_method(&p.connect.props, first, fn);
	rmq_test_send_packet(c, &p, RMQ_V5);
	RMQ_EXPECT(c, 0x20, 0x03, 0x00, 0x87, 0x00);
	RMQ_EXPECT_CLOSED(c);
}

/* Re-authenticate c as user with pw (4.12.1): AUTH 0x19 with a
 * client-first, AUTH 0x18 back, AUTH 0x18 with the client-final; the
 * last packet back is left for the caller. */
static void
reauth(struct rmq_fake_client *c, struct rmq_test_scram *sc, const char *user,
    const char *pw)
{
	char first[256], final[512];
	size_t fn =
	    rmq_test_scram_first(sc, user, "reauthnonce", first, sizeof(first));
	send_auth(c, RMQ_RC_REAUTHENTICATE, first, fn);
	uint8_t buf[512];
	struct rmq_packet a;
	next(c, buf, sizeof(buf), &a);
	cr_assert_eq(a.type, RMQ_AUTH);
	cr_assert_eq(a.auth.reason, RMQ_RC_CONTINUE_AUTHENTICATION);
	size_t n = rmq_test_scram_final(sc, pw, a.auth.props.auth_data.p,
	    a.auth.props.auth_data.len, final, sizeof(final));
	cr_assert_gt(n, 0);
	send_auth(c, RMQ_RC_CONTINUE_AUTHENTICATION, final, n);
}

Test(xauth, re_authentication_succeeds_and_the_connection_goes_on)
{
	struct rmq_fake_client *c = scram_connected("user", "pencil", "c8");
	struct rmq_test_scram sc;
	reauth(c, &sc, "user", "pencil");
	uint8_t buf[512];
	struct rmq_packet a;
	next(c, buf, sizeof(buf), &a);
	cr_assert_eq(a.type, RMQ_AUTH);
	cr_assert_eq(a.auth.reason, RMQ_RC_SUCCESS);
	cr_assert(rmq_test_scram_verify(&sc, a.auth.props.auth_data.p,
	    a.auth.props.auth_data.len));
	RMQ_SEND(c, 0xC0, 0x00);
	RMQ_EXPECT(c, 0xD0, 0x00);
	/* And once more: each re-authentication is an exchange of its
	 * own. */
	reauth(c, &sc, "user", "pencil");
	next(c, buf, sizeof(buf), &a);
	cr_assert_eq(a.auth.reason, RMQ_RC_SUCCESS);
}

/* The next packet is DISCONNECT with `reason`, then the end. */
static void
expect_disconnect(struct rmq_fake_client *c, uint8_t reason)
{
	uint8_t buf[512];
	struct rmq_packet a;
	next(c, buf, sizeof(buf), &a);
	cr_assert_eq(a.type, RMQ_DISCONNECT);
	cr_assert_eq(a.disconnect.reason, reason);
	RMQ_EXPECT_CLOSED(c);
}

Test(xauth, re_authentication_refused_ends_the_connection)
{
	struct rmq_fake_client *c = scram_connected("user", "pencil", "c9");
	struct rmq_test_scram sc;
	reauth(c, &sc, "user", "wrong");
	expect_disconnect(c, RMQ_RC_NOT_AUTHORIZED);
}

Test(xauth, re_authentication_as_another_user_is_refused)
{
	/* "other" proves its own password, but the session is "user"'s. */
	struct rmq_fake_client *c = scram_connected("user", "pencil", "c10");
	struct rmq_test_scram sc;
	reauth(c, &sc, "other", "crayon");
	expect_disconnect(c, RMQ_RC_NOT_AUTHORIZED);
}

Test(xauth, auth_from_a_client_that_used_no_method_is_a_protocol_error)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "c11", 1, NULL);
	send_auth(c, RMQ_RC_REAUTHENTICATE, "n,,n=user,r=x", 13);
	expect_disconnect(c, RMQ_RC_PROTOCOL_ERROR);
}

Test(xauth, a_scram_entry_checks_a_connect_password_too)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V311;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str("c12");
	p.connect.username = rmq_test_str("user");
	p.connect.password = rmq_test_str("pencil");
	rmq_test_send_packet(c, &p, RMQ_V311);
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	struct rmq_fake_client *d = rmq_test_client(0);
	p.connect.client_id = rmq_test_str("c13");
	p.connect.password = rmq_test_str("crayon");
	rmq_test_send_packet(d, &p, RMQ_V311);
	RMQ_EXPECT(d, 0x20, 0x02, 0x00, 0x04); /* bad user name or password */
	RMQ_EXPECT_CLOSED(d);
}
