/* test/broker/auth/test_passwd.c: the password file (broker/auth/passwd.c):
 * lines made by the real mosquitto_passwd, hashes of our own read back,
 * each malformed line with its exact message, a file of 10,000 users,
 * the time an unknown user costs, and rewriting a file in place.  Every
 * test works in its own mkdtemp directory under /tmp.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "passwd.h"
#include "rmq_test_dir.h"

/* Made once with Debian 12's mosquitto_passwd (Mosquitto 2.0.11):
 *   mosquitto_passwd -c -b F alice 'correct horse'
 *   mosquitto_passwd -b F bob 's3cr:t pass'
 *   mosquitto_passwd -I 1000 -b F carol p
 *   mosquitto_passwd -b F empty7 ''
 *   mosquitto_passwd -b F 'zoë 李' 'pässwörd'
 *   mosquitto_passwd -b F 'trail ' x        (writes "trail :...")
 *   mosquitto_passwd -H sha512 -b F dave hunter2
 *   mosquitto_passwd -H sha512 -b F erin 'ünïcødé'
 * Each checked once against Python's hashlib.pbkdf2_hmac / sha512. */
#define ALICE                                                                  \
	"alice:$7$101$YZW9yD7Zk9YOdTJ+$dd7CnXrp+O3GAXPMA2QUM+kawbGFFjredDZXnWQ88MMpuGZNfO+I2P5XorvO24qfLW+IquaRJo16fSEPhLJGnw=="
#define BOB                                                                    \
	"bob:$7$101$gUd9RWr5n6Kayb+O$rT1pkY7NAl1Z+rKtpSsxVgrThJ0/ES/sJcpJ90+1JOvIFp4cLEe/ng+fQPlhEDtBodju19xEvTxz+a6hfHoaZg=="
#define CAROL                                                                  \
	"carol:$7$1000$KcK3oG7An8l3Tpwl$pBO8CJJjw96E2dczJzYwOV78kYoYjgdWbMbDvlaFteWOijsO6yqAFxCevBhg5atnAs7HtwEBTjK2FTHhf5bObg=="
#define EMPTY7                                                                 \
	"empty7:$7$101$Z9iTn2y82AONAXRo$sis602DhcUTOsYo+XRadqskJeLM4yeCb5LunRE2IRtUSzKXfKoi6jScCPfY8W6EXfRUYGDrCZSJ3m7LDwkQhXA=="
#define ZOE                                                                    \
	"zo\xc3\xab \xe6\x9d\x8e:$7$101$e7Mefu/GZZwaYset$ZC8T4fm9+IsuSUmWI6gPXswNzekcP0WTzFV1Ye3GfUysK+9PcjBhoelPpz2WGF0OtDYWU5oDbdC5XgAZGlLWow=="
#define TRAIL                                                                  \
	"trail :$7$101$jrYVyOxvzqIRnNnC$ZhoCsRnyPrtxQOcCdcZZCfM45EI/e8aE8CUJ1TtaMQOkDNTNIInxSu87zXYWF+YDbMzbks5vMbjGQZ6XtEYoZA=="
#define DAVE                                                                   \
	"dave:$6$TAr0SEJB2IB3q4ln$VRHWJjzmmRYG1KK3xiDn1cN4qSx4JGd4D0CYwnU8rf8UBE+xP/Vme2cHxNcHQ/+UyU0uKQQb1VEZoSBQMshddQ=="
#define ERIN                                                                   \
	"erin:$6$1nJ7V0oHqOAlWHYP$HNvvN0jrUiskkcDSYc3HHBwfd84DhUKXy1JG9wPmcmw4j/cn9GC9TZ8IcO1WKoD1KLIMMqaYSrmdhlLUVDC8og=="
/* From Mosquitto's own test/broker/09-pwfile-parse-invalid.py: user
 * "test" with password "test", "empty" with the empty password. */
#define MOSQ_TEST                                                              \
	"test:$6$njERlZMi/7DzNB9E$iiavfuXvUm8iyDZArTy7smTxh07GXXOrOsqxfW6gkOYVXHGk+W+i/8d3xDxrMwEPygEBhoA8A/gjQC0N2M4Lkw=="
#define MOSQ_EMPTY                                                             \
	"empty:$6$o+53eGXtmlfHeYrg$FY7X9DNQ4uU1j0NiPmGOOSU05ZSzhqNmNhXIof/0nLpVb1zDhcRHdaC72E3YryH7dtTiG/r6jH6C8J+30cZBgA=="
/* What Mosquitto 2.1 writes: a 64-byte salt.  No 2.1 binary at hand, so
 * made with Python's hashlib: salt bytes 0..63, password "long salt". */
#define SALT64_7                                                               \
	"s7:$7$1000$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==$n+V9SCsiO+gwA/qjdjQMMw7MwGYSwyA29DHs/gIKEAHGcxsim2Cn/dWUam7T2Rni4QEEwPvg22OiDMZDREfxaQ=="
