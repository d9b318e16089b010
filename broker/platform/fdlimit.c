/* broker/platform/fdlimit.c: the descriptor budget (fdlimit.h). */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <sys/resource.h>

#include "fdlimit.h"

int
rmq_fd_raise(uint64_t *limit, uint64_t *was)
{
	struct rlimit rl;
	int rc = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	*was = (uint64_t)rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { rl.rlim_max, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl.rlim_cur = rl.rlim_max;
		else
			rc = -errno;
	}
	*limit = (uint64_t)rl.rlim_cur;
	return rc;
}

unsigned
rmq_fd_open_count(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own */
}

uint32_t
rmq_fd_conn_budget(uint64_t limit, unsigned open)
{
	uint64_t keep = (uint64_t)open + RMQ_FD_RESERVE;
	if (limit <= keep)
		return 1;
	uint64_t n = limit - keep;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}
