/* test/support/rmq_test_scram.h: the client's side of SCRAM-SHA-256
 * (RFC 5802, RFC 7677), written apart from the broker's so that tests of
 * broker/auth/scram.c and of enhanced authentication talk to it as a
 * client would. */
#ifndef RMQ_TEST_SCRAM_H
#define RMQ_TEST_SCRAM_H

#include <stddef.h>
#include <stdint.h>

struct rmq_test_scram {
	char cfirst_bare[512];
	char cnonce[128];
	uint8_t server_sig[32]; /* what the server-final must say */
};

/* "n,,n=USER,r=CNONCE" into out; its length. */
size_t rmq_test_scram_first(struct rmq_test_scram *c, const char *user,
    const char *cnonce, char *out, size_t cap);

/* The client-final for server-first sf[0..n) and password pw, into out;
 * its length, or 0 when sf is not a server-first for this nonce. */
size_t rmq_test_scram_final(struct rmq_test_scram *c, const char *pw,
    const char *sf, size_t n, char *out, size_t cap);

/* Whether sfinal[0..n) is "v=" and the server's signature. */
int rmq_test_scram_verify(const struct rmq_test_scram *c, const char *sfinal,
    size_t n);

#endif
