/* broker/auth/passwd.c: the password file (passwd.h): parsing it into a
 * table, checking passwords against it, making new hashes and rewriting
 * the file for `ringmq passwd`.
 *
 * The format is what Mosquitto 2 reads and mosquitto_passwd writes, made
 * strict: where Mosquitto drops a line it cannot use with a warning (and
 * so refuses a user without saying why at CONNECT), a load here fails on
 * the first such line and names it.  The table maps user names (core's
 * strmap, read-only once built) to decoded salts and hashes.
 */
#include "passwd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grow.h"
#include "readfile.h"
#include "scram.h"
#include "strmap.h"
#include "utf8.h"

#define PASSWD_HASH_LEN 64 /* SHA-512's output, both formats */
#define PASSWD_SALT_LEN 12 /* what mosquitto_passwd 2.0 makes */
#define PASSWD_SALT_MAX 64 /* what Mosquitto 2.1 makes and reads */
#define PASSWD_B64_MAX 88 /* base64 of 64 bytes, padded */
#define PASSWD_FILE_MAX RMQ_READFILE_MAX
#define PASSWD_PW_MAX 65535 /* an MQTT password's longest */
#define PASSWD_SCRAM_SALT_LEN 16 /* what `ringmq passwd -S` makes */

enum passwd_type {
	PASSWD_SHA512 = 6, /* $6$: SHA-512(password || salt) */
	PASSWD_PBKDF2 = 7, /* $7$: PBKDF2-HMAC-SHA512 */
	/* $scram-sha-256$: RFC 5802's StoredKey and ServerKey, in hash[] */
	PASSWD_SCRAM = 8,
};

struct passwd_entry {
	uint8_t type; /* enum passwd_type */
	uint8_t salt_len;
	uint32_t iterations; /* $7$ only */
	uint32_t line; /* where it was, for a duplicate's message */
	uint8_t salt[PASSWD_SALT_MAX];
	uint8_t hash[PASSWD_HASH_LEN];
};

struct rmq_passwd {
	/* User name -> index + 1 into e[].  Only rmq_strmap_get() runs
	 * once loaded, and it writes nothing, so threads share it. */
	struct rmq_strmap users;
	struct passwd_entry *e;
	uint32_t n, cap;
	/* What an unknown user is hashed against. */
	struct passwd_entry dummy;
};

struct passwd_span {
	const char *p;
	size_t n;
};

/* ---- the text: lines, blanks, base64 ---- */

/* isspace() in the C locale, as Mosquitto's trimming uses. */
static bool
passwd_blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static struct passwd_span
passwd_trim(const char *p, size_t n)
{
	while (n > 0 && passwd_blank(p[0]))
		p++, n--;
	while (n > 0 && passwd_blank(p[n - 1]))
		n--;
	return (struct passwd_span){ p, n };
}

struct passwd_line {
	const char *p; /* without its '\n' */
	size_t n;
	bool nl; /* it had one (the last line may not) */
};

static bool
passwd_next_line(const char *buf, size_t len, size_t *pos,
    struct passwd_line *l)
{
	if (*pos >= len)
		return false;
	const char *s = buf + *pos;
	const char *e = memchr(s, '\n', len - *pos);
	l->p = s;
	l->n = e ? (size_t)(e - s) : len - *pos;
	l->nl = e != NULL;
	*pos += l->n + l->nl;
	return true;
}

enum passwd_kind { PASSWD_SKIP, PASSWD_ENTRY, PASSWD_NO_COLON };

/* Split a line at its first ':' into the user name and the hash, both
 * trimmed.  A user name cannot hold ':' (mosquitto_passwd refuses one),
 * so the first ':' is the separator; a second one ends up in the hash,
 * which rejects it. */
static enum passwd_kind
passwd_split(const struct passwd_line *l, struct passwd_span *user,
    struct passwd_span *hash)
{
	struct passwd_span s = passwd_trim(l->p, l->n);
	if (s.n == 0 || s.p[0] == '#')
		return PASSWD_SKIP;
	const char *colon = memchr(s.p, ':', s.n);
	if (colon == NULL)
		return PASSWD_NO_COLON;
	*user = passwd_trim(s.p, (size_t)(colon - s.p));
	*hash = passwd_trim(colon + 1, s.n - (size_t)(colon - s.p) - 1);
	return PASSWD_ENTRY;
}

