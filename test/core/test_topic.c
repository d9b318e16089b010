/* test/core/test_topic.c: tests core/topic.c against MQTT 5.0 sections 4.7
 * and 4.8.2: Topic Name and Topic Filter validation, matching (including the
 * rule for names starting with '$'), $share/{ShareName}/{filter} parsing,
 * rmq_topic_levels() and rmq_topic_has_wildcard().
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "props.h"
#include "reason.h"
#include "topic.h"

/* A heap copy of exactly len bytes with no NUL after it: the functions take
 * (pointer, length) and must not lean on a terminator or read past the end
 * (a sanitizer shows it). */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	cr_assert_not_null(p, "malloc failed");
	if (len)
		memcpy(p, s, len);
	return p;
}

static int
name_check(const char *s, size_t len)
{
	char *p = exact_copy(s, len);
	int rc = rmq_topic_name_check(p, len);

	free(p);
	return rc;
}

static int
filter_check(const char *s, size_t len)
{
	char *p = exact_copy(s, len);
	int rc = rmq_topic_filter_check(p, len);

	free(p);
	return rc;
}

static bool
match(const char *filter, const char *name)
{
	size_t flen = strlen(filter), nlen = strlen(name);
	char *f = exact_copy(filter, flen);
	char *n = exact_copy(name, nlen);
	bool m = rmq_topic_match(f, flen, n, nlen);

	free(f);
	free(n);
	return m;
}

/* Literals, embedded NULs included, without their terminator. */
#define NAME(lit) name_check((lit), sizeof(lit) - 1)
#define FILTER(lit) filter_check((lit), sizeof(lit) - 1)

#define ASSERT_NAME_OK(lit, why)                                               \
	cr_assert_eq(NAME(lit), 0, "%s: name \"%s\" must be valid", (why),     \
	    (lit))
#define ASSERT_NAME_BAD(lit, why)                                              \
	cr_assert_eq(NAME(lit), RMQ_RC_TOPIC_NAME_INVALID,                     \
	    "%s: name \"%s\" must give 0x90 Topic Name invalid", (why), (lit))
#define ASSERT_FILTER_OK(lit, why)                                             \
	cr_assert_eq(FILTER(lit), 0, "%s: filter \"%s\" must be valid", (why), \
	    (lit))
#define ASSERT_FILTER_BAD(lit, why)                                            \
	cr_assert_eq(FILTER(lit), RMQ_RC_TOPIC_FILTER_INVALID,                 \
	    "%s: filter \"%s\" must give 0x8F Topic Filter invalid", (why),    \
	    (lit))
#define ASSERT_MATCH(f, n, why)                                                \
	cr_assert(match((f), (n)), "%s: \"%s\" must match \"%s\"", (why), (f), \
	    (n))
#define ASSERT_NO_MATCH(f, n, why)                                             \
	cr_assert_not(match((f), (n)), "%s: \"%s\" must not match \"%s\"",     \
	    (why), (f), (n))

TestSuite(topic, .description = "Topic Names, Topic Filters, matching, $share");

/* --- Topic Names ------------------------------------------------------ */

Test(topic, name_valid)
{
	ASSERT_NAME_OK("sport/tennis/player1", "4.7");
	ASSERT_NAME_OK("a", "[MQTT-4.7.3-1] one character is enough");
	/* 4.7.3: "A Topic Name or Topic Filter consisting only of the '/'
	 * character is valid"; leading and trailing '/' are allowed and
	 * adjacent separators make zero-length levels. */
	ASSERT_NAME_OK("/", "4.7.3 '/' alone");
	ASSERT_NAME_OK("/finance", "4.7.3 leading '/'");
	ASSERT_NAME_OK("finance/", "4.7.3 trailing '/'");
	ASSERT_NAME_OK("a//b", "4.7.1.1 zero-length level");
	ASSERT_NAME_OK("Accounts payable",
	    "4.7.3 the space character is allowed");
	ASSERT_NAME_OK("$SYS/monitor/Clients",
	    "4.7.2 '$' names are valid names");
	ASSERT_NAME_OK("caf\xC3\xA9/\xF0\xAA\x9B\x94",
	    "non-ASCII UTF-8 is allowed");
}

