/* core/text.h: text that grows as it is written (the metrics page, the
 * admin API's JSON), with JSON's string quoting.  A write that finds no
 * memory marks the text failed; every write after does nothing, so the
 * writer checks once at the end.
 */
#ifndef RMQ_TEXT_H
#define RMQ_TEXT_H

#include <stddef.h>

struct rmq_text {
	char *p; /* NUL-terminated once anything is written */
	size_t len, cap;
	int failed;
};

void rmq_text_printf(struct rmq_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* len bytes as they are. */
void rmq_text_put(struct rmq_text *t, const char *p, size_t len);

/* A string literal as it is, its length counted by the compiler. */
#define RMQ_TEXT_LIT(t, lit) rmq_text_put((t), "" lit, sizeof(lit) - 1)

/* len bytes as a JSON string: quoted, with '"', '\\' and the control
 * characters escaped (UTF-8 passes as it is; MQTT's strings are valid
 * UTF-8 without U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2]). */
void rmq_text_json_str(struct rmq_text *t, const char *p, size_t len);

/* Drop what was written (the memory stays for the next writes). */
void rmq_text_reset(struct rmq_text *t);

void rmq_text_free(struct rmq_text *t);

#endif