/* Why a user name cannot be in the file, or NULL if it can. */
static const char *
passwd_user_invalid(const char *u, size_t n)
{
	if (n == 0)
		return "empty user name";
	if (n > RMQ_PASSWD_USER_MAX)
		return "user name longer than 65535 bytes";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
			return "user name holds a control character";
	if (!rmq_utf8_valid(u, n))
		return "user name is not valid UTF-8";
	return NULL;
}

/* Decode padded standard base64 into out (room for 66 bytes).  OpenSSL's
 * EVP_DecodeBlock() takes "QQ=A" and "Q===" and counts padding as data,
 * so what it gives is encoded again and must be the same text: only the
 * one canonical spelling of a value passes.  Returns the length or -1. */
static int
passwd_b64_decode(const char *s, size_t n, uint8_t *out)
{
	char again[PASSWD_B64_MAX + 1];
	if (n == 0 || n > PASSWD_B64_MAX || n % 4 != 0)
		return -1;
	int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (len < 0)
		return -1;
	int pad = (s[n - 1] == '=') + (s[n - 1] == '=' && s[n - 2] == '=');
	len -= pad;
	if (len <= 0 ||
	    EVP_EncodeBlock((unsigned char *)again, out, len) != (int)n ||
	    memcmp(again, s, n) != 0)
		return -1;
	return len;
}

/* Decode the salt or hash field f into out, its length into *len, or say
 * why not.  Too long is said only of what could be base64, so that a
 * stray ':' or '$' is called what it is. */
static const char *
passwd_b64_field(struct passwd_span f, const char *what, uint8_t *out, int *len,
    char *why, size_t whylen)
{
	bool alphabet = true;
	for (size_t i = 0; i < f.n && alphabet; i++) {
		char c = f.p[i];
		alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
	}
	if (alphabet && f.n > PASSWD_B64_MAX) {
		snprintf(why, whylen, "%s longer than 64 bytes", what);
		return why;
	}
	*len = alphabet ? passwd_b64_decode(f.p, f.n, out) : -1;
	if (*len < 0) {
		snprintf(why, whylen, "%s is not valid base64", what);
		return why;
	}
	return NULL;
}

/* ---- hashes ---- */

/* An iteration count: digits, 1 to RMQ_PASSWD_MAX_ITERATIONS. */
static const char *
passwd_iterations(struct passwd_span f, uint32_t *out)
{
	uint64_t it = 0;
	if (f.n == 0)
		return "iteration count is not a number";
	for (size_t i = 0; i < f.n; i++) {
		if (f.p[i] < '0' || f.p[i] > '9')
			return "iteration count is not a number";
		if (it <= RMQ_PASSWD_MAX_ITERATIONS)
			it = it * 10 + (uint64_t)(f.p[i] - '0');
	}
	if (it < 1 || it > RMQ_PASSWD_MAX_ITERATIONS)
		return "iteration count out of bounds 1..10000000";
	*out = (uint32_t)it;
	return NULL;
}

/* $scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY (f[0] is the type;
 * salt 1 to 64 bytes, keys 32). */
static const char *
passwd_parse_scram(const struct passwd_span *f, size_t nf,
    struct passwd_entry *e, char *why, size_t whylen)
{
	if (nf != 5)
		return "malformed $scram-sha-256$ entry (want $scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY)";
	e->type = PASSWD_SCRAM;
	const char *bad = passwd_iterations(f[1], &e->iterations);
	if (bad != NULL)
		return bad;
	uint8_t buf[PASSWD_B64_MAX / 4 * 3];
	int len;
	bad = passwd_b64_field(f[2], "salt", buf, &len, why, whylen);
	if (bad != NULL)
		return bad;
	memcpy(e->salt, buf, (size_t)len);
	e->salt_len = (uint8_t)len;
	for (int k = 0; k < 2; k++) {
		bad = passwd_b64_field(f[3 + k], k ? "ServerKey" : "StoredKey",
		    buf, &len, why, whylen);
		if (bad != NULL)
			return bad;
		if (len != RMQ_SCRAM_KEY_LEN) {
			snprintf(why, whylen, "%s is %d bytes, not 32",
			    k ? "ServerKey" : "StoredKey", len);
			return why;
		}
		memcpy(e->hash + k * RMQ_SCRAM_KEY_LEN, buf, RMQ_SCRAM_KEY_LEN);
	}
	return NULL;
}

