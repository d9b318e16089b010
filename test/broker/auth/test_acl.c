/* test/broker/auth/test_acl.c: the ACL file (broker/auth/acl.c): the
 * anonymous and user sections, patterns with %c and %u, deny precedence,
 * read, write and readwrite, '$' topics, subscriptions, the names a
 * client could widen a pattern with, each malformed line with its exact
 * message, a file of 10,000 rules, and files that cannot be read.  Every
 * test works in its own mkdtemp directory under /tmp.
 *
 * Cases marked [mosquitto] were run against Debian 12's Mosquitto 2.0.11
 * with the same file (a listener on 127.0.0.1, allow_anonymous true, the
 * client acting through a raw MQTT 3.1.1 connection: READ seen as a
 * message delivered, or not, to the client's subscription; WRITE as one
 * it published reaching, or not, a subscriber allowed to read it;
 * SUBSCRIBE as the SUBACK's return code), with the answer the test
 * expects, or, where marked [differs], the other answer and why.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "rmq_test_dir.h"
#include "topic.h"

static char dir[64];
static char path[128];
static char err[512];

static void
mkdir_tmp(void)
{
	rmq_test_dir_make(dir, sizeof(dir), "acl");
	snprintf(path, sizeof(path), "%s/acl", dir);
}

static void
rm_tmp(void)
{
	rmq_test_dir_remove(dir);
}

TestSuite(acl, .init = mkdir_tmp, .fini = rm_tmp);

static void
write_text(const char *text)
{
	rmq_test_write_file(path, text, strlen(text));
}

static struct rmq_acl *
load_text(const char *text)
{
	struct rmq_acl *a = NULL;
	write_text(text);
	int rc = rmq_acl_load(path, &a, err, sizeof(err));
	cr_assert_eq(rc, 0, "load: %d %s", rc, err);
	cr_assert_not_null(a);
	return a;
}

/* user NULL: anonymous. */
static int
may(const struct rmq_acl *a, const char *user, const char *cid,
    const char *topic, enum rmq_acl_access access)
{
	return rmq_acl_check(a, user, user ? strlen(user) : 0, cid,
	    cid ? strlen(cid) : 0, topic, strlen(topic), access);
}

static int
can_read(const struct rmq_acl *a, const char *user, const char *cid,
    const char *topic)
{
	return may(a, user, cid, topic, RMQ_ACL_READ);
}

static int
can_write(const struct rmq_acl *a, const char *user, const char *cid,
    const char *topic)
{
	return may(a, user, cid, topic, RMQ_ACL_WRITE);
}

/* ---- sections ---- */

/* [mosquitto] every answer here. */
Test(acl, anonymous_and_user_sections)
{
	struct rmq_acl *a = load_text("# anonymous section\n"
				      "topic read anon/#\n"
				      "topic write anonw/x\n"
				      "user alice\n"
				      "topic readwrite a/#\n"
				      "user bob\n"
				      "topic b/#\n"
				      "user john smith\n"
				      "topic read js/#\n");
	cr_assert_eq(rmq_acl_rules(a), 5);
	/* Clients without a user name: the lines before any `user`. */
	cr_assert_eq(can_read(a, NULL, "an1", "anon/x"), 1);
	cr_assert_eq(can_read(a, NULL, "an1", "anon"), 1);
	cr_assert_eq(can_write(a, NULL, "an1", "anon/x"), 0);
	cr_assert_eq(can_write(a, NULL, "an1", "anonw/x"), 1);
	cr_assert_eq(can_read(a, NULL, "an1", "anonw/x"), 0);
	cr_assert_eq(can_read(a, NULL, "an1", "a/x"), 0);
	/* A user's section is its own: the anonymous one is not for it. */
	cr_assert_eq(can_read(a, "alice", "al1", "anon/x"), 0);
	cr_assert_eq(can_read(a, "alice", "al1", "a/x"), 1);
	cr_assert_eq(can_write(a, "alice", "al1", "a/x"), 1);
	cr_assert_eq(can_read(a, "alice", "al1", "b/x"), 0);
	/* No access word: readwrite. */
	cr_assert_eq(can_read(a, "bob", "bo1", "b/x"), 1);
	cr_assert_eq(can_write(a, "bob", "bo1", "b/x"), 1);
	cr_assert_eq(can_read(a, "bob", "bo1", "a/x"), 0);
	/* A user name is the rest of the line. */
	cr_assert_eq(can_read(a, "john smith", "js1", "js/x"), 1);
	cr_assert_eq(can_read(a, "john", "js1", "js/x"), 0);
	/* A user without a section, and no patterns: nothing. */
	cr_assert_eq(can_read(a, "carol", "c1", "a/x"), 0);
	cr_assert_eq(can_read(a, "carol", "c1", "anon/x"), 0);
	/* Names are compared whole, by bytes. */
	cr_assert_eq(can_read(a, "Alice", "al1", "a/x"), 0);
	cr_assert_eq(can_read(a, "alic", "al1", "a/x"), 0);
	cr_assert_eq(rmq_acl_check(a, "alice!", 5, "c", 1, "a/x", 3,
			 RMQ_ACL_READ),
	    1);
	rmq_acl_free(a);
}

/* [mosquitto] An empty user name is read as none (packet__read_binary
 * gives NULL for a zero length): the anonymous section is its own, and
 * a %u pattern passes it by. */
