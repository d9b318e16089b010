/* broker/mqtt/publish.c: the message path.  An inbound PUBLISH (topic alias
 * resolved, QoS 2 duplicates caught) becomes one shared message; the index
 * lookup gives its subscriptions, which are merged per session (one copy
 * at the highest QoS granted, with every subscription identifier) and
 * delivered: straight into the queue of a session on this worker, or into
 * this turn's batch for another worker; subscriptions of other nodes go
 * to the cluster's forward hook, once per node (cluster.h).  Also the
 * inbound QoS 2 release.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "durable.h"
#include "grow.h"
#include "log.h"
#include "persist.h"
#include "retain.h"
#include "topic.h"
#include "worker_impl.h"

static void
route_add(struct rmq_worker *w, const struct rmq_sub *sub)
{
	if (rmq_grow(&w->matches, &w->match_cap, w->nmatch + 1,
		sizeof(*w->matches), 64, UINT32_MAX) != 0)
		return; /* the delivery is lost, not the broker */
	w->matches[w->nmatch++] = (struct rmq_match){
		.owner = sub->owner,
		.subid = sub->subid,
		.qos = sub->qos,
		.flags = sub->flags,
	};
}

/* For a peer's message: it goes to the shared groups it names
 * (route_visit), and a group it does not name keeps its turn. */
static int
route_wants(void *ctx, const struct rmq_str *group)
{
	const struct rmq_worker *w = ctx;
	return rmq_msg_has_group(w->routing, group->p, group->len);
}

static void
route_visit(void *ctx, const struct rmq_sub *subs, uint32_t n,
    const struct rmq_str *group)
{
	struct rmq_worker *w = ctx;
	/* A shared group comes as the one member whose turn it is (index.h):
	 * this node's first.  Another node's turn goes with the message to
	 * that node, which serves a peer's message to the groups it names
	 * only (route_wants), and to its own members only. */
	if (group != NULL && (subs[0].flags & RMQ_SUB_REMOTE)) {
		if (rmq_grow(&w->picks, &w->pick_cap, w->npick + 1,
			sizeof(*w->picks), 8, UINT32_MAX) != 0)
			return; /* that group misses it */
		w->picks[w->npick++] =
		    (struct rmq_pick){ subs[0].owner, *group };
	}
	for (uint32_t i = 0; i < n; i++)
		route_add(w, &subs[i]);
}

/* The shared groups whose turn fell to node `owner`, into pick_groups:
 * how many. */
static uint32_t
route_groups(struct rmq_worker *w, uint64_t owner)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < w->npick; i++) {
		if (w->picks[i].owner != owner)
			continue;
		if (rmq_grow(&w->pick_groups, &w->pick_groups_cap, n + 1,
			sizeof(*w->pick_groups), 8, 65535) != 0)
			break; /* the rest miss it */
		w->pick_groups[n++] = w->picks[i].group;
	}
	return n;
}

static int
route_cmp(const void *a, const void *b)
{
	const struct rmq_match *x = a, *y = b;
	return x->owner < y->owner ? -1 : x->owner > y->owner;
}

/* Route m to every matching subscription; returns how many sessions it
 * went to. */
