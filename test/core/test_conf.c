/* test/core/test_conf.c: tests core/conf.c, cutting configuration text into
 * directives: words, comments, blank lines, CRLF, limits, and errors that
 * name the file and line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

TestSuite(conf);

struct seen {
	char out[1024];
	int lines;
};

static int
record(void *ctx, const struct rmq_conf_line *l, char *err, size_t errlen)
{
	struct seen *s = ctx;
	size_t n = strlen(s->out);
	n += (size_t)snprintf(s->out + n, sizeof(s->out) - n, "%u:%s", l->line,
	    l->key);
	for (unsigned i = 0; i < l->nargs; i++)
		n += (size_t)snprintf(s->out + n, sizeof(s->out) - n, "|%s",
		    l->args[i]);
	snprintf(s->out + n, sizeof(s->out) - n, ";");
	s->lines++;
	if (strcmp(l->key, "refuse") == 0) {
		snprintf(err, errlen, "refused by the caller");
		return -1;
	}
	return 0;
}

Test(conf, words_comments_and_blank_lines)
{
	static const char text[] = "# a comment\n"
				   "\n"
				   "listener 1883 127.0.0.1\n"
				   "   \t  \n"
				   "  max_queued_messages\t\t100  \n"
				   "key value # not a comment after a word\r\n"
				   "last";
	struct seen s = { 0 };
	char err[256] = "";
	cr_assert_eq(rmq_conf_parse("t.conf", text, sizeof(text) - 1, record,
			 &s, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_str_eq(s.out,
	    "3:listener|1883|127.0.0.1;"
	    "5:max_queued_messages|100;"
	    "6:key|value|#|not|a|comment|after|a|word;"
	    "7:last;",
	    "got %s", s.out);
}

Test(conf, errors_name_file_and_line)
{
	static const char text[] = "ok 1\nrefuse now\nnever 3\n";
	struct seen s = { 0 };
	char err[256] = "";
	cr_assert_eq(rmq_conf_parse("x.conf", text, sizeof(text) - 1, record,
			 &s, err, sizeof(err)),
	    -EINVAL);
	cr_assert_str_eq(err, "x.conf:2: refused by the caller");
	cr_assert_eq(s.lines, 2, "parsing stops at the error");
}

Test(conf, too_many_arguments_and_long_lines)
{
	static const char many[] = "k 1 2 3 4 5 6 7 8 9\n";
	struct seen s = { 0 };
	char err[256] = "";
	cr_assert_eq(rmq_conf_parse("m.conf", many, sizeof(many) - 1, record,
			 &s, err, sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "m.conf:1: k: more than 8 arguments"), "%s", err);

	static char longline[5000];
	memset(longline, 'a', sizeof(longline) - 1);
	cr_assert_eq(rmq_conf_parse("l.conf", longline, sizeof(longline) - 1,
			 record, &s, err, sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "l.conf:1: line longer than"), "%s", err);

	static const char nul[] = "a\0b\n";
	cr_assert_eq(rmq_conf_parse("n.conf", nul, sizeof(nul) - 1, record, &s,
			 err, sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "n.conf:1: NUL byte"), "%s", err);
}

Test(conf, empty_text)
{
	struct seen s = { 0 };
	char err[64];
	cr_assert_eq(rmq_conf_parse("e.conf", "", 0, record, &s, err,
			 sizeof(err)),
	    0);
	cr_assert_eq(s.lines, 0);
}
