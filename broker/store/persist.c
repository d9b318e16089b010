/* broker/store/persist.c: reading the data directory back at start and
 * the writer thread that keeps it (persist.h).
 *
 * Retained messages are the database `retained`: the topic as the key
 * (LMDB keys hold 511 bytes: a longer topic is its first 384 bytes, a
 * zero byte, which no topic holds, and a 64-bit hash of all of it), the
 * record of record.h as the value, which holds the whole topic.
 * Persistent sessions are the database `sessions`, keyed the same way by
 * client identifier (which holds no zero byte either), one record each
 * with its subscriptions; the workers queue whole records, in one queue
 * so that the order of the changes to one identifier (a session ended on
 * one worker, a new one begun on another) is the order they are written.
 */
#include "persist.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk.h"
#include "hash.h"
#include "log.h"
#include "record.h"
#include "retain.h"

#define KEY_PREFIX 384
#define KEY_MAX (KEY_PREFIX + 1 + 8)
#define RETRY_MS 1000 /* after a failed commit */

/* A session record queued for the writer (rec NULL: a removal). */
struct persist_change {
	char *id;
	uint8_t *rec;
	size_t id_len, rec_len;
};

struct rmq_persist {
	struct rmq_persist_conf conf;
	struct rmq_disk *disk;
	MDB_env *env;
	MDB_dbi retained, sessions;
	pthread_mutex_t qmu; /* the session queue */
	struct persist_change *q;
	size_t nq, qcap;
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending, stop; /* under mu */
	_Atomic uint64_t gen; /* the generation changes are tagged with */
	_Atomic uint64_t done; /* the last one committed (or failed) */
	_Atomic uint64_t failed[64]; /* the last generations that failed */
	struct rmq_persist_stats st;
};

static uint64_t
clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The key of a topic's retained record, or of a client identifier's
 * session; returns its length. */
static size_t
store_key(const char *name, size_t len, uint8_t key[KEY_MAX])
{
	if (len <= KEY_PREFIX + 1 + 8) {
		memcpy(key, name, len);
		return len;
	}
	uint64_t h = rmq_hash64(name, len);
	memcpy(key, name, KEY_PREFIX);
	key[KEY_PREFIX] = 0;
	for (int i = 0; i < 8; i++)
		key[KEY_PREFIX + 1 + i] = (uint8_t)(h >> (56 - 8 * i));
	return KEY_MAX;
}

/* A record of the directory's that did not read (rc, why from its
 * decoder): "DIR/data.mdb: the WHAT 'KEY': why" in err.  Returns -ENOMEM
 * or -EINVAL. */
static int
record_bad(const struct rmq_disk *d, const char *what, const MDB_val *k, int rc,
    const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s/data.mdb: the %s '%.*s': %s", rmq_disk_dir(d),
	    what, (int)(k->mv_size > 200 ? 200 : k->mv_size),
	    (const char *)k->mv_data,
	    rc == -ENOMEM ? "no memory to read it" : why);
	return rc == -ENOMEM ? rc : -EINVAL;
}

/* Read the persistent sessions back, in txn; those expired are deleted.
 * Returns 0, LMDB's error, or a negative errno with err set. */
