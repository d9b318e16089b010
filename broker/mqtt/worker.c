/* broker/mqtt/worker.c: a worker loop's broker side: its session table, the
 * per-turn work (drain the inbox, flush sessions with output, send this
 * turn's delivery batches to other workers with one wake-up each), the
 * periodic tick, and the stop sequence.
 *
 * A batch for a worker whose loop sleeps is not queued: this thread
 * borrows that loop (loop.h) and delivers the batch itself, so a message
 * crossing loops at low load costs no wake-up of another thread.  A busy
 * worker is never borrowed; it takes its batches from the inbox.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "durable.h"
#include "grow.h"
#include "log.h"
#include "persist.h"
#include "worker_impl.h"

static void worker_turn(struct rmq_loop *loop);
static void worker_tick(struct rmq_loop *loop);
static void worker_stopping(struct rmq_loop *loop);
static void worker_drain(struct rmq_worker *w);
static int worker_pending(struct rmq_loop *loop);

int
rmq_worker_new(struct rmq_broker *b, unsigned id, struct rmq_worker **out)
{
	struct rmq_worker *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	int rc = b->ops->create(id, &w->loop);
	if (rc != 0) {
		free(w);
		return rc;
	}
	w->b = b;
	w->cfg = b->cfg;
	w->id = id;
	w->cpu = -1;
	for (unsigned j = 0; j < RMQ_MAX_LISTENERS; j++)
		w->listeners[j] =
		    (struct rmq_worker_listener){ .w = w, .idx = (uint8_t)j };
	w->loop->data = w;
	w->loop->tick_ms = 250;
	w->loop->hooks.turn = worker_turn;
	w->loop->hooks.tick = worker_tick;
	w->loop->hooks.stopping = worker_stopping;
	w->loop->hooks.pending = worker_pending;
	cds_wfcq_init(&w->inbox_head, &w->inbox_tail);
	w->dirty_tail = &w->dirty;
	*out = w;
	return 0;
}

static void
worker_inbox_free(struct rmq_inbox_msg *m)
{
	switch (m->kind) {
	case RMQ_INBOX_DELIVER:
		for (uint32_t i = 0; i < m->deliver.n; i++)
			rmq_msg_rele(m->deliver.d[i].it.msg);
		free(m->deliver.d);
		break;
	case RMQ_INBOX_ADOPT:
	case RMQ_INBOX_ACCEPT:
		rmq_conn_move_drop(&m->adopt.mv);
		free(m->adopt.bytes);
		break;
	case RMQ_INBOX_ROUTE:
		for (uint32_t i = 0; i < m->route.n; i++)
			rmq_msg_rele(m->route.m[i]);
		free(m->route.m);
		break;
	case RMQ_INBOX_CONFIG: free(m->config); break;
	case RMQ_INBOX_AUTH: break;
	case RMQ_INBOX_RELEASE:
		/* Unread at shutdown: the claim is answered as if the
		 * session were not here. */
		rmq_worker_release(NULL, 0, m->release.r);
		break;
	case RMQ_INBOX_CLAIMED:
	case RMQ_INBOX_TAIL:
	case RMQ_INBOX_STATE: free(m->claimed.image); break;
	case RMQ_INBOX_TAIL_TAKE:
		/* Unread at shutdown: the stub ends with the worker. */
		if (m->take.done)
			m->take.done(m->take.arg, NULL, 0);
		break;
	case RMQ_INBOX_LIST:
		/* Unread at shutdown: the part ends empty. */
		m->list.fn(m->list.arg, 0, NULL, 0, 0);
		break;
	case RMQ_INBOX_DRAIN: break;
	case RMQ_INBOX_PASS: rmq_worker_pass(NULL, m->pass, 0); break;
	case RMQ_INBOX_QUERY: rmq_worker_query(NULL, m->query.q, 0); break;
	case RMQ_INBOX_RETAIN_CLEAR: rmq_msg_rele(m->clear); break;
	case RMQ_INBOX_RUN: m->run.fn(m->run.arg, 0); break;
	}
	free(m);
}