/* Parse the hash field into e, or say why not (the text never goes into
 * the reason: it may be a password typed in the clear). */
static const char *
passwd_parse_hash(struct passwd_span h, struct passwd_entry *e, char *why,
    size_t whylen)
{
	struct passwd_span f[6];
	size_t nf = 0;
	if (h.n == 0)
		return "no hash after ':'";
	if (h.p[0] != '$')
		goto unknown;
	/* The fields between the '$'s; a sixth means too many. */
	for (size_t i = 1, start = 1; i <= h.n && nf < 6; i++) {
		if (i == h.n || h.p[i] == '$') {
			f[nf++] =
			    (struct passwd_span){ h.p + start, i - start };
			start = i + 1;
		}
	}
	if (f[0].n == 13 && memcmp(f[0].p, "scram-sha-256", 13) == 0)
		return passwd_parse_scram(f, nf, e, why, whylen);
	if (f[0].n != 1 || (f[0].p[0] != '6' && f[0].p[0] != '7'))
		goto unknown;
	e->type = (uint8_t)(f[0].p[0] - '0');
	size_t want = e->type == PASSWD_PBKDF2 ? 4 : 3;
	if (nf != want)
		return e->type == PASSWD_PBKDF2
		    ? "malformed $7$ hash (want $7$ITERATIONS$SALT$HASH)"
		    : "malformed $6$ hash (want $6$SALT$HASH)";
	struct passwd_span salt = f[want - 2], hash = f[want - 1];

	e->iterations = 0;
	if (e->type == PASSWD_PBKDF2) {
		const char *bad = passwd_iterations(f[1], &e->iterations);
		if (bad != NULL)
			return bad;
	}

	uint8_t buf[PASSWD_B64_MAX / 4 * 3];
	int len;
	const char *bad =
	    passwd_b64_field(salt, "salt", buf, &len, why, whylen);
	if (bad != NULL)
		return bad;
	if (len != PASSWD_SALT_LEN && len != PASSWD_SALT_MAX) {
		snprintf(why, whylen, "salt is %d bytes, not 12 or 64", len);
		return why;
	}
	memcpy(e->salt, buf, (size_t)len);
	e->salt_len = (uint8_t)len;

	bad = passwd_b64_field(hash, "hash", buf, &len, why, whylen);
	if (bad != NULL)
		return bad;
	if (len != PASSWD_HASH_LEN) {
		snprintf(why, whylen, "hash is %d bytes, not 64", len);
		return why;
	}
	memcpy(e->hash, buf, PASSWD_HASH_LEN);
	return NULL;
unknown:
	return "unknown hash type (want $7$, $6$ or $scram-sha-256$; a file of plain-text passwords needs mosquitto_passwd -U)";
}

/* The hash of pw under e's type, salt and iterations. */
static int
passwd_digest(const struct passwd_entry *e, const char *pw, size_t pwlen,
    uint8_t out[PASSWD_HASH_LEN])
{
	if (pw == NULL)
		pw = "";
	if (pwlen > INT_MAX)
		return -1;
	if (e->type == PASSWD_SCRAM) {
		struct rmq_scram_creds c;
		int rc = rmq_scram_derive(pw, pwlen, e->salt, e->salt_len,
		    e->iterations, &c);
		memcpy(out, c.stored_key, RMQ_SCRAM_KEY_LEN);
		memcpy(out + RMQ_SCRAM_KEY_LEN, c.server_key,
		    RMQ_SCRAM_KEY_LEN);
		OPENSSL_cleanse(&c, sizeof(c));
		return rc == 0 ? 0 : -1;
	}
	if (e->type == PASSWD_PBKDF2)
		return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, e->salt, e->salt_len,
			   (int)e->iterations, EVP_sha512(), PASSWD_HASH_LEN,
			   out) == 1
		    ? 0
		    : -1;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha512(), NULL) == 1 &&
	    EVP_DigestUpdate(c, pw, pwlen) == 1 &&
	    EVP_DigestUpdate(c, e->salt, e->salt_len) == 1 &&
	    EVP_DigestFinal_ex(c, out, &n) == 1 && n == PASSWD_HASH_LEN;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* ---- reading a file ---- */

