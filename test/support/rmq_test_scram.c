/* test/support/rmq_test_scram.c: a SCRAM-SHA-256 client (rmq_test_scram.h). */
#include "rmq_test_scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
rmq_test_scram_first(struct rmq_test_scram *c, const char *user,
    const char *cnonce, char *out, size_t cap)
{
	snprintf(c->cnonce, sizeof(c->cnonce), "%s", cnonce);
	snprintf(c->cfirst_bare, sizeof(c->cfirst_bare), "n=%s,r=%s", user,
	    cnonce);
	int n = snprintf(out, cap, "n,,%s", c->cfirst_bare);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void
hmac(const uint8_t *key, size_t klen, const void *m, size_t n, uint8_t *out)
{
	unsigned int len = 0;
	HMAC(EVP_sha256(), key, (int)klen, m, n, out, &len);
}

size_t
rmq_test_scram_final(struct rmq_test_scram *c, const char *pw, const char *sf,
    size_t n, char *out, size_t cap)
{
	char s[512], nonce[256], salt64[128];
	unsigned iter = 0;
	if (n >= sizeof(s))
		return 0;
	memcpy(s, sf, n);
	s[n] = '\0';
	if (sscanf(s, "r=%255[^,],s=%127[^,],i=%u", nonce, salt64, &iter) !=
		3 ||
	    strncmp(nonce, c->cnonce, strlen(c->cnonce)) != 0)
		return 0;
	uint8_t salt[96];
	int sl = EVP_DecodeBlock(salt, (const unsigned char *)salt64,
	    (int)strlen(salt64));
	if (sl < 0)
		return 0;
	sl -= (salt64[strlen(salt64) - 1] == '=') +
	    (salt64[strlen(salt64) - 2] == '=');
	uint8_t salted[32], ckey[32], stored[32], csig[32], proof[32], skey[32];
	PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sl, (int)iter,
	    EVP_sha256(), 32, salted);
	hmac(salted, 32, "Client Key", 10, ckey);
	SHA256(ckey, 32, stored);
	char without[512];
	snprintf(without, sizeof(without), "c=biws,r=%s", nonce);
	char auth[2048];
	int al = snprintf(auth, sizeof(auth), "%s,%s,%s", c->cfirst_bare, s,
	    without);
	hmac(stored, 32, auth, (size_t)al, csig);
	for (int i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ csig[i];
	hmac(salted, 32, "Server Key", 10, skey);
	hmac(skey, 32, auth, (size_t)al, c->server_sig);
	char p64[64];
	EVP_EncodeBlock((unsigned char *)p64, proof, 32);
	int k = snprintf(out, cap, "%s,p=%s", without, p64);
	return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

int
rmq_test_scram_verify(const struct rmq_test_scram *c, const char *sfinal,
    size_t n)
{
	char v64[64], want[80];
	EVP_EncodeBlock((unsigned char *)v64, c->server_sig, 32);
	int k = snprintf(want, sizeof(want), "v=%s", v64);
	return (size_t)k == n && memcmp(want, sfinal, n) == 0;
}
