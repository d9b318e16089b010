/* test/core/test_text.c: growing text and JSON strings (core/text.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "text.h"

Test(text, printf_and_put_grow_past_the_first_block)
{
	struct rmq_text t = { 0 };
	for (int i = 0; i < 1000; i++)
		rmq_text_printf(&t, "%04d,", i);
	rmq_text_put(&t, "end", 3);
	cr_assert_not(t.failed);
	cr_assert_eq(t.len, 5003);
	cr_assert_eq(strncmp(t.p, "0000,0001,", 10), 0);
	cr_assert_str_eq(t.p + 4995, "0999,end");
	rmq_text_reset(&t);
	cr_assert_eq(t.len, 0);
	rmq_text_printf(&t, "%s", "again");
	cr_assert_str_eq(t.p, "again");
	rmq_text_free(&t);
	cr_assert_null(t.p);
}

/* RFC 8259 section 7: '"', '\\' and U+0000..U+001F escaped; the rest,
 * UTF-8 included, as it is. */
Test(text, json_strings_escape_what_json_requires)
{
	struct rmq_text t = { 0 };
	const char in[] = "a\"b\\c\nd\te\x01 \x7f/\xc3\xa9";
	rmq_text_json_str(&t, in, sizeof(in) - 1);
	cr_assert_str_eq(t.p,
	    "\"a\\\"b\\\\c\\nd\\u0009e\\u0001 \\u007f/\xc3\xa9\"");
	rmq_text_reset(&t);
	rmq_text_json_str(&t, "", 0);
	cr_assert_str_eq(t.p, "\"\"");
	/* Only len bytes are read. */
	rmq_text_reset(&t);
	rmq_text_json_str(&t, "abcdef", 3);
	cr_assert_str_eq(t.p, "\"abc\"");
	rmq_text_free(&t);
}
