/* broker/platform/log.c: log lines in text or JSON (see log.h).
 *
 * Text: "2026-11-22T03:04:05.678Z info ringmq: message".  JSON: one object
 * per line, {"time":..., "level":..., "msg":...}, with the message escaped
 * as RFC 8259 asks, for log collectors that parse lines.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

atomic_int rmq_log_level_now = RMQ_LOG_INFO;
static atomic_int log_format = RMQ_LOG_TEXT;

static const char *const log_names[] = { "error", "warning", "notice", "info",
	"debug" };

int
rmq_log_level_parse(const char *s)
{
	for (int i = 0; i <= RMQ_LOG_DEBUG; i++)
		if (strcmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

int
rmq_log_format_parse(const char *s)
{
	return strcmp(s, "text") == 0 ? RMQ_LOG_TEXT
	    : strcmp(s, "json") == 0  ? RMQ_LOG_JSON
				      : -1;
}

const char *
rmq_log_level_name(int level)
{
	return level >= 0 && level <= RMQ_LOG_DEBUG ? log_names[level] : "?";
}

void
rmq_log_set(int level, enum rmq_log_format format)
{
	atomic_store(&rmq_log_level_now, level);
	atomic_store(&log_format, (int)format);
}

/* Append s to out as the inside of a JSON string. */
static size_t
log_json_escape(char *out, size_t cap, size_t n, const char *s)
{
	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	return n;
}

void
rmq_log_write(int level, const char *fmt, ...)
{
	char msg[2048], line[4608], ts[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t t = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + t, sizeof(ts) - t, ".%03ldZ", now.tv_nsec / 1000000);

	size_t n;
	if (atomic_load_explicit(&log_format, memory_order_relaxed) ==
	    RMQ_LOG_JSON) {
		n = (size_t)snprintf(line, sizeof(line),
		    "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
		    rmq_log_level_name(level));
		n = log_json_escape(line, sizeof(line) - 3, n, msg);
		memcpy(line + n, "\"}\n", 3);
		n += 3;
	} else {
		int k = snprintf(line, sizeof(line), "%s %s ringmq: %s\n", ts,
		    rmq_log_level_name(level), msg);
		n = k < 0 ? 0 : (size_t)k;
		if (n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
	}
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w; /* nowhere to report a failed log write */
}