Test(topic, name_empty_is_invalid)
{
	/* [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one
	 * character long. */
	ASSERT_NAME_BAD("", "[MQTT-4.7.3-1]");
}

Test(topic, name_with_wildcards_is_invalid)
{
	/* [MQTT-4.7.0-1] The wildcard characters can be used in Topic Filters,
	 * but MUST NOT be used within a Topic Name. */
	ASSERT_NAME_BAD("#", "[MQTT-4.7.0-1]");
	ASSERT_NAME_BAD("+", "[MQTT-4.7.0-1]");
	ASSERT_NAME_BAD("sport/#", "[MQTT-4.7.0-1]");
	ASSERT_NAME_BAD("sport/+/player1", "[MQTT-4.7.0-1]");
	ASSERT_NAME_BAD("sport+", "[MQTT-4.7.0-1] '+' inside a level");
	ASSERT_NAME_BAD("sport/tennis#", "[MQTT-4.7.0-1] '#' inside a level");
	ASSERT_NAME_BAD("a/b/c/d+e/f", "[MQTT-4.7.0-1] '+' deep inside");
}

Test(topic, name_with_nul_is_invalid)
{
	/* [MQTT-4.7.3-2] Topic Names and Topic Filters MUST NOT include the null
	 * character (Unicode U+0000). */
	cr_assert_eq(NAME("a\0b"), RMQ_RC_TOPIC_NAME_INVALID,
	    "[MQTT-4.7.3-2] a name with U+0000 inside must be invalid");
	cr_assert_eq(NAME("\0"), RMQ_RC_TOPIC_NAME_INVALID,
	    "[MQTT-4.7.3-2] a name that is only U+0000 must be invalid");
	cr_assert_eq(NAME("ab\0"), RMQ_RC_TOPIC_NAME_INVALID,
	    "[MQTT-4.7.3-2] a name ending in U+0000 must be invalid");
}

Test(topic, name_length_limit)
{
	/* [MQTT-4.7.3-3] Topic Names and Topic Filters are UTF-8 Encoded Strings;
	 * they MUST NOT encode to more than 65,535 bytes. */
	size_t max = 65535;
	char *s = malloc(max + 1);
	int rc_max, rc_over;

	cr_assert_not_null(s, "malloc failed");
	memset(s, 'a', max + 1);
	s[100] = '/';
	rc_max = name_check(s, max);
	rc_over = name_check(s, max + 1);
	free(s);
	cr_assert_eq(rc_max, 0,
	    "[MQTT-4.7.3-3] a 65535-byte name must be valid, got 0x%x", rc_max);
	cr_assert_eq(rc_over, RMQ_RC_TOPIC_NAME_INVALID,
	    "[MQTT-4.7.3-3] a 65536-byte name must be invalid, got 0x%x",
	    rc_over);
}

/* --- Topic Filters ---------------------------------------------------- */

Test(topic, filter_valid_spec_examples)
{
	/* 4.7.1.2 and 4.7.1.3 examples of valid filters. */
	ASSERT_FILTER_OK("sport/tennis/player1/#", "4.7.1.2");
	ASSERT_FILTER_OK("sport/tennis/#", "4.7.1.2");
	ASSERT_FILTER_OK("#", "4.7.1.2 '#' on its own is valid");
	ASSERT_FILTER_OK("+", "4.7.1.3 '+' on its own is valid");
	ASSERT_FILTER_OK("+/tennis/#", "4.7.1.3");
	ASSERT_FILTER_OK("sport/+/player1", "4.7.1.3");
	ASSERT_FILTER_OK("sport/tennis/+", "4.7.1.3");
	ASSERT_FILTER_OK("+/+", "4.7.1.3");
	ASSERT_FILTER_OK("/+", "4.7.1.3");
	ASSERT_FILTER_OK("sport/+", "4.7.1.3");
	ASSERT_FILTER_OK("$SYS/#", "4.7.2");
	ASSERT_FILTER_OK("$SYS/monitor/+", "4.7.2");
	ASSERT_FILTER_OK("+/monitor/Clients", "4.7.2");
}