#define SALT64_6                                                               \
	"s6:$6$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==$mAaKoOSyAFZyfhzLYxz1IoSFT0ynzAjUM4AdILeoict1Uxa9y677tGnKt3W1tlX6WsDvgUScS0oOGkwsknyQ/Q=="

/* Alice's salt and hash, for building bad lines. */
#define SALT "YZW9yD7Zk9YOdTJ+"
#define HASH                                                                   \
	"dd7CnXrp+O3GAXPMA2QUM+kawbGFFjredDZXnWQ88MMpuGZNfO+I2P5XorvO24qfLW+IquaRJo16fSEPhLJGnw=="

/* 32 bytes in base64: a SCRAM key's length. */
#define KEY32 "5UM1hyTiAHd+itFI8GfXpt7WgcTHKVSuPg+7htrA25M="

static char dir[64];
static char path[128];
static char err[512];

static void
mkdir_tmp(void)
{
	rmq_test_dir_make(dir, sizeof(dir), "passwd");
	snprintf(path, sizeof(path), "%s/pw", dir);
}

static void
rm_tmp(void)
{
	rmq_test_dir_remove(dir);
}

TestSuite(passwd, .init = mkdir_tmp, .fini = rm_tmp);

static void
write_text(const char *text)
{
	rmq_test_write_file(path, text, strlen(text));
}

/* The file's text, malloc'd. */
static char *
read_text(const char *p)
{
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	char *b = calloc(1, 1 << 20);
	size_t n = fread(b, 1, (1 << 20) - 1, f);
	b[n] = '\0';
	fclose(f);
	return b;
}

static struct rmq_passwd *
load_ok(void)
{
	struct rmq_passwd *p = NULL;
	int rc = rmq_passwd_load(path, &p, err, sizeof(err));
	cr_assert_eq(rc, 0, "load: %d %s", rc, err);
	cr_assert_not_null(p);
	return p;
}

static enum rmq_passwd_result
check(const struct rmq_passwd *p, const char *user, const char *pw)
{
	return rmq_passwd_check(p, user, strlen(user), pw, strlen(pw));
}

/* ---- what mosquitto_passwd wrote ---- */

Test(passwd, mosquitto_pbkdf2)
{
	write_text(
	    ALICE "\n" BOB "\n" CAROL "\n" EMPTY7 "\n" ZOE "\n" TRAIL "\n");
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), 6);
	cr_assert_eq(check(p, "alice", "correct horse"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "alice", "correct horse "),
	    RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "alice", ""), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "bob", "s3cr:t pass"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "bob", "correct horse"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "carol", "p"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "carol", "P"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "empty7", ""), RMQ_PASSWD_OK);
	cr_assert_eq(rmq_passwd_check(p, "empty7", 6, NULL, 0), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "empty7", " "), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "zo\xc3\xab \xe6\x9d\x8e",
			 "p\xc3\xa4sswo\xcc\x88rd"),
	    RMQ_PASSWD_BAD_PASSWORD); /* decomposed ö: other bytes */
	cr_assert_eq(check(p, "zo\xc3\xab \xe6\x9d\x8e",
			 "p\xc3\xa4ssw\xc3\xb6rd"),
	    RMQ_PASSWD_OK);
	/* mosquitto_passwd wrote "trail :", Mosquitto reads "trail". */
	cr_assert_eq(check(p, "trail", "x"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "trail ", "x"), RMQ_PASSWD_NO_SUCH_USER);
	cr_assert_eq(check(p, "Alice", "correct horse"),
	    RMQ_PASSWD_NO_SUCH_USER);
	cr_assert_eq(check(p, "alic", "correct horse"),
	    RMQ_PASSWD_NO_SUCH_USER);
	cr_assert_eq(check(p, "", ""), RMQ_PASSWD_NO_SUCH_USER);
	cr_assert_eq(rmq_passwd_check(p, NULL, 0, NULL, 0),
	    RMQ_PASSWD_NO_SUCH_USER);
	/* Lengths, not NULs, end the strings. */
	cr_assert_eq(rmq_passwd_check(p, "alice!", 5, "correct horse!", 13),
	    RMQ_PASSWD_OK);
	cr_assert_eq(rmq_passwd_check(p, "alice", 5, "correct\0horse", 13),
	    RMQ_PASSWD_BAD_PASSWORD);
	/* HMAC pads its key with zeros, so to PBKDF2 a password and the same
	 * followed by NULs are one (Mosquitto stops at the first NUL). */
	cr_assert_eq(rmq_passwd_check(p, "alice", 5, "correct horse\0", 14),
	    RMQ_PASSWD_OK);
	rmq_passwd_free(p);
}