static size_t
route(struct rmq_worker *w, struct rmq_msg *m)
{
	w->nmatch = 0;
	w->npick = 0;
	w->routing = m;
	rmq_index_match_groups(w->b->index, m->topic.p, m->topic.len,
	    route_visit, w,
	    m->from_peer ? RMQ_INDEX_GROUPS_LOCAL_ONLY
			 : RMQ_INDEX_GROUPS_LOCAL_FIRST,
	    m->from_peer ? route_wants : NULL);
	uint32_t n = w->nmatch;
	if (n == 0)
		return 0;
	if (n > 1)
		qsort(w->matches, n, sizeof(w->matches[0]), route_cmp);

	/* One reference per local session, taken at once; remote entries
	 * sort among them but are handed to the cluster, which holds its
	 * own. */
	size_t sessions = 0;
	for (uint32_t i = 0; i < n; i++)
		sessions += !(w->matches[i].flags & RMQ_SUB_REMOTE) &&
		    (i == 0 || w->matches[i].owner != w->matches[i - 1].owner);
	rmq_msg_hold(m, (unsigned)sessions);

	size_t delivered = 0;
	for (uint32_t i = 0; i < n;) {
		uint64_t owner = w->matches[i].owner;
		struct rmq_qitem it = { .msg = m };
		int any = 0, rap = 0, kept = 0;
		int remote = (w->matches[i].flags & RMQ_SUB_REMOTE) != 0;
		for (; i < n && w->matches[i].owner == owner; i++) {
			const struct rmq_match *x = &w->matches[i];
			/* [MQTT-3.8.3-3]: No Local: not to its publisher. */
			if ((x->flags & RMQ_SUB_NO_LOCAL) && owner == m->origin)
				continue;
			uint8_t q = x->qos < m->qos ? x->qos : m->qos;
			if (!any || q > it.qos)
				it.qos = q;
			rap |= (x->flags & RMQ_SUB_RETAIN_AS_PUBLISHED) != 0;
			kept |= (x->flags & RMQ_SUB_KEPT) != 0;
			if (x->subid && it.nsubid < RMQ_QITEM_SUBIDS)
				it.subid[it.nsubid++] = x->subid;
			any = 1;
		}
		if (remote) {
			/* Once per node; a peer's message stays here. */
			const struct rmq_cluster_hooks *h = w->b->cluster;
			if (any && h && h->forward && !m->from_peer) {
				uint32_t ng = route_groups(w, owner);
				if (h->forward(h->ctx, w->id, owner, m, it.qos,
					w->pick_groups, ng) == 0) {
					w->route_fwd++;
					delivered++;
				} else {
					w->route_fwd_lost++;
				}
				w->forwarded = 1;
			}
			continue;
		}
		if (!any) {
			rmq_msg_rele(m);
			continue;
		}
		/* [MQTT-3.3.1-12]: the retain flag survives only with Retain
		 * As Published; otherwise a live message arrives with 0. */
		it.retain = rap && m->retain;
		/* For a persistent session, on disk before it can be
		 * delivered (and so before it can be acknowledged). */
		if (kept && it.qos > 0 && w->b->persist)
			it.kept = (uint8_t)rmq_worker_keep(w, m, owner, it.qos);
		delivered++;
		if (RMQ_KEY_WORKER(owner) == w->id) {
			struct rmq_session *s = rmq_worker_session(w, owner);
			if (s) {
				rmq_session_enqueue(s, &it);
			} else {
				rmq_worker_kept_done(w, owner, &it);
				rmq_msg_rele(m);
			}
		} else {
			rmq_worker_deliver_remote(w, owner, &it);
		}
	}
	return delivered;
}

/* Keep m as its topic's retained message (or delete it, for an empty
 * payload): $SYS topics, a fixed few, whatever clients filled the store
 * with.  In a cluster every node keeps every retained message but those
 * of $ topics: stamped, so that the newest change of a topic wins on
 * every node, and told to the cluster (cluster.h).  Returns what the
 * store said (-ENOSPC: past its bounds, counted); *gen as the store's. */
static int
retain_keep(struct rmq_worker *w, struct rmq_msg *m, uint64_t *gen)
{
	int sys = m->topic.len >= 5 && memcmp(m->topic.p, "$SYS/", 5) == 0;
	const struct rmq_cluster_hooks *h = w->b->cluster;
	int shared = h && h->retain && m->topic.p[0] != '$';
	if (shared)
		m->stamp = rmq_cluster_stamp(h->tag);
	int rc =
	    rmq_retain_put_gen(w->b->retain, m, sys ? 0 : w->cfg.max_retained,
		sys ? 0 : w->cfg.max_retained_bytes, gen);
	if (rc == -ENOSPC)
		rmq_count(&w->st.retained_refused, 1);
	else if (rc == 0 && shared)
		h->retain(h->ctx, w->id, m);
	return rc;
}

void
rmq_worker_retain_clear(struct rmq_worker *w, struct rmq_msg *m)
{
	uint64_t gen = 0;
	(void)retain_keep(w, m, &gen);
	if (gen)
		rmq_persist_changed(w->b->persist);
	rmq_msg_rele(m);
}

