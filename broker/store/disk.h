/* broker/store/disk.h: the data directory, where the node keeps what must
 * outlive the process (retained messages and persistent sessions, as they
 * come to be written here).
 *
 * One LMDB environment in the directory (data.mdb, lock.mdb), opened by
 * one broker at a time: `ringmq.lock` beside them holds an exclusive
 * flock for as long as the broker runs, and the pid of the broker that
 * holds it.  The environment carries its format version under the key
 * "format" of its `meta` database: a newer one than this build's is
 * refused, an older one is migrated when it is opened for writing.  Any
 * problem is an error that names the directory or file and what is wrong
 * with it, and nothing is deleted or overwritten to get past it.
 */
#ifndef RMQ_DISK_H
#define RMQ_DISK_H

#include <stddef.h>
#include <stdint.h>

/* The format this build writes and reads. */
#define RMQ_DISK_FORMAT 1u

#define RMQ_DISK_READONLY 0x1u /* no lock, no writes: `ringmq store` */
#define RMQ_DISK_CREATE 0x2u /* make the directory and the environment */

struct rmq_disk;

/* Open the data directory `dir`.  With RMQ_DISK_CREATE a missing
 * directory is made (mode 0700) and an empty one gets a new environment
 * of this format; without it, the environment must be there.  Writable
 * opens take the directory's lock: another broker holding it refuses the
 * open (-EBUSY, its pid in the message).  Returns 0 with *out, or a
 * negative errno with "PATH: what is wrong" in err. */
int rmq_disk_open(const char *dir, unsigned flags, struct rmq_disk **out,
    char *err, size_t errlen);

/* As rmq_disk_open, holding at most max_bytes (LMDB's map; 0: 64 GiB):
 * past it a commit fails as on a full disk.  A directory that holds more
 * already keeps its size. */
int rmq_disk_open_sized(const char *dir, unsigned flags, uint64_t max_bytes,
    struct rmq_disk **out, char *err, size_t errlen);

/* Close it, the lock with it.  NULL is fine. */
void rmq_disk_close(struct rmq_disk *d);

/* The LMDB environment, for the store's own modules (persist.c). */
struct MDB_env *rmq_disk_env(struct rmq_disk *d);

/* The directory, as given to rmq_disk_open. */
const char *rmq_disk_dir(const struct rmq_disk *d);

/* LMDB's error code as an operator reads it ("full: the map size is
 * reached"), and as a negative errno. */
const char *rmq_disk_why(int mdb_rc);
int rmq_disk_errno(int mdb_rc);

/* The format the directory holds. */
uint32_t rmq_disk_format(const struct rmq_disk *d);

/* What a check found: the databases of the environment and their
 * records, every page of them read. */
struct rmq_disk_report {
	unsigned ndbs;
	struct {
		char name[64];
		uint64_t records;
	} dbs[16];
	uint64_t bytes; /* the map in use: pages times page size */
};

/* Read every record of every database, as `ringmq store check` does: 0
 * with the report, or a negative errno with "PATH: what is wrong". */
int rmq_disk_check(struct rmq_disk *d, struct rmq_disk_report *r, char *err,
    size_t errlen);

#endif
