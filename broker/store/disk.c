/* broker/store/disk.c: the data directory (disk.h) over LMDB. */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The map LMDB reserves (address space, not memory): the bound on what
 * the directory can hold until the map is made larger. */
#define DISK_MAP_SIZE (64ull << 30)
#define DISK_MAX_DBS 16

struct rmq_disk {
	char dir[4096];
	MDB_env *env;
	MDB_dbi meta;
	int lock_fd; /* -1 when read-only */
	unsigned flags;
	uint32_t format;
};

static void
disk_path(const struct rmq_disk *d, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", d->dir, name);
}

/* LMDB's word for an error, as an operator reads it. */
static const char *
disk_why(int rc)
{
	switch (rc) {
	case MDB_INVALID:
		return "not an LMDB environment (the file is damaged or not RingMQ's)";
	case MDB_VERSION_MISMATCH: return "written by another LMDB version";
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return "damaged: a page is not what it should be";
	case MDB_MAP_FULL: return "full: the map size is reached";
	case MDB_READERS_FULL: return "too many readers";
	default: return mdb_strerror(rc);
	}
}

/* LMDB's error as a negative errno for the caller. */
static int
disk_errno(int rc)
{
	if (rc > 0)
		return -rc;
	return rc == MDB_MAP_FULL ? -ENOSPC : -EIO;
}

/* The directory's lock: held for as long as a writable open lasts, with
 * the holder's pid in it for the message of the one refused. */
static int
disk_lock(struct rmq_disk *d, char *err, size_t errlen)
{
	char path[4200];
	disk_path(d, "ringmq.lock", path, sizeof(path));
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK) {
			snprintf(err, errlen,
			    "%s: the data directory is in use by another broker%s%s%s",
			    d->dir, pid[0] ? " (pid " : "", pid,
			    pid[0] ? ")" : "");
			return -EBUSY;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -EIO;
	}
	d->lock_fd = fd;
	return 0;
}

/* The format: read, written on a new environment, checked. */
static int
disk_format(struct rmq_disk *d, char *err, size_t errlen)
{
	char path[4200];
	disk_path(d, "data.mdb", path, sizeof(path));
	int ro = (d->flags & RMQ_DISK_READONLY) != 0;
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(d->env, NULL, ro ? MDB_RDONLY : 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", ro ? 0 : MDB_CREATE, &d->meta);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		snprintf(err, errlen,
		    "%s: no format record: not a RingMQ data directory", path);
		return -EINVAL;
	}
	if (rc != 0) {
		if (txn)
			mdb_txn_abort(txn);
		snprintf(err, errlen, "%s: %s", path, disk_why(rc));
		return disk_errno(rc);
	}
	MDB_val k = { 6, (void *)"format" }, v;
	rc = mdb_get(txn, d->meta, &k, &v);
	if (rc == MDB_NOTFOUND && !ro) {
		/* A new environment: this build's format. */
		uint32_t f = RMQ_DISK_FORMAT;
		MDB_val nv = { sizeof(f), &f };
		rc = mdb_put(txn, d->meta, &k, &nv, 0);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc != 0) {
			snprintf(err, errlen, "%s: %s", path, disk_why(rc));
			return disk_errno(rc);
		}
		d->format = RMQ_DISK_FORMAT;
		return 0;
	}
	if (rc != 0 || v.mv_size != sizeof(uint32_t)) {
		mdb_txn_abort(txn);
		snprintf(err, errlen, "%s: %s", path,
		    rc == MDB_NOTFOUND
			? "no format record: not a RingMQ data directory"
			: rc != 0 ? disk_why(rc)
				  : "the format record is damaged");
		return rc == 0 || rc == MDB_NOTFOUND ? -EINVAL : disk_errno(rc);
	}
	memcpy(&d->format, v.mv_data, sizeof(d->format));
	mdb_txn_abort(txn);
	if (d->format > RMQ_DISK_FORMAT) {
		snprintf(err, errlen,
		    "%s: format %u, newer than this ringmq's (%u): run the ringmq that wrote it, or a later one",
		    path, d->format, RMQ_DISK_FORMAT);
		return -EPROTO;
	}
	if (d->format == 0) {
		snprintf(err, errlen, "%s: format 0 is not a RingMQ format",
		    path);
		return -EINVAL;
	}
	/* Older formats migrate here, format by format, when there are
	 * any: format 1 is the first. */
	return 0;
}

int
rmq_disk_open(const char *dir, unsigned flags, struct rmq_disk **out, char *err,
    size_t errlen)
{
	return rmq_disk_open_sized(dir, flags, 0, out, err, errlen);
}

