/* test/broker/auth/test_scram.c: SCRAM-SHA-256's server side
 * (broker/auth/scram.c): RFC 7677's example exchange byte for byte, a
 * wrong password, messages that are not SCRAM's, what is not offered,
 * and made-up credentials for unknown users. */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "rmq_test_scram.h"
#include "scram.h"

#define S(lit) (const uint8_t *)(lit), strlen(lit)

/* RFC 7677 section 3: user "user", password "pencil". */
static const char rfc_cfirst[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char rfc_snonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
static const char rfc_sfirst[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char rfc_cfinal[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char rfc_sfinal[] =
    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

static struct rmq_scram_creds
rfc_creds(const char *pw)
{
	uint8_t salt[32];
	int n = EVP_DecodeBlock(salt,
	    (const unsigned char *)"W22ZaJ0SNY7soEsUEjb6gQ==", 24);
	cr_assert_eq(n, 18); /* 16 bytes and two of padding */
	struct rmq_scram_creds c;
	cr_assert_eq(rmq_scram_derive(pw, strlen(pw), salt, 16, 4096, &c), 0);
	return c;
}

Test(scram, rfc7677_example_exchange)
{
	struct rmq_scram_creds creds = rfc_creds("pencil");
	struct rmq_scram *st = NULL;
	cr_assert_eq(rmq_scram_start(S(rfc_cfirst), &st), 0);
	size_t ulen;
	const char *user = rmq_scram_user(st, &ulen);
	cr_assert(ulen == 4 && memcmp(user, "user", 4) == 0);
	const char *out;
	size_t n;
	cr_assert_eq(rmq_scram_server_first(st, &creds, rfc_snonce, &out, &n),
	    0);
	cr_assert(n == strlen(rfc_sfirst) && memcmp(out, rfc_sfirst, n) == 0,
	    "server-first %.*s", (int)n, out);
	cr_assert_eq(rmq_scram_finish(st, S(rfc_cfinal), &out, &n), 0);
	cr_assert(n == strlen(rfc_sfinal) && memcmp(out, rfc_sfinal, n) == 0,
	    "server-final %.*s", (int)n, out);
	rmq_scram_free(st);
}

/* The test's client, with password pw, against the server holding the
 * RFC's credentials ("pencil"): rmq_scram_finish's result, and whether
 * the client then found the server's signature right. */
static int
exchange(const char *pw, int *server_verified)
{
	struct rmq_scram_creds creds = rfc_creds("pencil");
	struct rmq_test_scram c;
	char first[256], final[512];
	size_t n = rmq_test_scram_first(&c, "user", "fyko+d2lbbFgONRv9qkxdawL",
	    first, sizeof(first));
	struct rmq_scram *st = NULL;
	cr_assert_eq(rmq_scram_start((const uint8_t *)first, n, &st), 0);
	const char *sf, *v = NULL;
	size_t sfn, vn = 0;
	cr_assert_eq(rmq_scram_server_first(st, &creds, NULL, &sf, &sfn), 0);
	size_t fn = rmq_test_scram_final(&c, pw, sf, sfn, final, sizeof(final));
	cr_assert_gt(fn, 0);
	int rc = rmq_scram_finish(st, (const uint8_t *) final, fn, &v, &vn);
	*server_verified = rc == 0 && rmq_test_scram_verify(&c, v, vn);
	rmq_scram_free(st);
	return rc;
}

Test(scram, the_test_client_against_the_server_with_a_random_nonce)
{
	int verified;
	cr_assert_eq(exchange("pencil", &verified), 0);
	cr_assert(verified, "the client checks the server's signature");
}

Test(scram, a_wrong_password_fails_at_the_proof)
{
	int verified;
	cr_assert_eq(exchange("pen", &verified), -EACCES);
}

Test(scram, client_first_messages_that_are_refused)
{
	struct rmq_scram *st = NULL;
	/* Not SCRAM at all, a missing nonce, a bad escape, a NUL. */
	cr_assert_eq(rmq_scram_start(S("hello"), &st), -EINVAL);
	cr_assert_eq(rmq_scram_start(S("n,,n=user"), &st), -EINVAL);
	cr_assert_eq(rmq_scram_start(S("n,,n=us=2Xer,r=abc"), &st), -EINVAL);
	cr_assert_eq(rmq_scram_start(S("n,,n=,r=abc"), &st), -EINVAL);
	cr_assert_eq(rmq_scram_start((const uint8_t *)"n,,n=u\0,r=abc", 13,
			 &st),
	    -EINVAL);
	/* What is not offered: channel binding required, an
	 * authorization identity, a mandatory extension. */
	cr_assert_eq(rmq_scram_start(S("p=tls-unique,,n=user,r=abc"), &st),
	    -EOPNOTSUPP);
	cr_assert_eq(rmq_scram_start(S("n,a=admin,n=user,r=abc"), &st),
	    -EOPNOTSUPP);
	cr_assert_eq(rmq_scram_start(S("n,,m=x,n=user,r=abc"), &st),
	    -EOPNOTSUPP);
	/* "y": the client could bind but thinks the server cannot. */
	cr_assert_eq(rmq_scram_start(S("y,,n=a=2Cb=3Dc,r=abc"), &st), 0);
	size_t ulen;
	const char *u = rmq_scram_user(st, &ulen);
	cr_assert(ulen == 5 && memcmp(u, "a,b=c", 5) == 0, "unescaped name");
	rmq_scram_free(st);
}

Test(scram, client_final_messages_of_another_exchange_are_refused)
{
	struct rmq_scram_creds creds = rfc_creds("pencil");
	struct rmq_scram *st = NULL;
	cr_assert_eq(rmq_scram_start(S(rfc_cfirst), &st), 0);
	const char *out;
	size_t n;
	cr_assert_eq(rmq_scram_server_first(st, &creds, "other", &out, &n), 0);
	/* The RFC's final names the RFC's server nonce, not this one. */
	cr_assert_eq(rmq_scram_finish(st, S(rfc_cfinal), &out, &n), -EINVAL);
	cr_assert_eq(rmq_scram_finish(st,
			 S("c=eSws,r=rOprNGfwEbeRWgbNEkqOother,p=AAAA"), &out,
			 &n),
	    -EINVAL);
	cr_assert_eq(rmq_scram_finish(st,
			 S("c=biws,r=rOprNGfwEbeRWgbNEkqOother,p=###"), &out,
			 &n),
	    -EINVAL);
	rmq_scram_free(st);
}

Test(scram, unknown_users_get_the_same_made_up_salt_each_time)
{
	struct rmq_scram_creds a, b, c;
	rmq_scram_mock("nobody", 6, &a);
	rmq_scram_mock("nobody", 6, &b);
	rmq_scram_mock("someone", 7, &c);
	cr_assert_eq(a.salt_len, 16);
	cr_assert_eq(a.iterations, RMQ_SCRAM_DEFAULT_ITERATIONS);
	cr_assert_arr_eq(a.salt, b.salt, 16, "asked twice, the same salt");
	cr_assert(memcmp(a.salt, c.salt, 16) != 0);
}
