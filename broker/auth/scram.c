/* broker/auth/scram.c: SCRAM-SHA-256, the server's side (scram.h).
 *
 * The messages are RFC 5802's attribute lists, "a=value,b=value", read
 * here strictly: every attribute in its place, base64 in its one
 * canonical spelling, nonces printable.  The AuthMessage the proofs sign
 * is kept as it was sent, byte for byte.
 */
#include "scram.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SCRAM_NONCE_RAW 18 /* 24 characters of base64 */

struct rmq_scram {
	char *user; /* unescaped, NUL-terminated */
	size_t user_len;
	char *gs2; /* the gs2 header, as sent */
	size_t gs2_len;
	char *cfirst_bare; /* client-first-bare, as sent */
	size_t cfirst_len;
	char *cnonce;
	char *nonce; /* client's and server's */
	char *sfirst; /* server-first, as sent */
	size_t sfirst_len;
	char *sfinal;
	size_t sfinal_len;
	struct rmq_scram_creds creds;
};

/* ---- primitives ---- */

static int
scram_hmac(const uint8_t *key, size_t klen, const void *msg, size_t mlen,
    uint8_t out[RMQ_SCRAM_KEY_LEN])
{
	unsigned int n = 0;
	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) != NULL &&
		n == RMQ_SCRAM_KEY_LEN
	    ? 0
	    : -EIO;
}

/* Padded standard base64 of in[0..n) into a new string. */
static char *
scram_b64(const uint8_t *in, size_t n)
{
	char *s = malloc((n + 2) / 3 * 4 + 1);
	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, in, (int)n);
	return s;
}

/* Decode s[0..n), padded standard base64, into out (room for cap bytes);
 * only the canonical spelling passes.  Returns the length or -1. */
static int
scram_unb64(const char *s, size_t n, uint8_t *out, size_t cap)
{
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap + 2 || n > 1024)
		return -1;
	uint8_t tmp[768];
	int len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (len < 0)
		return -1;
	len -= (s[n - 1] == '=') + (s[n - 1] == '=' && s[n - 2] == '=');
	if (len <= 0 || (size_t)len > cap)
		return -1;
	char again[1025];
	if (EVP_EncodeBlock((unsigned char *)again, tmp, len) != (int)n ||
	    memcmp(again, s, n) != 0)
		return -1;
	memcpy(out, tmp, (size_t)len);
	return len;
}

static char *
scram_dup(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* A nonce: printable ASCII but ',' (RFC 5802 section 7). */
static int
scram_nonce_ok(const char *p, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return 0;
	return 1;
}

int
rmq_scram_derive(const char *pw, size_t pwlen, const uint8_t *salt,
    size_t salt_len, uint32_t iterations, struct rmq_scram_creds *out)
{
	uint8_t salted[RMQ_SCRAM_KEY_LEN], client_key[RMQ_SCRAM_KEY_LEN];
	if (salt_len == 0 || salt_len > RMQ_SCRAM_SALT_MAX || iterations == 0 ||
	    iterations > 0x7fffffff || pwlen > 0x7fffffff)
		return -EINVAL;
	if (pw == NULL)
		pw = "";
	int rc =
	    PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)salt_len,
		(int)iterations, EVP_sha256(), RMQ_SCRAM_KEY_LEN, salted) == 1
	    ? 0
	    : -EIO;
	if (rc == 0)
		rc = scram_hmac(salted, sizeof(salted), "Client Key", 10,
		    client_key);
	if (rc == 0 &&
	    SHA256(client_key, sizeof(client_key), out->stored_key) == NULL)
		rc = -EIO;
	if (rc == 0)
		rc = scram_hmac(salted, sizeof(salted), "Server Key", 10,
		    out->server_key);
	out->iterations = iterations;
	out->salt_len = (uint8_t)salt_len;
	memcpy(out->salt, salt, salt_len);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return rc;
}

static uint8_t scram_secret[32];
static pthread_once_t scram_secret_once = PTHREAD_ONCE_INIT;

static void
scram_secret_init(void)
{
	if (RAND_bytes(scram_secret, sizeof(scram_secret)) != 1)
		abort(); /* no randomness: nothing secure can be done */
}