Test(acl, empty_user_name_is_anonymous)
{
	struct rmq_acl *a = load_text("topic read anon/#\n"
				      "pattern read users/%u/#\n");
	cr_assert_eq(can_read(a, "", "e1", "anon/x"), 1);
	cr_assert_eq(can_read(a, "", "e1", "users//x"), 0);
	cr_assert_eq(can_read(a, NULL, "e1", "users//x"), 0);
	cr_assert_eq(rmq_acl_check(a, NULL, 7, "e1", 2, "anon/x", 6,
			 RMQ_ACL_READ),
	    1);
	rmq_acl_free(a);
}

/* A user's sections, if several, are one (Mosquitto's add__acl finds the
 * user already listed and appends). */
Test(acl, sections_merge)
{
	struct rmq_acl *a = load_text("user alice\n"
				      "topic read a/#\n"
				      "user bob\n"
				      "topic read b/#\n"
				      "user alice\n"
				      "topic write w/#\n"
				      "topic deny a/secret\n");
	cr_assert_eq(rmq_acl_rules(a), 4);
	cr_assert_eq(can_read(a, "alice", "c", "a/x"), 1);
	cr_assert_eq(can_write(a, "alice", "c", "w/x"), 1);
	cr_assert_eq(can_read(a, "alice", "c", "a/secret"), 0);
	cr_assert_eq(can_read(a, "bob", "c", "b/x"), 1);
	cr_assert_eq(can_write(a, "bob", "c", "w/x"), 0);
	rmq_acl_free(a);
}

/* ---- access words and deny ---- */

/* [mosquitto] every answer here. */
Test(acl, read_write_readwrite_deny)
{
	struct rmq_acl *a = load_text("user alice\n"
				      "topic readwrite a/#\n"
				      "topic deny a/secret\n"
				      "topic read ro/#\n"
				      "topic write wo/#\n");
	cr_assert_eq(can_read(a, "alice", "al1", "a/x"), 1);
	cr_assert_eq(can_write(a, "alice", "al1", "a/x"), 1);
	/* The deny comes after the grant in the file and still wins. */
	cr_assert_eq(can_read(a, "alice", "al1", "a/secret"), 0);
	cr_assert_eq(can_write(a, "alice", "al1", "a/secret"), 0);
	/* A deny filter matches as any filter does. */
	cr_assert_eq(can_read(a, "alice", "al1", "a/secret/x"), 1);
	cr_assert_eq(can_read(a, "alice", "al1", "ro/x"), 1);
	cr_assert_eq(can_write(a, "alice", "al1", "ro/x"), 0);
	cr_assert_eq(can_write(a, "alice", "al1", "wo/x"), 1);
	cr_assert_eq(can_read(a, "alice", "al1", "wo/x"), 0);
	rmq_acl_free(a);
}

Test(acl, deny_with_wildcards)
{
	struct rmq_acl *a = load_text("topic #\n"
				      "topic deny +/private/#\n"
				      "topic deny x\n");
	cr_assert_eq(can_read(a, NULL, "c", "a/b"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "a/private"), 0);
	cr_assert_eq(can_write(a, NULL, "c", "a/private/b/c"), 0);
	cr_assert_eq(can_read(a, NULL, "c", "a/b/private"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "x"), 0);
	cr_assert_eq(can_read(a, NULL, "c", "x/y"), 1);
	rmq_acl_free(a);
}

/* The two stages of Mosquitto's check: the client's section, then the
 * patterns.  [mosquitto] every answer here. */
Test(acl, section_decides_before_patterns)
{
	struct rmq_acl *a = load_text("user alice\n"
				      "topic read sec/x\n"
				      "user carol\n"
				      "topic deny dev/carolc/x\n"
				      "pattern readwrite dev/%c/#\n"
				      "pattern deny sec/#\n");
	/* A user's grant is not taken back by a pattern's deny... */
	cr_assert_eq(can_read(a, "alice", "al1", "sec/x"), 1);
	cr_assert_eq(can_read(a, "bob", "bo1", "sec/x"), 0);
	cr_assert_eq(can_read(a, NULL, "an1", "sec/x"), 0);
	/* ...and a user's deny is not overruled by a pattern's grant. */
	cr_assert_eq(can_read(a, "carol", "carolc", "dev/carolc/x"), 0);
	cr_assert_eq(can_read(a, "carol", "carolc", "dev/carolc/y"), 1);
	/* A rule that matches without granting leaves it to the patterns. */
	cr_assert_eq(can_write(a, "alice", "sec", "dev/sec/x"), 1);
	rmq_acl_free(a);
}

Test(acl, grant_that_does_not_fit_falls_through)
{
	struct rmq_acl *a = load_text("user alice\n"
				      "topic read t/#\n"
				      "pattern write t/%u/#\n");
	cr_assert_eq(can_read(a, "alice", "c", "t/alice/x"), 1);
	cr_assert_eq(can_write(a, "alice", "c", "t/alice/x"), 1);
	cr_assert_eq(can_write(a, "alice", "c", "t/bob/x"), 0);
	rmq_acl_free(a);
}

/* ---- patterns ---- */

