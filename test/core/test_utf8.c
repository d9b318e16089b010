/* test/core/test_utf8.c: tests core/utf8.c, rmq_utf8_valid(), against the
 * MQTT UTF-8 Encoded String rules (MQTT 5.0 section 1.5.4, 3.1.1 section
 * 1.5.3): well-formed UTF-8 per RFC 3629, no surrogates, no U+0000, and
 * U+FEFF kept as an ordinary character.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "utf8.h"

/* Validate a copy of the bytes in a buffer of exactly len bytes with no NUL
 * after it, so that a read past the end shows under a sanitizer and a
 * validator cannot lean on a terminator. */
static bool
utf8_ok(const char *bytes, size_t len)
{
	char *copy = malloc(len ? len : 1);
	bool ok;

	cr_assert_not_null(copy, "malloc failed");
	memcpy(copy, bytes, len);
	ok = rmq_utf8_valid(copy, len);
	free(copy);
	return ok;
}

/* A string literal, embedded NULs included, without its terminator. */
#define VALID(lit) utf8_ok((lit), sizeof(lit) - 1)

TestSuite(utf8, .description = "MQTT UTF-8 Encoded String validation");

Test(utf8, empty_string_is_valid)
{
	/* 1.5.4: a string of length 0 is allowed (the length field is 0). */
	cr_assert(VALID(""), "an empty string must be valid");
	cr_assert(rmq_utf8_valid("x", 0), "len 0 must be valid whatever p is");
}

Test(utf8, ascii_is_valid)
{
	cr_assert(VALID("hello"), "plain ASCII must be valid");
	cr_assert(VALID("sport/tennis/player1"), "a topic must be valid");
	cr_assert(VALID(" !~"), "printable ASCII must be valid");
	/* U+0001..U+001F and U+007F..U+009F are left out: 1.5.4 lets a receiver
	 * treat them as malformed (a MAY), so either answer is conformant. */
}

Test(utf8, two_byte_sequences_are_valid)
{
	cr_assert(VALID("\xC2\xA0"),
	    "U+00A0 (C2 A0), the first 2-byte non-control");
	cr_assert(VALID("\xC3\xA9"), "U+00E9 (C3 A9) must be valid");
	cr_assert(VALID("caf\xC3\xA9"), "ASCII then a 2-byte sequence");
	cr_assert(VALID("\xDF\xBF"),
	    "U+07FF (DF BF), the last 2-byte code point");
}

Test(utf8, three_byte_sequences_are_valid)
{
	cr_assert(VALID("\xE0\xA0\x80"), "U+0800 (E0 A0 80), the first 3-byte");
	cr_assert(VALID("\xE2\x82\xAC"), "U+20AC (E2 82 AC) must be valid");
	cr_assert(VALID("\xED\x9F\xBF"),
	    "U+D7FF (ED 9F BF), just below the surrogates");
	cr_assert(VALID("\xEE\x80\x80"),
	    "U+E000 (EE 80 80), just above the surrogates");
	cr_assert(VALID("\xEF\xBF\xBD"), "U+FFFD (EF BF BD) must be valid");
}

Test(utf8, four_byte_sequences_are_valid)
{
	cr_assert(VALID("\xF0\x90\x80\x80"),
	    "U+10000 (F0 90 80 80), the first 4-byte");
	cr_assert(VALID("\xF0\x9F\x98\x80"),
	    "U+1F600 (F0 9F 98 80) must be valid");
	cr_assert(VALID("\xF4\x8F\xBF\xBD"),
	    "U+10FFFD (F4 8F BF BD) must be valid");
}

Test(utf8, spec_example_u2a6d4_is_valid)
{
	/* 1.5.4 non-normative example: "A" followed by U+2A6D4, encoded as
	 * 0x41 0xF0 0xAA 0x9B 0x94. */
	cr_assert(VALID("A\xF0\xAA\x9B\x94"),
	    "spec example A U+2A6D4 must be valid");
	cr_assert(VALID("\xF0\xAA\x9B\x94"), "U+2A6D4 alone must be valid");
}

Test(utf8, mixed_widths_are_valid)
{
	cr_assert(VALID("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z"),
	    "1-, 2-, 3- and 4-byte sequences in one string must be valid");
}

Test(utf8, bom_u_feff_is_valid_anywhere)
{
	/* [MQTT-1.5.4-3]: EF BB BF is U+FEFF wherever it appears and must not be
	 * skipped or stripped, so it is an ordinary valid character. */
	cr_assert(VALID("\xEF\xBB\xBF"),
	    "[MQTT-1.5.4-3] U+FEFF alone must be valid");
	cr_assert(VALID("\xEF\xBB\xBF"
			"abc"),
	    "[MQTT-1.5.4-3] U+FEFF at the start");
	cr_assert(VALID("ab\xEF\xBB\xBF"
			"c"),
	    "[MQTT-1.5.4-3] U+FEFF in the middle");
	cr_assert(VALID("abc\xEF\xBB\xBF"), "[MQTT-1.5.4-3] U+FEFF at the end");
	cr_assert(VALID("\xEF\xBB\xBF\xEF\xBB\xBF"),
	    "[MQTT-1.5.4-3] U+FEFF twice");
}