/* ---- the table ---- */

static int
passwd_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The dummy an unknown user is hashed against costs what most users
 * cost: the most common (type, iterations, salt length) in the file. */
static int
passwd_set_dummy(struct rmq_passwd *p)
{
	struct passwd_entry *d = &p->dummy;
	*d = (struct passwd_entry){ .type = PASSWD_PBKDF2,
		.salt_len = PASSWD_SALT_LEN,
		.iterations = RMQ_PASSWD_DEFAULT_ITERATIONS };
	if (p->n == 0)
		return 0;
	uint64_t *k = malloc((size_t)p->n * sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n; i++)
		k[i] = (uint64_t)p->e[i].type << 40 |
		    (uint64_t)p->e[i].salt_len << 32 | p->e[i].iterations;
	qsort(k, p->n, sizeof(*k), passwd_cmp_u64);
	uint64_t best = k[0];
	for (uint32_t i = 0, run = 0, most = 0; i < p->n; i++) {
		run = i > 0 && k[i] == k[i - 1] ? run + 1 : 1;
		if (run > most)
			most = run, best = k[i];
	}
	free(k);
	d->type = (uint8_t)(best >> 40);
	d->salt_len = (uint8_t)(best >> 32);
	d->iterations = (uint32_t)best;
	return 0;
}

int
rmq_passwd_load(const char *path, struct rmq_passwd **out, char *err,
    size_t errlen)
{
	int rc;
	char *buf = NULL;
	size_t len = 0, pos = 0;
	struct stat st;
	struct rmq_passwd *p = calloc(1, sizeof(*p));
	if (p == NULL || rmq_strmap_init(&p->users) != 0) {
		free(p);
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	rc = rmq_readfile(path, path, &buf, &len, &st, err, errlen);
	if (rc != 0)
		goto fail;

	struct passwd_line l;
	uint32_t line = 0;
	while (passwd_next_line(buf, len, &pos, &l)) {
		struct passwd_span user, hash;
		const char *why = NULL;
		char whybuf[64];
		line++;
		if (l.n > RMQ_PASSWD_LINE_MAX) {
			snprintf(whybuf, sizeof(whybuf),
			    "line longer than %u bytes", RMQ_PASSWD_LINE_MAX);
			why = whybuf;
			goto bad;
		}
		switch (passwd_split(&l, &user, &hash)) {
		case PASSWD_SKIP: continue;
		case PASSWD_NO_COLON:
			why = "no ':' between user name and hash";
			goto bad;
		case PASSWD_ENTRY: break;
		}
		why = passwd_user_invalid(user.p, user.n);
		if (why != NULL)
			goto bad;
		if (rmq_grow(&p->e, &p->cap, p->n + 1, sizeof(*p->e), 64,
			UINT32_MAX) != 0) {
			rc = -ENOMEM;
			snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
			goto fail;
		}
		struct passwd_entry *e = &p->e[p->n];
		e->line = line;
		why = passwd_parse_hash(hash, e, whybuf, sizeof(whybuf));
		if (why != NULL)
			goto bad;
		void *old = NULL;
		if (rmq_strmap_put(&p->users, user.p, user.n,
			(void *)(uintptr_t)(p->n + 1), &old) != 0) {
			rc = -ENOMEM;
			snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
			goto fail;
		}
		if (old != NULL) {
			snprintf(whybuf, sizeof(whybuf),
			    "duplicate user (first on line %u)",
			    p->e[(uintptr_t)old - 1].line);
			why = whybuf;
			goto bad;
		}
		p->n++;
		continue;
	bad:
		snprintf(err, errlen, "%s:%u: %s", path, line, why);
		rc = -EINVAL;
		goto fail;
	}
	rc = passwd_set_dummy(p);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto fail;
	}
	free(buf);
	*out = p;
	return 0;
fail:
	free(buf);
	rmq_passwd_free(p);
	return rc;
}

