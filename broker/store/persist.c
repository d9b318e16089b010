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
#include "grow.h"
#include "hash.h"
#include "log.h"
#include "record.h"
#include "retain.h"

#define KEY_PREFIX 384
#define KEY_MAX (KEY_PREFIX + 1 + 8)
#define RETRY_MS 1000 /* after a failed commit */

/* Queue changes a lane handed in: one worker's turn, tagged with the
 * generation they belong to. */
struct lane_chunk {
	struct lane_chunk *next;
	uint64_t tag;
	size_t n;
	struct rmq_qchange *c;
};

struct persist_lane {
	pthread_mutex_t mu;
	struct lane_chunk *head, **tail;
};

/* An open-addressing table of (kind, key, id): the writer's view of one
 * batch (messages and queue entries) and, at the open, the messages read
 * and the sessions' keys. */
enum { QT_MSG = 1, QT_QUEUED = 2, QT_KEY = 3 };
struct qent {
	uint64_t key, id;
	uint64_t to; /* QT_KEY: the key the session has now */
	struct rmq_msg *msg;
	uint32_t n; /* QT_MSG: entries that point at it */
	uint16_t pid;
	uint8_t kind, qos, state, live;
};

struct qtab {
	struct qent *e;
	size_t cap, n;
};

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
	MDB_dbi retained, sessions, msgs, queues, refs, q2in;
	struct persist_lane *lanes;
	unsigned nlanes;
	struct lane_chunk *held; /* taken from the lanes, not yet written */
	struct qtab batch;
	_Atomic uint64_t next_id;
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

/* Keys hold numbers big-endian, so that they sort as the numbers do. */
static void
be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
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
	be64(key + KEY_PREFIX + 1, h);
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

/* ---- the queues of persistent sessions ---- */

static size_t
qt_hash(uint8_t kind, uint64_t key, uint64_t id)
{
	uint64_t h =
	    (key ^ (id * 0x9E3779B97F4A7C15ull) ^ kind) * 0xBF58476D1CE4E5B9ull;
	return (size_t)(h ^ h >> 31);
}

/* The entry for (kind, key, id), made (zeroed, live) when add is set and
 * it is missing; NULL when missing, or out of memory. */
static struct qent *
qt_get(struct qtab *t, uint8_t kind, uint64_t key, uint64_t id, int add)
{
	if (add && (t->n + 1) * 4 > t->cap * 3) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct qent *e = calloc(cap, sizeof(*e));
		if (e == NULL)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			if (t->e[i].kind == 0)
				continue;
			size_t j =
			    qt_hash(t->e[i].kind, t->e[i].key, t->e[i].id) &
			    (cap - 1);
			while (e[j].kind)
				j = (j + 1) & (cap - 1);
			e[j] = t->e[i];
		}
		free(t->e);
		t->e = e;
		t->cap = cap;
	}
	if (t->cap == 0)
		return NULL;
	size_t j = qt_hash(kind, key, id) & (t->cap - 1);
	for (; t->e[j].kind; j = (j + 1) & (t->cap - 1))
		if (t->e[j].kind == kind && t->e[j].key == key &&
		    t->e[j].id == id)
			return &t->e[j];
	if (!add)
		return NULL;
	t->n++;
	t->e[j] =
	    (struct qent){ .kind = kind, .key = key, .id = id, .live = 1 };
	return &t->e[j];
}

/* Empty the table for about n entries: sized at once (no rehash on the
 * way), its memory kept from batch to batch unless far too large. */
static void
qt_reset(struct qtab *t, size_t n)
{
	size_t cap = 1024;
	while (cap < n * 2)
		cap *= 2;
	if (t->cap < cap || t->cap > cap * 8) {
		struct qent *e = calloc(cap, sizeof(*e));
		if (e != NULL) {
			free(t->e);
			t->e = e;
			t->cap = cap;
			t->n = 0;
			return;
		}
	}
	if (t->n)
		memset(t->e, 0, t->cap * sizeof(*t->e));
	t->n = 0;
}