Test(passwd, mosquitto_sha512)
{
	write_text(DAVE "\n" ERIN "\n" MOSQ_TEST "\n" MOSQ_EMPTY "\n");
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), 4);
	cr_assert_eq(check(p, "dave", "hunter2"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "dave", "hunter3"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "erin",
			 "\xc3\xbcn\xc3\xaf"
			 "c\xc3\xb8"
			 "d\xc3\xa9"),
	    RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "erin", "unicode"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "test", "test"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "test", "bad"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "test", ""), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "empty", ""), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "empty", "test"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "bad", "test"), RMQ_PASSWD_NO_SUCH_USER);
	rmq_passwd_free(p);
}

Test(passwd, salt_of_64_bytes)
{
	write_text(SALT64_7 "\n" SALT64_6 "\n");
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(check(p, "s7", "long salt"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "s7", "short salt"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "s6", "long salt"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "s6", "short salt"), RMQ_PASSWD_BAD_PASSWORD);
	rmq_passwd_free(p);
}

Test(passwd, blanks_comments_and_line_ends)
{
	write_text("# a comment: with a colon\n"
		   "\n"
		   "   \t\n"
		   "  # an indented comment\n"
		   "  " ALICE "  \r\n" /* blanks and CRLF around */
		   "\r\n" DAVE); /* and no '\n' at the end */
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), 2);
	cr_assert_eq(check(p, "alice", "correct horse"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "dave", "hunter2"), RMQ_PASSWD_OK);
	rmq_passwd_free(p);

	/* Blanks around the ':' too, as Mosquitto trims both sides. */
	write_text(" alice\t:\t$7$101$" SALT "$" HASH "\n");
	p = load_ok();
	cr_assert_eq(check(p, "alice", "correct horse"), RMQ_PASSWD_OK);
	rmq_passwd_free(p);

	write_text("");
	p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), 0);
	cr_assert_eq(check(p, "alice", "correct horse"),
	    RMQ_PASSWD_NO_SUCH_USER);
	rmq_passwd_free(p);

	write_text("# nobody\n\n");
	p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), 0);
	rmq_passwd_free(p);
}

/* ---- our own hashes ---- */

Test(passwd, hash_round_trip)
{
	static const struct {
		const char *pw;
		size_t len;
		unsigned iterations;
	} cases[] = {
		{ "secret", 6, 0 },
		{ "", 0, 1 },
		{ "with\0nul", 8, 101 },
		{ "p\xc3\xa4ss", 5, 5000 },
		{ "0123456789012345678901234567890123456789012345678901234567890123456789",
		    70, 2 },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	char text[N * 256] = "";
	char h[RMQ_PASSWD_HASH_SIZE], h2[RMQ_PASSWD_HASH_SIZE];
	for (size_t i = 0; i < N; i++) {
		int rc = rmq_passwd_hash(cases[i].pw, cases[i].len,
		    cases[i].iterations, h, sizeof(h));
		cr_assert_eq(rc, 0);
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "$7$%u$",
		    cases[i].iterations ? cases[i].iterations : 101);
		cr_assert_eq(strncmp(h, prefix, strlen(prefix)), 0, "%s", h);
		/* 16 characters of salt, 88 of hash */
		cr_assert_eq(strlen(h), strlen(prefix) + 16 + 1 + 88, "%s", h);
		/* A fresh salt each time. */
		cr_assert_eq(rmq_passwd_hash(cases[i].pw, cases[i].len,
				 cases[i].iterations, h2, sizeof(h2)),
		    0);
		cr_assert_str_neq(h, h2);
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "u%zu:%s\n", i, h);
	}
	write_text(text);
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), N);
	for (size_t i = 0; i < N; i++) {
		char u[8];
		snprintf(u, sizeof(u), "u%zu", i);
		cr_assert_eq(rmq_passwd_check(p, u, strlen(u), cases[i].pw,
				 cases[i].len),
		    RMQ_PASSWD_OK, "case %zu", i);
		cr_assert_eq(rmq_passwd_check(p, u, strlen(u), "x", 1),
		    RMQ_PASSWD_BAD_PASSWORD, "case %zu", i);
	}
	/* The NUL counts: "with" alone is another password. */
	cr_assert_eq(rmq_passwd_check(p, "u2", 2, "with", 4),
	    RMQ_PASSWD_BAD_PASSWORD);
	rmq_passwd_free(p);
}

Test(passwd, hash_refusals)
{
	char h[RMQ_PASSWD_HASH_SIZE];
	cr_assert_eq(rmq_passwd_hash("x", 1, 10000001, h, sizeof(h)), -EINVAL);
	cr_assert_eq(rmq_passwd_hash("x", 1, 10, h, 100), -ENOSPC);
	/* "$7$10$", salt, '$', hash and the NUL */
	cr_assert_eq(rmq_passwd_hash("x", 1, 10, h, 6 + 16 + 1 + 88), -ENOSPC);
	cr_assert_eq(rmq_passwd_hash("x", 1, 10, h, 6 + 16 + 1 + 88 + 1), 0);
	cr_assert_eq(strlen(h), 6 + 16 + 1 + 88);
	char *big = calloc(1, 65536);
	cr_assert_eq(rmq_passwd_hash(big, 65536, 1, h, sizeof(h)), -EINVAL);
	cr_assert_eq(rmq_passwd_hash(big, 65535, 1, h, sizeof(h)), 0);
	free(big);
	/* The most rounds allowed fit the buffer. */
	cr_assert_lt(strlen("$7$10000000$") + 16 + 1 + 88,
	    (size_t)RMQ_PASSWD_HASH_SIZE);
}

