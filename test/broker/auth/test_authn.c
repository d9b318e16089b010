/* test/broker/auth/test_authn.c: the node's authenticator
 * (broker/auth/authn.c) on a node on the fake loop backend: password file
 * verdicts and their CONNACK codes in 3.1.1 and 5.0, anonymous access by
 * listener, checks answered later by the check thread, and reloads.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authn.h"
#include "codec.h"
#include "passwd.h"
#include "rmq_test.h"
#include "rmq_test_node.h"

static char dir[64], file[128];
static enum rmq_anonymous anonymous;
static int with_file;

static void
write_users(const char *path, unsigned rounds, const char *const *users)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "# users\n");
	for (; users[0]; users += 2) {
		char h[RMQ_PASSWD_HASH_SIZE];
		cr_assert_eq(rmq_passwd_hash(users[1], strlen(users[1]), rounds,
				 h, sizeof(h)),
		    0);
		fprintf(f, "%s:%s\n", users[0], h);
	}
	fclose(f);
}

static void
tweak(struct rmq_config *cfg)
{
	cfg->allow_anonymous = anonymous;
	if (with_file)
		snprintf(cfg->password_file, sizeof(cfg->password_file), "%s",
		    file);
}

static void
start(enum rmq_anonymous anon, unsigned rounds)
{
	snprintf(dir, sizeof(dir), "/tmp/rmq-authn-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/passwd", dir);
	static const char *const users[] = { "alice", "secret", "bob", "",
		NULL };
	write_users(file, rounds, users);
	anonymous = anon;
	with_file = rounds != 0;
	rmq_test_node_start(1, tweak);
}

static void
stop(void)
{
	rmq_test_node_stop();
	unlink(file);
	rmdir(dir);
}

static void
start_file(void)
{
	start(RMQ_ANON_LOOPBACK, 101);
}
static void
start_slow(void)
{
	start(RMQ_ANON_LOOPBACK, 5000);
}
static void
start_no_anon(void)
{
	start(RMQ_ANON_NO, 0);
}
static void
start_default(void)
{
	start(RMQ_ANON_LOOPBACK, 0);
}

TestSuite(authn_file, .init = start_file, .fini = stop, .timeout = 30);
TestSuite(authn_slow, .init = start_slow, .fini = stop, .timeout = 30);
TestSuite(authn_no_anon, .init = start_no_anon, .fini = stop, .timeout = 30);
TestSuite(authn_default, .init = start_default, .fini = stop, .timeout = 30);

/* Send a CONNECT (user and password when not NULL) and return the
 * CONNACK's code (3.x return code, 5.0 reason), -1 if none came.  The
 * check thread answers from another thread: settle until it has, within
 * a bounded number of rounds. */
static int
login(uint8_t version, const char *id, const char *user, const char *pass,
    struct rmq_fake_client **out)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = version;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str(id);
	if (user)
		p.connect.username = rmq_test_str(user);
	if (pass)
		p.connect.password = rmq_test_str(pass);
	rmq_test_send_packet(c, &p, version);
	uint8_t ack[64];
	size_t n = 0;
	for (int i = 0; i < 5000 && n == 0; i++) {
		n = rmq_test_next_packet(c, ack, sizeof(ack));
		if (n == 0)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	if (out)
		*out = c;
	if (n < 4 || ack[0] != 0x20)
		return -1;
	return ack[3];
}

/* [MQTT-3.2.2-3.1.1] return code 4 "bad user name or password"; 5.0
 * 3.2.2.2 reason 0x86; and the connection closes after the CONNACK
 * [MQTT-3.2.2-5]. */
Test(authn_file, password_file_verdicts)
{
	struct rmq_fake_client *c;
	cr_assert_eq(login(RMQ_V311, "a1", "alice", "secret", NULL), 0);
	cr_assert_eq(login(RMQ_V5, "a2", "alice", "secret", NULL), 0);
	cr_assert_eq(login(RMQ_V311, "a3", "alice", "wrong", &c), 4);
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(login(RMQ_V5, "a4", "alice", "wrong", &c), 0x86);
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(login(RMQ_V5, "a5", "mallory", "secret", NULL), 0x86);
	/* A user name without a password matches no line, even an empty
	 * password's. */
	cr_assert_eq(login(RMQ_V311, "a6", "alice", NULL, NULL), 4);
	cr_assert_eq(login(RMQ_V311, "a7", "bob", NULL, NULL), 4);
	cr_assert_eq(login(RMQ_V311, "a8", "bob", "", NULL), 0);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(auth_failures)),
	    5);
}

