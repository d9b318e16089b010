/* broker/platform/log.h: the broker's log: levels, text or JSON lines, and
 * where they go (stderr, stdout, a file, syslog: Mosquitto's log_dest).
 *
 * One line per event, written with a single write(2) per destination so
 * that lines from different threads never interleave.  The level, format
 * and destinations are global and may change while the broker runs
 * (SIGHUP); a call below the level costs one relaxed load, so debug lines
 * may sit on the message path.
 */
#ifndef RMQ_LOG_H
#define RMQ_LOG_H

#include <stdatomic.h>

enum rmq_log_level {
	RMQ_LOG_ERROR,
	RMQ_LOG_WARNING,
	RMQ_LOG_NOTICE, /* start, stop, reload */
	RMQ_LOG_INFO, /* connections */
	RMQ_LOG_DEBUG, /* per message */
};

enum rmq_log_format { RMQ_LOG_TEXT, RMQ_LOG_JSON };

/* Destinations (log_dest), any together; none of them: no log at all. */
#define RMQ_LOG_TO_STDERR 0x1u
#define RMQ_LOG_TO_STDOUT 0x2u
#define RMQ_LOG_TO_FILE 0x4u
#define RMQ_LOG_TO_SYSLOG 0x8u

/* Where lines go and how they are stamped: Mosquitto's log_dest,
 * log_timestamp, log_timestamp_format and log_facility. */
struct rmq_log_dest {
	unsigned to; /* RMQ_LOG_TO_* */
	int timestamp; /* a time at the start of each line (or "time") */
	int facility; /* syslog: 0 daemon, n: local(n - 1) */
	char file[256]; /* with RMQ_LOG_TO_FILE: appended to */
	/* strftime(3) format in local time, as Mosquitto's; empty: ISO 8601
	 * in UTC with milliseconds. */
	char timestamp_format[64];
};

extern atomic_int rmq_log_level_now;

/* Parse "error", "warning", "notice", "info" or "debug"; -1 if none. */
int rmq_log_level_parse(const char *s);

const char *rmq_log_level_name(int level);

/* Parse "text" or "json"; -1 if neither. */
int rmq_log_format_parse(const char *s);

void rmq_log_set(int level, enum rmq_log_format format);

/* Send lines to d's destinations from now on.  The file is opened again
 * (appending, created 0644) even when it is the same path, so that a
 * SIGHUP after logrotate moved it writes to a new file; lines being
 * written meanwhile go whole to the old file or the new one.  Returns 0,
 * or a negative errno with the reason in err, and then the destinations
 * stay as they were.  Main thread; until it is called, lines go to stderr
 * with a timestamp. */
int rmq_log_dest_set(const struct rmq_log_dest *d, char *err, size_t errlen);

static inline int
rmq_log_on(int level)
{
	return level <=
	    atomic_load_explicit(&rmq_log_level_now, memory_order_relaxed);
}

/* Log one line at `level` (a printf format, no trailing newline). */
void rmq_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define rmq_log(level, ...)                                                    \
	do {                                                                   \
		if (rmq_log_on(level))                                         \
			rmq_log_write(level, __VA_ARGS__);                     \
	} while (0)

#endif