Test(topic, filter_valid_other)
{
	ASSERT_FILTER_OK("sport/tennis", "a filter without wildcards");
	ASSERT_FILTER_OK("/", "4.7.3 '/' alone is a valid filter");
	ASSERT_FILTER_OK("/#", "[MQTT-4.7.1-1] '#' following a separator");
	ASSERT_FILTER_OK("+/#", "[MQTT-4.7.1-1] '#' following a separator");
	ASSERT_FILTER_OK("+/+/+", "[MQTT-4.7.1-2] each '+' is a whole level");
	ASSERT_FILTER_OK("a//+",
	    "[MQTT-4.7.1-2] '+' after a zero-length level");
	ASSERT_FILTER_OK("+/", "[MQTT-4.7.1-2] '+' then an empty last level");
	ASSERT_FILTER_OK("$sharex/a",
	    "not a shared subscription: a plain filter");
}

Test(topic, filter_multi_level_wildcard_misplaced)
{
	/* [MQTT-4.7.1-1] The multi-level wildcard character MUST be specified
	 * either on its own or following a topic level separator.  In either
	 * case it MUST be the last character specified in the Topic Filter. */
	ASSERT_FILTER_BAD("sport/tennis#", "[MQTT-4.7.1-1] spec example");
	ASSERT_FILTER_BAD("sport/tennis/#/ranking",
	    "[MQTT-4.7.1-1] spec example");
	ASSERT_FILTER_BAD("#/", "[MQTT-4.7.1-1] '#' not last");
	ASSERT_FILTER_BAD("##", "[MQTT-4.7.1-1] '##'");
	ASSERT_FILTER_BAD("#a", "[MQTT-4.7.1-1] '#' with other characters");
	ASSERT_FILTER_BAD("a/#b", "[MQTT-4.7.1-1] '#' with other characters");
	ASSERT_FILTER_BAD("#/#", "[MQTT-4.7.1-1] two '#'");
	ASSERT_FILTER_BAD("+#", "[MQTT-4.7.1-1] '#' not after a separator");
}

Test(topic, filter_single_level_wildcard_misplaced)
{
	/* [MQTT-4.7.1-2] The single-level wildcard can be used at any level in
	 * the Topic Filter, including first and last levels.  Where it is used,
	 * it MUST occupy an entire level of the filter. */
	ASSERT_FILTER_BAD("sport+", "[MQTT-4.7.1-2] spec example");
	ASSERT_FILTER_BAD("+sport", "[MQTT-4.7.1-2]");
	ASSERT_FILTER_BAD("sport/+tennis", "[MQTT-4.7.1-2]");
	ASSERT_FILTER_BAD("sport/ten+nis/x", "[MQTT-4.7.1-2]");
	ASSERT_FILTER_BAD("++", "[MQTT-4.7.1-2]");
	ASSERT_FILTER_BAD("a/++/b", "[MQTT-4.7.1-2]");
	ASSERT_FILTER_BAD("+a/b", "[MQTT-4.7.1-2]");
}

Test(topic, filter_empty_is_invalid)
{
	ASSERT_FILTER_BAD("", "[MQTT-4.7.3-1]");
}