static int
persist_load_sessions(struct rmq_persist *p, MDB_txn *txn, uint64_t wall,
    char *err, size_t errlen)
{
	MDB_cursor *cur;
	int rc = mdb_dbi_open(txn, "sessions", MDB_CREATE, &p->sessions);
	if (rc == 0)
		rc = mdb_cursor_open(txn, p->sessions, &cur);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct rmq_record_session r;
		const char *why;
		int e =
		    rmq_record_session_decode(v.mv_data, v.mv_size, &r, &why);
		if (e != 0) {
			mdb_cursor_close(cur);
			return record_bad(p->disk, "session of client", &k, e,
			    why, err, errlen);
		}
		/* A session connected when the record was written counts
		 * as offline from now: the time it was down is not known. */
		uint64_t since = r.offline_since ? r.offline_since : wall;
		uint64_t left = UINT64_MAX;
		if (r.session_expiry != 0xFFFFFFFFu) {
			uint64_t end =
			    since + (uint64_t)r.session_expiry * 1000u;
			left = end > wall ? end - wall : 0;
		}
		if (left == 0) {
			free(r.subs);
			atomic_fetch_add(&p->st.expired_sessions_at_load, 1);
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			continue;
		}
		e = p->conf.session ? p->conf.session(p->conf.ctx, &r, left)
				    : 0;
		free(r.subs);
		if (e != 0) {
			snprintf(err, errlen,
			    "%s: the session of client '%.*s' could not be restored: %s",
			    rmq_disk_dir(p->disk), (int)r.client_id_len,
			    r.client_id, strerror(-e));
			mdb_cursor_close(cur);
			return e == -ENOMEM ? e : -ENOSPC;
		}
		atomic_fetch_add(&p->st.loaded_sessions, 1);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Read the retained messages back; expired ones are deleted on the
 * way.  A record that does not read stops the start, naming it. */
static int
persist_load(struct rmq_persist *p, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(p->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "retained", MDB_CREATE, &p->retained);
	if (rc == 0)
		rc = mdb_cursor_open(txn, p->retained, &cur);
	if (rc != 0) {
		snprintf(err, errlen, "%s/data.mdb: %s", rmq_disk_dir(p->disk),
		    rmq_disk_why(rc));
		if (txn)
			mdb_txn_abort(txn);
		return rmq_disk_errno(rc);
	}
	uint64_t mono = clock_ms(CLOCK_MONOTONIC),
		 wall = clock_ms(CLOCK_REALTIME);
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct rmq_msg *m;
		const char *why;
		int r = rmq_record_msg_decode(v.mv_data, v.mv_size, mono, wall,
		    &m, &why);
		if (r == -ETIME) {
			atomic_fetch_add(&p->st.expired_at_load, 1);
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			continue;
		}
		if (r != 0) {
			mdb_cursor_close(cur);
			mdb_txn_abort(txn);
			return record_bad(p->disk, "retained message of topic",
			    &k, r, why, err, errlen);
		}
		r = rmq_retain_put(p->conf.retain, m, 0, 0);
		rmq_msg_rele(m);
		if (r != 0) {
			snprintf(err, errlen,
			    "%s: no memory for the retained messages",
			    rmq_disk_dir(p->disk));
			mdb_cursor_close(cur);
			mdb_txn_abort(txn);
			return r;
		}
		atomic_fetch_add(&p->st.loaded_retained, 1);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = persist_load_sessions(p, txn, wall, err, errlen);
	if (rc == -EINVAL || rc == -ENOMEM || rc == -ENOSPC) {
		mdb_txn_abort(txn);
		return rc;
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0) {
		snprintf(err, errlen, "%s/data.mdb: %s", rmq_disk_dir(p->disk),
		    rmq_disk_why(rc));
		return rmq_disk_errno(rc);
	}
	return 0;
}

/* Read-only: fn for each record of database `name` of d (none when the
 * database was never written); a nonzero return from fn, which sets err,
 * stops the walk with it. */
static int
persist_walk(struct rmq_disk *d, const char *name,
    int (*fn)(void *ctx, const MDB_val *k, const MDB_val *v, char *err,
	size_t errlen),
    void *ctx, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	int rc = mdb_txn_begin(rmq_disk_env(d), NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		snprintf(err, errlen, "%s/data.mdb: %s", rmq_disk_dir(d),
		    rmq_disk_why(rc));
		return rmq_disk_errno(rc);
	}
	rc = mdb_dbi_open(txn, name, 0, &dbi);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc == 0)
		rc = mdb_cursor_open(txn, dbi, &cur);
	MDB_val k, v;
	int bad = 0;
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((bad = fn(ctx, &k, &v, err, errlen)) != 0)
			break;
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (bad)
		return bad;
	if (rc != MDB_NOTFOUND) {
		snprintf(err, errlen, "%s/data.mdb: %s", rmq_disk_dir(d),
		    rmq_disk_why(rc));
		return rmq_disk_errno(rc);
	}
	return 0;
}

