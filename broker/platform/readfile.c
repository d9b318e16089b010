/* broker/platform/readfile.c: a whole file into memory (readfile.h). */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
rmq_readfile(const char *path, const char *name, char **buf, size_t *len,
    struct stat *st, char *err, size_t errlen)
{
	struct stat own;
	char *b = NULL;
	size_t cap = 0, n = 0;
	int rc;
	if (st == NULL)
		st = &own;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, st) != 0)
		goto sys;
	/* One byte more than the file, so that the read which fills it is
	 * followed by one that sees the end. */
	size_t first = st->st_size > 0 && st->st_size < RMQ_READFILE_MAX
	    ? (size_t)st->st_size + 1
	    : 4096;
	for (;;) {
		if (n == cap) {
			if (cap >= RMQ_READFILE_MAX) {
				rc = -EFBIG;
				snprintf(err, errlen, "%s: larger than 1 GiB",
				    name);
				goto fail;
			}
			size_t want = cap ? cap * 2 : first;
			if (want > RMQ_READFILE_MAX)
				want = RMQ_READFILE_MAX;
			char *nb = realloc(b, want);
			if (nb == NULL) {
				errno = ENOMEM;
				goto sys;
			}
			b = nb;
			cap = want;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto sys;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n == cap) { /* room for the byte past the end */
		char *nb = realloc(b, cap + 1);
		if (nb == NULL) {
			free(b);
			snprintf(err, errlen, "%s: %s", name, strerror(ENOMEM));
			return -ENOMEM;
		}
		b = nb;
	}
	*buf = b;
	*len = n;
	return 0;
sys:
	rc = -errno;
	snprintf(err, errlen, "%s: %s", name, strerror(errno));
fail:
	if (fd >= 0)
		close(fd);
	free(b);
	return rc;
}