Test(topic, filter_with_nul_is_invalid)
{
	/* [MQTT-4.7.3-2] Topic Names and Topic Filters MUST NOT include the null
	 * character (Unicode U+0000). */
	cr_assert_eq(FILTER("a\0b"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.7.3-2] a filter with U+0000 inside must be invalid");
	cr_assert_eq(FILTER("a/\0/#"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.7.3-2] a filter with U+0000 as a level must be invalid");
}

Test(topic, filter_length_limit)
{
	/* [MQTT-4.7.3-3] no more than 65,535 bytes. */
	size_t max = 65535;
	char *s = malloc(max + 1);
	int rc_max, rc_over;

	cr_assert_not_null(s, "malloc failed");
	memset(s, 'a', max + 1);
	s[max - 2] = '/';
	s[max - 1] = '#';
	rc_max = filter_check(s, max);
	memset(s, 'a', max + 1);
	rc_over = filter_check(s, max + 1);
	free(s);
	cr_assert_eq(rc_max, 0,
	    "[MQTT-4.7.3-3] a 65535-byte filter must be valid, got 0x%x",
	    rc_max);
	cr_assert_eq(rc_over, RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.7.3-3] a 65536-byte filter must be invalid, got 0x%x",
	    rc_over);
}

Test(topic, filter_length_limit_shared)
{
	/* [MQTT-4.7.3-3] bounds the whole Topic Filter, $share/{ShareName}/
	 * included, not just the {filter} part after it. */
	size_t max = 65535;
	char *s = malloc(max + 1);
	int rc_max, rc_over;

	cr_assert_not_null(s, "malloc failed");
	memset(s, 'a', max + 1);
	memcpy(s, "$share/g/", 9);
	rc_max = filter_check(s, max);
	rc_over = filter_check(s, max + 1);
	free(s);
	cr_assert_eq(rc_max, 0,
	    "[MQTT-4.7.3-3] a 65535-byte shared filter must be valid, got 0x%x",
	    rc_max);
	cr_assert_eq(rc_over, RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.7.3-3] a 65536-byte shared filter must be invalid, got 0x%x",
	    rc_over);
}

/* --- Matching --------------------------------------------------------- */

Test(topic, match_exact)
{
	ASSERT_MATCH("sport/tennis", "sport/tennis", "4.7 same name");
	ASSERT_MATCH("/", "/", "4.7 '/' alone");
	ASSERT_MATCH("a//b", "a//b", "4.7.1.1 zero-length level");
	ASSERT_NO_MATCH("sport/tennis", "sport/tennis/",
	    "4.7.3 trailing '/' differs");
	ASSERT_NO_MATCH("sport/tennis", "sport/tenni",
	    "a prefix is not a match");
	ASSERT_NO_MATCH("sport/tenni", "sport/tennis",
	    "a prefix is not a match");
	ASSERT_NO_MATCH("sport", "sport/tennis",
	    "a parent level is not a match");
	ASSERT_NO_MATCH("finance", "/finance",
	    "4.7.3 leading '/' makes it distinct");
}

Test(topic, match_is_case_sensitive_and_not_normalized)
{
	/* 4.7.3 "Topic Names and Topic Filters are case sensitive";
	 * [MQTT-4.7.3-4] no normalization when matching. */
	ASSERT_NO_MATCH("ACCOUNTS", "Accounts", "4.7.3 case sensitive");
	ASSERT_NO_MATCH("accounts", "Accounts", "4.7.3 case sensitive");
	ASSERT_MATCH("Accounts payable", "Accounts payable",
	    "4.7.3 spaces allowed");
	/* U+00E9 precomposed vs 'e' + U+0301 combining: different bytes, and
	 * [MQTT-4.7.3-4] forbids normalizing them into one. */
	ASSERT_NO_MATCH("caf\xC3\xA9", "cafe\xCC\x81", "[MQTT-4.7.3-4]");
}