void
rmq_passwd_free(struct rmq_passwd *p)
{
	if (p == NULL)
		return;
	rmq_strmap_fini(&p->users);
	free(p->e);
	free(p);
}

size_t
rmq_passwd_count(const struct rmq_passwd *p)
{
	return p->n;
}

enum rmq_passwd_result
rmq_passwd_check(const struct rmq_passwd *p, const char *user, size_t ulen,
    const char *pw, size_t pwlen)
{
	uint8_t got[PASSWD_HASH_LEN];
	uintptr_t i = (uintptr_t)rmq_strmap_get(&p->users, user ? user : "",
	    user ? ulen : 0);
	const struct passwd_entry *e = i ? &p->e[i - 1] : &p->dummy;
	if (passwd_digest(e, pw, pwlen, got) != 0)
		return RMQ_PASSWD_FAILED;
	/* Compared even for the dummy, so both paths do the same work. */
	int differ = CRYPTO_memcmp(got, e->hash, PASSWD_HASH_LEN);
	OPENSSL_cleanse(got, sizeof(got));
	if (i == 0)
		return RMQ_PASSWD_NO_SUCH_USER;
	return differ ? RMQ_PASSWD_BAD_PASSWORD : RMQ_PASSWD_OK;
}

int
rmq_passwd_scram(const struct rmq_passwd *p, const char *user, size_t ulen,
    struct rmq_scram_creds *out)
{
	uintptr_t i = p ? (uintptr_t)rmq_strmap_get(&p->users, user, ulen) : 0;
	if (i == 0)
		return -ENOENT;
	const struct passwd_entry *e = &p->e[i - 1];
	if (e->type != PASSWD_SCRAM)
		return -EPERM;
	out->iterations = e->iterations;
	out->salt_len = e->salt_len;
	memcpy(out->salt, e->salt, e->salt_len);
	memcpy(out->stored_key, e->hash, RMQ_SCRAM_KEY_LEN);
	memcpy(out->server_key, e->hash + RMQ_SCRAM_KEY_LEN, RMQ_SCRAM_KEY_LEN);
	return 0;
}

int
rmq_passwd_hash_scram(const char *pw, size_t pwlen, unsigned iterations,
    char *out, size_t outlen)
{
	uint8_t salt[PASSWD_SCRAM_SALT_LEN];
	struct rmq_scram_creds c;
	char salt64[PASSWD_B64_MAX + 1], k1[PASSWD_B64_MAX + 1],
	    k2[PASSWD_B64_MAX + 1], line[RMQ_PASSWD_HASH_SIZE];
	if (iterations == 0)
		iterations = RMQ_SCRAM_DEFAULT_ITERATIONS;
	if (iterations > RMQ_PASSWD_MAX_ITERATIONS || pwlen > PASSWD_PW_MAX)
		return -EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    rmq_scram_derive(pw, pwlen, salt, sizeof(salt), iterations, &c) !=
		0)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)k1, c.stored_key, RMQ_SCRAM_KEY_LEN);
	EVP_EncodeBlock((unsigned char *)k2, c.server_key, RMQ_SCRAM_KEY_LEN);
	OPENSSL_cleanse(&c, sizeof(c));
	int n = snprintf(line, sizeof(line), "$scram-sha-256$%u$%s$%s$%s",
	    iterations, salt64, k1, k2);
	if (n < 0 || (size_t)n >= outlen)
		return -ENOSPC;
	memcpy(out, line, (size_t)n + 1);
	return 0;
}