int
rmq_disk_open_sized(const char *dir, unsigned flags, uint64_t max_bytes,
    struct rmq_disk **out, char *err, size_t errlen)
{
	struct rmq_disk *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return -ENOMEM;
	}
	d->lock_fd = -1;
	d->flags = flags;
	if (strlen(dir) >= sizeof(d->dir) - 16) {
		snprintf(err, errlen, "%.200s...: path too long", dir);
		free(d);
		return -ENAMETOOLONG;
	}
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	int rc;
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || !(flags & RMQ_DISK_CREATE) ||
		    (flags & RMQ_DISK_READONLY) || mkdir(dir, 0700) != 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			goto fail;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		rc = -ENOTDIR;
		goto fail;
	}
	char data[4200];
	disk_path(d, "data.mdb", data, sizeof(data));
	if (!(flags & RMQ_DISK_CREATE) && access(data, F_OK) != 0) {
		snprintf(err, errlen,
		    "%s: no data.mdb: not a RingMQ data directory", dir);
		rc = -ENOENT;
		goto fail;
	}
	if (!(flags & RMQ_DISK_READONLY)) {
		if (access(dir, W_OK) != 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: not writable: %s", dir,
			    strerror(errno));
			goto fail;
		}
		if ((rc = disk_lock(d, err, errlen)) != 0)
			goto fail;
	}
	if ((rc = mdb_env_create(&d->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(d->env, DISK_MAX_DBS)) != 0 ||
	    (rc = mdb_env_set_mapsize(d->env,
		 max_bytes ? max_bytes : DISK_MAP_SIZE)) != 0) {
		snprintf(err, errlen, "%s: %s", dir, disk_why(rc));
		rc = disk_errno(rc);
		goto fail;
	}
	/* MDB_NOTLS: transactions are the store's, not tied to threads. */
	rc = mdb_env_open(d->env, dir,
	    MDB_NOTLS | ((flags & RMQ_DISK_READONLY) ? MDB_RDONLY : 0), 0600);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", rc == EACCES ? dir : data,
		    disk_why(rc));
		rc = disk_errno(rc);
		goto fail;
	}
	if ((rc = disk_format(d, err, errlen)) != 0)
		goto fail;
	*out = d;
	return 0;
fail:
	rmq_disk_close(d);
	return rc;
}

void
rmq_disk_close(struct rmq_disk *d)
{
	if (d == NULL)
		return;
	if (d->env)
		mdb_env_close(d->env);
	if (d->lock_fd >= 0)
		close(d->lock_fd); /* and the flock with it */
	free(d);
}

struct MDB_env *
rmq_disk_env(struct rmq_disk *d)
{
	return d->env;
}

const char *
rmq_disk_dir(const struct rmq_disk *d)
{
	return d->dir;
}

const char *
rmq_disk_why(int mdb_rc)
{
	return disk_why(mdb_rc);
}

int
rmq_disk_errno(int mdb_rc)
{
	return disk_errno(mdb_rc);
}

uint32_t
rmq_disk_format(const struct rmq_disk *d)
{
	return d->format;
}

/* Count one database's records, reading every page on the way. */
static int
disk_count(MDB_txn *txn, MDB_dbi dbi, uint64_t *n)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	*n = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		(*n)++;
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int
rmq_disk_check(struct rmq_disk *d, struct rmq_disk_report *r, char *err,
    size_t errlen)
{
	char data[4200];
	disk_path(d, "data.mdb", data, sizeof(data));
	memset(r, 0, sizeof(*r));
	MDB_txn *txn;
	int rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", data, disk_why(rc));
		return disk_errno(rc);
	}
	/* The main database lists the named ones. */
	MDB_dbi main;
	MDB_cursor *c = NULL;
	rc = mdb_dbi_open(txn, NULL, 0, &main);
	if (rc == 0)
		rc = mdb_cursor_open(txn, main, &c);
	MDB_val k, v;
	int step = MDB_FIRST;
	while (rc == 0 && (rc = mdb_cursor_get(c, &k, &v, step)) == 0) {
		step = MDB_NEXT;
		if (r->ndbs == sizeof(r->dbs) / sizeof(r->dbs[0])) {
			rc = MDB_CORRUPTED; /* more than this build makes */
			break;
		}
		size_t n = k.mv_size < sizeof(r->dbs[0].name) - 1
		    ? k.mv_size
		    : sizeof(r->dbs[0].name) - 1;
		memcpy(r->dbs[r->ndbs].name, k.mv_data, n);
		r->dbs[r->ndbs].name[n] = '\0';
		MDB_dbi dbi;
		rc = mdb_dbi_open(txn, r->dbs[r->ndbs].name, 0, &dbi);
		if (rc == 0)
			rc = disk_count(txn, dbi, &r->dbs[r->ndbs].records);
		r->ndbs++;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (c)
		mdb_cursor_close(c);
	MDB_envinfo info;
	MDB_stat st;
	if (rc == 0 && mdb_env_info(d->env, &info) == 0 &&
	    mdb_env_stat(d->env, &st) == 0)
		r->bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	mdb_txn_abort(txn);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", data, disk_why(rc));
		return disk_errno(rc);
	}
	return 0;
}
