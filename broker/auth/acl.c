/* broker/auth/acl.c: the ACL file (acl.h): parsing it into a table and
 * checking a client's access to a topic against it.
 *
 * The table keeps every rule as 8 bytes (where its filter is in one text
 * arena, its length, its access), grouped by section with each section's
 * deny rules first, so a check is a hash lookup of the user name (core's
 * strmap, read-only once built) and two short scans.  Patterns are
 * matched level by level with the client's id and user name compared in
 * place of %c and %u, never substituted into a buffer.
 */
#include "acl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grow.h"
#include "readfile.h"
#include "strmap.h"
#include "topic.h"
#include "utf8.h"

#define ACL_FILE_MAX RMQ_READFILE_MAX
#define ACL_RULES_MAX (UINT32_MAX / 2)

/* Which of the client's names a pattern stands on. */
#define ACL_USES_C 1u /* a level that is exactly %c */
#define ACL_USES_U 2u /* a level that is exactly %u */
#define ACL_FIRST 4u /* ...and it is the first level */

/* The section a rule belongs to while loading: anonymous, patterns, or
 * a user's (ACL_OWNER_USER + the user's number). */
#define ACL_OWNER_ANON 0u
#define ACL_OWNER_PATTERNS 1u
#define ACL_OWNER_USER 2u

struct acl_rule {
	uint32_t off; /* the filter, in text[] */
	uint16_t len; /* filters are at most 65535 bytes, never empty */
	uint8_t access; /* RMQ_ACL_READ | RMQ_ACL_WRITE, or 0: deny */
	uint8_t uses; /* ACL_USES_*, patterns only */
};
_Static_assert(sizeof(struct acl_rule) == 8, "a rule stays 8 bytes");
_Static_assert(RMQ_ACL_TOPIC_MAX <= UINT16_MAX, "a filter length fits");

/* One section's rules: rule[first .. first + n), the first ndeny deny. */
struct acl_list {
	uint32_t first, ndeny, n;
};

struct rmq_acl {
	/* User name -> index + 1 into users[].  Only rmq_strmap_get()
	 * runs once loaded, and it writes nothing, so threads share it. */
	struct rmq_strmap names;
	struct acl_list *users;
	uint32_t nusers, users_cap;
	struct acl_list anon, patterns;
	struct acl_rule *rule;
	uint32_t nrules, rules_cap;
	char *text;
	uint32_t text_len, text_cap;
	/* While loading: each rule's section (ACL_OWNER_*). */
	uint32_t *owner;
	uint32_t owner_cap;
};

struct acl_span {
	const char *p;
	size_t n;
};

/* ---- the text: lines, words ---- */

/* isspace() in the C locale, what Mosquitto trims lines and topics by. */
static bool
acl_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Between words: Mosquitto splits at ' ' alone; a tab is taken too. */
static bool
acl_blank(char c)
{
	return c == ' ' || c == '\t';
}

static struct acl_span
acl_trim(const char *p, size_t n)
{
	while (n > 0 && acl_space(p[0]))
		p++, n--;
	while (n > 0 && acl_space(p[n - 1]))
		n--;
	return (struct acl_span){ p, n };
}

/* The first word of s into *w, what follows it (trimmed) into *rest. */
static void
acl_word(struct acl_span s, struct acl_span *w, struct acl_span *rest)
{
	size_t i = 0;
	while (i < s.n && !acl_blank(s.p[i]))
		i++;
	*w = (struct acl_span){ s.p, i };
	*rest = acl_trim(s.p + i, s.n - i);
}

static bool
acl_is(struct acl_span w, const char *word)
{
	size_t n = strlen(word);
	return w.n == n && memcmp(w.p, word, n) == 0;
}

/* The access a word names, or -1. */
static int
acl_access_word(struct acl_span w)
{
	if (acl_is(w, "read"))
		return RMQ_ACL_READ;
	if (acl_is(w, "write"))
		return RMQ_ACL_WRITE;
	if (acl_is(w, "readwrite"))
		return RMQ_ACL_READ | RMQ_ACL_WRITE;
	if (acl_is(w, "deny"))
		return 0;
	return -1;
}

/* Why a filter cannot be a rule's, or NULL if it can; for a pattern,
 * also which names it uses.  The wildcard rules are core's (spec 4.7.1)
 * without its $share/ parsing: Mosquitto checks an ACL filter as a plain
 * one, and "$share/..." names no topic a client publishes to anyway. */