/* [mosquitto] every answer here. */
Test(acl, patterns_with_client_id_and_user)
{
	struct rmq_acl *a = load_text("user alice\n"
				      "topic read lit/%c\n"
				      "pattern readwrite dev/%c/#\n"
				      "pattern deny dev/%c/locked\n"
				      "pattern read users/%u/#\n"
				      "pattern read pub/#\n");
	cr_assert_eq(can_read(a, NULL, "c1", "dev/c1/x"), 1);
	cr_assert_eq(can_write(a, NULL, "c1", "dev/c1/x"), 1);
	cr_assert_eq(can_read(a, NULL, "c1", "dev/c1"), 1);
	cr_assert_eq(can_read(a, NULL, "c1", "dev/c2/x"), 0);
	cr_assert_eq(can_read(a, NULL, "c1", "dev/c1/locked"), 0);
	cr_assert_eq(can_read(a, NULL, "c2", "dev/c1/x"), 0);
	/* A user without a section: the patterns alone. */
	cr_assert_eq(can_read(a, "dave", "d1", "dev/d1/x"), 1);
	cr_assert_eq(can_read(a, "dave", "d1", "users/dave/x"), 1);
	cr_assert_eq(can_write(a, "dave", "d1", "users/dave/x"), 0);
	cr_assert_eq(can_read(a, "dave", "d1", "users/davey/x"), 0);
	cr_assert_eq(can_read(a, "dave", "d1", "users/dav/x"), 0);
	/* %u never matches a client without a user name. */
	cr_assert_eq(can_read(a, NULL, "d2", "users//x"), 0);
	cr_assert_eq(can_read(a, NULL, "d2", "users/d2/x"), 0);
	/* In a topic line %c is plain text. */
	cr_assert_eq(can_read(a, "alice", "c1", "lit/c1"), 0);
	cr_assert_eq(can_read(a, "alice", "c1", "lit/%c"), 1);
	/* A pattern without %c or %u is for everyone. */
	cr_assert_eq(can_read(a, NULL, "pq", "pub/x"), 1);
	cr_assert_eq(can_read(a, "alice", "pq", "pub/x"), 1);
	rmq_acl_free(a);
}

Test(acl, patterns_in_detail)
{
	struct rmq_acl *a = load_text("pattern read %c/%u/+/%c\n"
				      "pattern write %u\n"
				      "pattern read a/+/%c/#\n"
				      "pattern read e/%c/\n"
				      "pattern read a%x/%/%\n");
	cr_assert_eq(can_read(a, "u", "c", "c/u/x/c"), 1);
	cr_assert_eq(can_read(a, "u", "c", "c/u//c"), 1);
	cr_assert_eq(can_read(a, "u", "c", "c/u/x/c/y"), 0);
	cr_assert_eq(can_read(a, "u", "c", "c/u/x"), 0);
	cr_assert_eq(can_read(a, "u", "c", "c/v/x/c"), 0);
	cr_assert_eq(can_read(a, "u", "c", "cc/u/x/c"), 0);
	cr_assert_eq(can_read(a, "u", "c", "c/u/x/"), 0);
	cr_assert_eq(can_write(a, "user1", "c", "user1"), 1);
	cr_assert_eq(can_write(a, "user1", "c", "user1/x"), 0);
	cr_assert_eq(can_write(a, "user1", "c", "user"), 0);
	/* "a/+/%c/#" matches its parent level too, as "a/+/c/#" would. */
	cr_assert_eq(can_read(a, NULL, "c", "a/b/c"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "a/b/c/d/e"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "a/b/d"), 0);
	cr_assert_eq(can_read(a, NULL, "c", "a/b"), 0);
	cr_assert_eq(can_read(a, NULL, "c", "e/c/"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "e/c"), 0);
	/* "%x" and a '%' alone are plain text. */
	cr_assert_eq(can_read(a, NULL, "c", "a%x/%/%"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "ac/%/%"), 0);
	rmq_acl_free(a);
}

/* Where a pattern walks the topic itself, it must agree with core's
 * filter matching: each filter with one of its levels as %c, and that
 * level's text as the client id, against topics made of the same
 * levels. */
Test(acl, pattern_matching_agrees_with_core)
{
	static const char *filters[] = { "a/b/c", "a/+/c", "a/b/#", "+/b/c",
		"a/b", "a/+", "a/b/c/#", "+/+/+", "a//c", "a/b/+/#", "x/b/c",
		"a/x" };
	static const char *topics[] = { "a", "a/b", "a/b/c", "a/b/c/d", "a//c",
		"a/x/c", "x/b/c", "a/b/x", "$a/b/c", "a/b/", "/b/c", "a/x" };
	for (size_t f = 0; f < sizeof(filters) / sizeof(*filters); f++) {
		const char *flt = filters[f];
		/* Each literal level in turn becomes %c. */
		size_t start = 0, len = strlen(flt);
		while (start <= len) {
			const char *e = strchr(flt + start, '/');
			size_t end = e ? (size_t)(e - flt) : len;
			char lvl[16];
			snprintf(lvl, sizeof(lvl), "%.*s", (int)(end - start),
			    flt + start);
			if (lvl[0] && strcmp(lvl, "+") && strcmp(lvl, "#")) {
				char pat[64], text[96];
				snprintf(pat, sizeof(pat), "%.*s%%c%s",
				    (int)start, flt, flt + end);
				snprintf(text, sizeof(text),
				    "pattern read %s\n", pat);
				struct rmq_acl *a = load_text(text);
				for (size_t t = 0;
				     t < sizeof(topics) / sizeof(*topics);
				     t++) {
					int want =
					    rmq_topic_match(flt, strlen(flt),
						topics[t], strlen(topics[t]));
					cr_assert_eq(can_read(a, NULL, lvl,
							 topics[t]),
					    want, "%s (%%c=%s) vs %s", pat, lvl,
					    topics[t]);
				}
				rmq_acl_free(a);
			}
			start = end + 1;
		}
		/* And the filter as a pattern without names. */
		char text[96];
		snprintf(text, sizeof(text), "pattern read %s\n", flt);
		struct rmq_acl *a = load_text(text);
		for (size_t t = 0; t < sizeof(topics) / sizeof(*topics); t++)
			cr_assert_eq(can_read(a, NULL, "c", topics[t]),
			    rmq_topic_match(flt, strlen(flt), topics[t],
				strlen(topics[t])));
		rmq_acl_free(a);
	}
}