struct dump_ctx {
	struct rmq_disk *d;
	void (*retained)(void *ctx, const struct rmq_msg *m, uint64_t now);
	void (*session)(void *ctx, const struct rmq_record_session *r);
	void *ctx;
	uint64_t mono, wall, expired;
};

static int
dump_retained_one(void *ctx, const MDB_val *k, const MDB_val *v, char *err,
    size_t errlen)
{
	struct dump_ctx *c = ctx;
	struct rmq_msg *m;
	const char *why;
	int r = rmq_record_msg_decode(v->mv_data, v->mv_size, c->mono, c->wall,
	    &m, &why);
	if (r == -ETIME) {
		c->expired++;
		return 0;
	}
	if (r != 0)
		return record_bad(c->d, "retained message of topic", k, r, why,
		    err, errlen);
	c->retained(c->ctx, m, c->mono);
	rmq_msg_rele(m);
	return 0;
}

int
rmq_persist_dump_retained(struct rmq_disk *d,
    void (*fn)(void *ctx, const struct rmq_msg *m, uint64_t now_mono),
    void *ctx, uint64_t *expired, char *err, size_t errlen)
{
	struct dump_ctx c = { .d = d,
		.retained = fn,
		.ctx = ctx,
		.mono = clock_ms(CLOCK_MONOTONIC),
		.wall = clock_ms(CLOCK_REALTIME) };
	int rc =
	    persist_walk(d, "retained", dump_retained_one, &c, err, errlen);
	*expired = c.expired;
	return rc;
}

static int
dump_session_one(void *ctx, const MDB_val *k, const MDB_val *v, char *err,
    size_t errlen)
{
	struct dump_ctx *c = ctx;
	struct rmq_record_session r;
	const char *why;
	int e = rmq_record_session_decode(v->mv_data, v->mv_size, &r, &why);
	if (e != 0)
		return record_bad(c->d, "session of client", k, e, why, err,
		    errlen);
	c->session(c->ctx, &r);
	free(r.subs);
	return 0;
}

int
rmq_persist_dump_sessions(struct rmq_disk *d,
    void (*fn)(void *ctx, const struct rmq_record_session *r), void *ctx,
    char *err, size_t errlen)
{
	struct dump_ctx c = { .d = d, .session = fn, .ctx = ctx };
	return persist_walk(d, "sessions", dump_session_one, &c, err, errlen);
}

