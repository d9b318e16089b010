/* core/conf.c: cutting configuration text into directives (see conf.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

#define CONF_LINE_MAX 4096

int
rmq_conf_parse(const char *file, const char *text, size_t len, rmq_conf_fn fn,
    void *ctx, char *err, size_t errlen)
{
	char buf[CONF_LINE_MAX];
	size_t pos = 0;
	unsigned lineno = 0;

	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		pos += n + (nl != NULL);
		lineno++;
		if (n && start[n - 1] == '\r')
			n--; /* files written on Windows */
		if (n >= sizeof(buf)) {
			snprintf(err, errlen,
			    "%s:%u: line longer than %d bytes", file, lineno,
			    CONF_LINE_MAX - 1);
			return -EINVAL;
		}
		if (memchr(start, '\0', n)) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", file,
			    lineno);
			return -EINVAL;
		}
		memcpy(buf, start, n);
		buf[n] = '\0';

		struct rmq_conf_line l = { .file = file, .line = lineno };
		char *p = buf;
		int words = 0;
		for (;;) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0' || (*p == '#' && words == 0))
				break;
			char *w = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
			if (*p)
				*p++ = '\0';
			if (words == 0) {
				l.key = w;
			} else if (l.nargs == RMQ_CONF_MAX_ARGS) {
				snprintf(err, errlen,
				    "%s:%u: %s: more than %d arguments", file,
				    lineno, l.key, RMQ_CONF_MAX_ARGS);
				return -EINVAL;
			} else {
				l.args[l.nargs++] = w;
			}
			words++;
		}
		if (words == 0)
			continue;
		char msg[512] = "";
		if (fn(ctx, &l, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "%s:%u: %s", file, lineno, msg);
			return -EINVAL;
		}
	}
	return 0;
}