void
rmq_scram_mock(const char *user, size_t ulen, struct rmq_scram_creds *out)
{
	uint8_t h[RMQ_SCRAM_KEY_LEN];
	pthread_once(&scram_secret_once, scram_secret_init);
	char *m = malloc(ulen + 8);
	memset(out, 0, sizeof(*out));
	out->iterations = RMQ_SCRAM_DEFAULT_ITERATIONS;
	out->salt_len = 16;
	if (m == NULL) {
		RAND_bytes(out->salt, 16);
		RAND_bytes(out->stored_key, RMQ_SCRAM_KEY_LEN);
		RAND_bytes(out->server_key, RMQ_SCRAM_KEY_LEN);
		return;
	}
	memcpy(m, "salt:", 5);
	memcpy(m + 5, user, ulen);
	scram_hmac(scram_secret, sizeof(scram_secret), m, ulen + 5, h);
	memcpy(out->salt, h, 16);
	/* Keys no password gives: random ones, new each time (they are
	 * never shown, so nothing tells them apart from real ones). */
	RAND_bytes(out->stored_key, RMQ_SCRAM_KEY_LEN);
	RAND_bytes(out->server_key, RMQ_SCRAM_KEY_LEN);
	free(m);
}

/* ---- the exchange ---- */

void
rmq_scram_free(struct rmq_scram *st)
{
	if (st == NULL)
		return;
	free(st->user);
	free(st->gs2);
	free(st->cfirst_bare);
	free(st->cnonce);
	free(st->nonce);
	free(st->sfirst);
	free(st->sfinal);
	OPENSSL_cleanse(&st->creds, sizeof(st->creds));
	free(st);
}

/* "n=" saslname: ",", "=" written =2C, =3D; anything else after '='
 * is an error.  Returns the length written to out, or -1. */