int
rmq_persist_open(const struct rmq_persist_conf *conf, struct rmq_persist **out,
    char *err, size_t errlen)
{
	struct rmq_persist *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "%s: no memory", conf->dir);
		return -ENOMEM;
	}
	p->conf = *conf;
	atomic_init(&p->gen, 1);
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->qmu, NULL);
	pthread_cond_init(&p->cv, NULL);
	int rc = rmq_disk_open_sized(conf->dir, RMQ_DISK_CREATE,
	    conf->max_bytes, &p->disk, err, errlen);
	if (rc == 0) {
		p->env = rmq_disk_env(p->disk);
		rc = persist_load(p, err, errlen);
	}
	if (rc != 0) {
		rmq_persist_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* Write the changes into txn. */
static int
persist_write(struct rmq_persist *p, MDB_txn *txn,
    const struct rmq_retain_change *c, long n)
{
	int64_t wall_minus_mono = (int64_t)clock_ms(CLOCK_REALTIME) -
	    (int64_t)clock_ms(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		uint8_t key[KEY_MAX];
		MDB_val k = { store_key(c[i].topic, c[i].len, key), key };
		int rc;
		if (c[i].m == NULL) {
			rc = mdb_del(txn, p->retained, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		} else {
			/* Written in place: LMDB hands out the space. */
			MDB_val v = { rmq_record_msg_size(c[i].m), NULL };
			rc = mdb_put(txn, p->retained, &k, &v, MDB_RESERVE);
			if (rc == 0)
				rmq_record_msg_encode(c[i].m, wall_minus_mono,
				    v.mv_data);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Write the queued session changes into txn, in order. */
static int
persist_write_sessions(struct rmq_persist *p, MDB_txn *txn,
    const struct persist_change *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t key[KEY_MAX];
		MDB_val k = { store_key(q[i].id, q[i].id_len, key), key };
		int rc;
		if (q[i].rec == NULL) {
			rc = mdb_del(txn, p->sessions, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		} else {
			MDB_val v = { q[i].rec_len, q[i].rec };
			rc = mdb_put(txn, p->sessions, &k, &v, 0);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void
changes_free(struct persist_change *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(q[i].id);
		free(q[i].rec);
	}
	free(q);
}

/* A failed commit's session changes go back before those queued since. */
static void
changes_requeue(struct rmq_persist *p, struct persist_change *q, size_t n)
{
	pthread_mutex_lock(&p->qmu);
	struct persist_change *all = malloc((n + p->nq) * sizeof(*all));
	if (all != NULL) {
		memcpy(all, q, n * sizeof(*q));
		if (p->nq)
			memcpy(all + n, p->q, p->nq * sizeof(*q));
		free(p->q);
		p->q = all;
		p->nq += n;
		p->qcap = p->nq;
		free(q);
		q = NULL;
	}
	pthread_mutex_unlock(&p->qmu);
	if (q != NULL) {
		rmq_log(RMQ_LOG_ERROR,
		    "%s: no memory to retry %zu session changes: dropped",
		    rmq_disk_dir(p->disk), n);
		changes_free(q, n);
	}
}

/* Take what changed, commit it, say so.  Returns 0 or LMDB's error. */
static int
persist_commit(struct rmq_persist *p)
{
	uint64_t gen = atomic_fetch_add(&p->gen, 1);
	struct rmq_retain_change *c;
	long n = rmq_retain_take(p->conf.retain, &c);
	pthread_mutex_lock(&p->qmu);
	struct persist_change *q = p->q;
	size_t nq = p->nq;
	p->q = NULL;
	p->nq = p->qcap = 0;
	pthread_mutex_unlock(&p->qmu);
	int rc = 0;
	if (n < 0) {
		rc = ENOMEM;
		if (nq)
			changes_requeue(p, q, nq);
	} else if (n > 0 || nq > 0) {
		uint64_t t0 = clock_us();
		MDB_txn *txn;
		rc = mdb_txn_begin(p->env, NULL, 0, &txn);
		if (rc == 0 &&
		    ((rc = persist_write(p, txn, c, n)) != 0 ||
			(rc = persist_write_sessions(p, txn, q, nq)) != 0))
			mdb_txn_abort(txn);
		else if (rc == 0)
			rc = mdb_txn_commit(txn);
		if (rc == 0) {
			atomic_fetch_add(&p->st.commits, 1);
			atomic_fetch_add(&p->st.records, (uint64_t)n + nq);
			atomic_fetch_add(&p->st.sync_us, clock_us() - t0);
			rmq_retain_changes_free(c, n);
			changes_free(q, nq);
		} else {
			rmq_retain_remark(p->conf.retain, c, n);
			if (nq)
				changes_requeue(p, q, nq);
		}
	}
	if (rc != 0) {
		atomic_fetch_add(&p->st.failures, 1);
		if (!atomic_exchange(&p->st.failing, 1))
			rmq_log(RMQ_LOG_ERROR,
			    "%s: changes not written, retried every %u ms: %s",
			    rmq_disk_dir(p->disk), RETRY_MS,
			    rc == ENOMEM ? "no memory" : rmq_disk_why(rc));
	} else if (n > 0 && atomic_exchange(&p->st.failing, 0)) {
		rmq_log(RMQ_LOG_NOTICE, "%s: changes written again",
		    rmq_disk_dir(p->disk));
	}
	if (rc != 0)
		atomic_store(&p->failed[gen % 64], gen);
	atomic_store(&p->done, gen);
	if (p->conf.committed)
		p->conf.committed(p->conf.ctx, gen, rc == 0);
	return rc;
}

static void
deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *
persist_thread(void *arg)
{
	struct rmq_persist *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->pending && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		if (p->conf.interval_ms) {
			/* Changes wait for the interval's end (or the stop). */
			struct timespec ts;
			deadline_in(&ts, p->conf.interval_ms);
			while (!p->stop &&
			    pthread_cond_timedwait(&p->cv, &p->mu, &ts) !=
				ETIMEDOUT)
				;
			if (p->stop)
				break;
		}
		p->pending = 0;
		pthread_mutex_unlock(&p->mu);
		int rc = persist_commit(p);
		pthread_mutex_lock(&p->mu);
		if (rc != 0) {
			/* Retried after a pause, or at the stop. */
			struct timespec ts;
			deadline_in(&ts, RETRY_MS);
			while (!p->stop &&
			    pthread_cond_timedwait(&p->cv, &p->mu, &ts) !=
				ETIMEDOUT)
				;
			p->pending = 1;
		}
	}
	pthread_mutex_unlock(&p->mu);
	/* What is left goes to disk before the broker exits. */
	persist_commit(p);
	return NULL;
}

int
rmq_persist_start(struct rmq_persist *p)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&p->cv);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	rmq_retain_track(p->conf.retain, &p->gen);
	int rc = pthread_create(&p->thread, NULL, persist_thread, p);
	if (rc != 0)
		return -rc;
	p->running = 1;
	return 0;
}

uint64_t
rmq_persist_session(struct rmq_persist *p, const char *id, size_t id_len,
    uint8_t *rec, size_t rec_len)
{
	char *copy = malloc(id_len ? id_len : 1);
	if (copy == NULL) {
		free(rec);
		return 0;
	}
	memcpy(copy, id, id_len);
	pthread_mutex_lock(&p->qmu);
	if (p->nq == p->qcap) {
		size_t cap = p->qcap ? p->qcap * 2 : 64;
		struct persist_change *q = realloc(p->q, cap * sizeof(*q));
		if (q == NULL) {
			pthread_mutex_unlock(&p->qmu);
			free(copy);
			free(rec);
			return 0;
		}
		p->q = q;
		p->qcap = cap;
	}
	p->q[p->nq++] =
	    (struct persist_change){ copy, rec, id_len, rec ? rec_len : 0 };
	uint64_t gen = atomic_load(&p->gen);
	pthread_mutex_unlock(&p->qmu);
	rmq_persist_changed(p);
	return gen;
}

void
rmq_persist_changed(struct rmq_persist *p)
{
	pthread_mutex_lock(&p->mu);
	if (!p->pending) {
		p->pending = 1;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

uint64_t
rmq_persist_committed(const struct rmq_persist *p)
{
	return atomic_load(&p->done);
}

int
rmq_persist_failed(const struct rmq_persist *p, uint64_t gen)
{
	return atomic_load(&p->failed[gen % 64]) == gen;
}

const struct rmq_persist_stats *
rmq_persist_stats(const struct rmq_persist *p)
{
	return &p->st;
}

void
rmq_persist_close(struct rmq_persist *p)
{
	if (p == NULL)
		return;
	if (p->running) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		rmq_retain_track(p->conf.retain, NULL);
	}
	rmq_disk_close(p->disk);
	changes_free(p->q, p->nq);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->qmu);
	free(p);
}
