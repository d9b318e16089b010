/* broker/store_cmd.c: `ringmq store check DIR`, a data directory checked
 * offline: opened read-only (no lock is taken, so it may run beside the
 * broker that owns the directory, on the snapshot LMDB gives a reader),
 * its format verified, and every record of every database read, which
 * reads every page.  It says what it found, and changes nothing. */
#include "store_cmd.h"

#include <stdio.h>
#include <string.h>

#include "disk.h"

static int
store_usage(void)
{
	fprintf(stderr, "usage: ringmq store check DIR\n");
	return 2;
}

int
rmq_store_command(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[2], "check") != 0)
		return store_usage();
	const char *dir = argv[3];
	char err[4400];
	struct rmq_disk *d;
	if (rmq_disk_open(dir, RMQ_DISK_READONLY, &d, err, sizeof(err)) != 0) {
		fprintf(stderr, "ringmq: store check: %s\n", err);
		return 1;
	}
	struct rmq_disk_report r;
	int rc = rmq_disk_check(d, &r, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "ringmq: store check: %s\n", err);
		rmq_disk_close(d);
		return 1;
	}
	printf("%s: format %u, %.1f MiB in use, %u database%s\n", dir,
	    rmq_disk_format(d), (double)r.bytes / 1048576.0, r.ndbs,
	    r.ndbs == 1 ? "" : "s");
	for (unsigned i = 0; i < r.ndbs; i++)
		printf("  %-16s %llu record%s\n", r.dbs[i].name,
		    (unsigned long long)r.dbs[i].records,
		    r.dbs[i].records == 1 ? "" : "s");
	printf("%s: OK\n", dir);
	rmq_disk_close(d);
	return 0;
}