static long
scram_unescape(const char *p, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\0' || p[i] == ',')
			return -1;
		if (p[i] != '=') {
			out[k++] = p[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		if (p[i + 1] == '2' && p[i + 2] == 'C')
			out[k++] = ',';
		else if (p[i + 1] == '3' && p[i + 2] == 'D')
			out[k++] = '=';
		else
			return -1;
		i += 2;
	}
	return (long)k;
}

int
rmq_scram_start(const uint8_t *msg, size_t n, struct rmq_scram **out)
{
	const char *m = (const char *)msg;
	if (msg == NULL || n < 8 || n > RMQ_SCRAM_MSG_MAX ||
	    memchr(m, '\0', n) != NULL)
		return -EINVAL;
	/* gs2-header: "n,," or "y,,"; "p=..." requires channel binding,
	 * "a=..." names an authorization identity. */
	if (m[0] == 'p')
		return -EOPNOTSUPP;
	if ((m[0] != 'n' && m[0] != 'y') || m[1] != ',')
		return -EINVAL;
	if (m[2] != ',')
		return m[2] == 'a' ? -EOPNOTSUPP : -EINVAL;
	const char *bare = m + 3, *end = m + n;
	size_t bare_len = n - 3;
	/* client-first-bare: [m=...,] n=user,r=nonce[,ext...] */
	if (bare_len >= 2 && bare[0] == 'm' && bare[1] == '=')
		return -EOPNOTSUPP;
	if (bare_len < 2 || bare[0] != 'n' || bare[1] != '=')
		return -EINVAL;
	const char *u = bare + 2;
	const char *comma = memchr(u, ',', (size_t)(end - u));
	if (comma == NULL || comma == u)
		return -EINVAL;
	const char *r = comma + 1;
	if (end - r < 3 || r[0] != 'r' || r[1] != '=')
		return -EINVAL;
	const char *rn = r + 2;
	const char *rend = memchr(rn, ',', (size_t)(end - rn));
	if (rend == NULL)
		rend = end;
	if (!scram_nonce_ok(rn, (size_t)(rend - rn)))
		return -EINVAL;
	struct rmq_scram *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->user = malloc((size_t)(comma - u) + 1);
	st->gs2 = scram_dup(m, 3);
	st->gs2_len = 3;
	st->cfirst_bare = scram_dup(bare, bare_len);
	st->cfirst_len = bare_len;
	st->cnonce = scram_dup(rn, (size_t)(rend - rn));
	if (st->user == NULL || st->gs2 == NULL || st->cfirst_bare == NULL ||
	    st->cnonce == NULL) {
		rmq_scram_free(st);
		return -ENOMEM;
	}
	long ul = scram_unescape(u, (size_t)(comma - u), st->user);
	if (ul <= 0) {
		rmq_scram_free(st);
		return -EINVAL;
	}
	st->user[ul] = '\0';
	st->user_len = (size_t)ul;
	*out = st;
	return 0;
}

const char *
rmq_scram_user(const struct rmq_scram *st, size_t *len)
{
	*len = st->user_len;
	return st->user;
}

int
rmq_scram_server_first(struct rmq_scram *st,
    const struct rmq_scram_creds *creds, const char *nonce, const char **out,
    size_t *outlen)
{
	char *snonce = NULL;
	if (nonce == NULL) {
		uint8_t raw[SCRAM_NONCE_RAW];
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return -EIO;
		snonce = scram_b64(raw, sizeof(raw));
	} else {
		snonce = scram_dup(nonce, strlen(nonce));
	}
	char *salt = scram_b64(creds->salt, creds->salt_len);
	size_t cn = strlen(st->cnonce), sn = snonce ? strlen(snonce) : 0;
	free(st->nonce);
	free(st->sfirst);
	st->nonce = snonce ? malloc(cn + sn + 1) : NULL;
	st->sfirst =
	    salt && st->nonce ? malloc(cn + sn + strlen(salt) + 32) : NULL;
	if (st->sfirst == NULL) {
		free(snonce);
		free(salt);
		return -ENOMEM;
	}
	memcpy(st->nonce, st->cnonce, cn);
	memcpy(st->nonce + cn, snonce, sn + 1);
	int k = sprintf(st->sfirst, "r=%s,s=%s,i=%u", st->nonce, salt,
	    creds->iterations);
	free(snonce);
	free(salt);
	st->sfirst_len = (size_t)k;
	st->creds = *creds;
	*out = st->sfirst;
	*outlen = st->sfirst_len;
	return 0;
}

int
rmq_scram_finish(struct rmq_scram *st, const uint8_t *msg, size_t n,
    const char **out, size_t *outlen)
{
	const char *m = (const char *)msg;
	if (st->sfirst == NULL || msg == NULL || n > RMQ_SCRAM_MSG_MAX ||
	    memchr(m, '\0', n) != NULL)
		return -EINVAL;
	/* c=base64(gs2 header),r=nonce[,ext...],p=proof */
	char *cb = scram_b64((const uint8_t *)st->gs2, st->gs2_len);
	if (cb == NULL)
		return -ENOMEM;
	size_t cbl = strlen(cb), nl = strlen(st->nonce);
	int ok = n > 2 + cbl + 3 + nl && memcmp(m, "c=", 2) == 0 &&
	    memcmp(m + 2, cb, cbl) == 0 && m[2 + cbl] == ',' &&
	    memcmp(m + 3 + cbl, "r=", 2) == 0 &&
	    memcmp(m + 5 + cbl, st->nonce, nl) == 0 && m[5 + cbl + nl] == ',';
	free(cb);
	if (!ok)
		return -EINVAL;
	/* The proof is the last attribute. */
	const char *p = NULL;
	for (size_t i = n; i-- > 0;)
		if (m[i] == ',') {
			p = m + i;
			break;
		}
	if (p == NULL || (size_t)(m + n - p) < 4 || p[1] != 'p' || p[2] != '=')
		return -EINVAL;
	uint8_t proof[RMQ_SCRAM_KEY_LEN];
	if (scram_unb64(p + 3, (size_t)(m + n - p - 3), proof, sizeof(proof)) !=
	    RMQ_SCRAM_KEY_LEN)
		return -EINVAL;
	size_t without = (size_t)(p - m);
	/* AuthMessage = client-first-bare "," server-first ","
	 * client-final-without-proof */
	size_t alen = st->cfirst_len + 1 + st->sfirst_len + 1 + without;
	char *auth = malloc(alen);
	if (auth == NULL)
		return -ENOMEM;
	memcpy(auth, st->cfirst_bare, st->cfirst_len);
	auth[st->cfirst_len] = ',';
	memcpy(auth + st->cfirst_len + 1, st->sfirst, st->sfirst_len);
	auth[st->cfirst_len + 1 + st->sfirst_len] = ',';
	memcpy(auth + st->cfirst_len + 2 + st->sfirst_len, m, without);
	uint8_t sig[RMQ_SCRAM_KEY_LEN], key[RMQ_SCRAM_KEY_LEN];
	uint8_t stored[RMQ_SCRAM_KEY_LEN], server_sig[RMQ_SCRAM_KEY_LEN];
	int rc = scram_hmac(st->creds.stored_key, RMQ_SCRAM_KEY_LEN, auth, alen,
	    sig);
	for (size_t i = 0; i < RMQ_SCRAM_KEY_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	if (rc == 0 && SHA256(key, sizeof(key), stored) == NULL)
		rc = -EIO;
	if (rc == 0 &&
	    CRYPTO_memcmp(stored, st->creds.stored_key, RMQ_SCRAM_KEY_LEN) != 0)
		rc = -EACCES;
	if (rc == 0)
		rc = scram_hmac(st->creds.server_key, RMQ_SCRAM_KEY_LEN, auth,
		    alen, server_sig);
	free(auth);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != 0)
		return rc;
	char *v = scram_b64(server_sig, sizeof(server_sig));
	free(st->sfinal);
	st->sfinal = v ? malloc(strlen(v) + 3) : NULL;
	if (st->sfinal == NULL) {
		free(v);
		return -ENOMEM;
	}
	st->sfinal_len = (size_t)sprintf(st->sfinal, "v=%s", v);
	free(v);
	*out = st->sfinal;
	*outlen = st->sfinal_len;
	return 0;
}