/* ---- names that could widen a pattern ---- */

/* [mosquitto] A client id or user name holding '+' or '#' is denied at
 * the patterns, even by one without %c or %u ("ACL denying access to
 * client with dangerous client id"), though its section still decides
 * first. */
Test(acl, plus_and_hash_in_names_are_denied)
{
	struct rmq_acl *a = load_text("user alice\n"
				      "topic read a/#\n"
				      "pattern read pub/#\n"
				      "pattern read dev/%c/#\n");
	cr_assert_eq(can_read(a, NULL, "pq", "pub/x"), 1);
	cr_assert_eq(can_read(a, NULL, "p+q", "pub/x"), 0);
	cr_assert_eq(can_read(a, NULL, "p#q", "pub/x"), 0);
	cr_assert_eq(can_read(a, NULL, "+", "dev/+"), 0); /* not a topic */
	cr_assert_eq(can_read(a, NULL, "+", "dev/x"), 0);
	cr_assert_eq(can_read(a, NULL, "#", "dev/x"), 0);
	cr_assert_eq(can_read(a, "u+", "pq2", "pub/x"), 0);
	cr_assert_eq(can_read(a, "u#", "pq2", "pub/x"), 0);
	cr_assert_eq(can_read(a, "alice", "p+q", "a/x"), 1);
	cr_assert_eq(can_read(a, "alice", "p+q", "pub/x"), 0);
	rmq_acl_free(a);
}

/* A name holding '/' spans levels.  [mosquitto][differs] Mosquitto
 * substitutes it as is, so client "c1/sub" under dev/%c/# reads
 * dev/c1/sub/x, inside client c1's; here an allow pattern that would
 * need it grants nothing, a deny pattern that would need it denies, and
 * patterns that do not use it work as for anyone ([mosquitto] the same:
 * "p/q" reads pub/x). */
Test(acl, slash_in_names_fails_closed)
{
	struct rmq_acl *a = load_text("pattern readwrite dev/%c/#\n"
				      "pattern read users/%u/#\n"
				      "pattern read pub/#\n");
	cr_assert_eq(can_read(a, NULL, "c1/sub", "dev/c1/sub/x"), 0);
	cr_assert_eq(can_write(a, NULL, "c1/sub", "dev/c1/sub"), 0);
	cr_assert_eq(can_read(a, NULL, "c1/sub", "dev/c1/x"), 0);
	cr_assert_eq(can_read(a, NULL, "p/q", "pub/x"), 1);
	cr_assert_eq(can_read(a, "org/bob", "c", "users/org/bob/x"), 0);
	cr_assert_eq(can_read(a, "org/bob", "c", "dev/c/x"), 1);
	cr_assert_eq(can_read(a, "org/bob", "c", "pub/x"), 1);
	rmq_acl_free(a);

	a = load_text("pattern read #\n"
		      "pattern deny dev/%c/secret\n"
		      "pattern deny users/%u/secret\n");
	cr_assert_eq(can_read(a, NULL, "c1", "dev/x"), 1);
	cr_assert_eq(can_read(a, NULL, "c1", "dev/c1/secret"), 0);
	/* The deny cannot say what it would cover: it covers all. */
	cr_assert_eq(can_read(a, NULL, "c1/sub", "dev/x"), 0);
	cr_assert_eq(can_read(a, NULL, "c1/sub", "pub/x"), 0);
	cr_assert_eq(can_read(a, "org/bob", "c", "pub/x"), 0);
	/* Anonymous: the %u deny does not apply, as Mosquitto skips it. */
	cr_assert_eq(can_read(a, NULL, "c", "pub/x"), 1);
	rmq_acl_free(a);
}

/* An empty client id stands for no level either (Mosquitto always has
 * one: it makes one up for a client that sends none). */
Test(acl, empty_client_id_fails_closed)
{
	struct rmq_acl *a = load_text("pattern read dev/%c/#\n"
				      "pattern read pub/#\n");
	cr_assert_eq(can_read(a, NULL, "", "dev//x"), 0);
	cr_assert_eq(can_read(a, NULL, "", "pub/x"), 1);
	cr_assert_eq(can_read(a, NULL, NULL, "pub/x"), 0);
	cr_assert_eq(may(a, NULL, NULL, "pub/x", RMQ_ACL_SUBSCRIBE), 0);
	rmq_acl_free(a);
}

