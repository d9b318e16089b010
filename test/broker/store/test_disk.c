/* test/broker/store/test_disk.c: the data directory (broker/store/disk.c):
 * a new one made with this build's format, one broker at a time (the
 * lock names the holder's pid; readers need none), and what is refused,
 * each with the path and the problem, nothing changed on disk: a newer
 * format, a damaged file, a directory that is not RingMQ's, a path that
 * is not a directory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "rmq_test_dir.h"

static char root[64], dir[128];
static char err[4400];

static void
setup(void)
{
	rmq_test_dir_make(root, sizeof(root), "disk");
	snprintf(dir, sizeof(dir), "%s/data", root);
}

static void
teardown(void)
{
	rmq_test_dir_remove(root);
}

TestSuite(disk, .init = setup, .fini = teardown);

/* Put `format` under meta's "format" key, as another build would. */
static void
write_format(uint32_t format)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
	MDB_val k = { 6, (void *)"format" }, v = { sizeof(format), &format };
	cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

Test(disk, a_new_directory_gets_this_format)
{
	struct rmq_disk *d;
	cr_assert_eq(rmq_disk_open(dir, 0, &d, err, sizeof(err)), -ENOENT,
	    "not made without RMQ_DISK_CREATE");
	cr_assert(strstr(err, dir), "%s", err);
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_CREATE, &d, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(rmq_disk_format(d), RMQ_DISK_FORMAT);
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "the directory is the broker's");
	rmq_disk_close(d);
	/* Opened again, without creating: the same format, and a check
	 * that reads it whole. */
	cr_assert_eq(rmq_disk_open(dir, 0, &d, err, sizeof(err)), 0, "%s", err);
	struct rmq_disk_report r;
	cr_assert_eq(rmq_disk_check(d, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(r.ndbs, 1);
	cr_assert_str_eq(r.dbs[0].name, "meta");
	cr_assert_eq(r.dbs[0].records, 1, "the format record");
	cr_assert_gt(r.bytes, 0);
	rmq_disk_close(d);
}

Test(disk, one_broker_at_a_time_and_readers_beside_it)
{
	struct rmq_disk *a, *b, *ro;
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_CREATE, &a, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_CREATE, &b, err, sizeof(err)),
	    -EBUSY);
	char want[64];
	snprintf(want, sizeof(want), "in use by another broker (pid %ld)",
	    (long)getpid());
	cr_assert(strstr(err, want), "%s", err);
	cr_assert(strncmp(err, dir, strlen(dir)) == 0, "%s", err);
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_READONLY, &ro, err,
			 sizeof(err)),
	    0, "a check needs no lock: %s", err);
	rmq_disk_close(ro);
	rmq_disk_close(a);
	cr_assert_eq(rmq_disk_open(dir, 0, &b, err, sizeof(err)), 0,
	    "free once the holder closed: %s", err);
	rmq_disk_close(b);
}

Test(disk, a_newer_format_is_refused_and_kept)
{
	mkdir(dir, 0700);
	write_format(RMQ_DISK_FORMAT + 1);
	struct rmq_disk *d;
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_CREATE, &d, err, sizeof(err)),
	    -EPROTO);
	char want[256];
	snprintf(want, sizeof(want),
	    "%s/data.mdb: format %u, newer than this ringmq's (%u)", dir,
	    RMQ_DISK_FORMAT + 1, RMQ_DISK_FORMAT);
	cr_assert(strstr(err, want), "%s", err);
	/* Read-only, the same; and the record is still the newer one. */
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_READONLY, &d, err,
			 sizeof(err)),
	    -EPROTO);
	write_format(0);
	cr_assert_eq(rmq_disk_open(dir, 0, &d, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "format 0 is not a RingMQ format"), "%s", err);
}

Test(disk, a_damaged_file_is_named_and_left_as_it_is)
{
	mkdir(dir, 0700);
	char path[256];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 16384; i++)
		fputc((i * 37) & 0xff, f);
	fclose(f);
	struct rmq_disk *d;
	cr_assert_lt(rmq_disk_open(dir, RMQ_DISK_CREATE, &d, err, sizeof(err)),
	    0);
	cr_assert(strstr(err, path), "%s", err);
	cr_assert(strstr(err, "not an LMDB environment"), "%s", err);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, 16384, "nothing overwritten");
	f = fopen(path, "r");
	for (int i = 0; i < 64; i++)
		cr_assert_eq(fgetc(f), (i * 37) & 0xff);
	fclose(f);
}

Test(disk, an_lmdb_environment_without_a_format_is_not_ringmq_s)
{
	mkdir(dir, 0700);
	MDB_env *env;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	mdb_env_close(env);
	struct rmq_disk *d;
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_READONLY, &d, err,
			 sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "not a RingMQ data directory"), "%s", err);
}

Test(disk, paths_that_are_not_directories)
{
	FILE *f = fopen(dir, "w");
	cr_assert_not_null(f);
	fclose(f);
	struct rmq_disk *d;
	cr_assert_eq(rmq_disk_open(dir, RMQ_DISK_CREATE, &d, err, sizeof(err)),
	    -ENOTDIR);
	cr_assert(strstr(err, "not a directory"), "%s", err);
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/x", dir);
	cr_assert_lt(rmq_disk_open(sub, RMQ_DISK_CREATE, &d, err, sizeof(err)),
	    0);
	cr_assert(strstr(err, sub), "%s", err);
}

/* Not writable: for root no mode bit says so, so the directory is made a
 * read-only bind mount in a mount namespace of this test's process
 * (Criterion runs each test in a process of its own). */
Test(disk, a_directory_it_cannot_write)
{
	mkdir(dir, 0700);
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount(dir, dir, NULL, MS_BIND, NULL) != 0 ||
		    mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY,
			NULL) != 0)
			cr_skip_test("no mount namespace here: %s",
			    strerror(errno));
	} else {
		chmod(dir, 0500);
	}
	struct rmq_disk *d;
	int rc = rmq_disk_open(dir, RMQ_DISK_CREATE, &d, err, sizeof(err));
	cr_assert(rc == -EACCES || rc == -EROFS, "%d: %s", rc, err);
	cr_assert(strstr(err, "not writable"), "%s", err);
	cr_assert(strncmp(err, dir, strlen(dir)) == 0, "%s", err);
	if (geteuid() == 0)
		umount(dir);
}