Test(utf8, nul_is_refused)
{
	/* [MQTT-1.5.4-2]: no encoding of the null character U+0000. */
	cr_assert_not(VALID("\0"),
	    "[MQTT-1.5.4-2] U+0000 alone must be refused");
	cr_assert_not(VALID("a\0b"),
	    "[MQTT-1.5.4-2] U+0000 inside must be refused");
	cr_assert_not(VALID("abc\0"),
	    "[MQTT-1.5.4-2] U+0000 at the end must be refused");
	cr_assert_not(VALID("\0abc"),
	    "[MQTT-1.5.4-2] U+0000 at the start must be refused");
}

Test(utf8, surrogates_are_refused)
{
	/* [MQTT-1.5.4-1]: no encodings of code points U+D800..U+DFFF. */
	cr_assert_not(VALID("\xED\xA0\x80"),
	    "[MQTT-1.5.4-1] U+D800 (ED A0 80)");
	cr_assert_not(VALID("\xED\xAF\xBF"),
	    "[MQTT-1.5.4-1] U+DBFF (ED AF BF)");
	cr_assert_not(VALID("\xED\xB0\x80"),
	    "[MQTT-1.5.4-1] U+DC00 (ED B0 80)");
	cr_assert_not(VALID("\xED\xBF\xBF"),
	    "[MQTT-1.5.4-1] U+DFFF (ED BF BF)");
	cr_assert_not(VALID("a\xED\xA0\x80"
			    "b"),
	    "[MQTT-1.5.4-1] a surrogate inside");
	/* A surrogate pair encoded as two 3-byte sequences (CESU-8) for U+1F4A9
	 * is not UTF-8 either. */
	cr_assert_not(VALID("\xED\xA0\xBD\xED\xB2\xA9"),
	    "[MQTT-1.5.4-1] CESU-8 surrogate pair must be refused");
}

Test(utf8, overlong_forms_are_refused)
{
	/* [MQTT-1.5.4-1] well-formed per RFC 3629: overlong forms are not. */
	cr_assert_not(VALID("\xC0\x80"),
	    "[MQTT-1.5.4-1] overlong U+0000 (C0 80)");
	cr_assert_not(VALID("\xC0\xAF"), "[MQTT-1.5.4-1] overlong '/' (C0 AF)");
	cr_assert_not(VALID("\xC1\xBF"),
	    "[MQTT-1.5.4-1] overlong U+007F (C1 BF)");
	cr_assert_not(VALID("\xE0\x80\x80"),
	    "[MQTT-1.5.4-1] overlong U+0000 (E0 80 80)");
	cr_assert_not(VALID("\xE0\x80\xAF"),
	    "[MQTT-1.5.4-1] overlong '/' (E0 80 AF)");
	cr_assert_not(VALID("\xE0\x9F\xBF"),
	    "[MQTT-1.5.4-1] overlong U+07FF (E0 9F BF)");
	cr_assert_not(VALID("\xF0\x80\x80\x80"),
	    "[MQTT-1.5.4-1] overlong U+0000 (F0 80 80 80)");
	cr_assert_not(VALID("\xF0\x8F\xBF\xBF"),
	    "[MQTT-1.5.4-1] overlong U+FFFF (F0 8F BF BF)");
}

Test(utf8, beyond_u10ffff_is_refused)
{
	/* RFC 3629 stops at U+10FFFF, [MQTT-1.5.4-1]. */
	cr_assert_not(VALID("\xF4\x90\x80\x80"),
	    "[MQTT-1.5.4-1] U+110000 (F4 90 80 80)");
	cr_assert_not(VALID("\xF5\x80\x80\x80"), "[MQTT-1.5.4-1] lead byte F5");
	cr_assert_not(VALID("\xF7\xBF\xBF\xBF"), "[MQTT-1.5.4-1] lead byte F7");
	cr_assert_not(VALID("\xF8\x88\x80\x80\x80"),
	    "[MQTT-1.5.4-1] 5-byte form");
	cr_assert_not(VALID("\xFC\x84\x80\x80\x80\x80"),
	    "[MQTT-1.5.4-1] 6-byte form");
}

