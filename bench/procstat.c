/* bench/procstat.c: reading /proc/PID/stat and /proc/PID/status (see
 * procstat.h).  stat's second field is the command name in parentheses and
 * may itself hold spaces and parentheses, so fields are counted from the
 * last ')'.
 */
#include "procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int
bench_procstat_read(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return 0;
}

int
rmq_bench_procstat_parse_stat(const char *text, long hz, double *cpu_s)
{
	const char *p = strrchr(text, ')');
	if (p == NULL || hz <= 0)
		return -EPROTO;
	p++;
	/* After ')': field 3 (state) is the first; utime is field 14. */
	unsigned long long utime = 0, stime = 0;
	for (int field = 3; field <= 15; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -EPROTO;
		char *end;
		if (field == 14 || field == 15) {
			unsigned long long v = strtoull(p, &end, 10);
			if (end == p)
				return -EPROTO;
			if (field == 14)
				utime = v;
			else
				stime = v;
			p = end;
		} else {
			while (*p && *p != ' ')
				p++;
		}
	}
	*cpu_s = (double)(utime + stime) / (double)hz;
	return 0;
}

int
rmq_bench_procstat_parse_status(const char *text, const char *key,
    uint64_t *bytes)
{
	size_t klen = strlen(key);
	for (const char *line = text; line && *line;) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			unsigned long long kb =
			    strtoull(line + klen + 1, NULL, 10);
			*bytes = (uint64_t)kb * 1024u;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -ENOENT;
}

int
rmq_bench_procstat_sample(int pid, struct rmq_bench_procstat *out)
{
	char path[64];
	char buf[4096];
	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int rc = bench_procstat_read(path, buf, sizeof(buf));
	if (rc != 0)
		return rc;
	rc = rmq_bench_procstat_parse_stat(buf, sysconf(_SC_CLK_TCK),
	    &out->cpu_s);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	rc = bench_procstat_read(path, buf, sizeof(buf));
	if (rc != 0)
		return rc;
	if (rmq_bench_procstat_parse_status(buf, "VmRSS", &out->rss) != 0)
		return -EPROTO;
	(void)rmq_bench_procstat_parse_status(buf, "VmHWM", &out->hwm);
	return 0;
}

double
rmq_bench_procstat_self_cpu(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