Test(topic, match_multi_level_wildcard)
{
	/* 4.7.1.2: a subscription to "sport/tennis/player1/#" receives
	 * "sport/tennis/player1", "sport/tennis/player1/ranking" and
	 * "sport/tennis/player1/score/wimbledon". */
	ASSERT_MATCH("sport/tennis/player1/#", "sport/tennis/player1",
	    "4.7.1.2 '#' includes the parent level");
	ASSERT_MATCH("sport/tennis/player1/#", "sport/tennis/player1/ranking",
	    "4.7.1.2");
	ASSERT_MATCH("sport/tennis/player1/#",
	    "sport/tennis/player1/score/wimbledon", "4.7.1.2");
	/* "sport/#" also matches the singular "sport", since # includes the
	 * parent level. */
	ASSERT_MATCH("sport/#", "sport", "4.7.1.2");
	ASSERT_MATCH("sport/#", "sport/", "4.7.1.2 an empty child level");
	ASSERT_MATCH("sport/#", "sport/tennis/player1",
	    "4.7.1.2 any number of levels");
	ASSERT_NO_MATCH("sport/#", "sports",
	    "4.7.1.2 'sports' is another level");
	ASSERT_NO_MATCH("sport/#", "spor", "4.7.1.2 'spor' is another level");
	ASSERT_NO_MATCH("sport/tennis/player1/#", "sport/tennis/player2",
	    "4.7.1.2 another player");
	ASSERT_NO_MATCH("sport/tennis/player1/#", "sport/tennis",
	    "4.7.1.2 a grandparent is not matched");
	/* "#" is valid and will receive every Application Message. */
	ASSERT_MATCH("#", "sport", "4.7.1.2 '#' receives everything");
	ASSERT_MATCH("#", "sport/tennis/player1",
	    "4.7.1.2 '#' receives everything");
	ASSERT_MATCH("#", "/", "4.7.1.2 '#' receives everything");
	ASSERT_MATCH("#", "/finance", "4.7.1.2 '#' receives everything");
	ASSERT_MATCH("/#", "/finance", "4.7.1.2");
	ASSERT_MATCH("+/#", "sport", "'+' takes 'sport', '#' its parent level");
	ASSERT_MATCH("+/#", "sport/tennis/player1", "4.7.1.2 and 4.7.1.3");
}

Test(topic, match_single_level_wildcard)
{
	/* 4.7.1.3: "sport/tennis/+" matches "sport/tennis/player1" and
	 * "sport/tennis/player2", but not "sport/tennis/player1/ranking". */
	ASSERT_MATCH("sport/tennis/+", "sport/tennis/player1", "4.7.1.3");
	ASSERT_MATCH("sport/tennis/+", "sport/tennis/player2", "4.7.1.3");
	ASSERT_NO_MATCH("sport/tennis/+", "sport/tennis/player1/ranking",
	    "4.7.1.3");
	/* "sport/+" does not match "sport" but it does match "sport/". */
	ASSERT_NO_MATCH("sport/+", "sport", "4.7.1.3");
	ASSERT_MATCH("sport/+", "sport/", "4.7.1.3 '+' matches an empty level");
	ASSERT_MATCH("sport/+/player1", "sport/tennis/player1", "4.7.1.3");
	ASSERT_MATCH("sport/+/player1", "sport//player1",
	    "4.7.1.3 empty level");
	ASSERT_NO_MATCH("sport/+/player1", "sport/tennis/x/player1",
	    "4.7.1.3 '+' is one level only");
	ASSERT_MATCH("+/tennis/#", "sport/tennis", "4.7.1.3 with '#'");
	ASSERT_MATCH("+/tennis/#", "sport/tennis/player1/ranking",
	    "4.7.1.3 with '#'");
	ASSERT_NO_MATCH("+/tennis/#", "sport/golf", "4.7.1.3 with '#'");
	ASSERT_MATCH("+", "finance", "4.7.1.3 '+' alone");
}

Test(topic, match_single_level_wildcard_and_leading_slash)
{
	/* 4.7.1.3: "/finance" matches "+/+" and "/+", but not "+". */
	ASSERT_MATCH("+/+", "/finance", "4.7.1.3 spec example");
	ASSERT_MATCH("/+", "/finance", "4.7.1.3 spec example");
	ASSERT_NO_MATCH("+", "/finance", "4.7.1.3 spec example");
	ASSERT_MATCH("+/+", "/", "two zero-length levels");
	ASSERT_MATCH("/+", "/", "a zero-length level after '/'");
	ASSERT_NO_MATCH("+", "/", "'/' is two levels");
	ASSERT_NO_MATCH("+/+", "a", "one level is not two");
	ASSERT_NO_MATCH("+/+", "a/b/c", "three levels are not two");
}

