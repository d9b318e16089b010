/* broker/store_cmd.c: `ringmq store check DIR` and `ringmq store dump
 * DIR`, a data directory read offline: opened read-only (no lock is taken,
 * so it may run beside the broker that owns the directory, on the snapshot
 * LMDB gives a reader).  check verifies the format and reads every record
 * of every database, which reads every page; dump prints what the
 * directory holds, as a broker started on it would read it.  Neither
 * changes anything. */
#include "store_cmd.h"

#include <stdio.h>
#include <string.h>

#include "disk.h"
#include "msg.h"
#include "persist.h"
#include "record.h"

static int
store_usage(void)
{
	fprintf(stderr,
	    "usage: ringmq store check DIR | ringmq store dump DIR\n");
	return 2;
}

static void
dump_one(void *ctx, const struct rmq_msg *m, uint64_t now_mono)
{
	uint64_t *n = ctx;
	(*n)++;
	printf("retained %.*s (QoS %u, %u bytes", (int)m->topic.len, m->topic.p,
	    m->qos, m->payload.len);
	if (m->has_expiry)
		printf(", expires in %u s", rmq_msg_expiry_left(m, now_mono));
	printf(")\n");
}

static void
dump_session(void *ctx, const struct rmq_record_session *r, uint64_t queued)
{
	uint64_t *n = ctx;
	(*n)++;
	printf("session %.*s (MQTT %s, ", (int)r->client_id_len, r->client_id,
	    r->version == RMQ_V5         ? "5.0"
		: r->version == RMQ_V311 ? "3.1.1"
					 : "3.1");
	if (r->session_expiry == 0xFFFFFFFFu)
		printf("never expires");
	else
		printf("expires %u s after its connection ends",
		    r->session_expiry);
	printf(", %s, %u subscription%s, %llu queued)\n",
	    r->offline_since ? "offline" : "connected when written", r->nsubs,
	    r->nsubs == 1 ? "" : "s", (unsigned long long)queued);
	for (uint32_t i = 0; i < r->nsubs; i++)
		printf("  %.*s QoS %u\n", (int)r->subs[i].len,
		    r->subs[i].filter, r->subs[i].opt.qos);
}

static int
store_dump(struct rmq_disk *d, const char *dir)
{
	char err[4400];
	uint64_t n = 0, expired = 0;
	printf("%s: format %u\n", dir, rmq_disk_format(d));
	if (rmq_persist_dump_retained(d, dump_one, &n, &expired, err,
		sizeof(err)) != 0) {
		fprintf(stderr, "ringmq: store dump: %s\n", err);
		return 1;
	}
	uint64_t sessions = 0;
	if (rmq_persist_dump_sessions(d, dump_session, &sessions, err,
		sizeof(err)) != 0) {
		fprintf(stderr, "ringmq: store dump: %s\n", err);
		return 1;
	}
	printf("%s: %llu retained message%s", dir, (unsigned long long)n,
	    n == 1 ? "" : "s");
	if (expired)
		printf(" (and %llu expired, removed at the next start)",
		    (unsigned long long)expired);
	printf(", %llu session%s\n", (unsigned long long)sessions,
	    sessions == 1 ? "" : "s");
	return 0;
}

int
rmq_store_command(int argc, char **argv)
{
	if (argc != 4 ||
	    (strcmp(argv[2], "check") != 0 && strcmp(argv[2], "dump") != 0))
		return store_usage();
	const char *what = argv[2];
	const char *dir = argv[3];
	char err[4400];
	struct rmq_disk *d;
	if (rmq_disk_open(dir, RMQ_DISK_READONLY, &d, err, sizeof(err)) != 0) {
		fprintf(stderr, "ringmq: store %s: %s\n", what, err);
		return 1;
	}
	if (strcmp(what, "dump") == 0) {
		int rc = store_dump(d, dir);
		rmq_disk_close(d);
		return rc;
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