void
rmq_worker_free(struct rmq_worker *w)
{
	struct cds_wfcq_node *node, *next;
	/* Offline sessions and undelivered messages go with the worker. */
	for (uint32_t i = 0; i < w->table_used; i++)
		if (w->table[i])
			rmq_session_destroy(w->table[i]);
	__cds_wfcq_for_each_blocking_safe(&w->inbox_head, &w->inbox_tail, node,
	    next)
	{
		worker_inbox_free(
		    caa_container_of(node, struct rmq_inbox_msg, node));
	}
	for (unsigned i = 0; i < RMQ_MAX_WORKERS; i++)
		if (w->out[i])
			worker_inbox_free(w->out[i]);
	cds_wfcq_destroy(&w->inbox_head, &w->inbox_tail);
	w->loop->ops->destroy(w->loop);
	free(w->table);
	free(w->free_slots);
	free(w->matches);
	free(w->picks);
	free(w->pick_groups);
	free(w->acks);
	for (uint32_t i = 0; i < w->dq_n; i++)
		if (w->dq[i].op == RMQ_QOP_MSG)
			rmq_msg_rele(w->dq[i].msg);
	free(w->dq);
	free(w);
}

uint64_t
rmq_workers_sum(struct rmq_broker *b, size_t offset)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < b->nworkers; i++)
		total += rmq_counter_get(
		    (rmq_counter *)((char *)&b->workers[i]->st + offset));
	return total;
}

const struct rmq_drop_reason rmq_drop_reasons[RMQ_DROP_REASONS] = {
	{ "queue_full", RMQ_STAT(dropped_queue_full) },
	{ "expired", RMQ_STAT(dropped_expired) },
	{ "too_large", RMQ_STAT(dropped_too_large) },
	{ "moved_twice", RMQ_STAT(dropped_moved_twice) },
};

void
rmq_workers_log_dropped(struct rmq_broker *b)
{
	char line[256];
	size_t len = 0;
	for (size_t i = 0; i < RMQ_DROP_REASONS; i++) {
		uint64_t n = rmq_workers_sum(b, rmq_drop_reasons[i].at);
		if (n && len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    "%s%s %llu", len ? ", " : "",
			    rmq_drop_reasons[i].why, (unsigned long long)n);
	}
	if (len)
		rmq_log(RMQ_LOG_WARNING,
		    "messages not delivered to a session since the start, by reason: %s",
		    line);
}

/* Give a slot back for reuse.  The stack of free slots grows only as
 * slots are freed, so a worker whose sessions all live keeps none; when it
 * cannot grow, the slot is simply never reused. */
static void
worker_slot_free(struct rmq_worker *w, uint32_t slot)
{
	if (rmq_grow(&w->free_slots, &w->free_cap, w->nfree + 1,
		sizeof(*w->free_slots), 64, UINT32_MAX) != 0)
		return;
	w->free_slots[w->nfree++] = slot;
}

struct rmq_session *
rmq_worker_session_alloc(struct rmq_worker *w)
{
	uint32_t slot;
	if (w->nfree) {
		slot = w->free_slots[--w->nfree];
	} else {
		/* A key holds 24 bits of slot (session.h). */
		if (rmq_grow(&w->table, &w->table_cap, w->table_used + 1,
			sizeof(*w->table), 1024, 1u << 24) != 0)
			return NULL;
		slot = w->table_used++;
	}
	struct rmq_session *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		worker_slot_free(w, slot);
		return NULL;
	}
	s->w = w;
	s->key = RMQ_KEY(w->id, slot, ++w->gen);
	w->table[slot] = s;
	rmq_count(&w->st.sessions, 1);
	return s;
}

int
rmq_worker_session_alloc_at(struct rmq_worker *w, uint64_t key,
    struct rmq_session **out)
{
	uint32_t slot = RMQ_KEY_SLOT(key);
	if (RMQ_KEY_WORKER(key) != w->id || RMQ_KEY_GEN(key) == 0)
		return -EEXIST;
	if (slot < w->table_used && w->table[slot] != NULL)
		return -EEXIST;
	if (slot >= w->table_used &&
	    rmq_grow(&w->table, &w->table_cap, slot + 1, sizeof(*w->table),
		1024, 1u << 24) != 0)
		return -ENOMEM;
	struct rmq_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	while (w->table_used <= slot)
		w->table[w->table_used++] = NULL;
	s->w = w;
	s->key = key;
	if (RMQ_KEY_GEN(key) > w->gen)
		w->gen = RMQ_KEY_GEN(key);
	w->table[slot] = s;
	rmq_count(&w->st.sessions, 1);
	*out = s;
	return 0;
}

unsigned
rmq_key_worker(uint64_t key)
{
	return RMQ_KEY_WORKER(key);
}