int
rmq_passwd_hash(const char *pw, size_t pwlen, unsigned iterations, char *out,
    size_t outlen)
{
	struct passwd_entry e = { .type = PASSWD_PBKDF2,
		.salt_len = PASSWD_SALT_LEN };
	char salt64[PASSWD_B64_MAX + 1], hash64[PASSWD_B64_MAX + 1];
	char line[RMQ_PASSWD_HASH_SIZE];
	if (iterations == 0)
		iterations = RMQ_PASSWD_DEFAULT_ITERATIONS;
	if (iterations > RMQ_PASSWD_MAX_ITERATIONS || pwlen > PASSWD_PW_MAX)
		return -EINVAL;
	e.iterations = iterations;
	if (RAND_bytes(e.salt, PASSWD_SALT_LEN) != 1 ||
	    passwd_digest(&e, pw, pwlen, e.hash) != 0)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)salt64, e.salt, PASSWD_SALT_LEN);
	EVP_EncodeBlock((unsigned char *)hash64, e.hash, PASSWD_HASH_LEN);
	int n = snprintf(line, sizeof(line), "$7$%u$%s$%s", iterations, salt64,
	    hash64);
	if (n < 0 || (size_t)n >= outlen)
		return -ENOSPC;
	memcpy(out, line, (size_t)n + 1);
	return 0;
}

/* ---- rewriting the file ---- */

struct passwd_out {
	char *p;
	uint32_t len, cap;
};

static int
passwd_put(struct passwd_out *o, const void *p, size_t n)
{
	if (n > PASSWD_FILE_MAX - o->len ||
	    rmq_grow(&o->p, &o->cap, o->len + (uint32_t)n, 1, 4096,
		PASSWD_FILE_MAX) != 0)
		return -ENOMEM;
	memcpy(o->p + o->len, p, n);
	o->len += (uint32_t)n;
	return 0;
}

/* The user's new line, after a '\n' if the file's last line lacks one. */
static int
passwd_put_user(struct passwd_out *o, const char *user, const char *hash)
{
	if (o->len > 0 && o->p[o->len - 1] != '\n' && passwd_put(o, "\n", 1))
		return -ENOMEM;
	if (passwd_put(o, user, strlen(user)) || passwd_put(o, ":", 1) ||
	    passwd_put(o, hash, strlen(hash)) || passwd_put(o, "\n", 1))
		return -ENOMEM;
	return 0;
}

static int
passwd_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write o to tmp with the old file's mode and owner (st, or 0600 and
 * ours for a new file), sync it and rename it over real. */