/* [mosquitto][differs] Mosquitto lets client "$foo" read "$foo/own"
 * through `pattern read %c/own`; here a name as the first level never
 * matches a '$' topic, as a wildcard there would not. */
Test(acl, name_as_first_level_misses_dollar_topics)
{
	struct rmq_acl *a = load_text("pattern read %c/own\n"
				      "pattern read %u/#\n"
				      "pattern read $c/%c\n");
	cr_assert_eq(can_read(a, NULL, "foo", "foo/own"), 1);
	cr_assert_eq(can_read(a, NULL, "$foo", "$foo/own"), 0);
	cr_assert_eq(can_read(a, "$SYS", "c", "$SYS/broker/version"), 0);
	cr_assert_eq(can_read(a, "sys", "c", "sys/x"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "$c/c"), 1);
	rmq_acl_free(a);
}

/* ---- '$' topics ---- */

/* [mosquitto] `#` and `+/...` do not reach $SYS; `$SYS/#` does (the
 * retained $SYS/broker/version delivered or not). */
Test(acl, dollar_topics)
{
	struct rmq_acl *a = load_text("user hash\n"
				      "topic read #\n"
				      "topic read +/broker/#\n"
				      "user sys\n"
				      "topic read $SYS/#\n"
				      "user plus\n"
				      "topic read $SYS/+/version\n"
				      "pattern read #\n");
	cr_assert_eq(can_read(a, "hash", "h", "$SYS/broker/version"), 0);
	cr_assert_eq(can_read(a, "hash", "h", "a/broker/x"), 1);
	cr_assert_eq(can_read(a, "sys", "s", "$SYS/broker/version"), 1);
	cr_assert_eq(can_read(a, "sys", "s", "$SYS"), 1);
	cr_assert_eq(can_read(a, "sys", "s", "$SYSX/a"), 0);
	cr_assert_eq(can_read(a, "sys", "s", "$other/a"), 0);
	cr_assert_eq(can_read(a, "plus", "p", "$SYS/broker/version"), 1);
	cr_assert_eq(can_read(a, "plus", "p", "$SYS/broker/uptime"), 0);
	cr_assert_eq(can_read(a, NULL, "n", "x/y"), 1);
	cr_assert_eq(can_read(a, NULL, "n", "$SYS/x"), 0);
	rmq_acl_free(a);
}

/* ---- subscriptions ---- */

/* A SUBSCRIBE is refused when no topic could be read through its filter
 * (no rule granting READ overlaps it, or a deny rule asked first covers
 * all of it); otherwise it is granted and each message is checked on
 * delivery.  Mosquitto 2.0 grants every SUBSCRIBE and then delivers
 * nothing, which leaves a client unaware; the SUBACK says it here. */
static void
sub_expect(struct rmq_acl *a, const char *user, const char *cid,
    const char *const *filters, const int *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(may(a, user, cid, filters[i], RMQ_ACL_SUBSCRIBE),
		    want[i], "%s/%s SUBSCRIBE %s: want %d", user ? user : "-",
		    cid, filters[i], want[i]);
}