/* One fewer queue entry points at message id on disk: the message goes
 * with the last (a count is kept in `refs` only above one). */
static int
msg_unref(struct rmq_persist *p, MDB_txn *txn, uint64_t id)
{
	uint8_t kb[8];
	be64(kb, id);
	MDB_val k = { 8, kb }, v;
	int rc = mdb_get(txn, p->refs, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = mdb_del(txn, p->msgs, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	if (rc != 0 || v.mv_size != 4)
		return rc ? rc : MDB_CORRUPTED;
	uint32_t n;
	memcpy(&n, v.mv_data, 4);
	if (n <= 2)
		return mdb_del(txn, p->refs, &k, NULL);
	n--;
	v = (MDB_val){ 4, &n };
	return mdb_put(txn, p->refs, &k, &v, 0);
}

/* Remove every queued message and QoS 2 id of session key. */
static int
queue_drop(struct rmq_persist *p, MDB_txn *txn, uint64_t key)
{
	MDB_cursor *cur;
	uint8_t kb[16];
	be64(kb, key);
	memset(kb + 8, 0, 8);
	MDB_val k = { 16, kb }, v;
	int rc = mdb_cursor_open(txn, p->queues, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16 || get_be64(k.mv_data) != key)
			break;
		uint64_t id = get_be64((const uint8_t *)k.mv_data + 8);
		if ((rc = mdb_cursor_del(cur, 0)) != 0 ||
		    (rc = msg_unref(p, txn, id)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	k = (MDB_val){ 10, kb };
	memset(kb + 8, 0, 2);
	if ((rc = mdb_cursor_open(txn, p->q2in, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 10 || get_be64(k.mv_data) != key)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
queued_put(struct rmq_persist *p, MDB_txn *txn, uint64_t key, uint64_t id,
    uint8_t qos, uint8_t state, uint16_t pid)
{
	uint8_t kb[16], vb[RMQ_RECORD_QUEUED];
	be64(kb, key);
	be64(kb + 8, id);
	struct rmq_record_queued q = { qos, state, pid };
	rmq_record_queued_encode(&q, vb);
	MDB_val k = { 16, kb }, v = { sizeof(vb), vb };
	return mdb_put(txn, p->queues, &k, &v, 0);
}

static int
q2in_change(struct rmq_persist *p, MDB_txn *txn, uint64_t key, uint16_t pid,
    int put)
{
	uint8_t kb[10], one = 1;
	be64(kb, key);
	kb[8] = (uint8_t)(pid >> 8);
	kb[9] = (uint8_t)pid;
	MDB_val k = { 10, kb }, v = { 1, &one };
	int rc = put ? mdb_put(txn, p->q2in, &k, &v, 0)
		     : mdb_del(txn, p->q2in, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Whether session key was dropped in this batch (keys sorted). */
static int
key_dropped(const uint64_t *keys, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && keys[lo] == key;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Write the lanes' changes of chunks tagged up to gen into txn.
 *
 * Each lane's changes are in the order its worker made them, but a
 * message is put by the worker that routed it and taken off by the
 * worker of the session it went to, possibly in the same batch: so every
 * put is applied first, into a table of the batch, and the changes of
 * the sessions' own workers after.  A message queued and delivered
 * within one batch is never written.  A lane's changes belong to the
 * batch of their tag, so a put is never in a later batch than its
 * removal. */
static int
persist_write_queues(struct rmq_persist *p, MDB_txn *txn, uint64_t gen,
    uint64_t *records)
{
	struct qtab *t = &p->batch;
	int rc = 0;
	uint64_t *dropped = NULL;
	size_t ndropped = 0, dcap = 0;
	size_t puts = 0;
	for (struct lane_chunk *ch = p->held; ch && ch->tag <= gen;
	     ch = ch->next)
		puts += ch->n;
	qt_reset(t, puts);
	for (struct lane_chunk *ch = p->held; ch && ch->tag <= gen;
	     ch = ch->next) {
		for (size_t i = 0; i < ch->n; i++) {
			const struct rmq_qchange *c = &ch->c[i];
			struct qent *e;
			if (c->op == RMQ_QOP_MSG) {
				if ((e = qt_get(t, QT_MSG, 0, c->id, 1)) ==
				    NULL)
					return ENOMEM;
				e->msg = c->msg;
			} else if (c->op == RMQ_QOP_PUT) {
				struct qent *m = qt_get(t, QT_MSG, 0, c->id, 0);
				if (m == NULL)
					continue; /* its MSG did not come */
				m->n++;
				if ((e = qt_get(t, QT_QUEUED, c->key, c->id,
					 1)) == NULL)
					return ENOMEM;
				e->qos = c->qos;
			}
		}
	}
	for (struct lane_chunk *ch = p->held; ch && ch->tag <= gen && rc == 0;
	     ch = ch->next) {
		for (size_t i = 0; i < ch->n && rc == 0; i++) {
			const struct rmq_qchange *c = &ch->c[i];
			struct qent *e = NULL;
			if (c->op == RMQ_QOP_STATE || c->op == RMQ_QOP_DEL)
				e = qt_get(t, QT_QUEUED, c->key, c->id, 0);
			switch (c->op) {
			case RMQ_QOP_STATE:
				if (e != NULL) {
					e->state = c->state;
					e->pid = c->pid;
				} else {
					rc = queued_put(p, txn, c->key, c->id,
					    c->qos, c->state, c->pid);
					++*records;
				}
				break;
			case RMQ_QOP_DEL:
				if (e != NULL && e->live) {
					e->live = 0;
					qt_get(t, QT_MSG, 0, c->id, 0)->n--;
					atomic_fetch_add(&p->st.queued_skipped,
					    1);
					break;
				}
				uint8_t kb[16];
				be64(kb, c->key);
				be64(kb + 8, c->id);
				MDB_val k = { 16, kb };
				rc = mdb_del(txn, p->queues, &k, NULL);
				if (rc == 0)
					rc = msg_unref(p, txn, c->id);
				else if (rc == MDB_NOTFOUND)
					rc = 0;
				++*records;
				break;
			case RMQ_QOP_DROP:
				if (ndropped == dcap) {
					dcap = dcap ? dcap * 2 : 16;
					uint64_t *d =
					    realloc(dropped, dcap * sizeof(*d));
					if (d == NULL) {
						rc = ENOMEM;
						break;
					}
					dropped = d;
				}
				dropped[ndropped++] = c->key;
				rc = queue_drop(p, txn, c->key);
				++*records;
				break;
			case RMQ_QOP_Q2IN_PUT:
			case RMQ_QOP_Q2IN_DEL:
				rc = q2in_change(p, txn, c->key, c->pid,
				    c->op == RMQ_QOP_Q2IN_PUT);
				++*records;
				break;
			default: break;
			}
		}
	}
	if (ndropped > 1)
		qsort(dropped, ndropped, sizeof(*dropped), u64_cmp);
	/* What is left of the batch's puts: the entries, then each message
	 * that one of them still points at, with its count. */
	for (size_t i = 0; i < t->cap && rc == 0; i++) {
		struct qent *e = &t->e[i];
		if (e->kind != QT_QUEUED || !e->live)
			continue;
		if (ndropped && key_dropped(dropped, ndropped, e->key)) {
			e->live = 0;
			qt_get(t, QT_MSG, 0, e->id, 0)->n--;
			continue;
		}
		rc =
		    queued_put(p, txn, e->key, e->id, e->qos, e->state, e->pid);
		++*records;
		atomic_fetch_add(&p->st.queued_written, 1);
	}
	int64_t wall_minus_mono = (int64_t)clock_ms(CLOCK_REALTIME) -
	    (int64_t)clock_ms(CLOCK_MONOTONIC);
	for (size_t i = 0; i < t->cap && rc == 0; i++) {
		struct qent *e = &t->e[i];
		if (e->kind != QT_MSG || e->n == 0)
			continue;
		uint8_t kb[8];
		be64(kb, e->id);
		MDB_val k = { 8, kb },
			v = { rmq_record_msg_size(e->msg), NULL };
		rc = mdb_put(txn, p->msgs, &k, &v, MDB_RESERVE);
		if (rc == 0)
			rmq_record_msg_encode(e->msg, wall_minus_mono,
			    v.mv_data);
		if (rc == 0 && e->n > 1) {
			v = (MDB_val){ 4, &e->n };
			rc = mdb_put(txn, p->refs, &k, &v, 0);
		}
		++*records;
	}
	free(dropped);
	return rc;
}

/* Let go of the chunks written (tagged up to gen). */
static void
chunks_done(struct rmq_persist *p, uint64_t gen)
{
	while (p->held && p->held->tag <= gen) {
		struct lane_chunk *ch = p->held;
		p->held = ch->next;
		atomic_fetch_sub(&p->st.backlog, ch->n);
		for (size_t i = 0; i < ch->n; i++)
			if (ch->c[i].op == RMQ_QOP_MSG)
				rmq_msg_rele(ch->c[i].msg);
		free(ch->c);
		free(ch);
	}
}

/* Move what the lanes hold to the end of p->held, each lane's chunks in
 * their order (tags only grow along a lane, and chunks of different
 * lanes are independent but for the put-first rule above, so held is
 * kept sorted by tag with a merge). */
static void
lanes_take(struct rmq_persist *p)
{
	for (unsigned l = 0; l < p->nlanes; l++) {
		struct persist_lane *ln = &p->lanes[l];
		pthread_mutex_lock(&ln->mu);
		struct lane_chunk *list = ln->head;
		ln->head = NULL;
		ln->tail = &ln->head;
		pthread_mutex_unlock(&ln->mu);
		/* Merge by tag into held (stable: held first on ties). */
		struct lane_chunk **pp = &p->held;
		while (list) {
			while (*pp && (*pp)->tag <= list->tag)
				pp = &(*pp)->next;
			struct lane_chunk *next = list->next;
			list->next = *pp;
			*pp = list;
			pp = &list->next;
			list = next;
		}
	}
}

uint64_t
rmq_persist_msg_id(struct rmq_persist *p)
{
	return atomic_fetch_add_explicit(&p->next_id, 1, memory_order_relaxed);
}

uint64_t
rmq_persist_lane_put(struct rmq_persist *p, unsigned lane,
    struct rmq_qchange *c, size_t n)
{
	struct lane_chunk *ch = malloc(sizeof(*ch));
	if (ch == NULL || lane >= p->nlanes) {
		free(ch);
		return 0;
	}
	ch->next = NULL;
	ch->n = n;
	ch->c = c;
	struct persist_lane *ln = &p->lanes[lane];
	pthread_mutex_lock(&ln->mu);
	/* Read under the lane's lock: the writer moves the generation on
	 * before it takes the lanes, so a chunk tagged g is taken by the
	 * commit of g or (tagged g + 1 meanwhile) left for the next. */
	ch->tag = atomic_load(&p->gen);
	*ln->tail = ch;
	ln->tail = &ch->next;
	pthread_mutex_unlock(&ln->mu);
	uint64_t tag = ch->tag;
	uint64_t was = atomic_fetch_add(&p->st.backlog, n);
	if (was <= RMQ_PERSIST_BACKLOG_MAX && was + n > RMQ_PERSIST_BACKLOG_MAX)
		atomic_fetch_add(&p->st.behind, 1);
	rmq_persist_changed(p);
	return tag;
}

int
rmq_persist_behind(const struct rmq_persist *p)
{
	return atomic_load_explicit(&p->st.backlog, memory_order_relaxed) >
	    RMQ_PERSIST_BACKLOG_MAX;
}

/* ---- reading the queues back ---- */

/* Read the queued messages back into the sessions (keys: each stored
 * session key to the key its session has now), and the QoS 2 ids; then
 * drop the messages no entry points at and set the counts of the others.
 * What belongs to no session is removed. */
static int
persist_load_queues(struct rmq_persist *p, MDB_txn *txn, struct qtab *keys,
    uint64_t mono, uint64_t wall, char *err, size_t errlen)
{
	struct qtab msgs = { 0 };
	struct {
		uint64_t from, to, id;
		uint8_t v[RMQ_RECORD_QUEUED];
	} *mv = NULL;
	uint32_t nmv = 0, mvcap = 0;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;
	if ((rc = mdb_dbi_open(txn, "msgs", MDB_CREATE, &p->msgs)) != 0 ||
	    (rc = mdb_dbi_open(txn, "queues", MDB_CREATE, &p->queues)) != 0 ||
	    (rc = mdb_dbi_open(txn, "refs", MDB_CREATE, &p->refs)) != 0 ||
	    (rc = mdb_dbi_open(txn, "q2in", MDB_CREATE, &p->q2in)) != 0 ||
	    (rc = mdb_cursor_open(txn, p->queues, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;) {
		const char *why = NULL;
		struct rmq_record_queued q;
		if (k.mv_size != 16 ||
		    rmq_record_queued_decode(v.mv_data, v.mv_size, &q, &why)) {
			rc = record_bad(p->disk, "queued message", &k, -EINVAL,
			    why ? why
				: "a key that is not a session and a message",
			    err, errlen);
			goto out;
		}
		uint64_t key = get_be64(k.mv_data),
			 id = get_be64((const uint8_t *)k.mv_data + 8);
		struct qent *s = qt_get(keys, QT_KEY, key, 0, 0);
		struct qent *m = qt_get(&msgs, QT_MSG, 0, id, 1);
		if (m == NULL) {
			rc = -ENOMEM;
			goto nomem;
		}
		if (m->msg == NULL && m->live) {
			/* First met: read it (live 0 and no msg: gone). */
			uint8_t kb[8];
			be64(kb, id);
			MDB_val mk = { 8, kb }, mval;
			int r = mdb_get(txn, p->msgs, &mk, &mval);
			if (r == 0)
				r = rmq_record_msg_decode(mval.mv_data,
				    mval.mv_size, mono, wall, &m->msg, &why);
			else if (r == MDB_NOTFOUND)
				r = -ENOENT;
			if (r == -EINVAL) {
				rc = record_bad(p->disk, "queued message", &mk,
				    r, why, err, errlen);
				goto out;
			}
			if (r == -ENOMEM) {
				rc = r;
				goto nomem;
			}
			if (r != 0)
				m->live = 0; /* expired, or missing */
			else
				m->msg->disk_id = id;
		}
		int e = -ENOENT;
		if (s != NULL && m->msg != NULL)
			e = p->conf.queued
			    ? p->conf.queued(p->conf.ctx, s->to, m->msg, &q)
			    : -ENOENT;
		if (e == -ENOENT) {
			/* No session for it, or its message expired or is
			 * missing: removed. */
			if (s == NULL)
				atomic_fetch_add(&p->st.orphans_at_load, 1);
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				goto out;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		if (e != 0) {
			rc = e;
			goto nomem;
		}
		m->n++;
		atomic_fetch_add(&p->st.loaded_queued, 1);
		if (s->to != key) {
			/* The session came back under another key: its
			 * entries move with it. */
			if (rmq_grow(&mv, &mvcap, nmv + 1, sizeof(*mv), 64,
				UINT32_MAX) != 0) {
				rc = -ENOMEM;
				goto nomem;
			}
			mv[nmv].from = key;
			mv[nmv].to = s->to;
			mv[nmv].id = id;
			memcpy(mv[nmv].v, v.mv_data, RMQ_RECORD_QUEUED);
			nmv++;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (rc != MDB_NOTFOUND)
		goto out;
	rc = 0;
	for (uint32_t i = 0; i < nmv && rc == 0; i++) {
		uint8_t kb[16];
		be64(kb, mv[i].from);
		be64(kb + 8, mv[i].id);
		k = (MDB_val){ 16, kb };
		v = (MDB_val){ RMQ_RECORD_QUEUED, mv[i].v };
		if ((rc = mdb_del(txn, p->queues, &k, NULL)) == 0) {
			be64(kb, mv[i].to);
			rc = mdb_put(txn, p->queues, &k, &v, 0);
		}
	}
	/* The messages: those no entry points at go, the others get their
	 * count; the next id is past the last. */
	uint64_t last = 0;
	if (rc == 0)
		rc = mdb_cursor_open(txn, p->msgs, &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;) {
		if (k.mv_size != 8) {
			rc = record_bad(p->disk, "message", &k, -EINVAL,
			    "a key that is not a message id", err, errlen);
			goto out;
		}
		uint64_t id = get_be64(k.mv_data);
		last = id;
		struct qent *m = qt_get(&msgs, QT_MSG, 0, id, 0);
		uint8_t kb[8];
		be64(kb, id);
		MDB_val rk = { 8, kb };
		if (m == NULL || m->n == 0) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				goto out;
			rc = mdb_del(txn, p->refs, &rk, NULL);
			if (rc != 0 && rc != MDB_NOTFOUND)
				goto out;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		MDB_val rv = { 4, &m->n };
		rc = m->n > 1 ? mdb_put(txn, p->refs, &rk, &rv, 0)
			      : mdb_del(txn, p->refs, &rk, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto out;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != MDB_NOTFOUND)
		goto out;
	mdb_cursor_close(cur);
	cur = NULL;
	atomic_store(&p->next_id, last + 1);
	/* QoS 2 ids received; those that move with their session are put
	 * under its new key after the walk. */
	nmv = 0;
	if ((rc = mdb_cursor_open(txn, p->q2in, &cur)) != 0)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;) {
		if (k.mv_size != 10) {
			rc = record_bad(p->disk, "QoS 2 id", &k, -EINVAL,
			    "a key that is not a session and a packet id", err,
			    errlen);
			goto out;
		}
		const uint8_t *kb = k.mv_data;
		uint64_t key = get_be64(kb);
		struct qent *s = qt_get(keys, QT_KEY, key, 0, 0);
		uint16_t pid = (uint16_t)(kb[8] << 8 | kb[9]);
		int e = s == NULL || pid == 0 ? -ENOENT
		    : p->conf.q2in ? p->conf.q2in(p->conf.ctx, s->to, pid)
				   : 0;
		if (e != 0 && e != -ENOENT) {
			rc = e;
			goto nomem;
		}
		if (e == 0 && s->to != key) {
			if (rmq_grow(&mv, &mvcap, nmv + 1, sizeof(*mv), 64,
				UINT32_MAX) != 0) {
				rc = -ENOMEM;
				goto nomem;
			}
			mv[nmv].to = s->to;
			mv[nmv].id = pid;
			nmv++;
		}
		if (e != 0 || s->to != key) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				goto out;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != MDB_NOTFOUND)
		goto out;
	rc = 0;
	for (uint32_t i = 0; i < nmv && rc == 0; i++)
		rc = q2in_change(p, txn, mv[i].to, (uint16_t)mv[i].id, 1);
	goto out;
nomem:
	snprintf(err, errlen,
	    "%s: the queued messages could not be restored: %s",
	    rmq_disk_dir(p->disk), strerror(-rc));
out:
	if (cur)
		mdb_cursor_close(cur);
	for (size_t i = 0; i < msgs.cap; i++)
		if (msgs.e[i].msg)
			rmq_msg_rele(msgs.e[i].msg);
	free(msgs.e);
	free(mv);
	return rc;
}

/* Read the persistent sessions back, in txn; those expired are deleted.
 * Returns 0, LMDB's error, or a negative errno with err set. */
struct rewrite {
	struct rewrite *next;
	size_t klen, vlen;
	uint8_t b[];
};

static int
persist_load_sessions(struct rmq_persist *p, MDB_txn *txn, uint64_t wall,
    struct qtab *keys, char *err, size_t errlen)
{
	struct rewrite *rewrites = NULL;
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
		/* Its will, read as any stored message; one whose Message
		 * Expiry passed is dropped. */
		struct rmq_msg *will = NULL;
		if (r.will_rec) {
			uint64_t mono = clock_ms(CLOCK_MONOTONIC);
			e = rmq_record_msg_decode(r.will_rec, r.will_rec_len,
			    mono, wall, &will, &why);
			if (e != 0 && e != -ETIME) {
				free(r.subs);
				mdb_cursor_close(cur);
				return record_bad(p->disk,
				    "will of the session of client", &k, e, why,
				    err, errlen);
			}
			r.will = will;
			r.wall_minus_mono = (int64_t)wall - (int64_t)mono;
		}
		uint64_t key = r.key;
		e = p->conf.session
		    ? p->conf.session(p->conf.ctx, &r, left, &key)
		    : 0;
		struct qent *ke = NULL;
		if (e == 0 && r.key != 0 &&
		    (ke = qt_get(keys, QT_KEY, r.key, 0, 1)) == NULL)
			e = -ENOMEM;
		if (ke != NULL)
			ke->to = key;
		if (e == 0 && key != r.key) {
			/* Back under another key (or a version 1 record,
			 * which had none): the record says which, so that
			 * its queue follows it after another restart. */
			r.key = key;
			struct rewrite *rw = malloc(sizeof(*rw) + k.mv_size +
			    rmq_record_session_size(&r));
			if (rw == NULL) {
				e = -ENOMEM;
			} else {
				rw->klen = k.mv_size;
				rw->vlen = rmq_record_session_size(&r);
				memcpy(rw->b, k.mv_data, k.mv_size);
				rmq_record_session_encode(&r,
				    rw->b + k.mv_size);
				rw->next = rewrites;
				rewrites = rw;
			}
		}
		free(r.subs);
		if (will)
			rmq_msg_rele(will);
		if (e != 0) {
			snprintf(err, errlen,
			    "%s: the session of client '%.*s' could not be restored: %s",
			    rmq_disk_dir(p->disk), (int)r.client_id_len,
			    r.client_id, strerror(-e));
			rc = e == -ENOMEM ? e : -ENOSPC;
			break;
		}
		atomic_fetch_add(&p->st.loaded_sessions, 1);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	while (rewrites) {
		struct rewrite *rw = rewrites;
		rewrites = rw->next;
		MDB_val rk = { rw->klen, rw->b },
			rv = { rw->vlen, rw->b + rw->klen };
		if (rc == 0)
			rc = mdb_put(txn, p->sessions, &rk, &rv, 0);
		free(rw);
	}
	return rc;
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
	struct qtab keys = { 0 };
	if (rc == MDB_NOTFOUND)
		rc = persist_load_sessions(p, txn, wall, &keys, err, errlen);
	if (rc == 0)
		rc =
		    persist_load_queues(p, txn, &keys, mono, wall, err, errlen);
	free(keys.e);
	if (rc < 0) {
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
    int (*fn)(void *ctx, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
	char *err, size_t errlen),
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
		if ((bad = fn(ctx, txn, &k, &v, err, errlen)) != 0)
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
	void (*session)(void *ctx, const struct rmq_record_session *r,
	    uint64_t queued);
	void *ctx;
	uint64_t mono, wall, expired;
};

static int
dump_retained_one(void *ctx, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
    char *err, size_t errlen)
{
	(void)txn;
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
dump_session_one(void *ctx, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
    char *err, size_t errlen)
{
	struct dump_ctx *c = ctx;
	struct rmq_record_session r;
	const char *why;
	int e = rmq_record_session_decode(v->mv_data, v->mv_size, &r, &why);
	if (e != 0)
		return record_bad(c->d, "session of client", k, e, why, err,
		    errlen);
	/* Its queue: the entries under its key. */
	uint64_t queued = 0;
	MDB_dbi q;
	MDB_cursor *cur;
	if (r.key && mdb_dbi_open(txn, "queues", 0, &q) == 0 &&
	    mdb_cursor_open(txn, q, &cur) == 0) {
		uint8_t kb[16] = { 0 };
		be64(kb, r.key);
		MDB_val qk = { 16, kb }, qv;
		for (int rc = mdb_cursor_get(cur, &qk, &qv, MDB_SET_RANGE);
		     rc == 0 && qk.mv_size == 16 &&
		     get_be64(qk.mv_data) == r.key;
		     rc = mdb_cursor_get(cur, &qk, &qv, MDB_NEXT))
			queued++;
		mdb_cursor_close(cur);
	}
	c->session(c->ctx, &r, queued);
	free(r.subs);
	return 0;
}

int
rmq_persist_dump_sessions(struct rmq_disk *d,
    void (*fn)(void *ctx, const struct rmq_record_session *r, uint64_t queued),
    void *ctx, char *err, size_t errlen)
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
	p->nlanes = conf->lanes;
	p->lanes = calloc(p->nlanes ? p->nlanes : 1, sizeof(*p->lanes));
	if (p->lanes == NULL) {
		free(p);
		snprintf(err, errlen, "%s: no memory", conf->dir);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < p->nlanes; i++) {
		pthread_mutex_init(&p->lanes[i].mu, NULL);
		p->lanes[i].tail = &p->lanes[i].head;
	}
	atomic_init(&p->next_id, 1);
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
	lanes_take(p);
	int queued = p->held && p->held->tag <= gen;
	int rc = 0;
	if (n < 0) {
		rc = ENOMEM;
		if (nq)
			changes_requeue(p, q, nq);
	} else if (n > 0 || nq > 0 || queued) {
		uint64_t t0 = clock_us(), records = (uint64_t)n + nq;
		MDB_txn *txn;
		rc = mdb_txn_begin(p->env, NULL, 0, &txn);
		if (rc == 0 &&
		    ((rc = persist_write(p, txn, c, n)) != 0 ||
			(rc = persist_write_sessions(p, txn, q, nq)) != 0 ||
			(rc = persist_write_queues(p, txn, gen, &records)) !=
			    0))
			mdb_txn_abort(txn);
		else if (rc == 0)
			rc = mdb_txn_commit(txn);
		if (rc == 0) {
			atomic_fetch_add(&p->st.commits, 1);
			atomic_fetch_add(&p->st.records, records);
			atomic_fetch_add(&p->st.sync_us, clock_us() - t0);
			rmq_retain_changes_free(c, n);
			changes_free(q, nq);
			chunks_done(p, gen);
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
	} else if ((n > 0 || nq > 0 || queued) &&
	    atomic_exchange(&p->st.failing, 0)) {
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
	lanes_take(p);
	chunks_done(p, UINT64_MAX);
	for (unsigned i = 0; i < p->nlanes; i++)
		pthread_mutex_destroy(&p->lanes[i].mu);
	free(p->lanes);
	free(p->batch.e);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->qmu);
	free(p);
}
