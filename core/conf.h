/* core/conf.h: reading configuration text.
 *
 * The format operators know from Mosquitto: one directive per line, a key
 * and its arguments separated by blanks, '#' starting a comment line, blank
 * lines ignored.  This file only cuts lines into words and says where each
 * came from; what the keys mean is the broker's (broker/options.c).
 */
#ifndef RMQ_CONF_H
#define RMQ_CONF_H

#include <stddef.h>

#define RMQ_CONF_MAX_ARGS 8

/* One directive: where it stands and its words (NUL-terminated copies
 * that live until the callback returns). */
struct rmq_conf_line {
	const char *file; /* file name, or "environment" */
	unsigned line; /* 1-based; 0 for the environment */
	const char *key;
	const char *args[RMQ_CONF_MAX_ARGS];
	unsigned nargs;
};

/* Called for each directive; return 0, or a negative value to stop with
 * the message written into err[0..errlen). */
typedef int (*rmq_conf_fn)(void *ctx, const struct rmq_conf_line *l, char *err,
    size_t errlen);

/* Cut text[0..len) into directives and call fn for each.  Returns 0, or
 * -EINVAL with "FILE:LINE: message" in err (a line too long, too many
 * words, a NUL byte, or what fn said). */
int rmq_conf_parse(const char *file, const char *text, size_t len,
    rmq_conf_fn fn, void *ctx, char *err, size_t errlen);

#endif