static int
passwd_replace(const char *real, const char *tmp, const struct passwd_out *o,
    const struct stat *st, char *err, size_t errlen)
{
	int rc;
	const char *call = "open";
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		rc = -errno;
		if (rc == -EEXIST)
			snprintf(err, errlen,
			    "%s: %s (another update runs, or one was killed: remove it)",
			    tmp, strerror(EEXIST));
		else
			snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return rc;
	}
	/* The broker may run as another user than whoever edits its file
	 * (root with sudo): keep the owner if we may, then the mode, which
	 * open() left to the umask. */
	if (st != NULL && fchown(fd, st->st_uid, st->st_gid) != 0 &&
	    errno != EPERM)
		goto sys;
	call = "chmod";
	if (fchmod(fd, st ? st->st_mode & 07777 : 0600) != 0)
		goto sys;
	call = "write";
	rc = passwd_write_all(fd, o->p, o->len);
	if (rc != 0) {
		errno = -rc;
		goto sys;
	}
	call = "fsync";
	if (fsync(fd) != 0)
		goto sys;
	call = "close";
	rc = close(fd);
	fd = -1;
	if (rc != 0)
		goto sys;
	call = "rename";
	if (rename(tmp, real) != 0)
		goto sys;
	/* The rename lasts once the directory is synced.  The new file is
	 * in place either way, so a failure here is not one of the call. */
	char dir[PATH_MAX];
	const char *slash = strrchr(real, '/');
	snprintf(dir, sizeof(dir), "%.*s",
	    slash ? (int)(slash - real) + (slash == real) : 1,
	    slash ? real : ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
sys:
	rc = -errno;
	snprintf(err, errlen, "%s: %s: %s", tmp, call, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

/* Why update_file will not write this user name, or NULL.  Beyond what a
 * load accepts: what would not read back as the same name. */
static const char *
passwd_user_unwritable(const char *u, size_t n)
{
	const char *why = passwd_user_invalid(u, n);
	if (why != NULL)
		return why;
	if (memchr(u, ':', n) != NULL)
		return "user name holds ':'";
	if (passwd_blank(u[0]) || passwd_blank(u[n - 1]))
		return "user name starts or ends with a blank";
	if (u[0] == '#')
		return "user name starts with '#' (the line would be a comment)";
	return NULL;
}

int
rmq_passwd_update_file(const char *path, const char *user, const char *pw,
    unsigned iterations, char *err, size_t errlen)
{
	return rmq_passwd_update_file_as(path, user, pw, iterations, 0, err,
	    errlen);
}

int
rmq_passwd_update_file_as(const char *path, const char *user, const char *pw,
    unsigned iterations, int scram, char *err, size_t errlen)
{
	int rc;
	char *real = NULL, *tmp = NULL, *buf = NULL;
	size_t len = 0, pos = 0, ulen = strlen(user);
	struct stat st;
	struct passwd_out o = { 0 };
	char hash[RMQ_PASSWD_HASH_SIZE];
	const char *why = passwd_user_unwritable(user, ulen);
	if (why != NULL) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	if (iterations > RMQ_PASSWD_MAX_ITERATIONS) {
		snprintf(err, errlen,
		    "iteration count out of bounds 1..10000000");
		return -EINVAL;
	}
	if (pw != NULL && strlen(pw) > PASSWD_PW_MAX) {
		snprintf(err, errlen, "password longer than 65535 bytes");
		return -EINVAL;
	}
	if (pw != NULL &&
	    (scram ? rmq_passwd_hash_scram(pw, strlen(pw), iterations, hash,
			 sizeof(hash))
		   : rmq_passwd_hash(pw, strlen(pw), iterations, hash,
			 sizeof(hash)))) {
		snprintf(err, errlen,
		    "cannot hash the password: OpenSSL failed");
		return -EIO;
	}

	/* Write beside the file a link points to, not over the link. */
	bool created = false;
	real = realpath(path, NULL);
	if (real == NULL && (errno != ENOENT || pw == NULL)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (real == NULL) {
		created = true;
		real = strdup(path);
	} else {
		rc = rmq_readfile(real, path, &buf, &len, &st, err, errlen);
		if (rc != 0)
			goto out;
	}
	size_t rlen = real ? strlen(real) : 0;
	tmp = real ? malloc(rlen + 5) : NULL;
	if (tmp == NULL)
		goto nomem;
	memcpy(tmp, real, rlen);
	memcpy(tmp + rlen, ".tmp", 5);

	bool found = false;
	struct passwd_line l;
	while (passwd_next_line(buf, len, &pos, &l)) {
		struct passwd_span u, h;
		if (passwd_split(&l, &u, &h) == PASSWD_ENTRY && u.n == ulen &&
		    memcmp(u.p, user, ulen) == 0) {
			/* The first line of the user's becomes the new one;
			 * any later one (a duplicate) goes. */
			if (pw != NULL && !found &&
			    passwd_put_user(&o, user, hash) != 0)
				goto nomem;
			found = true;
			continue;
		}
		if (passwd_put(&o, l.p, l.n) != 0 ||
		    (l.nl && passwd_put(&o, "\n", 1) != 0))
			goto nomem;
	}
	if (pw == NULL && !found) {
		rc = -ENOENT;
		snprintf(err, errlen, "%s: no such user", path);
		goto out;
	}
	if (pw != NULL && !found && passwd_put_user(&o, user, hash) != 0)
		goto nomem;
	rc = passwd_replace(real, tmp, &o, created ? NULL : &st, err, errlen);
	goto out;
nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	free(o.p);
	free(buf);
	free(tmp);
	free(real);
	return rc;
}

void
rmq_passwd_dummy_cost(const struct rmq_passwd *p, unsigned *type,
    unsigned *iterations)
{
	*type = p->dummy.type;
	*iterations = p->dummy.iterations;
}