static const char *
acl_filter_invalid(struct acl_span f, bool pattern, uint8_t *uses)
{
	*uses = 0;
	if (f.n > RMQ_ACL_TOPIC_MAX)
		return "topic filter longer than 65535 bytes";
	if (!rmq_utf8_valid(f.p, f.n))
		return "topic filter is not valid UTF-8";
	for (size_t start = 0; start <= f.n;) {
		const char *end = memchr(f.p + start, '/', f.n - start);
		size_t e = end ? (size_t)(end - f.p) : f.n, len = e - start;
		const char *l = f.p + start;
		if (memchr(l, '+', len) != NULL && len != 1)
			return "invalid topic filter: '+' must be a whole level";
		if (memchr(l, '#', len) != NULL && (len != 1 || e != f.n))
			return "invalid topic filter: '#' must be the whole last level";
		if (pattern && len == 2 && l[0] == '%' &&
		    (l[1] == 'c' || l[1] == 'u')) {
			*uses |= l[1] == 'c' ? ACL_USES_C : ACL_USES_U;
			if (start == 0)
				*uses |= ACL_FIRST;
		} else if (pattern) {
			/* Mosquitto 2.0 reads "%c" anywhere, left to
			 * right, a '%' before anything else kept. */
			for (size_t i = 0; i + 1 < len; i++)
				if (l[i] == '%' &&
				    (l[i + 1] == 'c' || l[i + 1] == 'u'))
					return "invalid pattern: %c and %u must each be a whole level";
		}
		start = e + 1;
	}
	return NULL;
}

/* Why a user name cannot be in the file, or NULL if it can. */
static const char *
acl_user_invalid(struct acl_span u)
{
	if (u.n > RMQ_ACL_TOPIC_MAX)
		return "user name longer than 65535 bytes";
	for (size_t i = 0; i < u.n; i++)
		if ((unsigned char)u.p[i] < 0x20 || u.p[i] == 0x7f)
			return "user name holds a control character";
	if (!rmq_utf8_valid(u.p, u.n))
		return "user name is not valid UTF-8";
	return NULL;
}

/* ---- reading the file ---- */

/* ---- building the table ---- */

static int
acl_add_rule(struct rmq_acl *a, uint32_t owner, struct acl_span f, int access,
    uint8_t uses)
{
	if (a->nrules >= ACL_RULES_MAX ||
	    rmq_grow(&a->rule, &a->rules_cap, a->nrules + 1, sizeof(*a->rule),
		64, ACL_RULES_MAX) != 0 ||
	    rmq_grow(&a->owner, &a->owner_cap, a->nrules + 1, sizeof(*a->owner),
		64, ACL_RULES_MAX) != 0 ||
	    f.n > ACL_FILE_MAX - a->text_len ||
	    rmq_grow(&a->text, &a->text_cap, a->text_len + (uint32_t)f.n, 1,
		4096, ACL_FILE_MAX) != 0)
		return -ENOMEM;
	memcpy(a->text + a->text_len, f.p, f.n);
	a->rule[a->nrules] = (struct acl_rule){ .off = a->text_len,
		.len = (uint16_t)f.n,
		.access = (uint8_t)access,
		.uses = uses };
	a->owner[a->nrules++] = owner;
	a->text_len += (uint32_t)f.n;
	return 0;
}

/* The section of user name u, made if new: its owner number. */
static int
acl_user_owner(struct rmq_acl *a, struct acl_span u, uint32_t *owner)
{
	void *old;
	uintptr_t i = (uintptr_t)rmq_strmap_get(&a->names, u.p, u.n);
	if (i == 0) {
		if (a->nusers >= ACL_RULES_MAX ||
		    rmq_grow(&a->users, &a->users_cap, a->nusers + 1,
			sizeof(*a->users), 16, ACL_RULES_MAX) != 0 ||
		    rmq_strmap_put(&a->names, u.p, u.n,
			(void *)(uintptr_t)(a->nusers + 1), &old) != 0)
			return -ENOMEM;
		a->users[a->nusers] = (struct acl_list){ 0 };
		i = ++a->nusers;
	}
	*owner = ACL_OWNER_USER + (uint32_t)(i - 1);
	return 0;
}

static struct acl_list *
acl_owner_list(struct rmq_acl *a, uint32_t owner)
{
	if (owner == ACL_OWNER_ANON)
		return &a->anon;
	if (owner == ACL_OWNER_PATTERNS)
		return &a->patterns;
	return &a->users[owner - ACL_OWNER_USER];
}