void
rmq_worker_restore_done(struct rmq_worker *w)
{
	w->nfree = 0;
	for (uint32_t i = w->table_used; i > 0; i--)
		if (w->table[i - 1] == NULL)
			worker_slot_free(w, i - 1);
}

void
rmq_worker_session_release(struct rmq_worker *w, struct rmq_session *s)
{
	uint32_t slot = RMQ_KEY_SLOT(s->key);
	RMQ_ASSERT(RMQ_KEY_WORKER(s->key) == w->id && slot < w->table_used &&
	    w->table[slot] == s);
	if (s->dirty) {
		struct rmq_session **pp = &w->dirty;
		while (*pp && *pp != s)
			pp = &(*pp)->next_dirty;
		if (*pp) {
			*pp = s->next_dirty;
			if (w->dirty_tail == &s->next_dirty)
				w->dirty_tail = pp;
		}
	}
	w->table[slot] = NULL;
	atomic_store_explicit(&w->st.sessions,
	    rmq_counter_get(&w->st.sessions) - 1, memory_order_relaxed);
	worker_slot_free(w, slot);
}

struct rmq_session *
rmq_worker_session(struct rmq_worker *w, uint64_t key)
{
	uint32_t slot = RMQ_KEY_SLOT(key);
	if (RMQ_KEY_WORKER(key) != w->id || slot >= w->table_used)
		return NULL;
	struct rmq_session *s = w->table[slot];
	return s && s->key == key ? s : NULL;
}

void
rmq_worker_post(struct rmq_worker *dst, struct rmq_inbox_msg *m)
{
	cds_wfcq_node_init(&m->node);
	cds_wfcq_enqueue(&dst->inbox_head, &dst->inbox_tail, &m->node);
	dst->loop->ops->wake(dst->loop);
}

void
rmq_worker_deliver_remote(struct rmq_worker *w, uint64_t key,
    const struct rmq_qitem *it)
{
	unsigned to = RMQ_KEY_WORKER(key);
	struct rmq_inbox_msg *m = w->out[to];
	if (m == NULL) {
		m = calloc(1, sizeof(*m));
		if (m == NULL) {
			rmq_msg_rele(it->msg);
			return;
		}
		m->kind = RMQ_INBOX_DELIVER;
		w->out[to] = m;
		w->outmask |= 1ull << to;
	}
	if (rmq_grow(&m->deliver.d, &m->deliver.cap, m->deliver.n + 1,
		sizeof(*m->deliver.d), 64, UINT32_MAX) != 0) {
		rmq_msg_rele(it->msg);
		return;
	}
	m->deliver.d[m->deliver.n++] = (struct rmq_delivery){ key, *it };
}

void
rmq_worker_conn_gone(struct rmq_worker *w, uint8_t listener)
{
	atomic_fetch_sub(&w->b->connections, 1);
	rmq_uncount(&w->st.listener_conns[listener]);
}

/* A new connection, counted already, becomes a session of this worker. */
static void
worker_open(struct rmq_worker *w, int fd, uint8_t listener)
{
	struct rmq_conn *conn;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* What the kernel may hold for this client, written and not yet
	 * read: without a bound, autotuning lets each slow reader hold
	 * megabytes, and a few thousand of them reach the host's TCP
	 * memory limit (tcp_mem), past which every connection, publishers'
	 * included, crawls. */
	if (w->cfg.socket_send_buffer) {
		int sb = (int)w->cfg.socket_send_buffer;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	}
	if (rmq_conn_open(w->loop, fd, w->listeners[listener].tp, &conn) != 0) {
		rmq_worker_conn_gone(w, listener);
		return;
	}
	if (rmq_session_start(w, conn, listener, NULL, 0) != 0) {
		rmq_worker_conn_gone(w, listener);
		conn->data = NULL;
		rmq_conn_close(conn, NULL);
	}
}

/* With placement by CPU, the worker that should take a connection the
 * kernel steered here: this one, or the least loaded when this one holds
 * more than its share (placement.h). */
static struct rmq_worker *
worker_place(struct rmq_worker *w)
{
	struct rmq_broker *b = w->b;
	uint32_t n[RMQ_MAX_WORKERS];
	if (!b->by_cpu)
		return w;
	for (unsigned i = 0; i < b->nworkers; i++)
		n[i] = atomic_load_explicit(&b->workers[i]->loop->nconns,
			   memory_order_relaxed) +
		    atomic_load_explicit(&b->workers[i]->incoming,
			memory_order_relaxed);
	return b->workers[rmq_placement_balance(n, b->nworkers, w->id)];
}