Test(topic, match_dollar_topics)
{
	/* [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a
	 * wildcard character (# or +) with Topic Names beginning with a $
	 * character.  4.7.2 examples follow. */
	ASSERT_NO_MATCH("#", "$SYS/monitor/Clients",
	    "[MQTT-4.7.2-1] '#' receives nothing beginning with '$'");
	ASSERT_NO_MATCH("#", "$SYS", "[MQTT-4.7.2-1]");
	ASSERT_NO_MATCH("#", "$", "[MQTT-4.7.2-1]");
	ASSERT_NO_MATCH("+/monitor/Clients", "$SYS/monitor/Clients",
	    "[MQTT-4.7.2-1] spec example");
	ASSERT_NO_MATCH("+", "$SYS", "[MQTT-4.7.2-1]");
	ASSERT_NO_MATCH("+/#", "$SYS/monitor", "[MQTT-4.7.2-1]");
	ASSERT_NO_MATCH("+/+/+", "$SYS/monitor/Clients", "[MQTT-4.7.2-1]");
	/* A filter that spells the '$' level explicitly does match. */
	ASSERT_MATCH("$SYS/#", "$SYS/monitor/Clients",
	    "4.7.2: \"$SYS/#\" receives topics beginning with \"$SYS/\"");
	ASSERT_MATCH("$SYS/#", "$SYS", "4.7.1.2 '#' includes the parent level");
	ASSERT_MATCH("$SYS/monitor/+", "$SYS/monitor/Clients",
	    "4.7.2 spec example");
	ASSERT_MATCH("$SYS/monitor/Clients", "$SYS/monitor/Clients", "4.7.2");
	ASSERT_NO_MATCH("$SYS/#", "$SYSX/a", "another first level");
	/* The rule is about the first character of the name only. */
	ASSERT_MATCH("#", "a/$SYS",
	    "[MQTT-4.7.2-1] '$' only counts in first place");
	ASSERT_MATCH("a/+", "a/$SYS",
	    "[MQTT-4.7.2-1] '$' only counts in first place");
	ASSERT_MATCH("+/$x", "a/$x",
	    "[MQTT-4.7.2-1] '$' only counts in first place");
}

/* --- Shared subscriptions ---------------------------------------------- */

/* Parse lit, expecting a shared subscription with this group and inner
 * filter. */
static void
assert_share(const char *lit, const char *group, const char *inner)
{
	size_t len = strlen(lit);
	char *p = exact_copy(lit, len);
	struct rmq_str g = { NULL, 0 }, in = { NULL, 0 };
	int rc = rmq_topic_share_parse(p, len, &g, &in);
	char gbuf[64] = "", ibuf[64] = "";

	/* Copy the results out so the buffer is freed before any assertion. */
	if (rc == 1 && g.p && g.len < sizeof(gbuf))
		memcpy(gbuf, g.p, g.len);
	if (rc == 1 && in.p && in.len < sizeof(ibuf))
		memcpy(ibuf, in.p, in.len);
	free(p);

	cr_assert_eq(rc, 1,
	    "[MQTT-4.8.2-1] \"%s\" is a shared subscription, got %d", lit, rc);
	cr_assert_not_null(g.p, "\"%s\": the group is set", lit);
	cr_assert_not_null(in.p, "\"%s\": the inner filter is set", lit);
	cr_assert(g.len == strlen(group) && strcmp(gbuf, group) == 0,
	    "\"%s\": ShareName must be \"%s\", got \"%s\" (len %u)", lit, group,
	    gbuf, (unsigned)g.len);
	cr_assert(in.len == strlen(inner) && strcmp(ibuf, inner) == 0,
	    "\"%s\": filter must be \"%s\", got \"%s\" (len %u)", lit, inner,
	    ibuf, (unsigned)in.len);
}

static int
share_parse(const char *lit, size_t len)
{
	char *p = exact_copy(lit, len);
	struct rmq_str g = { NULL, 0 }, in = { NULL, 0 };
	int rc = rmq_topic_share_parse(p, len, &g, &in);

	free(p);
	return rc;
}