/* Group the rules by section, each section's deny rules first, the file's
 * order kept within each (a counting sort: the order only matters for
 * speed, as any matching deny denies and any matching grant allows). */
static int
acl_group(struct rmq_acl *a)
{
	struct acl_rule *sorted = NULL;
	if (a->nrules > 0) {
		sorted = malloc((size_t)a->nrules * sizeof(*sorted));
		if (sorted == NULL)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < a->nrules; i++) {
		struct acl_list *l = acl_owner_list(a, a->owner[i]);
		l->n++;
		l->ndeny += a->rule[i].access == 0;
	}
	uint32_t next = 0;
	uint32_t nowners = ACL_OWNER_USER + a->nusers;
	for (uint32_t o = 0; o < nowners; o++) {
		struct acl_list *l = acl_owner_list(a, o);
		l->first = next;
		next += l->n;
	}
	/* Place each rule: denies from first, grants from first + ndeny;
	 * ndeny and n count again as they fill. */
	for (uint32_t o = 0; o < nowners; o++) {
		struct acl_list *l = acl_owner_list(a, o);
		l->n = l->ndeny; /* where the grants start, relative */
		l->ndeny = 0;
	}
	for (uint32_t i = 0; i < a->nrules; i++) {
		struct acl_list *l = acl_owner_list(a, a->owner[i]);
		uint32_t at = a->rule[i].access == 0 ? l->ndeny++ : l->n++;
		sorted[l->first + at] = a->rule[i];
	}
	free(a->rule);
	a->rule = sorted;
	a->rules_cap = a->nrules;
	free(a->owner);
	a->owner = NULL;
	a->owner_cap = 0;
	return 0;
}

int
rmq_acl_load(const char *path, struct rmq_acl **out, char *err, size_t errlen)
{
	int rc;
	char *buf = NULL;
	size_t len = 0, pos = 0;
	struct rmq_acl *a = calloc(1, sizeof(*a));
	if (a == NULL || rmq_strmap_init(&a->names) != 0) {
		free(a);
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	rc = rmq_readfile(path, path, &buf, &len, NULL, err, errlen);
	if (rc != 0)
		goto fail;

	uint32_t line = 0, owner = ACL_OWNER_ANON;
	while (pos < len) {
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl != NULL);
		line++;

		char whybuf[128];
		const char *why = NULL;
		struct acl_span l = acl_trim(s, n), kw, rest, w, topic;
		if (n > RMQ_ACL_LINE_MAX) {
			snprintf(whybuf, sizeof(whybuf),
			    "line longer than %u bytes", RMQ_ACL_LINE_MAX);
			why = whybuf;
			goto bad;
		}
		if (l.n == 0 || l.p[0] == '#')
			continue;
		acl_word(l, &kw, &rest);
		if (acl_is(kw, "user")) {
			if (rest.n == 0) {
				why = "user without a user name";
				goto bad;
			}
			why = acl_user_invalid(rest);
			if (why != NULL)
				goto bad;
			if (acl_user_owner(a, rest, &owner) != 0)
				goto nomem;
			continue;
		}
		bool pattern = acl_is(kw, "pattern");
		if (!pattern && !acl_is(kw, "topic")) {
			snprintf(whybuf, sizeof(whybuf),
			    "unknown keyword \"%.*s\" (want topic, pattern or user)",
			    (int)(kw.n > 32 ? 32 : kw.n), kw.p);
			why = whybuf;
			goto bad;
		}
		if (rest.n == 0) {
			why = pattern ? "pattern without a topic filter"
				      : "topic without a topic filter";
			goto bad;
		}
		/* The access word, if any, then the rest is the filter. */
		acl_word(rest, &w, &topic);
		int access = acl_access_word(w);
		if (topic.n == 0 && access >= 0) {
			snprintf(whybuf, sizeof(whybuf),
			    "access \"%.*s\" without a topic filter", (int)w.n,
			    w.p);
			why = whybuf;
			goto bad;
		}
		if (topic.n == 0) {
			topic = w;
			access = RMQ_ACL_READ | RMQ_ACL_WRITE;
		} else if (access < 0) {
			snprintf(whybuf, sizeof(whybuf),
			    "unknown access \"%.*s\" (want read, write, readwrite or deny)",
			    (int)(w.n > 32 ? 32 : w.n), w.p);
			why = whybuf;
			goto bad;
		}
		uint8_t uses;
		why = acl_filter_invalid(topic, pattern, &uses);
		if (why != NULL)
			goto bad;
		if (acl_add_rule(a, pattern ? ACL_OWNER_PATTERNS : owner, topic,
			access, uses) != 0)
			goto nomem;
		continue;
	bad:
		snprintf(err, errlen, "%s:%u: %s", path, line, why);
		rc = -EINVAL;
		goto fail;
	}
	if (acl_group(a) != 0)
		goto nomem;
	free(buf);
	*out = a;
	return 0;
nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
fail:
	free(buf);
	rmq_acl_free(a);
	return rc;
}