void
rmq_worker_accept(struct rmq_loop *loop, int fd, void *arg)
{
	struct rmq_worker_listener *l = arg;
	struct rmq_worker *w = l->w;
	struct rmq_broker *b = w->b;
	(void)loop;
	if (w->cfg.max_connections &&
	    atomic_load(&b->connections) >= w->cfg.max_connections) {
		rmq_count(&w->st.refused_max_connections, 1);
		close(fd);
		return;
	}
	/* Counted from accept to the close callback, across handoffs. */
	atomic_fetch_add(&b->connections, 1);
	rmq_count(&w->st.listener_conns[l->idx], 1);
	rmq_count(&w->st.listener_accepts[l->idx], 1);
	struct rmq_worker *to = worker_place(w);
	struct rmq_inbox_msg *m = to != w ? calloc(1, sizeof(*m)) : NULL;
	if (m == NULL) {
		worker_open(w, fd, l->idx);
		return;
	}
	m->kind = RMQ_INBOX_ACCEPT;
	m->adopt.mv.fd = fd;
	m->adopt.listener = l->idx;
	rmq_count(&w->st.accepts_passed, 1);
	atomic_fetch_add_explicit(&to->incoming, 1, memory_order_relaxed);
	rmq_worker_post(to, m);
}

/* Hand a batch's items to their sessions' queues; the batch keeps no
 * message reference after. */
static void
worker_deliver(struct rmq_worker *w, struct rmq_inbox_msg *m)
{
	for (uint32_t i = 0; i < m->deliver.n; i++) {
		struct rmq_delivery *d = &m->deliver.d[i];
		struct rmq_session *s = rmq_worker_session(w, d->key);
		if (s) {
			rmq_session_enqueue(s, &d->it);
		} else {
			rmq_worker_kept_done(w, d->key, &d->it);
			rmq_msg_rele(d->it.msg);
		}
	}
	m->deliver.n = 0;
}

/* One write per session with output, in the order they got it: the
 * message that came in first goes out first. */
static void
worker_flush(struct rmq_worker *w)
{
	while (w->dirty) {
		struct rmq_session *s = w->dirty;
		w->dirty = s->next_dirty;
		if (w->dirty == NULL)
			w->dirty_tail = &w->dirty;
		s->dirty = 0;
		rmq_session_flush(s);
	}
}

#define WORKER_LEND_MAX 16

/* Deliver a batch to dst on this thread if dst's loop sleeps and nothing
 * older waits in its inbox (which keeps each publisher's order).  Returns
 * 1 when done, 0 when the batch must be queued. */
static int
worker_lend(struct rmq_worker *w, struct rmq_worker *dst,
    struct rmq_inbox_msg *m)
{
	struct rmq_loop *loop = dst->loop;
	/* Only a small batch: the owner waits if it wakes meanwhile. */
	if (m->deliver.n > WORKER_LEND_MAX || !rmq_loop_borrow(loop, w->loop))
		return 0;
	if (worker_pending(loop)) {
		rmq_loop_give_back(loop, 0);
		return 0;
	}
	dst->turn_us = w->turn_us;
	worker_deliver(dst, m);
	/* Writes are done by the time they are flushed; their callbacks
	 * may leave more output (a window that opened, a control packet). */
	do
		worker_flush(dst);
	while (loop->ops->lent_complete(loop) > 0);
	/* Batches its sessions made for others (a will, say) go out on its
	 * own turn: wake it for them. */
	rmq_loop_give_back(loop, dst->outmask != 0);
	return 1;
}

/* Hand this turn's batch for worker `to` over: delivered in place when
 * `lend` allows and that worker sleeps, else queued in its inbox. */
static void
worker_hand_over(struct rmq_worker *w, unsigned to, int lend)
{
	struct rmq_worker *dst = w->b->workers[to];
	struct rmq_inbox_msg *m = w->out[to];
	w->out[to] = NULL;
	w->outmask &= ~(1ull << to);
	if (lend && worker_lend(w, dst, m)) {
		rmq_count(&w->st.handoffs_lent, 1);
		worker_inbox_free(m);
	} else {
		rmq_count(&w->st.handoffs_queued, 1);
		rmq_worker_post(dst, m);
	}
}