void
rmq_route(struct rmq_worker *w, struct rmq_msg *m)
{
	/* Wills count like any PUBLISH; a peer's message is kept as
	 * retained by its own node, which tells this one apart. */
	uint64_t gen = 0;
	if (m->retain && !m->from_peer && w->cfg.retain_available)
		(void)retain_keep(w, m, &gen);
	if (gen)
		rmq_persist_changed(w->b->persist);
	route(w, m);
}

static int
q2in_has(const struct rmq_session *s, uint16_t pid)
{
	const struct rmq_session_rare *r = s->rare;
	for (uint16_t i = 0; r && i < r->nq2in; i++)
		if (r->q2in[i] == pid)
			return 1;
	return 0;
}

/* 5.0 inbound topic alias: learn or apply it.  Returns 0, or the reason
 * to disconnect with. */
static uint8_t
publish_alias(struct rmq_session *s, struct rmq_publish *pub)
{
	const struct rmq_config *cfg = &s->w->cfg;
	uint16_t a = pub->props.topic_alias;
	if (!RMQ_PROP_HAS(&pub->props, RMQ_PROP_TOPIC_ALIAS))
		return 0;
	/* [MQTT-3.3.2-9]: no alias above the maximum we announced. */
	if (a == 0 || a > cfg->topic_alias_max)
		return RMQ_RC_TOPIC_ALIAS_INVALID;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL)
		return RMQ_RC_SERVER_BUSY;
	if (r->alias_in == NULL) {
		r->alias_in = calloc((size_t)cfg->topic_alias_max + 1,
		    sizeof(*r->alias_in));
		if (r->alias_in == NULL)
			return RMQ_RC_SERVER_BUSY;
	}
	struct rmq_str *slot = &r->alias_in[a];
	if (pub->topic.len) {
		char *t = malloc(pub->topic.len);
		if (t == NULL)
			return RMQ_RC_SERVER_BUSY;
		memcpy(t, pub->topic.p, pub->topic.len);
		free((void *)slot->p);
		slot->p = t;
		slot->len = pub->topic.len;
	} else {
		/* 3.3.2.3.4: an alias never set is a Protocol Error. */
		if (slot->p == NULL)
			return RMQ_RC_PROTOCOL_ERROR;
		pub->topic = *slot;
	}
	return 0;
}

/* The one place a client's PUBLISH is answered: PUBACK (QoS 1) or PUBREC
 * (QoS 2) with `reason`, which a 5.0 client hears and a 3.x client cannot
 * (its acknowledgements carry none); QoS 0 gets nothing.  A refusal (not
 * authorized, a quota) is an answer with a reason of 0x80 or more, after
 * which the message goes no further [MQTT-3.4.2-1, MQTT-3.5.2-1].  The
 * answer waits for the disk's commit of generation gen (durable.h; 0:
 * nothing to wait for), and always for those the connection holds back
 * already. */
static void
publish_answer_after(struct rmq_session *s, const struct rmq_publish *pub,
    uint8_t reason, uint64_t gen, uint64_t fwd)
{
	if (pub->qos == 0)
		return;
	rmq_session_ack_fwd(s, pub->qos == 1 ? RMQ_PUBACK : RMQ_PUBREC,
	    pub->packet_id, reason, gen, fwd);
}

static void
publish_answer(struct rmq_session *s, const struct rmq_publish *pub,
    uint8_t reason)
{
	publish_answer_after(s, pub, reason, 0, 0);
}

/* max_publish_rate: whether this PUBLISH fits in the client's second of
 * the clock.  A session without its rare part (no memory) is not
 * limited rather than refused. */
static int
publish_rate_ok(struct rmq_session *s)
{
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL)
		return 1;
	uint64_t sec = s->w->loop->now_ms / 1000;
	if (r->pub_sec != sec) {
		r->pub_sec = sec;
		r->pub_n = 0;
	}
	return ++r->pub_n <= s->w->cfg.max_publish_rate;
}