void
rmq_acl_free(struct rmq_acl *a)
{
	if (a == NULL)
		return;
	rmq_strmap_fini(&a->names);
	free(a->users);
	free(a->rule);
	free(a->text);
	free(a->owner);
	free(a);
}

size_t
rmq_acl_rules(const struct rmq_acl *a)
{
	return a->nrules;
}

/* ---- checking ---- */

/* The client a check is for. */
struct acl_client {
	const char *user, *cid;
	size_t ulen, clen;
};

enum acl_match { ACL_NO, ACL_YES, ACL_UNSAFE };

/* A value that cannot stand for one level: empty, or spanning several. */
static bool
acl_value_unsafe(const char *v, size_t n)
{
	return n == 0 || memchr(v, '/', n) != NULL;
}

/* Whether pattern p[0..plen) matches the topic with the client's names
 * in place of its %c and %u levels; ACL_UNSAFE when a name it uses
 * cannot be put there (the caller fails closed).  Level by level, the
 * way core's rmq_topic_match() walks a filter. */
static enum acl_match
acl_pattern_match(const struct acl_rule *r, const char *p,
    const struct acl_client *c, const char *t, size_t tlen)
{
	size_t plen = r->len;
	if (r->uses & ACL_USES_U) {
		if (c->user == NULL)
			return ACL_NO; /* Mosquitto skips it */
		if (acl_value_unsafe(c->user, c->ulen))
			return ACL_UNSAFE;
	}
	if ((r->uses & ACL_USES_C) && acl_value_unsafe(c->cid, c->clen))
		return ACL_UNSAFE;
	if (r->uses == 0)
		return rmq_topic_match(p, plen, t, tlen) ? ACL_YES : ACL_NO;
	/* [MQTT-4.7.2-1], and a name in the first level likewise. */
	if (t[0] == '$' &&
	    (p[0] == '+' || p[0] == '#' || (r->uses & ACL_FIRST)))
		return ACL_NO;

	size_t pi = 0, ti = 0;
	for (;;) {
		/* pi and ti stand at the start of a level each. */
		const char *pe = memchr(p + pi, '/', plen - pi);
		const char *te = memchr(t + ti, '/', tlen - ti);
		size_t pn = (pe ? (size_t)(pe - p) : plen) - pi;
		size_t tn = (te ? (size_t)(te - t) : tlen) - ti;
		const char *want = p + pi;
		size_t wn = pn;
		if (pn == 1 && p[pi] == '#')
			return ACL_YES; /* this level, the rest, or none */
		if (pn == 2 && p[pi] == '%' && p[pi + 1] == 'c')
			want = c->cid, wn = c->clen;
		else if (pn == 2 && p[pi] == '%' && p[pi + 1] == 'u')
			want = c->user, wn = c->ulen;
		if (!(pn == 1 && p[pi] == '+') &&
		    (wn != tn || memcmp(want, t + ti, tn) != 0))
			return ACL_NO;
		pi += pn;
		ti += tn;
		if (pi == plen && ti == tlen)
			return ACL_YES;
		if (pi == plen)
			return ACL_NO; /* the topic has more levels */
		if (ti == tlen) /* "a/#" matches "a" [MQTT-4.7.1-2] */
			return plen - pi == 2 && p[pi + 1] == '#' ? ACL_YES
								  : ACL_NO;
		pi++; /* both on '/' */
		ti++;
	}
}

/* A section's verdict: 0 denied, 1 allowed, -1 none of its rules say. */
static int
acl_list_check(const struct rmq_acl *a, const struct acl_list *l, const char *t,
    size_t tlen, unsigned access)
{
	const struct acl_rule *r = a->rule + l->first;
	for (uint32_t i = 0; i < l->ndeny; i++)
		if (rmq_topic_match(a->text + r[i].off, r[i].len, t, tlen))
			return 0;
	for (uint32_t i = l->ndeny; i < l->n; i++)
		if ((r[i].access & access) &&
		    rmq_topic_match(a->text + r[i].off, r[i].len, t, tlen))
			return 1;
	return -1;
}