static void
worker_inbox(struct rmq_worker *w)
{
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	struct cds_wfcq_node *node, *next;
	cds_wfcq_init(&head, &tail);
	if (__cds_wfcq_splice_blocking(&head, &tail, &w->inbox_head,
		&w->inbox_tail) == CDS_WFCQ_RET_SRC_EMPTY)
		return;
	__cds_wfcq_for_each_blocking_safe(&head, &tail, node, next)
	{
		struct rmq_inbox_msg *m =
		    caa_container_of(node, struct rmq_inbox_msg, node);
		if (m->kind == RMQ_INBOX_DELIVER) {
			worker_deliver(w, m);
		} else if (m->kind == RMQ_INBOX_CONFIG) {
			w->cfg = *m->config;
		} else if (m->kind == RMQ_INBOX_ROUTE) {
			for (uint32_t i = 0; i < m->route.n; i++)
				rmq_route(w, m->route.m[i]);
		} else if (m->kind == RMQ_INBOX_AUTH) {
			rmq_session_auth_verdict(w, m->auth.key,
			    m->auth.allowed, m->auth.reason);
		} else if (m->kind == RMQ_INBOX_RELEASE) {
			rmq_worker_release(w, m->release.key, m->release.r);
			m->kind = RMQ_INBOX_AUTH; /* nothing left to free */
		} else if (m->kind == RMQ_INBOX_CLAIMED) {
			rmq_session_claimed(w, m->claimed.key, m->claimed.lost,
			    m->claimed.image, m->claimed.len, m->claimed.move);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_TAIL) {
			rmq_session_tail_give(w, m->claimed.key,
			    m->claimed.move, m->claimed.image, m->claimed.len);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_DRAIN) {
			worker_drain(w);
		} else if (m->kind == RMQ_INBOX_STATE) {
			rmq_session_state_merge(w, m->claimed.key,
			    m->claimed.image, m->claimed.len);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_LIST) {
			rmq_worker_list(w, m->list.fn, m->list.arg);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_PASS) {
			/* What it routed before goes to the other workers'
			 * inboxes first. */
			while (w->outmask)
				worker_hand_over(w,
				    (unsigned)__builtin_ctzll(w->outmask), 0);
			rmq_worker_pass(w->b, m->pass, 1);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_RUN) {
			m->run.fn(m->run.arg, 1);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_RETAIN_CLEAR) {
			rmq_worker_retain_clear(w, m->clear);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_QUERY) {
			rmq_worker_query(w, m->query.q, m->query.key);
			m->kind = RMQ_INBOX_AUTH;
		} else if (m->kind == RMQ_INBOX_TAIL_TAKE) {
			rmq_worker_tail_take(w, m->take.key, m->take.done,
			    m->take.arg);
			m->kind = RMQ_INBOX_AUTH;
		} else {
			if (m->kind == RMQ_INBOX_ACCEPT) {
				worker_open(w, m->adopt.mv.fd,
				    m->adopt.listener);
				atomic_fetch_sub_explicit(&w->incoming, 1,
				    memory_order_relaxed);
			} else
				rmq_session_adopt(w, m->adopt.key, &m->adopt.mv,
				    m->adopt.listener, m->adopt.bytes,
				    m->adopt.len);
			m->kind = RMQ_INBOX_DELIVER; /* nothing left to free */
			m->deliver.n = 0;
			m->deliver.d = NULL;
		}
		worker_inbox_free(m);
	}
}

static void
worker_turn(struct rmq_loop *loop)
{
	struct rmq_worker *w = loop->data;
	worker_inbox(w);
	/* Before the batches go to other workers: a message is put on disk
	 * before its subscriber can take it off (persist.h). */
	rmq_worker_disk_flush(w);
	rmq_worker_acks_release(w);
	w->turn_us = rmq_loop_clock_us();
	/* Batches for workers that are awake are queued first, so that they
	 * write them while this one writes its own.  Then one write per
	 * session with output, then the other batches: delivered in place to
	 * a sleeping worker, else queued with one wake-up each. */
	for (uint64_t left = w->outmask; left; left &= left - 1) {
		unsigned to = (unsigned)__builtin_ctzll(left);
		if (atomic_load_explicit(&w->b->workers[to]->loop->state,
			memory_order_relaxed) == RMQ_LOOP_RUNNING)
			worker_hand_over(w, to, 0);
	}
	worker_flush(w);
	while (w->outmask)
		worker_hand_over(w, (unsigned)__builtin_ctzll(w->outmask), 1);
	/* What the writes changed (ids given, messages held for the disk)
	 * goes to the writer now rather than after the next wake-up. */
	rmq_worker_disk_flush(w);
	/* This turn's messages for other nodes go out as one batch each. */
	if (w->forwarded) {
		const struct rmq_cluster_hooks *h = w->b->cluster;
		w->forwarded = 0;
		if (h && h->flush)
			h->flush(h->ctx, w->id);
	}
}