/* No user name on a loopback listener (the unit tests' 127.0.0.1), with
 * allow_anonymous unset: let in, as Mosquitto 2's local mode. */
Test(authn_file, anonymous_on_loopback_by_default)
{
	cr_assert_eq(login(RMQ_V311, "anon", NULL, NULL, NULL), 0);
	cr_assert_eq(login(RMQ_V5, "anon5", NULL, NULL, NULL), 0);
}

/* allow_anonymous false: [MQTT-3.2.2-3.1.1] return code 5 "not
 * authorized", 5.0 reason 0x87; a user name with no password file to
 * check it against is anonymous too. */
Test(authn_no_anon, anonymous_refused)
{
	cr_assert_eq(login(RMQ_V311, "n1", NULL, NULL, NULL), 5);
	cr_assert_eq(login(RMQ_V5, "n2", NULL, NULL, NULL), 0x87);
	cr_assert_eq(login(RMQ_V311, "n3", "alice", "secret", NULL), 5);
}

Test(authn_default, user_name_without_a_file_on_loopback)
{
	cr_assert_eq(login(RMQ_V311, "d1", "anyone", "anything", NULL), 0);
}

/* A file of many rounds is checked on the check thread: same verdicts,
 * answered later, and the loop kept serving meanwhile. */
Test(authn_slow, checks_off_the_loop)
{
	struct rmq_fake_client *other =
	    rmq_test_connect(0, RMQ_V311, "other", 1, NULL);
	cr_assert_eq(login(RMQ_V311, "s1", "alice", "secret", NULL), 0);
	cr_assert_eq(login(RMQ_V5, "s2", "alice", "nope", NULL), 0x86);
	cr_assert_eq(login(RMQ_V5, "s3", "nobody", "nope", NULL), 0x86);
	RMQ_SEND(other, 0xc0, 0x00);
	RMQ_EXPECT(other, 0xd0, 0x00);
}

/* A reload reads the file again: a new user gets in; a broken file is
 * refused with its line, and the users before stay. */
Test(authn_file, reload_reads_the_file_again)
{
	static const char *const users[] = { "carol", "c4r0l", NULL };
	write_users(file, 101, users);
	struct rmq_config cfg = rmq_test_node.cfg;
	char err[512];
	cr_assert_eq(rmq_authn_reload(rmq_test_node.authn, &cfg, err,
			 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(rmq_authn_users(rmq_test_node.authn), 1);
	cr_assert_eq(login(RMQ_V311, "r1", "carol", "c4r0l", NULL), 0);
	cr_assert_eq(login(RMQ_V311, "r2", "alice", "secret", NULL), 4);

	FILE *f = fopen(file, "a");
	fputs("dave\n", f);
	fclose(f);
	cr_assert_neq(rmq_authn_reload(rmq_test_node.authn, &cfg, err,
			  sizeof(err)),
	    0);
	char want[256];
	snprintf(want, sizeof(want), "%s:3:", file);
	cr_assert(strstr(err, want) != NULL, "%s", err);
	cr_assert_eq(login(RMQ_V311, "r3", "carol", "c4r0l", NULL), 0);

	/* allow_anonymous changes at a reload too. */
	cfg.allow_anonymous = RMQ_ANON_NO;
	cfg.password_file[0] = '\0';
	cr_assert_eq(rmq_authn_reload(rmq_test_node.authn, &cfg, err,
			 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(rmq_authn_users(rmq_test_node.authn), -1);
	cr_assert_eq(login(RMQ_V311, "r4", NULL, NULL, NULL), 5);
}

Test(authn_file, loopback_addresses)
{
	cr_assert(rmq_authn_loopback("127.0.0.1"));
	cr_assert(rmq_authn_loopback("127.3.2.1"));
	cr_assert(rmq_authn_loopback("::1"));
	cr_assert(rmq_authn_loopback("localhost"));
	cr_assert(!rmq_authn_loopback(""));
	cr_assert(!rmq_authn_loopback("0.0.0.0"));
	cr_assert(!rmq_authn_loopback("::"));
	cr_assert(!rmq_authn_loopback("10.0.0.1"));
	cr_assert(!rmq_authn_loopback("128.0.0.1"));
}