#define SHARE(lit) share_parse((lit), sizeof(lit) - 1)

Test(topic, share_parse_valid)
{
	assert_share("$share/g/a/b", "g", "a/b");
	/* 4.8.2 examples. */
	assert_share("$share/consumer1/sport/tennis/+", "consumer1",
	    "sport/tennis/+");
	assert_share("$share/consumer2/sport/tennis/+", "consumer2",
	    "sport/tennis/+");
	assert_share("$share/consumer1//finance", "consumer1", "/finance");
	assert_share("$share/g/#", "g", "#");
	assert_share("$share/g/+", "g", "+");
	assert_share("$share/g/+/x", "g", "+/x");
	assert_share("$share/g/$SYS/#", "g", "$SYS/#");
}

Test(topic, share_parse_not_shared)
{
	cr_assert_eq(SHARE("a/b"), 0, "\"a/b\" is not a shared subscription");
	cr_assert_eq(SHARE("$sharex/a"), 0,
	    "[MQTT-4.8.2-1] \"$sharex/a\" does not start with \"$share/\"");
	cr_assert_eq(SHARE("$share"), 0,
	    "[MQTT-4.8.2-1] \"$share\" does not start with \"$share/\"");
	cr_assert_eq(SHARE("$SHARE/g/a"), 0,
	    "4.7.3 case sensitive: \"$SHARE/\" is not \"$share/\"");
	cr_assert_eq(SHARE("a/$share/g/b"), 0,
	    "\"$share/\" must be at the start");
	cr_assert_eq(SHARE("#"), 0, "\"#\" is not a shared subscription");
	cr_assert_eq(SHARE("$SYS/#"), 0,
	    "\"$SYS/#\" is not a shared subscription");
}