static void
worker_tick(struct rmq_loop *loop)
{
	struct rmq_worker *w = loop->data;
	uint64_t queued = 0, inflight = 0, offline = 0, persistent = 0;
	/* The slot table is the list of sessions; a session that ends in
	 * its tick only empties its slot. */
	for (uint32_t i = 0; i < w->table_used; i++) {
		struct rmq_session *s = w->table[i];
		if (s == NULL)
			continue;
		queued += s->pend_len;
		inflight += s->infl_len;
		offline += s->state == RMQ_SESS_OFFLINE;
		persistent += s->registered && s->session_expiry != 0;
		rmq_session_tick(s, loop->now_ms);
	}
	/* Gauges for the scrape, sampled here rather than kept on the
	 * message path. */
	atomic_store_explicit(&w->st.queued, queued, memory_order_relaxed);
	atomic_store_explicit(&w->st.inflight, inflight, memory_order_relaxed);
	atomic_store_explicit(&w->st.sessions_offline, offline,
	    memory_order_relaxed);
	atomic_store_explicit(&w->st.sessions_persistent, persistent,
	    memory_order_relaxed);
	rmq_linger_tick(w, loop->now_ms);
	if (w->id == 0 && w->b->tick_hook)
		w->b->tick_hook(w);
}

/* Every connection ends: 5.0 clients are told 0x8B (and where to go);
 * the persistent sessions among them are counted until they leave. */
static void
worker_drain(struct rmq_worker *w)
{
	for (uint32_t i = 0; i < w->table_used; i++) {
		struct rmq_session *s = w->table[i];
		if (s == NULL || s->conn == NULL)
			continue;
		if (s->state != RMQ_SESS_LIVE) {
			rmq_session_close(s);
			continue;
		}
		if (s->registered && s->session_expiry != 0 &&
		    rmq_session_rare(s) != NULL && !s->rare->drained) {
			s->rare->drained = 1;
			atomic_fetch_add(&w->drained_left, 1);
		}
		rmq_session_disconnect(s, RMQ_RC_SERVER_SHUTTING_DOWN);
	}
}

static int
worker_pending(struct rmq_loop *loop)
{
	struct rmq_worker *w = loop->data;
	return !cds_wfcq_empty(&w->inbox_head, &w->inbox_tail);
}

/* Ask every worker to drain (node.h). */
void
rmq_node_drain(struct rmq_broker *b)
{
	atomic_store(&b->draining, 1);
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
		if (m == NULL)
			continue; /* that worker's clients go at the stop */
		m->kind = RMQ_INBOX_DRAIN;
		rmq_worker_post(b->workers[i], m);
	}
}

uint64_t
rmq_node_drained_left(struct rmq_broker *b)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < b->nworkers; i++)
		n += atomic_load(&b->workers[i]->drained_left);
	return n;
}

static void
worker_stopping(struct rmq_loop *loop)
{
	struct rmq_worker *w = loop->data;
	/* What other threads queued first: a reloaded configuration (its
	 * grace period), connections handed over from other loops. */
	worker_inbox(w);
	rmq_cluster_conns_close(w);
	/* 5.0 clients hear why (0x8B); every connection closes once its
	 * output is written, or when the grace period ends. */
	uint64_t deadline = loop->now_ms + w->cfg.shutdown_grace_ms;
	for (uint32_t i = 0; i < w->table_used; i++) {
		struct rmq_session *s = w->table[i];
		if (s == NULL || s->conn == NULL)
			continue;
		if (s->state == RMQ_SESS_LIVE)
			rmq_session_disconnect(s, RMQ_RC_SERVER_SHUTTING_DOWN);
		else
			rmq_session_close(s);
		if (w->table[i] == s && s->conn && s->close_after_write)
			s->deadline_ms = deadline;
	}
	rmq_linger_stop(w, deadline);
}

int
rmq_worker_reconfigure(struct rmq_worker *w, const struct rmq_config *cfg)
{
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	struct rmq_config *c = malloc(sizeof(*c));
	if (m == NULL || c == NULL) {
		free(m);
		free(c);
		return -ENOMEM;
	}
	*c = *cfg;
	m->kind = RMQ_INBOX_CONFIG;
	m->config = c;
	rmq_worker_post(w, m);
	return 0;
}