/* ---- malformed lines ---- */

Test(passwd, malformed_lines)
{
	static char long_line[RMQ_PASSWD_LINE_MAX + 2];
	static char long_user[RMQ_PASSWD_USER_MAX + 200];
	memset(long_line, 'a', RMQ_PASSWD_LINE_MAX + 1);
	memset(long_user, 'u', RMQ_PASSWD_USER_MAX + 1);
	strcat(long_user, ":$7$101$" SALT "$" HASH);

	static const struct {
		const char *line, *why;
	} cases[] = {
		{ "alice", "no ':' between user name and hash" },
		{ "alice $7$101$" SALT "$" HASH,
		    "no ':' between user name and hash" },
		{ ":$7$101$" SALT "$" HASH, "empty user name" },
		{ "  \t:$7$101$" SALT "$" HASH, "empty user name" },
		{ "alice:", "no hash after ':'" },
		{ "alice:  ", "no hash after ':'" },
		{ "alice:secret",
		    "unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)" },
		{ "alice:$5$" SALT "$" HASH,
		    "unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)" },
		{ "alice:$77$101$" SALT "$" HASH,
		    "unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)" },
		{ "alice:$argon2id$v=19$m=47104,t=1,p=1$" SALT "$" HASH,
		    "unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)" },
		{ "alice:7$101$" SALT "$" HASH,
		    "unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)" },
		/* A ':' in a user name: the hash is what follows the first. */
		{ "al:ice:$7$101$" SALT "$" HASH,
		    "unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)" },
		{ "alice:$scram-sha-256$4096$" SALT "$" KEY32,
		    "malformed $scram-sha-256$ entry (want $scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY)" },
		{ "alice:$scram-sha-256$0$" SALT "$" KEY32 "$" KEY32,
		    "iteration count out of bounds 1..10000000" },
		{ "alice:$scram-sha-256$4096$" SALT "$" SALT "$" KEY32,
		    "StoredKey is 12 bytes, not 32" },
		{ "alice:$scram-sha-256$4096$" SALT "$" KEY32 "$" KEY32 "$",
		    "malformed $scram-sha-256$ entry (want $scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY)" },
		{ "alice:$7",
		    "malformed $7$ hash (want $7$ITERATIONS$SALT$HASH)" },
		{ "alice:$7$101$" SALT,
		    "malformed $7$ hash (want $7$ITERATIONS$SALT$HASH)" },
		{ "alice:$7$" SALT "$" HASH,
		    "malformed $7$ hash (want $7$ITERATIONS$SALT$HASH)" },
		{ "alice:$7$101$" SALT "$" HASH "$",
		    "malformed $7$ hash (want $7$ITERATIONS$SALT$HASH)" },
		{ "alice:$7$101$" SALT "$" HASH "$x$y$z",
		    "malformed $7$ hash (want $7$ITERATIONS$SALT$HASH)" },
		{ "alice:$6$", "malformed $6$ hash (want $6$SALT$HASH)" },
		{ "alice:$6$101$" SALT "$" HASH,
		    "malformed $6$ hash (want $6$SALT$HASH)" },
		{ "alice:$7$$" SALT "$" HASH,
		    "iteration count is not a number" },
		{ "alice:$7$1o1$" SALT "$" HASH,
		    "iteration count is not a number" },
		{ "alice:$7$-1$" SALT "$" HASH,
		    "iteration count is not a number" },
		{ "alice:$7$ 101$" SALT "$" HASH,
		    "iteration count is not a number" },
		{ "alice:$7$0$" SALT "$" HASH,
		    "iteration count out of bounds 1..10000000" },
		{ "alice:$7$10000001$" SALT "$" HASH,
		    "iteration count out of bounds 1..10000000" },
		{ "alice:$7$99999999999999999999999999$" SALT "$" HASH,
		    "iteration count out of bounds 1..10000000" },
		{ "alice:$7$101$$" HASH, "salt is not valid base64" },
		{ "alice:$7$101$YZW9yD7Zk9YOdTJ-$" HASH,
		    "salt is not valid base64" },
		{ "alice:$7$101$YZW9yD7Zk9YOdTJ$" HASH,
		    "salt is not valid base64" },
		{ "alice:$7$101$YZW9yD7Z k9YOdTJ$" HASH,
		    "salt is not valid base64" },
		{ "alice:$7$101$QUJDRA==$" HASH,
		    "salt is 4 bytes, not 12 or 64" },
		{ "alice:$6$" SALT "QUJD$" HASH,
		    "salt is 15 bytes, not 12 or 64" },
		{ "alice:$7$101$" SALT "$", "hash is not valid base64" },
		/* "Gnw==" spelled "Gnx==": the same bytes to a lax decoder */
		{ "alice:$7$101$" SALT
		  "$dd7CnXrp+O3GAXPMA2QUM+kawbGFFjredDZXnWQ88MMpuGZNfO+I2P5XorvO24qfLW+IquaRJo16fSEPhLJGnx==",
		    "hash is not valid base64" },
		/* no padding */
		{ "alice:$7$101$" SALT
		  "$dd7CnXrp+O3GAXPMA2QUM+kawbGFFjredDZXnWQ88MMpuGZNfO+I2P5XorvO24qfLW+IquaRJo16fSEPhLJGnw",
		    "hash is not valid base64" },
		/* padding inside */
		{ "alice:$7$101$" SALT
		  "$dd7C=Xrp+O3GAXPMA2QUM+kawbGFFjredDZXnWQ88MMpuGZNfO+I2P5XorvO24qfLW+IquaRJo16fSEPhLJGnw==",
		    "hash is not valid base64" },
		/* URL-safe alphabet */
		{ "alice:$7$101$" SALT
		  "$dd7CnXrp-O3GAXPMA2QUM+kawbGFFjredDZXnWQ88MMpuGZNfO+I2P5XorvO24qfLW+IquaRJo16fSEPhLJGnw==",
		    "hash is not valid base64" },
		{ "alice:$7$101$" SALT "$" HASH ":extra",
		    "hash is not valid base64" },
		{ "alice:$7$101$" SALT "$" SALT, "hash is 12 bytes, not 64" },
		{ "al\tice:$7$101$" SALT "$" HASH,
		    "user name holds a control character" },
		{ "al\x7f"
		  "ice:$7$101$" SALT "$" HASH,
		    "user name holds a control character" },
		{ "al\xff"
		  "ice:$7$101$" SALT "$" HASH,
		    "user name is not valid UTF-8" },
		{ "\xed\xa0\x80:$7$101$" SALT "$" HASH, /* a surrogate */
		    "user name is not valid UTF-8" },
		{ ALICE, "duplicate user (first on line 2)" },
		{ "  alice :$6$" SALT "$" HASH,
		    "duplicate user (first on line 2)" },
		{ long_line, "line longer than 65791 bytes" },
		{ long_user, "user name longer than 65535 bytes" },
		{ "x:$7$101$" SALT "$" HASH "AAAA",
		    "hash longer than 64 bytes" },
		{ "x:$6$" SALT SALT SALT SALT SALT SALT "$" HASH,
		    "salt longer than 64 bytes" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *line = cases[i].line;
		/* Line 3, after a comment and a good line; a good line
		 * after it, which the error stops before. */
		size_t n = strlen(line) + 512;
		char *text = malloc(n);
		snprintf(text, n, "# users\n%s\n%s\n%s\n", ALICE, line, DAVE);
		write_text(text);
		free(text);
		struct rmq_passwd *p = (void *)1;
		int rc = rmq_passwd_load(path, &p, err, sizeof(err));
		char want[512];
		snprintf(want, sizeof(want), "%s:3: %s", path, cases[i].why);
		cr_assert_eq(rc, -EINVAL, "case %zu: %d %s", i, rc, err);
		cr_assert_str_eq(err, want, "case %zu: %s", i, err);
		cr_assert_eq(p, (void *)1, "case %zu: *out set on failure", i);
		/* Never the hash, nor what might be a password. */
		cr_assert_null(strstr(err, HASH), "case %zu", i);
		cr_assert_null(strstr(err, SALT), "case %zu", i);
		cr_assert_null(strstr(err, "secret"), "case %zu", i);
	}
}

Test(passwd, first_line_and_last_line)
{
	write_text("alice:" SALT "\n");
	struct rmq_passwd *p = NULL;
	cr_assert_eq(rmq_passwd_load(path, &p, err, sizeof(err)), -EINVAL);
	char want[512];
	snprintf(want, sizeof(want),
	    "%s:1: unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)",
	    path);
	cr_assert_str_eq(err, want);

	/* A last line without '\n' counts as a line. */
	write_text(ALICE "\n\n# x\nbob");
	cr_assert_eq(rmq_passwd_load(path, &p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: no ':' between user name and hash",
	    path);
	cr_assert_str_eq(err, want);
	cr_assert_null(p);
}

Test(passwd, unreadable)
{
	struct rmq_passwd *p = NULL;
	char want[512];
	snprintf(path, sizeof(path), "%s/missing", dir);
	cr_assert_eq(rmq_passwd_load(path, &p, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	cr_assert_str_eq(err, want);
	cr_assert_null(p);

	cr_assert_eq(rmq_passwd_load(dir, &p, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: Is a directory", dir);
	cr_assert_str_eq(err, want);

	if (geteuid() != 0) { /* root reads it anyway */
		snprintf(path, sizeof(path), "%s/pw", dir);
		write_text(ALICE "\n");
		cr_assert_eq(chmod(path, 0), 0);
		cr_assert_eq(rmq_passwd_load(path, &p, err, sizeof(err)),
		    -EACCES);
		snprintf(want, sizeof(want), "%s: Permission denied", path);
		cr_assert_str_eq(err, want);
	}
	cr_assert_null(p);
	rmq_passwd_free(NULL);
}

/* ---- size and time ---- */

Test(passwd, ten_thousand_users, .timeout = 60)
{
	enum { N = 10000 };
	char h[RMQ_PASSWD_HASH_SIZE];
	cr_assert_eq(rmq_passwd_hash("pw", 2, 0, h, sizeof(h)), 0);
	size_t cap = (size_t)N * (strlen(h) + 32);
	char *text = malloc(cap);
	size_t n = 0;
	for (int i = 0; i < N; i++) {
		if (i % 100 == 0)
			n += (size_t)snprintf(text + n, cap - n, "# %d\n", i);
		n += (size_t)snprintf(text + n, cap - n, "user%05d:%s\n", i, h);
	}
	rmq_test_write_file(path, text, n);
	free(text);
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), N);
	for (int i = 0; i < N; i += 97) {
		char u[16];
		snprintf(u, sizeof(u), "user%05d", i);
		cr_assert_eq(check(p, u, "pw"), RMQ_PASSWD_OK, "%s", u);
	}
	cr_assert_eq(check(p, "user09999", "pw"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "user00000", "wp"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "user10000", "pw"), RMQ_PASSWD_NO_SUCH_USER);
	cr_assert_eq(check(p, "user0000", "pw"), RMQ_PASSWD_NO_SUCH_USER);
	rmq_passwd_free(p);
}

/* An unknown user costs a hash like the file's most common one, so the
 * answer's time does not tell who exists: the dummy it is checked against
 * has that cost, and the check goes through it (NO_SUCH_USER comes after
 * the hash, not instead of it). */
Test(passwd, unknown_user_costs_the_common_hash)
{
	char text[4096] = "";
	char h[RMQ_PASSWD_HASH_SIZE];
	for (int i = 0; i < 4; i++) {
		/* Three at 2,000 rounds, one at 1: the dummy takes 2,000 */
		cr_assert_eq(rmq_passwd_hash("pw", 2, i == 3 ? 1 : 2000, h,
				 sizeof(h)),
		    0);
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "u%d:%s\n", i, h);
	}
	write_text(text);
	struct rmq_passwd *p = load_ok();
	unsigned type, iterations;
	rmq_passwd_dummy_cost(p, &type, &iterations);
	cr_assert_eq(type, 7);
	cr_assert_eq(iterations, 2000);
	cr_assert_eq(check(p, "nobody", "pw"), RMQ_PASSWD_NO_SUCH_USER);
	rmq_passwd_free(p);
}

/* ---- rewriting the file ---- */

/* The hash on user's line of the file's text, into out. */
static void
hash_of(const char *text, const char *user, char *out, size_t outlen)
{
	char key[64];
	snprintf(key, sizeof(key), "\n%s:", user);
	char *t = malloc(strlen(text) + 2);
	t[0] = '\n';
	strcpy(t + 1, text);
	const char *s = strstr(t, key);
	cr_assert_not_null(s, "no %s in:\n%s", user, text);
	s += strlen(key);
	size_t n = strcspn(s, "\n");
	cr_assert_lt(n, outlen);
	memcpy(out, s, n);
	out[n] = '\0';
	free(t);
}

static void
update_ok(const char *user, const char *pw)
{
	int rc = rmq_passwd_update_file(path, user, pw, 0, err, sizeof(err));
	cr_assert_eq(rc, 0, "update %s: %d %s", user, rc, err);
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_neq(access(tmp, F_OK), 0, "%s left behind", tmp);
}

Test(passwd, update_creates_adds_replaces_deletes)
{
	struct stat st;
	char h1[RMQ_PASSWD_HASH_SIZE], h2[RMQ_PASSWD_HASH_SIZE], want[2048];

	/* A missing file: created, 0600 whatever the umask. */
	mode_t old = umask(0);
	update_ok("alice", "one");
	umask(old);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	char *t = read_text(path);
	hash_of(t, "alice", h1, sizeof(h1));
	snprintf(want, sizeof(want), "alice:%s\n", h1);
	cr_assert_str_eq(t, want);
	cr_assert_eq(strncmp(h1, "$7$101$", 7), 0);
	free(t);

	/* Comments and other users stay as they are, blanks and CRLF too. */
	snprintf(want, sizeof(want),
	    "# the users\n"
	    "alice:%s\n"
	    "\n"
	    "  " DAVE "  \r\n"
	    "#alice:not her\n"
	    "something odd\n",
	    h1);
	write_text(want);
	update_ok("bob", "two");
	t = read_text(path);
	hash_of(t, "bob", h2, sizeof(h2));
	size_t kept = strlen(want);
	cr_assert_eq(strncmp(t, want, kept), 0, "%s", t);
	snprintf(want, sizeof(want), "bob:%s\n", h2);
	cr_assert_str_eq(t + kept, want);
	free(t);

	/* Replaced in place. */
	update_ok("alice", "three");
	t = read_text(path);
	char h3[RMQ_PASSWD_HASH_SIZE];
	hash_of(t, "alice", h3, sizeof(h3));
	cr_assert_str_neq(h3, h1);
	snprintf(want, sizeof(want),
	    "# the users\n"
	    "alice:%s\n"
	    "\n"
	    "  " DAVE "  \r\n"
	    "#alice:not her\n"
	    "something odd\n"
	    "bob:%s\n",
	    h3, h2);
	cr_assert_str_eq(t, want);
	free(t);

	/* Deleted; "dave" (written with blanks around) is found too. */
	update_ok("dave", NULL);
	update_ok("bob", NULL);
	t = read_text(path);
	snprintf(want, sizeof(want),
	    "# the users\n"
	    "alice:%s\n"
	    "\n"
	    "#alice:not her\n"
	    "something odd\n",
	    h3);
	cr_assert_str_eq(t, want);
	free(t);

	/* What the file says now checks: drop the odd line and load. */
	snprintf(want, sizeof(want), "alice:%s\n", h3);
	write_text(want);
	update_ok("carol", "four");
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(rmq_passwd_count(p), 2);
	cr_assert_eq(check(p, "alice", "three"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "alice", "one"), RMQ_PASSWD_BAD_PASSWORD);
	cr_assert_eq(check(p, "carol", "four"), RMQ_PASSWD_OK);
	rmq_passwd_free(p);
}

Test(passwd, update_details)
{
	struct stat st;
	char h[RMQ_PASSWD_HASH_SIZE], want[2048];

	/* No '\n' at the end: the new line still starts a line. */
	write_text("# x\n" DAVE);
	update_ok("erin", "e");
	char *t = read_text(path);
	hash_of(t, "erin", h, sizeof(h));
	snprintf(want, sizeof(want), "# x\n" DAVE "\nerin:%s\n", h);
	cr_assert_str_eq(t, want);
	free(t);

	/* A user twice: the first line becomes the new one, the other goes. */
	write_text(ALICE "\n" DAVE "\n" ALICE "\n# end\n");
	cr_assert_eq(rmq_passwd_update_file(path, "alice", "x", 7, err,
			 sizeof(err)),
	    0, "%s", err);
	t = read_text(path);
	hash_of(t, "alice", h, sizeof(h));
	cr_assert_eq(strncmp(h, "$7$7$", 5), 0, "%s", h);
	snprintf(want, sizeof(want), "alice:%s\n" DAVE "\n# end\n", h);
	cr_assert_str_eq(t, want);
	free(t);

	/* The mode is kept. */
	cr_assert_eq(chmod(path, 0640), 0);
	update_ok("dave", "d");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);

	/* A link stays a link; its target changes. */
	char link[128], target[128];
	snprintf(target, sizeof(target), "%s", path);
	snprintf(link, sizeof(link), "%s/link", dir);
	cr_assert_eq(symlink("pw", link), 0);
	snprintf(path, sizeof(path), "%s", link);
	update_ok("frank", "f");
	cr_assert_eq(lstat(link, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	snprintf(path, sizeof(path), "%s", target);
	struct rmq_passwd *p = load_ok();
	cr_assert_eq(check(p, "frank", "f"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "dave", "d"), RMQ_PASSWD_OK);
	cr_assert_eq(check(p, "alice", "x"), RMQ_PASSWD_OK);
	rmq_passwd_free(p);
}

Test(passwd, update_refusals)
{
	char want[512];
	write_text("# keep\n" ALICE "\n");
	static const struct {
		const char *user, *why;
	} bad[] = {
		{ "", "empty user name" },
		{ "a:b", "user name holds ':'" },
		{ " a", "user name starts or ends with a blank" },
		{ "a ", "user name starts or ends with a blank" },
		{ "#a",
		    "user name starts with '#' (the line would be a comment)" },
		{ "a\tb", "user name holds a control character" },
		{ "a\nb", "user name holds a control character" },
		{ "a\xc3", "user name is not valid UTF-8" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(rmq_passwd_update_file(path, bad[i].user, "pw", 0,
				 err, sizeof(err)),
		    -EINVAL, "case %zu", i);
		cr_assert_str_eq(err, bad[i].why, "case %zu", i);
	}
	cr_assert_eq(rmq_passwd_update_file(path, "x", "pw", 10000001, err,
			 sizeof(err)),
	    -EINVAL);
	cr_assert_str_eq(err, "iteration count out of bounds 1..10000000");
	char *big = malloc(65537);
	memset(big, 'p', 65536);
	big[65536] = '\0';
	cr_assert_eq(rmq_passwd_update_file(path, "x", big, 0, err,
			 sizeof(err)),
	    -EINVAL);
	cr_assert_str_eq(err, "password longer than 65535 bytes");
	free(big);

	/* Removing whom the file does not have. */
	cr_assert_eq(rmq_passwd_update_file(path, "bob", NULL, 0, err,
			 sizeof(err)),
	    -ENOENT);
	snprintf(want, sizeof(want), "%s: no such user", path);
	cr_assert_str_eq(err, want);

	/* A PATH.tmp already there: another update, or a killed one. */
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rmq_test_write_file(tmp, "x", 1);
	cr_assert_eq(rmq_passwd_update_file(path, "bob", "pw", 0, err,
			 sizeof(err)),
	    -EEXIST);
	snprintf(want, sizeof(want),
	    "%s: File exists (another update runs, or one was killed: remove it)",
	    tmp);
	cr_assert_str_eq(err, want);
	char *t = read_text(tmp);
	cr_assert_str_eq(t, "x");
	free(t);
	unlink(tmp);

	/* Nothing above touched the file. */
	t = read_text(path);
	cr_assert_str_eq(t, "# keep\n" ALICE "\n");
	free(t);

	/* Removing from a file that is not there. */
	snprintf(path, sizeof(path), "%s/missing", dir);
	cr_assert_eq(rmq_passwd_update_file(path, "alice", NULL, 0, err,
			 sizeof(err)),
	    -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	cr_assert_str_eq(err, want);
	cr_assert_neq(access(path, F_OK), 0);

	/* A folder that is not there. */
	snprintf(path, sizeof(path), "%s/no/pw", dir);
	cr_assert_eq(rmq_passwd_update_file(path, "alice", "pw", 0, err,
			 sizeof(err)),
	    -ENOENT);
	snprintf(want, sizeof(want), "%s/no/pw.tmp: No such file or directory",
	    dir);
	cr_assert_str_eq(err, want);
}

Test(passwd, scram_entries)
{
	/* RFC 7677's user: "pencil", the RFC's salt, 4096 rounds. */
	struct rmq_scram_creds c;
	uint8_t salt[18];
	cr_assert_eq(EVP_DecodeBlock(salt,
			 (const unsigned char *)"W22ZaJ0SNY7soEsUEjb6gQ==", 24),
	    18);
	cr_assert_eq(rmq_scram_derive("pencil", 6, salt, 16, 4096, &c), 0);
	char k1[64], k2[64], text[512];
	EVP_EncodeBlock((unsigned char *)k1, c.stored_key, 32);
	EVP_EncodeBlock((unsigned char *)k2, c.server_key, 32);
	snprintf(text, sizeof(text),
	    "user:$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$%s$%s\n%s\n", k1,
	    k2, ALICE);
	write_text(text);
	struct rmq_passwd *p = NULL;
	cr_assert_eq(rmq_passwd_load(path, &p, err, sizeof(err)), 0, "%s", err);
	/* A SCRAM entry checks a CONNECT's password as well. */
	cr_assert_eq(rmq_passwd_check(p, "user", 4, "pencil", 6),
	    RMQ_PASSWD_OK);
	cr_assert_eq(rmq_passwd_check(p, "user", 4, "pen", 3),
	    RMQ_PASSWD_BAD_PASSWORD);
	struct rmq_scram_creds got;
	cr_assert_eq(rmq_passwd_scram(p, "user", 4, &got), 0);
	cr_assert_eq(got.iterations, 4096);
	cr_assert_eq(got.salt_len, 16);
	cr_assert_arr_eq(got.stored_key, c.stored_key, 32);
	cr_assert_arr_eq(got.server_key, c.server_key, 32);
	/* A $7$ user has nothing SCRAM can use; nobody has nothing. */
	cr_assert_eq(rmq_passwd_scram(p, "alice", 5, &got), -EPERM);
	cr_assert_eq(rmq_passwd_scram(p, "nobody", 6, &got), -ENOENT);
	rmq_passwd_free(p);

	/* `ringmq passwd -S` writes one that loads and checks. */
	cr_assert_eq(rmq_passwd_update_file_as(path, "sam", "pw", 64, 1, err,
			 sizeof(err)),
	    0, "%s", err);
	char *t = read_text(path);
	cr_assert(strstr(t, "\nsam:$scram-sha-256$64$") != NULL, "%s", t);
	free(t);
	cr_assert_eq(rmq_passwd_load(path, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rmq_passwd_check(p, "sam", 3, "pw", 2), RMQ_PASSWD_OK);
	cr_assert_eq(rmq_passwd_scram(p, "sam", 3, &got), 0);
	cr_assert_eq(got.iterations, 64);
	rmq_passwd_free(p);
}