Test(acl, subscribe_refuses_filters_nothing_could_be_read_through)
{
	struct rmq_acl *a = load_text("topic read anon/#\n"
				      "user alice\n"
				      "topic readwrite a/#\n"
				      "topic deny a/secret\n"
				      "topic deny a/vault/#\n"
				      "topic write w/#\n");
	static const char *const f[] = { "#", "a/secret", "zzz/#", "+/+",
		"$SYS/#", "a/+", "a/secret/#", "a/vault/#", "a/vault/+/x",
		"anon/+/x", "w/#", "a" };
	static const int alice[] = { 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1 };
	static const int anon[] = { 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0 };
	static const int nobody[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	sub_expect(a, "alice", "al1", f, alice, 12);
	sub_expect(a, NULL, "an1", f, anon, 12);
	sub_expect(a, "nobody", "n1", f, nobody, 12);
	/* Through `#`, alice gets a/x and not a/secret nor anon/x. */
	cr_assert_eq(can_read(a, "alice", "al1", "a/x"), 1);
	cr_assert_eq(can_read(a, "alice", "al1", "a/secret"), 0);
	cr_assert_eq(can_read(a, "alice", "al1", "anon/x"), 0);
	/* A filter is not a topic: READ and WRITE of one are denied. */
	cr_assert_eq(can_read(a, "alice", "al1", "a/#"), 0);
	cr_assert_eq(can_read(a, "alice", "al1", "a/+"), 0);
	cr_assert_eq(can_write(a, "alice", "al1", "a/+/x"), 0);
	rmq_acl_free(a);
}

Test(acl, subscribe_through_patterns)
{
	struct rmq_acl *a = load_text("pattern read dev/%c/#\n"
				      "pattern deny dev/%c/secret/#\n"
				      "pattern read u/%u/+\n");
	static const char *const f[] = { "dev/c1/#", "dev/+/#", "dev/c2/#",
		"dev/c1/secret/#", "dev/c1/secret/+", "+/c1/+", "#", "u/+/x",
		"u/bob/+", "u/+/+/x" };
	static const int c1[] = { 1, 1, 0, 0, 0, 1, 1, 0, 0, 0 };
	static const int bob[] = { 0, 1, 0, 0, 0, 0, 1, 1, 1, 0 };
	sub_expect(a, NULL, "c1", f, c1, 10);
	sub_expect(a, "bob", "c9", f, bob, 10);
	/* Names that would widen a pattern get nothing from it, and a
	 * deny pattern using one denies all. */
	static const int none[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	sub_expect(a, NULL, "a/b", f, none, 10);
	sub_expect(a, "x+", "c1", f, none, 10);
	rmq_acl_free(a);
}

Test(acl, subscribe_and_dollar_topics)
{
	struct rmq_acl *a = load_text("topic read $SYS/broker/#\n"
				      "topic read #\n"
				      "pattern read %c/#\n");
	static const char *const f[] = { "$SYS/#", "$SYS/broker/+",
		"$SYS/other/#", "+/broker/#", "#", "$share-like/#" };
	/* `#` reads every topic but those starting with '$'; so does a
	 * pattern whose first level is %c. */
	static const int anon[] = { 1, 1, 0, 1, 1, 0 };
	sub_expect(a, NULL, "$dollar", f, anon, 6);
	rmq_acl_free(a);
}

/* ---- what a check accepts ---- */

Test(acl, check_arguments)
{
	struct rmq_acl *a = load_text("topic #\n");
	cr_assert_eq(can_read(a, NULL, "c", "t"), 1);
	cr_assert_eq(rmq_acl_check(a, NULL, 0, "c", 1, "", 0, RMQ_ACL_READ), 0);
	cr_assert_eq(rmq_acl_check(a, NULL, 0, "c", 1, "a\0b", 3, RMQ_ACL_READ),
	    0);
	/* Lengths, not NULs, end the strings. */
	cr_assert_eq(rmq_acl_check(a, NULL, 0, "c", 1, "t/#", 1, RMQ_ACL_WRITE),
	    1);
	static char longest[RMQ_ACL_TOPIC_MAX + 1];
	memset(longest, 'x', sizeof(longest));
	cr_assert_eq(rmq_acl_check(a, NULL, 0, "c", 1, longest,
			 RMQ_ACL_TOPIC_MAX, RMQ_ACL_READ),
	    1);
	cr_assert_eq(rmq_acl_check(a, NULL, 0, "c", 1, longest,
			 RMQ_ACL_TOPIC_MAX + 1, RMQ_ACL_READ),
	    0);
	/* One access at a time. */
	cr_assert_eq(may(a, NULL, "c", "t", 0), 0);
	cr_assert_eq(may(a, NULL, "c", "t", RMQ_ACL_READ | RMQ_ACL_WRITE), 0);
	cr_assert_eq(may(a, NULL, "c", "t", 8), 0);
	/* A client without an id gets nothing. */
	cr_assert_eq(can_read(a, NULL, NULL, "t"), 0);
	rmq_acl_free(a);
}

/* An empty file denies everything, SUBSCRIBE to `#` too (Mosquitto's
 * 09-acl-empty-file.py has the SUBSCRIBE granted and nothing delivered). */
Test(acl, empty_file)
{
	struct rmq_acl *a = load_text("");
	cr_assert_eq(rmq_acl_rules(a), 0);
	cr_assert_eq(can_read(a, NULL, "c", "t"), 0);
	cr_assert_eq(can_write(a, "u", "c", "t"), 0);
	cr_assert_eq(may(a, "u", "c", "#", RMQ_ACL_SUBSCRIBE), 0);
	rmq_acl_free(a);

	a = load_text("# only comments\n\n   \nuser alice\n");
	cr_assert_eq(rmq_acl_rules(a), 0);
	cr_assert_eq(can_read(a, "alice", "c", "t"), 0);
	rmq_acl_free(a);
}

/* ---- the text ---- */

/* [mosquitto] "topic read x y" is the topic "x y", and "sp/a b" as a
 * pattern; blanks at either end go; CRLF line ends load; a user name is
 * the rest of its line.  Where Mosquitto refuses a line (marked), this
 * reads it as meant. */
Test(acl, blanks_comments_and_line_ends)
{
	struct rmq_acl *a =
	    load_text("# comment\n"
		      "   # an indented comment\n" /* [mosquitto] refuses */
		      "\t# and one after a tab\n" /* [mosquitto] refuses */
		      "\n"
		      "   \t  \n"
		      "topic read x y\n"
		      "topic read   two  spaces  \t \n"
		      "  topic\twrite\ttabbed\n" /* [mosquitto] refuses */
		      "topic  crlf\r\n"
		      "pattern read sp/a b\n"
		      "user   spaced user  \n"
		      "topic read s/#\n"
		      "user last\n"
		      "topic read no/newline");
	cr_assert_eq(rmq_acl_rules(a), 7);
	cr_assert_eq(can_read(a, NULL, "c", "x y"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "x"), 0);
	cr_assert_eq(can_read(a, NULL, "c", "two  spaces"), 1);
	cr_assert_eq(can_write(a, NULL, "c", "tabbed"), 1);
	cr_assert_eq(can_write(a, NULL, "c", "crlf"), 1);
	cr_assert_eq(can_read(a, NULL, "c", "crlf\r"), 0);
	cr_assert_eq(can_read(a, NULL, "c", "sp/a b"), 1);
	cr_assert_eq(can_read(a, "spaced user", "c", "s/x"), 1);
	cr_assert_eq(can_read(a, "last", "c", "no/newline"), 1);
	rmq_acl_free(a);
}

/* Every malformed line, with its message.  [mosquitto] refuses to start
 * on each line of the first group too; it loads those of the second,
 * reading them in a way their writer likely did not mean, or that its
 * versions disagree on, or as names no client can have. */
Test(acl, malformed_lines)
{
	static char long_line[RMQ_ACL_LINE_MAX + 2];
	static char long_topic[RMQ_ACL_TOPIC_MAX + 32];
	static char long_user[RMQ_ACL_TOPIC_MAX + 32];
	memset(long_line, 'a', RMQ_ACL_LINE_MAX + 1);
	strcpy(long_topic, "topic read ");
	memset(long_topic + 11, 'x', RMQ_ACL_TOPIC_MAX + 1);
	strcpy(long_user, "user ");
	memset(long_user + 5, 'u', RMQ_ACL_TOPIC_MAX + 1);

	static const struct {
		const char *line, *why;
	} cases[] = {
		{ "foo bar",
		    "unknown keyword \"foo\" (want topic, pattern or user)" },
		{ "Topic read x",
		    "unknown keyword \"Topic\" (want topic, pattern or user)" },
		{ "topics read x",
		    "unknown keyword \"topics\" (want topic, pattern or user)" },
		{ "topic", "topic without a topic filter" },
		{ "topic   ", "topic without a topic filter" },
		{ "pattern", "pattern without a topic filter" },
		{ "topic reed a/b",
		    "unknown access \"reed\" (want read, write, readwrite or deny)" },
		{ "topic Read a/b",
		    "unknown access \"Read\" (want read, write, readwrite or deny)" },
		/* Too many words: the first is not an access word. */
		{ "topic a/b c/d",
		    "unknown access \"a/b\" (want read, write, readwrite or deny)" },
		{ "pattern a/%c read",
		    "unknown access \"a/%c\" (want read, write, readwrite or deny)" },
		{ "topic read a/#/b",
		    "invalid topic filter: '#' must be the whole last level" },
		{ "topic read a/b#",
		    "invalid topic filter: '#' must be the whole last level" },
		{ "topic read ##",
		    "invalid topic filter: '#' must be the whole last level" },
		{ "topic read +foo",
		    "invalid topic filter: '+' must be a whole level" },
		{ "pattern read a/++/b",
		    "invalid topic filter: '+' must be a whole level" },
		/* The rest of the line is the topic, as in Mosquitto. */
		{ "topic read a/b # comment",
		    "invalid topic filter: '#' must be the whole last level" },
		{ long_topic, "topic filter longer than 65535 bytes" },
		{ "user", "user without a user name" },
		{ "user \t ", "user without a user name" },
		/* (Mosquitto: an unknown keyword, 65,792 bytes long.) */
		{ long_line, "line longer than 65791 bytes" },

		/* [mosquitto] loads these as readwrite on the topic "deny"... */
		{ "topic deny", "access \"deny\" without a topic filter" },
		{ "topic read ", "access \"read\" without a topic filter" },
		{ "pattern write", "access \"write\" without a topic filter" },
		{ "topic readwrite",
		    "access \"readwrite\" without a topic filter" },
		/* ...these, 2.0 substituting (client c1 reads mid/xc1y), 2.1
		 * not... */
		{ "pattern read mid/x%cy",
		    "invalid pattern: %c and %u must each be a whole level" },
		{ "pattern read dev/%c%u",
		    "invalid pattern: %c and %u must each be a whole level" },
		{ "pattern read a/%%c",
		    "invalid pattern: %c and %u must each be a whole level" },
		{ "pattern read %cat/x",
		    "invalid pattern: %c and %u must each be a whole level" },
		/* ...and these, which no topic or user name can match. */
		{ "topic read \xff", "topic filter is not valid UTF-8" },
		{ "topic read a\xed\xa0\x80",
		    "topic filter is not valid UTF-8" },
		{ "user al\x01ice", "user name holds a control character" },
		{ "user al\x7fice", "user name holds a control character" },
		{ "user al\xc3", "user name is not valid UTF-8" },
		{ long_user, "user name longer than 65535 bytes" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *line = cases[i].line;
		/* Line 3, after a comment and a good line; a good line
		 * after it, which the error stops before. */
		size_t n = strlen(line) + 128;
		char *text = malloc(n);
		snprintf(text, n, "# acl\ntopic read a/#\n%s\ntopic b\n", line);
		write_text(text);
		free(text);
		struct rmq_acl *a = (void *)1;
		int rc = rmq_acl_load(path, &a, err, sizeof(err));
		char want[512];
		snprintf(want, sizeof(want), "%s:3: %s", path, cases[i].why);
		cr_assert_eq(rc, -EINVAL, "case %zu: %d %s", i, rc, err);
		cr_assert_str_eq(err, want, "case %zu: %s", i, err);
		cr_assert_eq(a, (void *)1, "case %zu: *out set on failure", i);
	}

	/* A NUL is a byte of the line like any other ([mosquitto] loads
	 * it: its C strings end there). */
	rmq_test_write_file(path, "topic read a\0b\n", 15);
	struct rmq_acl *a = NULL;
	cr_assert_eq(rmq_acl_load(path, &a, err, sizeof(err)), -EINVAL);
	char want[512];
	snprintf(want, sizeof(want), "%s:1: topic filter is not valid UTF-8",
	    path);
	cr_assert_str_eq(err, want);
	cr_assert_null(a);
}

Test(acl, first_line_and_last_line)
{
	struct rmq_acl *a = NULL;
	char want[512];
	write_text("user\n");
	cr_assert_eq(rmq_acl_load(path, &a, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: user without a user name", path);
	cr_assert_str_eq(err, want);

	/* A last line without '\n' counts as a line. */
	write_text("topic a\n\n# x\ntopic read a/#/b");
	cr_assert_eq(rmq_acl_load(path, &a, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
	    "%s:4: invalid topic filter: '#' must be the whole last level",
	    path);
	cr_assert_str_eq(err, want);
	cr_assert_null(a);
}

Test(acl, unreadable)
{
	struct rmq_acl *a = NULL;
	char want[512];
	snprintf(path, sizeof(path), "%s/missing", dir);
	cr_assert_eq(rmq_acl_load(path, &a, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	cr_assert_str_eq(err, want);
	cr_assert_null(a);

	cr_assert_eq(rmq_acl_load(dir, &a, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: Is a directory", dir);
	cr_assert_str_eq(err, want);

	if (geteuid() != 0) { /* root reads it anyway */
		snprintf(path, sizeof(path), "%s/acl", dir);
		write_text("topic a\n");
		cr_assert_eq(chmod(path, 0), 0);
		cr_assert_eq(rmq_acl_load(path, &a, err, sizeof(err)), -EACCES);
		snprintf(want, sizeof(want), "%s: Permission denied", path);
		cr_assert_str_eq(err, want);
	}
	cr_assert_null(a);
	rmq_acl_free(NULL);
}

/* ---- size ---- */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10,000 rules: 1,000 users of 8 rules each, 1,000 more for one user,
 * and 1,000 patterns. */
Test(acl, ten_thousand_rules, .timeout = 60)
{
	size_t cap = 1u << 20, n = 0;
	char *text = malloc(cap);
	for (int u = 0; u < 1000; u++) {
		n += (size_t)snprintf(text + n, cap - n, "user user%04d\n", u);
		for (int r = 0; r < 7; r++)
			n += (size_t)snprintf(text + n, cap - n,
			    "topic read u/%d/r%d/#\n", u, r);
		n += (size_t)snprintf(text + n, cap - n,
		    "topic deny u/%d/r0/secret\n", u);
	}
	n += (size_t)snprintf(text + n, cap - n, "user big\n");
	for (int r = 0; r < 1000; r++)
		n += (size_t)snprintf(text + n, cap - n,
		    "topic write big/%d/+\n", r);
	for (int r = 0; r < 1000; r++)
		n += (size_t)snprintf(text + n, cap - n,
		    "pattern %s p/%d/%%c\n", r % 10 ? "read" : "deny", r);
	cr_assert_lt(n, cap);
	rmq_test_write_file(path, text, n);
	free(text);
	struct rmq_acl *a = NULL;
	double t0 = now();
	cr_assert_eq(rmq_acl_load(path, &a, err, sizeof(err)), 0, "%s", err);
	double t1 = now();
	cr_assert_eq(rmq_acl_rules(a), 10000);
	for (int u = 0; u < 1000; u += 37) {
		char user[16], t[64];
		snprintf(user, sizeof(user), "user%04d", u);
		snprintf(t, sizeof(t), "u/%d/r6/x", u);
		cr_assert_eq(can_read(a, user, "c", t), 1, "%s %s", user, t);
		cr_assert_eq(can_write(a, user, "c", t), 0);
		snprintf(t, sizeof(t), "u/%d/r0/secret", u);
		cr_assert_eq(can_read(a, user, "c", t), 0, "%s %s", user, t);
		snprintf(t, sizeof(t), "u/%d/r6/x", u + 1);
		cr_assert_eq(can_read(a, user, "c", t), 0, "%s %s", user, t);
	}
	cr_assert_eq(can_write(a, "big", "c", "big/999/x"), 1);
	cr_assert_eq(can_write(a, "big", "c", "big/1000/x"), 0);
	cr_assert_eq(can_read(a, "nobody", "c7", "p/1/c7"), 1);
	cr_assert_eq(can_read(a, "nobody", "c7", "p/10/c7"), 0);
	cr_assert_eq(can_read(a, "nobody", "c7", "p/11/c8"), 0);

	/* The worst check: past all 1,000 of big's rules and all 1,000
	 * patterns to a denial.  Reported, not asserted: machines vary. */
	int reps = 2000, sum = 0;
	double t2 = now();
	for (int i = 0; i < reps; i++)
		sum += can_read(a, "big", "c", "no/such/topic");
	double t3 = now();
	cr_assert_eq(sum, 0);
	cr_log_info("10,000 rules: load %.1f ms, worst check %.2f us",
	    (t1 - t0) * 1e3, (t3 - t2) / reps * 1e6);
	rmq_acl_free(a);
}