Test(topic, share_parse_malformed)
{
	/* [MQTT-4.8.2-1] ... MUST contain a ShareName that is at least one
	 * character long. */
	cr_assert_eq(SHARE("$share//a"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-1] empty ShareName");
	cr_assert_eq(SHARE("$share/"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-1] nothing after \"$share/\"");
	/* [MQTT-4.8.2-2] The ShareName MUST NOT contain the characters "/", "+"
	 * or "#", but MUST be followed by a "/" character.  This "/" character
	 * MUST be followed by a Topic Filter. */
	cr_assert_eq(SHARE("$share/g"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-2] ShareName not followed by '/'");
	cr_assert_eq(SHARE("$share/g+/a"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-2] '+' in ShareName");
	cr_assert_eq(SHARE("$share/g#/a"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-2] '#' in ShareName");
	cr_assert_eq(SHARE("$share/+/a"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-2] '+' as ShareName");
	cr_assert_eq(SHARE("$share/#/a"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-2] '#' as ShareName");
	cr_assert_eq(SHARE("$share/#"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-2] '#' as ShareName, no filter");
	/* [MQTT-4.8.2-2] + [MQTT-4.7.3-1]: the '/' must be followed by a Topic
	 * Filter, which is at least one character long. */
	cr_assert_eq(SHARE("$share/g/"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.8.2-2] '/' not followed by a Topic Filter");
}

Test(topic, filter_check_shared)
{
	/* rmq_topic_filter_check() applies 4.8.2 to shared subscriptions, and
	 * 4.7 to the filter inside them. */
	ASSERT_FILTER_OK("$share/g/a/b", "[MQTT-4.8.2-1]");
	ASSERT_FILTER_OK("$share/consumer1/sport/tennis/+",
	    "4.8.2 spec example");
	ASSERT_FILTER_OK("$share/consumer1//finance", "4.8.2 spec example");
	ASSERT_FILTER_OK("$share/g/#", "[MQTT-4.8.2-2]");
	ASSERT_FILTER_OK("$share/g/+", "[MQTT-4.8.2-2]");
	ASSERT_FILTER_BAD("$share/g", "[MQTT-4.8.2-2] no '/' and filter");
	ASSERT_FILTER_BAD("$share/", "[MQTT-4.8.2-1] no ShareName");
	ASSERT_FILTER_BAD("$share//a", "[MQTT-4.8.2-1] empty ShareName");
	ASSERT_FILTER_BAD("$share/g+/a", "[MQTT-4.8.2-2] '+' in ShareName");
	ASSERT_FILTER_BAD("$share/g#/a", "[MQTT-4.8.2-2] '#' in ShareName");
	ASSERT_FILTER_BAD("$share/+/a", "[MQTT-4.8.2-2] '+' as ShareName");
	ASSERT_FILTER_BAD("$share/g/",
	    "[MQTT-4.8.2-2] '/' with no filter after");
	ASSERT_FILTER_BAD("$share/g/sport/tennis#",
	    "[MQTT-4.7.1-1] inside $share");
	ASSERT_FILTER_BAD("$share/g/sport/tennis/#/ranking",
	    "[MQTT-4.7.1-1] inside $share");
	ASSERT_FILTER_BAD("$share/g/sport+", "[MQTT-4.7.1-2] inside $share");
	cr_assert_eq(FILTER("$share/g/a\0b"), RMQ_RC_TOPIC_FILTER_INVALID,
	    "[MQTT-4.7.3-2] U+0000 inside $share must be invalid");
}

Test(topic, shared_inner_filter_matches_like_non_shared)
{
	/* 4.8.2: "$share/consumer1//finance" matches the same topics as a
	 * non-shared subscription to "/finance"; the $share and {ShareName}
	 * parts are not taken into account when matching. */
	char lit[] = "$share/consumer1//finance";
	struct rmq_str g = { NULL, 0 }, in = { NULL, 0 };

	cr_assert_eq(rmq_topic_share_parse(lit, sizeof(lit) - 1, &g, &in), 1,
	    "[MQTT-4.8.2-1] a shared subscription");
	cr_assert(rmq_topic_match(in.p, in.len, "/finance", 8),
	    "4.8.2: the inner filter matches \"/finance\"");
	cr_assert_not(rmq_topic_match(in.p, in.len, "finance", 7),
	    "4.8.2: the inner filter does not match \"finance\"");
}

/* --- Levels and wildcard detection ------------------------------------ */

Test(topic, levels_count)
{
	static const struct {
		const char *s;
		size_t n;
	} cases[] = {
		{ "a", 1 },
		{ "a/b", 2 },
		{ "sport/tennis/player1", 3 },
		{ "sport/tennis/player1/#", 4 },
		{ "/", 2 }, /* 4.7.1.1: two zero-length levels */
		{ "/finance", 2 },
		{ "finance/", 2 },
		{ "a//b", 3 }, /* 4.7.1.1: adjacent separators */
		{ "//", 3 },
		{ "#", 1 },
		{ "+/+", 2 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].s);
		char *p = exact_copy(cases[i].s, len);
		size_t got = rmq_topic_levels(p, len);

		free(p);
		cr_assert_eq(got, cases[i].n, "\"%s\" has %zu levels, got %zu",
		    cases[i].s, cases[i].n, got);
	}
	cr_assert_eq(rmq_topic_levels("", 0), 1, "\"\" has 1 level");
}

Test(topic, has_wildcard)
{
	static const char *const with[] = { "#", "+", "a/+/b", "a/#", "+/x",
		"$share/g/a/+" };
	static const char *const without[] = { "a", "a/b", "/", "$SYS/x",
		"$share/g/a/b", "//" };

	for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
		size_t len = strlen(with[i]);
		char *p = exact_copy(with[i], len);
		bool has = rmq_topic_has_wildcard(p, len);

		free(p);
		cr_assert(has, "\"%s\" has a wildcard", with[i]);
	}
	for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
		size_t len = strlen(without[i]);
		char *p = exact_copy(without[i], len);
		bool has = rmq_topic_has_wildcard(p, len);

		free(p);
		cr_assert_not(has, "\"%s\" has no wildcard", without[i]);
	}
	cr_assert_not(rmq_topic_has_wildcard("a/+", 2),
	    "only s[0..len) counts: \"a/\" has no wildcard");
}