Test(utf8, fe_ff_bytes_are_refused)
{
	cr_assert_not(VALID("\xFE"),
	    "[MQTT-1.5.4-1] byte FE never appears in UTF-8");
	cr_assert_not(VALID("\xFF"),
	    "[MQTT-1.5.4-1] byte FF never appears in UTF-8");
	cr_assert_not(VALID("\xFE\xFF"),
	    "[MQTT-1.5.4-1] a UTF-16 BOM is not UTF-8");
	cr_assert_not(VALID("ab\xFF"
			    "cd"),
	    "[MQTT-1.5.4-1] FF inside ASCII");
}

Test(utf8, truncated_sequences_are_refused)
{
	cr_assert_not(VALID("\xC3"), "[MQTT-1.5.4-1] 2-byte lead alone");
	cr_assert_not(VALID("\xE2\x82"),
	    "[MQTT-1.5.4-1] 3-byte sequence cut after 2");
	cr_assert_not(VALID("\xE2"), "[MQTT-1.5.4-1] 3-byte lead alone");
	cr_assert_not(VALID("\xF0\x9F\x98"),
	    "[MQTT-1.5.4-1] 4-byte sequence cut after 3");
	cr_assert_not(VALID("\xF0\x9F"),
	    "[MQTT-1.5.4-1] 4-byte sequence cut after 2");
	cr_assert_not(VALID("abc\xC3"), "[MQTT-1.5.4-1] truncated at the end");
	/* Cut short by an ASCII byte where a continuation byte belongs. */
	cr_assert_not(VALID("\xC3"
			    "a"),
	    "[MQTT-1.5.4-1] 2-byte lead then ASCII");
	cr_assert_not(VALID("\xE2\x82"
			    "A"),
	    "[MQTT-1.5.4-1] 3-byte cut by ASCII");
	cr_assert_not(VALID("\xF0\x9F\x98"
			    "A"),
	    "[MQTT-1.5.4-1] 4-byte cut by ASCII");
	/* Cut short by another lead byte. */
	cr_assert_not(VALID("\xC3\xC3\xA9"),
	    "[MQTT-1.5.4-1] lead then a new sequence");
}

Test(utf8, length_bounds_the_input)
{
	/* The string is s[0..len): a sequence cut by len is truncated, and bytes
	 * after len do not count. */
	cr_assert_not(rmq_utf8_valid("\xC3\xA9", 1),
	    "[MQTT-1.5.4-1] C3 with len 1");
	cr_assert_not(rmq_utf8_valid("\xF0\xAA\x9B\x94", 3),
	    "[MQTT-1.5.4-1] 4-byte sequence with len 3");
	cr_assert(rmq_utf8_valid("ab\xFF", 2),
	    "the FF after len must be ignored");
	cr_assert(rmq_utf8_valid("ab\0", 2),
	    "the NUL after len must be ignored");
}

Test(utf8, stray_continuation_bytes_are_refused)
{
	cr_assert_not(VALID("\x80"), "[MQTT-1.5.4-1] lone continuation 80");
	cr_assert_not(VALID("\xBF"), "[MQTT-1.5.4-1] lone continuation BF");
	cr_assert_not(VALID("a\x80"
			    "b"),
	    "[MQTT-1.5.4-1] continuation inside ASCII");
	cr_assert_not(VALID("\xC3\xA9\xA9"),
	    "[MQTT-1.5.4-1] one continuation too many");
	cr_assert_not(VALID("\xE2\x82\xAC\x80"),
	    "[MQTT-1.5.4-1] extra after 3-byte");
	cr_assert_not(VALID("\x80\x80\x80\x80"),
	    "[MQTT-1.5.4-1] continuations only");
}

Test(utf8, bad_continuation_byte_is_refused)
{
	/* The second byte of a sequence must be 10xxxxxx. */
	cr_assert_not(VALID("\xC3\xC0"), "[MQTT-1.5.4-1] C3 followed by C0");
	cr_assert_not(VALID("\xE2\x82\xFF"),
	    "[MQTT-1.5.4-1] E2 82 followed by FF");
	cr_assert_not(VALID("\xF0\x9F\x98\x20"),
	    "[MQTT-1.5.4-1] last byte is ASCII");
}

Test(utf8, error_after_long_valid_prefix)
{
	char buf[300];

	memset(buf, 'a', sizeof(buf));
	cr_assert(utf8_ok(buf, sizeof(buf)), "300 ASCII bytes must be valid");
	buf[sizeof(buf) - 1] = '\0';
	cr_assert_not(utf8_ok(buf, sizeof(buf)),
	    "[MQTT-1.5.4-2] U+0000 as the last of 300 bytes must be refused");
	buf[sizeof(buf) - 1] = (char)0xED;
	cr_assert_not(utf8_ok(buf, sizeof(buf)),
	    "[MQTT-1.5.4-1] a lead byte as the last of 300 bytes must be refused");
}
