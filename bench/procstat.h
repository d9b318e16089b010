/* bench/procstat.h: CPU time and memory of a process, for the broker under
 * test (/proc/PID/stat and /proc/PID/status, which work for any pid on
 * this machine) and for the tool itself (getrusage).
 */
#ifndef RMQ_BENCH_PROCSTAT_H
#define RMQ_BENCH_PROCSTAT_H

#include <stdint.h>

struct rmq_bench_procstat {
	double cpu_s; /* user + system seconds since the process started */
	uint64_t rss; /* resident set, bytes (VmRSS) */
	uint64_t hwm; /* peak resident set, bytes (VmHWM) */
};

/* Sample process `pid`.  Returns 0, or -ENOENT (no such process), -EACCES,
 * -EPROTO (unreadable format). */
int rmq_bench_procstat_sample(int pid, struct rmq_bench_procstat *out);

/* Parse the contents of /proc/PID/stat (utime and stime, fields 14 and 15,
 * in clock ticks of `hz`) into seconds.  Returns 0 or -EPROTO. */
int rmq_bench_procstat_parse_stat(const char *text, long hz, double *cpu_s);

/* Parse a "Key:   N kB" line of /proc/PID/status into bytes.  Returns 0
 * or -ENOENT when the key is missing. */
int rmq_bench_procstat_parse_status(const char *text, const char *key,
    uint64_t *bytes);

/* This process's user + system CPU seconds (getrusage RUSAGE_SELF). */
double rmq_bench_procstat_self_cpu(void);

#endif
