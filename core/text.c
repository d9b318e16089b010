/* core/text.c: text that grows as it is written (text.h). */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
text_room(struct rmq_text *t, size_t more)
{
	if (t->failed)
		return 0;
	if (t->len + more < t->cap)
		return 1;
	size_t cap = t->cap ? t->cap : 1024;
	while (cap <= t->len + more) {
		if (cap > ((size_t)-1) / 2) {
			t->failed = 1;
			return 0;
		}
		cap *= 2;
	}
	char *p = realloc(t->p, cap);
	if (p == NULL) {
		t->failed = 1;
		return 0;
	}
	t->p = p;
	t->cap = cap;
	return 1;
}

void
rmq_text_printf(struct rmq_text *t, const char *fmt, ...)
{
	for (;;) {
		if (t->failed)
			return;
		va_list ap;
		va_start(ap, fmt);
		size_t room = t->cap - t->len;
		int n = t->p ? vsnprintf(t->p + t->len, room, fmt, ap) : -1;
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		if (!text_room(t, n > 0 ? (size_t)n + 1 : 1024))
			return;
	}
}

void
rmq_text_put(struct rmq_text *t, const char *p, size_t len)
{
	if (!text_room(t, len + 1))
		return;
	memcpy(t->p + t->len, p, len);
	t->len += len;
	t->p[t->len] = '\0';
}

void
rmq_text_json_str(struct rmq_text *t, const char *p, size_t len)
{
	/* At most six bytes out for one in (\u00XX), and the quotes. */
	if (!text_room(t, len * 6 + 3))
		return;
	char *o = t->p + t->len;
	*o++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			o += sprintf(o, "\\u%04x", c);
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	*o = '\0';
	t->len = (size_t)(o - t->p);
}

void
rmq_text_reset(struct rmq_text *t)
{
	t->len = 0;
	t->failed = 0;
	if (t->p)
		t->p[0] = '\0';
}

void
rmq_text_free(struct rmq_text *t)
{
	free(t->p);
	*t = (struct rmq_text){ 0 };
}
