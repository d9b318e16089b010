/* broker/platform/log.c: log lines in text or JSON, and their destinations
 * (see log.h).
 *
 * Text: "2026-11-22T03:04:05.678Z info ringmq: message".  JSON: one object
 * per line, {"time":..., "level":..., "msg":...}, with the message escaped
 * as RFC 8259 asks, for log collectors that parse lines.  syslog(3) gets
 * the message alone, at the line's level; it adds its own time.
 *
 * The destinations are an immutable snapshot that a SIGHUP replaces with
 * one atomic store: a thread writing a line reads one snapshot, and old
 * snapshots are kept (a few hundred bytes per reload), never freed under
 * a writer.  The log file keeps one descriptor number for the life of the
 * process: reopening it is a dup2(2) onto that number, atomic for writers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

atomic_int rmq_log_level_now = RMQ_LOG_INFO;
static atomic_int log_format = RMQ_LOG_TEXT;

struct log_sink {
	struct rmq_log_dest d;
	struct log_sink *older; /* kept, so a writer never reads freed memory */
};

static struct log_sink log_first = { .d = { .to = RMQ_LOG_TO_STDERR,
					 .timestamp = 1 } };
static struct log_sink *_Atomic log_sink = &log_first;
static int log_file_fd = -1; /* RMQ_LOG_TO_FILE's, once opened */
static int log_syslog_open;

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

int
rmq_log_dest_set(const struct rmq_log_dest *d, char *err, size_t errlen)
{
	struct log_sink *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "log_dest: out of memory");
		return -ENOMEM;
	}
	s->d = *d;
	if (d->to & RMQ_LOG_TO_FILE) {
		int fd = open(d->file,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			int e = errno;
			snprintf(err, errlen, "log_dest file %s: %s", d->file,
			    strerror(e));
			free(s);
			return -e;
		}
		if (log_file_fd < 0) {
			log_file_fd = fd;
		} else if (fd != log_file_fd) {
			dup2(fd, log_file_fd);
			close(fd);
		}
	}
	if ((d->to & RMQ_LOG_TO_SYSLOG) && !log_syslog_open) {
		/* Connected now, so that it still works once root is given
		 * up; each line names its facility. */
		openlog("ringmq", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog_open = 1;
	}
	s->older = atomic_load(&log_sink);
	atomic_store_explicit(&log_sink, s, memory_order_release);
	return 0;
}

static const int log_syslog_levels[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE,
	LOG_INFO, LOG_DEBUG };

/* The time at the start of a line, as the destinations ask. */
static void
log_stamp(const struct rmq_log_dest *d, char *ts, size_t len)
{
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	if (d->timestamp_format[0]) {
		localtime_r(&now.tv_sec, &tm);
		/* The operator's format (log_timestamp_format). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		if (strftime(ts, len, d->timestamp_format, &tm) == 0)
			ts[0] = '\0';
#pragma GCC diagnostic pop
		return;
	}
	gmtime_r(&now.tv_sec, &tm);
	size_t t = strftime(ts, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + t, len - t, ".%03ldZ", now.tv_nsec / 1000000);
}

void
rmq_log_write(int level, const char *fmt, ...)
{
	char msg[2048], line[4608], ts[160] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	const struct log_sink *s =
	    atomic_load_explicit(&log_sink, memory_order_acquire);
	const struct rmq_log_dest *d = &s->d;
	if (d->to & RMQ_LOG_TO_SYSLOG)
		syslog(log_syslog_levels[level < 0     ? 0
			       : level > RMQ_LOG_DEBUG ? RMQ_LOG_DEBUG
						       : level] |
			(d->facility ? LOG_LOCAL0 + ((d->facility - 1) << 3)
				     : LOG_DAEMON),
		    "%s", msg);
	if (!(d->to &
		(RMQ_LOG_TO_STDERR | RMQ_LOG_TO_STDOUT | RMQ_LOG_TO_FILE)))
		return;
	if (d->timestamp)
		log_stamp(d, ts, sizeof(ts));

	size_t n;
	if (atomic_load_explicit(&log_format, memory_order_relaxed) ==
	    RMQ_LOG_JSON) {
		n = 0;
		line[n++] = '{';
		if (d->timestamp) {
			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "\"time\":\"");
			n = log_json_escape(line, sizeof(line) - 3, n, ts);
			n +=
			    (size_t)snprintf(line + n, sizeof(line) - n, "\",");
		}
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    "\"level\":\"%s\",\"msg\":\"", rmq_log_level_name(level));
		n = log_json_escape(line, sizeof(line) - 3, n, msg);
		memcpy(line + n, "\"}\n", 3);
		n += 3;
	} else {
		int k = snprintf(line, sizeof(line), "%s%s%s ringmq: %s\n", ts,
		    d->timestamp ? " " : "", rmq_log_level_name(level), msg);
		n = k < 0 ? 0 : (size_t)k;
		if (n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
	}
	/* Nowhere to report a failed log write. */
	ssize_t w = 0;
	if (d->to & RMQ_LOG_TO_STDERR)
		w += write(STDERR_FILENO, line, n);
	if (d->to & RMQ_LOG_TO_STDOUT)
		w += write(STDOUT_FILENO, line, n);
	if ((d->to & RMQ_LOG_TO_FILE) && log_file_fd >= 0)
		w += write(log_file_fd, line, n);
	(void)w;
}
