/* broker/platform/readfile.h: a whole (small) file into memory, for the
 * files the settings name and read again at each reload (password file,
 * ACL).  One place for the bound and the wording of its errors. */
#ifndef RMQ_READFILE_H
#define RMQ_READFILE_H

#include <stddef.h>
#include <sys/stat.h>

#define RMQ_READFILE_MAX (1u << 30) /* a bound for /dev/zero */

/* The whole of the file at `path` into *buf (malloc'd, one byte longer
 * than *len, not terminated), its status into *st when st is not NULL;
 * `name` is what messages call it.  Returns 0, or a negative errno with
 * "NAME: why" in err (-EFBIG past RMQ_READFILE_MAX). */
int rmq_readfile(const char *path, const char *name, char **buf, size_t *len,
    struct stat *st, char *err, size_t errlen);

#endif
