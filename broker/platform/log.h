/* broker/platform/log.h: the broker's log: levels, text or JSON lines on stderr.
 *
 * One line per event, written with a single write(2) so that lines from
 * different threads never interleave.  The level and format are global
 * and may change while the broker runs (SIGHUP); a call below the level
 * costs one relaxed load, so debug lines may sit on the message path.
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

extern atomic_int rmq_log_level_now;

/* Parse "error", "warning", "notice", "info" or "debug"; -1 if none. */
int rmq_log_level_parse(const char *s);

const char *rmq_log_level_name(int level);

/* Parse "text" or "json"; -1 if neither. */
int rmq_log_format_parse(const char *s);

void rmq_log_set(int level, enum rmq_log_format format);

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