static bool
acl_has_wildcard(const char *s, size_t n)
{
	return n > 0 && rmq_topic_has_wildcard(s, n);
}

/* ---- SUBSCRIBE: could any topic be read through the filter? ---- */

/* Walks the levels of a filter, a pattern's %c and %u levels read as the
 * client's names. */
struct acl_levels {
	const char *s;
	size_t len, pos;
	const struct acl_client *c; /* NULL: no substitution */
	bool done;
};

/* The next level into *p, *n; false past the last. */
static bool
acl_next_level(struct acl_levels *it, const char **p, size_t *n)
{
	if (it->done)
		return false;
	const char *l = it->s + it->pos;
	const char *e = memchr(l, '/', it->len - it->pos);
	size_t ln = e ? (size_t)(e - l) : it->len - it->pos;
	it->pos += ln + 1;
	it->done = e == NULL;
	*p = l, *n = ln;
	if (it->c && ln == 2 && l[0] == '%' && (l[1] == 'c' || l[1] == 'u')) {
		*p = l[1] == 'c' ? it->c->cid : it->c->user;
		*n = l[1] == 'c' ? it->c->clen : it->c->ulen;
	}
	return true;
}

static bool
acl_level_is(const char *p, size_t n, char w)
{
	return n == 1 && p[0] == w;
}

/* Whether a leading wildcard of one filter would face a '$' level of the
 * other: such topics are matched only by a '$' level [MQTT-4.7.2-1], and
 * a pattern's %c or %u first level never matches them either. */
static bool
acl_dollar_apart(const char *f, const char *r, unsigned uses)
{
	bool fw = f[0] == '+' || f[0] == '#', rw = r[0] == '+' || r[0] == '#';
	return (f[0] == '$' && (rw || (uses & ACL_FIRST))) ||
	    (r[0] == '$' && fw);
}

/* Whether some topic matches both filter f and rule r (a pattern when
 * c is not NULL). */
static bool
acl_overlap(const char *f, size_t flen, const char *r, size_t rlen,
    const struct acl_client *c, unsigned uses)
{
	if (acl_dollar_apart(f, r, uses))
		return false;
	struct acl_levels fi = { f, flen, 0, NULL, false },
			  ri = { r, rlen, 0, c, false };
	for (;;) {
		const char *fp, *rp;
		size_t fn, rn;
		bool fl = acl_next_level(&fi, &fp, &fn),
		     rl = acl_next_level(&ri, &rp, &rn);
		if (!fl && !rl)
			return true;
		if (!fl) /* "a" and "a/#" */
			return acl_level_is(rp, rn, '#') && ri.done;
		if (!rl)
			return acl_level_is(fp, fn, '#') && fi.done;
		if (acl_level_is(fp, fn, '#') || acl_level_is(rp, rn, '#'))
			return true;
		if (acl_level_is(fp, fn, '+') || acl_level_is(rp, rn, '+'))
			continue;
		if (fn != rn || memcmp(fp, rp, fn) != 0)
			return false;
	}
}

/* Whether every topic that matches filter f matches rule d. */
static bool
acl_covers(const char *d, size_t dlen, const char *f, size_t flen,
    const struct acl_client *c, unsigned uses)
{
	if (acl_dollar_apart(f, d, uses) ||
	    (f[0] == '$' && (d[0] == '+' || d[0] == '#')))
		return false;
	struct acl_levels di = { d, dlen, 0, c, false },
			  fi = { f, flen, 0, NULL, false };
	for (;;) {
		const char *dp, *fp;
		size_t dn, fn;
		bool dl = acl_next_level(&di, &dp, &dn),
		     fl = acl_next_level(&fi, &fp, &fn);
		if (!dl && !fl)
			return true;
		if (!dl)
			return false; /* f reaches deeper */
		if (!fl)
			return acl_level_is(dp, dn, '#') && di.done;
		if (acl_level_is(dp, dn, '#'))
			return true;
		if (acl_level_is(fp, fn, '#'))
			return false;
		if (acl_level_is(dp, dn, '+'))
			continue;
		if (acl_level_is(fp, fn, '+') || dn != fn ||
		    memcmp(dp, fp, dn) != 0)
			return false;
	}
}

/* SUBSCRIBE to a wildcard filter: whether some topic it matches could be
 * read, as rmq_acl_check would decide READ for that topic.  It errs on
 * the side of yes: the answer is no only when no rule that grants READ
 * overlaps the filter, or a deny rule that would be asked first covers
 * all of it. */
