/* broker/io/psk.c: the pre-shared key table (psk.h): identities sorted
 * for a binary search, keys as bytes. */
#include "psk.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readfile.h"

struct psk_entry {
	char identity[RMQ_PSK_IDENTITY_MAX + 1];
	uint8_t key[RMQ_PSK_KEY_MAX];
	uint8_t key_len;
	uint32_t line;
};

struct rmq_psk {
	struct psk_entry *e;
	size_t n;
};

static int
psk_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One line (without its newline) into e: NULL, or why it is refused. */
static const char *
psk_parse(const char *s, size_t len, struct psk_entry *e)
{
	const char *colon = memchr(s, ':', len);
	if (colon == NULL)
		return "no ':' between the identity and the key";
	size_t id_len = (size_t)(colon - s);
	const char *hex = colon + 1;
	size_t hex_len = len - id_len - 1;
	if (id_len == 0)
		return "empty identity";
	if (id_len > RMQ_PSK_IDENTITY_MAX)
		return "identity longer than 128 bytes";
	if (memchr(s, '\0', id_len) != NULL)
		return "a NUL byte in the identity";
	if (hex_len == 0)
		return "empty key";
	if (hex_len % 2 != 0)
		return "the key has an odd number of hexadecimal digits";
	if (hex_len / 2 > RMQ_PSK_KEY_MAX)
		return "key longer than 64 bytes (128 hexadecimal digits)";
	for (size_t i = 0; i < hex_len; i += 2) {
		int hi = psk_hex(hex[i]), lo = psk_hex(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return "the key is not hexadecimal";
		e->key[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(e->identity, s, id_len);
	e->identity[id_len] = '\0';
	e->key_len = (uint8_t)(hex_len / 2);
	return NULL;
}

static int
psk_cmp(const void *a, const void *b)
{
	return strcmp(((const struct psk_entry *)a)->identity,
	    ((const struct psk_entry *)b)->identity);
}

int
rmq_psk_load(const char *path, struct rmq_psk **out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc = rmq_readfile(path, path, &buf, &len, NULL, err, errlen);
	if (rc != 0)
		return rc;
	struct rmq_psk *p = calloc(1, sizeof(*p));
	size_t cap = 0;
	const char *why = p ? NULL : "out of memory";
	uint32_t line = 0;
	size_t pos = 0;
	while (why == NULL && pos < len) {
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl != NULL);
		line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		if (p->n == cap) {
			size_t c2 = cap ? cap * 2 : 16;
			void *e2 = realloc(p->e, c2 * sizeof(*p->e));
			if (e2 == NULL) {
				why = "out of memory";
				break;
			}
			p->e = e2;
			cap = c2;
		}
		struct psk_entry *e = &p->e[p->n];
		why = psk_parse(s, n, e);
		e->line = line;
		if (why == NULL)
			p->n++;
	}
	if (why == NULL && p->n > 1) {
		qsort(p->e, p->n, sizeof(*p->e), psk_cmp);
		for (size_t i = 1; i < p->n; i++) {
			if (strcmp(p->e[i - 1].identity, p->e[i].identity))
				continue;
			struct psk_entry *a = &p->e[i - 1], *b = &p->e[i];
			if (a->line > b->line) {
				struct psk_entry *t = a;
				a = b;
				b = t;
			}
			line = b->line;
			snprintf(err, errlen,
			    "%s:%u: duplicate identity (first on line %u)",
			    path, line, a->line);
			why = "";
			break;
		}
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (why != NULL) {
		if (why[0])
			snprintf(err, errlen, "%s:%u: %s", path, line, why);
		rmq_psk_free(p);
		return why[0] && strcmp(why, "out of memory") == 0 ? -ENOMEM
								   : -EINVAL;
	}
	*out = p;
	return 0;
}

size_t
rmq_psk_find(const struct rmq_psk *p, const char *identity, uint8_t *key,
    size_t cap)
{
	struct psk_entry want;
	if (p == NULL || strlen(identity) > RMQ_PSK_IDENTITY_MAX)
		return 0;
	snprintf(want.identity, sizeof(want.identity), "%s", identity);
	const struct psk_entry *e =
	    bsearch(&want, p->e, p->n, sizeof(*p->e), psk_cmp);
	if (e == NULL || e->key_len > cap)
		return 0;
	memcpy(key, e->key, e->key_len);
	return e->key_len;
}

size_t
rmq_psk_count(const struct rmq_psk *p)
{
	return p ? p->n : 0;
}

void
rmq_psk_free(struct rmq_psk *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p->e, p->n * sizeof(*p->e));
	free(p->e);
	free(p);
}