void
rmq_session_on_publish(struct rmq_session *s, struct rmq_packet *p)
{
	struct rmq_worker *w = s->w;
	struct rmq_publish *pub = &p->publish;
	rmq_count(&w->st.msgs_in_qos[pub->qos], 1);
	rmq_log(RMQ_LOG_DEBUG, "client %.*s: PUBLISH %.*s (QoS %u, %u bytes)",
	    s->client_id_len, s->client_id, (int)pub->topic.len, pub->topic.p,
	    pub->qos, (unsigned)pub->payload.len);

	uint8_t reason = s->version == RMQ_V5 ? publish_alias(s, pub) : 0;
	if (reason) {
		struct rmq_codec_err err = { reason,
			reason == RMQ_RC_TOPIC_ALIAS_INVALID
			    ? "topic alias 0, above the maximum, or unknown"
			    : "no memory for the alias" };
		rmq_session_refuse(s, p, &err);
		return;
	}
	if (pub->retain && !s->retain_ok) {
		/* [MQTT-3.3.1-?]: 5.0 DISCONNECT 0x9A; 3.x just closes. */
		rmq_session_disconnect(s, RMQ_RC_RETAIN_NOT_SUPPORTED);
		return;
	}
	if (pub->qos > s->max_qos) {
		/* Above the Maximum QoS the CONNACK gave (max_qos): 5.0
		 * DISCONNECT 0x9B [MQTT-3.2.2-11]; a 3.x client, which could
		 * not be told, is closed as Mosquitto does. */
		struct rmq_codec_err err = { RMQ_RC_QOS_NOT_SUPPORTED,
			"PUBLISH above the server's Maximum QoS" };
		rmq_session_refuse(s, p, &err);
		return;
	}
	/* $SYS/ belongs to the server: a client's PUBLISH there is
	 * acknowledged (5.0: Not authorized) and dropped. */
	if (pub->topic.len >= 4 && memcmp(pub->topic.p, "$SYS", 4) == 0 &&
	    (pub->topic.len == 4 || pub->topic.p[4] == '/')) {
		publish_answer(s, pub, RMQ_RC_NOT_AUTHORIZED);
		return;
	}
	/* Over memory_limit: refused as a quota is, except a resent QoS 2
	 * PUBLISH (taken already) and the clearing of a retained message,
	 * which frees memory. */
	if (rmq_node_mem_over(w->b) &&
	    !(pub->qos == 2 && q2in_has(s, pub->packet_id)) &&
	    !(pub->retain && pub->payload.len == 0)) {
		rmq_count(&w->st.mem_refused_publish, 1);
		publish_answer(s, pub, RMQ_RC_QUOTA_EXCEEDED);
		return;
	}
	if (w->cfg.max_publish_rate &&
	    !(pub->qos == 2 && q2in_has(s, pub->packet_id)) &&
	    !publish_rate_ok(s)) {
		rmq_count(&w->st.publish_rate_refused, 1);
		publish_answer(s, pub, RMQ_RC_QUOTA_EXCEEDED);
		return;
	}
	/* Not the client's to publish to (the ACL): acknowledged, 5.0 with
	 * Not authorized, and dropped, as Mosquitto does. */
	if (!rmq_session_may(s, pub->topic.p, pub->topic.len,
		RMQ_ACCESS_WRITE)) {
		rmq_count(&w->st.acl_denied, 1);
		publish_answer(s, pub, RMQ_RC_NOT_AUTHORIZED);
		return;
	}
	if (pub->qos == 2) {
		if (q2in_has(s, pub->packet_id)) {
			/* A resent QoS 2 PUBLISH: acknowledge, do not
			 * deliver twice [MQTT-4.3.3-10]. */
			publish_answer(s, pub, RMQ_RC_SUCCESS);
			return;
		}
		if (s->rare && s->rare->nq2in >= s->receive_max) {
			/* [MQTT-3.3.4-8]: more than Receive Maximum. */
			struct rmq_codec_err err = {
				RMQ_RC_RECEIVE_MAXIMUM_EXCEEDED,
				"more QoS 2 PUBLISHes unreleased than the Receive Maximum"
			};
			rmq_session_refuse(s, p, &err);
			return;
		}
	}

	struct rmq_msg *m = rmq_msg_new(pub, s->key, w->loop->now_ms);
	if (m)
		m->born_us = w->loop->wake_us;
	size_t delivered = 0;
	uint64_t gen = 0, fwd = 0;
	w->route_fwd = w->route_fwd_lost = 0;
	if (m) {
		if (pub->retain && retain_keep(w, m, &gen) == -ENOSPC) {
			/* Past max_retained_messages or _bytes: a 5.0 QoS
			 * 1/2 publisher is told 0x97 and its message goes
			 * nowhere; one that cannot be told (QoS 0, 3.x)
			 * has it delivered, not retained. */
			if (s->version == RMQ_V5 && pub->qos > 0) {
				rmq_msg_rele(m);
				publish_answer(s, pub, RMQ_RC_QUOTA_EXCEEDED);
				return;
			}
		}
		if (gen)
			rmq_persist_changed(w->b->persist);
		uint32_t dq = w->dq_n;
		delivered = route(w, m);
		rmq_msg_rele(m);
		/* Kept for a persistent session: acknowledged once the
		 * turn's changes are committed. */
		if (w->dq_n != dq)
			gen = RMQ_GEN_TURN;
	}
	if (pub->qos == 0)
		return;
	reason = m == NULL   ? RMQ_RC_IMPLEMENTATION_SPECIFIC
	    : delivered == 0 ? RMQ_RC_NO_MATCHING_SUBSCRIBERS
			     : RMQ_RC_SUCCESS;
	/* cluster_ack: answered once every node it went to has taken it.
	 * One it could not go to (that node's queue full) is refused to a
	 * 5.0 publisher, which sends it again; a 3.x one cannot be told. */
	if (w->cfg.cluster_ack && (w->route_fwd || w->route_fwd_lost)) {
		const struct rmq_cluster_hooks *h = w->b->cluster;
		if (w->route_fwd_lost && s->version == RMQ_V5) {
			reason = RMQ_RC_QUOTA_EXCEEDED;
			rmq_count(&w->st.cluster_ack_refused, 1);
		}
		if (w->route_fwd && h->sent && h->taken) {
			fwd = h->sent(h->ctx, w->id);
			rmq_count(&w->st.cluster_ack_waits, 1);
		}
	}
	if (pub->qos == 2 && m != NULL) {
		struct rmq_session_rare *r = rmq_session_rare(s);
		/* Up to 65535 ids: the most a Receive Maximum allows. */
		if (r &&
		    rmq_grow(&r->q2in, &r->q2in_cap, r->nq2in + 1u,
			sizeof(*r->q2in), 8, 65535) != 0)
			r = NULL;
		if (r == NULL) {
			rmq_session_disconnect(s, RMQ_RC_SERVER_BUSY);
			return;
		}
		r->q2in[r->nq2in++] = pub->packet_id;
		/* A persistent session's QoS 2 ids outlive a restart, so
		 * that a PUBLISH sent again after it is not taken twice. */
		if (rmq_session_kept_q2in(s, pub->packet_id, 1))
			gen = RMQ_GEN_TURN;
	}
	/* Under `durability always` the retained message is on disk
	 * before the publisher hears it is taken. */
	/* Under `interval` too while the writer is behind: publishers go at
	 * the disk's pace rather than fill memory with changes. */
	publish_answer_after(s, pub, reason,
	    w->b->hold_acks ||
		    (gen == RMQ_GEN_TURN && rmq_persist_behind(w->b->persist))
		? gen
		: 0,
	    fwd);
}

void
rmq_session_on_pubrel(struct rmq_session *s, const struct rmq_packet *p)
{
	uint16_t pid = p->ack.packet_id;
	int found = 0;
	struct rmq_session_rare *r = s->rare;
	for (uint16_t i = 0; r && i < r->nq2in; i++) {
		if (r->q2in[i] == pid) {
			r->q2in[i] = r->q2in[--r->nq2in];
			found = 1;
			break;
		}
	}
	/* The id is free for the client's next message once the PUBCOMP
	 * is out: under `durability always` the disk has let go of it
	 * first, or a restart would take that next message for this one. */
	uint64_t gen =
	    found && rmq_session_kept_q2in(s, pid, 0) && s->w->b->hold_acks
	    ? RMQ_GEN_TURN
	    : 0;
	rmq_session_ack(s, RMQ_PUBCOMP, pid,
	    !found && s->version == RMQ_V5 ? RMQ_RC_PACKET_ID_NOT_FOUND : 0,
	    gen);
}