static int
acl_readable_through(const struct rmq_acl *a, const struct acl_list *own,
    const struct acl_client *c, const char *f, size_t flen)
{
	if (own != NULL) {
		const struct acl_rule *r = a->rule + own->first;
		for (uint32_t i = 0; i < own->ndeny; i++)
			if (acl_covers(a->text + r[i].off, r[i].len, f, flen,
				NULL, 0))
				return 0;
		for (uint32_t i = own->ndeny; i < own->n; i++)
			if ((r[i].access & RMQ_ACL_READ) &&
			    acl_overlap(f, flen, a->text + r[i].off, r[i].len,
				NULL, 0))
				return 1;
	}
	const struct acl_list *l = &a->patterns;
	if (l->n == 0 || acl_has_wildcard(c->cid, c->clen) ||
	    (c->user != NULL && acl_has_wildcard(c->user, c->ulen)))
		return 0;
	const struct acl_rule *r = a->rule + l->first;
	for (uint32_t i = 0; i < l->n; i++) {
		bool deny = i < l->ndeny;
		unsigned u = r[i].uses;
		bool nouser = (u & ACL_USES_U) && c->user == NULL;
		bool unsafe = ((u & ACL_USES_U) && c->user != NULL &&
				  acl_value_unsafe(c->user, c->ulen)) ||
		    ((u & ACL_USES_C) && acl_value_unsafe(c->cid, c->clen));
		const char *p = a->text + r[i].off;
		if (deny) {
			/* A deny pattern with a name it cannot use denies
			 * every topic (rmq_acl_check fails closed). */
			if (!nouser &&
			    (unsafe || acl_covers(p, r[i].len, f, flen, c, u)))
				return 0;
		} else if ((r[i].access & RMQ_ACL_READ) && !nouser && !unsafe &&
		    acl_overlap(f, flen, p, r[i].len, c, u)) {
			return 1;
		}
	}
	return 0;
}

int
rmq_acl_check(const struct rmq_acl *a, const char *user, size_t ulen,
    const char *client_id, size_t clen, const char *topic, size_t tlen,
    enum rmq_acl_access access)
{
	if (client_id == NULL)
		return 0;
	if (user == NULL || ulen == 0)
		user = NULL,
		ulen = 0; /* Mosquitto reads an empty one as none */
	if (access == RMQ_ACL_SUBSCRIBE && acl_has_wildcard(topic, tlen)) {
		const struct acl_list *own = &a->anon;
		if (user != NULL) {
			uintptr_t i =
			    (uintptr_t)rmq_strmap_get(&a->names, user, ulen);
			own = i ? &a->users[i - 1] : NULL;
		}
		struct acl_client c = { user, client_id, ulen, clen };
		return tlen > 0 && tlen <= RMQ_ACL_TOPIC_MAX &&
		    acl_readable_through(a, own, &c, topic, tlen);
	}
	if (access == RMQ_ACL_SUBSCRIBE)
		access = RMQ_ACL_READ; /* a filter without a wildcard */
	if ((access != RMQ_ACL_READ && access != RMQ_ACL_WRITE) ||
	    rmq_topic_name_check(topic, tlen) != 0)
		return 0;

	/* 1. The client's own section. */
	const struct acl_list *own = &a->anon;
	if (user != NULL) {
		uintptr_t i = (uintptr_t)rmq_strmap_get(&a->names, user, ulen);
		own = i ? &a->users[i - 1] : NULL;
	}
	if (own != NULL) {
		int v = acl_list_check(a, own, topic, tlen, access);
		if (v >= 0)
			return v;
	}

	/* 2. The patterns, for a client whose names cannot break them. */
	const struct acl_list *l = &a->patterns;
	if (l->n == 0 || acl_has_wildcard(client_id, clen) ||
	    (user != NULL && acl_has_wildcard(user, ulen)))
		return 0;
	struct acl_client c = { user, client_id, ulen, clen };
	const struct acl_rule *r = a->rule + l->first;
	for (uint32_t i = 0; i < l->ndeny; i++)
		if (acl_pattern_match(&r[i], a->text + r[i].off, &c, topic,
			tlen) != ACL_NO)
			return 0;
	for (uint32_t i = l->ndeny; i < l->n; i++)
		if ((r[i].access & access) &&
		    acl_pattern_match(&r[i], a->text + r[i].off, &c, topic,
			tlen) == ACL_YES)
			return 1;
	return 0;
}
