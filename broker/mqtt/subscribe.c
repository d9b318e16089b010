/* broker/mqtt/subscribe.c: SUBSCRIBE and UNSUBSCRIBE: each filter checked and
 * answered on its own in the SUBACK, the index updated, the session's own
 * list of subscriptions kept (to remove them when the session ends), and
 * retained messages sent as Retain Handling asks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "durable.h"
#include "grow.h"
#include "log.h"
#include "retain.h"
#include "strmap.h"
#include "topic.h"
#include "worker_impl.h"

/* Tell the cluster (cluster.h) that a session's entry for a filter went
 * from old_qos to new_qos (-1: none).  Returns the cluster's token for
 * the change (0: none). */
static uint64_t
sub_tell(struct rmq_worker *w, const char *f, size_t len, int old_qos,
    int new_qos)
{
	const struct rmq_cluster_hooks *h = w->b->cluster;
	if (h == NULL || h->filter == NULL || old_qos == new_qos)
		return 0;
	w->forwarded = 1; /* the turn's flush sends the change */
	return h->filter(h->ctx, f, len, old_qos, new_qos);
}

static struct rmq_subrec *
sub_find(struct rmq_session *s, const char *f, size_t len)
{
	if (s->rare && s->rare->subidx) {
		void *v = rmq_strmap_get(s->rare->subidx, f, len);
		return v ? &s->subs[(uintptr_t)v - 1] : NULL;
	}
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].len == len &&
		    memcmp(s->subs[i].filter, f, len) == 0)
			return &s->subs[i];
	return NULL;
}

/* Past this many subscriptions a client's are found through a map. */
#define SUB_INDEX_MIN 16

static void
sub_index_free(struct rmq_session *s)
{
	if (s->rare && s->rare->subidx) {
		rmq_strmap_fini(s->rare->subidx);
		free(s->rare->subidx);
		s->rare->subidx = NULL;
	}
}

/* Map every subscription of s; without memory, s goes on without a map
 * (found by a walk) until the next try. */
static void
sub_index_build(struct rmq_session *s)
{
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL || (r->subidx = malloc(sizeof(*r->subidx))) == NULL)
		return;
	if (rmq_strmap_init(r->subidx) != 0) {
		free(r->subidx);
		r->subidx = NULL;
		return;
	}
	void *old;
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (rmq_strmap_put(r->subidx, s->subs[i].filter, s->subs[i].len,
			(void *)(uintptr_t)(i + 1), &old) != 0) {
			sub_index_free(s);
			return;
		}
}

/* Forget subscription r: the last one takes its place. */
static void
sub_forget(struct rmq_session *s, struct rmq_subrec *r)
{
	struct rmq_strmap *idx = s->rare ? s->rare->subidx : NULL;
	if (idx)
		rmq_strmap_del(idx, r->filter, r->len);
	free(r->filter);
	*r = s->subs[--s->nsubs];
	/* Re-pointing a key that is there needs no memory. */
	void *old;
	if (idx && r != &s->subs[s->nsubs])
		rmq_strmap_put(idx, r->filter, r->len,
		    (void *)(uintptr_t)(r - s->subs + 1), &old);
}

static int
sub_record(struct rmq_session *s, const char *f, size_t len,
    const struct rmq_sub *opt)
{
	struct rmq_subrec *r = sub_find(s, f, len);
	if (r) {
		r->opt = *opt;
		return 0;
	}
	if (rmq_grow(&s->subs, &s->subs_cap, s->nsubs + 1, sizeof(*s->subs), 4,
		UINT32_MAX) != 0)
		return -ENOMEM;
	char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, f, len);
	struct rmq_strmap *idx = s->rare ? s->rare->subidx : NULL;
	void *old;
	if (idx &&
	    rmq_strmap_put(idx, copy, len, (void *)(uintptr_t)(s->nsubs + 1),
		&old) != 0) {
		free(copy);
		return -ENOMEM;
	}
	s->subs[s->nsubs++] = (struct rmq_subrec){ copy, (uint16_t)len, *opt };
	if (idx == NULL && s->nsubs > SUB_INDEX_MIN)
		sub_index_build(s);
	return 0;
}

struct sub_retained {
	struct rmq_session *s;
	uint8_t qos;
	uint32_t subid;
};

static void
sub_send_retained(void *ctx, struct rmq_msg *m)
{
	struct sub_retained *r = ctx;
	/* [MQTT-3.3.1-8]: retained messages sent on subscribe keep their
	 * retain flag. */
	struct rmq_qitem it = {
		.msg = m,
		.qos = m->qos < r->qos ? m->qos : r->qos,
		.retain = 1,
		.stored = 1,
		.nsubid = r->subid ? 1 : 0,
		.subid = { r->subid },
	};
	rmq_msg_hold(m, 1);
	rmq_session_enqueue(r->s, &it);
}

void
rmq_session_on_subscribe(struct rmq_session *s, const struct rmq_packet *p)
{
	struct rmq_worker *w = s->w;
	const struct rmq_subscribe *sub = &p->subscribe;
	uint8_t *codes = malloc(sub->count);
	uint8_t *send_retained = calloc(sub->count, 1);
	if (codes == NULL || send_retained == NULL) {
		free(codes);
		free(send_retained);
		rmq_session_disconnect(s, RMQ_RC_SERVER_BUSY);
		return;
	}
	uint64_t token = 0; /* the cluster's, for the SUBACK */
	uint32_t subid = s->version == RMQ_V5 &&
		RMQ_PROP_HAS(&sub->props, RMQ_PROP_SUBSCRIPTION_ID)
	    ? sub->props.subid
	    : 0;
	struct rmq_sub_entry e;
	uint32_t off = 0, i = 0;
	while (rmq_subscribe_next(sub, s->version, &off, &e)) {
		uint8_t failure = s->version == RMQ_V5
		    ? RMQ_RC_TOPIC_FILTER_INVALID
		    : RMQ_V3_SUBACK_FAILURE;
		if (rmq_topic_filter_check(e.filter.p, e.filter.len) != 0) {
			if (s->version == RMQ_V31) {
				/* 3.1 has no way to refuse one filter. */
				free(codes);
				free(send_retained);
				rmq_session_disconnect(s, 0);
				return;
			}
			codes[i++] = failure;
			continue;
		}
		/* The ACL decides on the filter, or the one inside a
		 * $share/GROUP/ filter.  A filter without wildcards matches
		 * one topic: refused when that topic may not be read.  One
		 * with wildcards is asked as a subscription (Mosquitto's
		 * acl_file allows them all), and what it brings is checked
		 * message by message on delivery. */
		struct rmq_str group, inner = e.filter;
		if (rmq_topic_share_parse(e.filter.p, e.filter.len, &group,
			&inner) != 1)
			inner = e.filter;
		int wild = memchr(inner.p, '+', inner.len) != NULL ||
		    memchr(inner.p, '#', inner.len) != NULL;
		if (!rmq_session_may(s, inner.p, inner.len,
			wild ? RMQ_ACCESS_SUBSCRIBE : RMQ_ACCESS_READ)) {
			rmq_count(&w->st.acl_denied, 1);
			codes[i++] = s->version == RMQ_V5
			    ? RMQ_RC_NOT_AUTHORIZED
			    : RMQ_V3_SUBACK_FAILURE;
			continue;
		}
		if (rmq_node_mem_over(w->b) &&
		    sub_find(s, e.filter.p, e.filter.len) == NULL) {
			/* Over memory_limit: no new filter (5.0: Quota
			 * exceeded); one the client holds is updated. */
			rmq_count(&w->st.mem_refused_subscribe, 1);
			codes[i++] = s->version == RMQ_V5
			    ? RMQ_RC_QUOTA_EXCEEDED
			    : RMQ_V3_SUBACK_FAILURE;
			continue;
		}
		if (w->cfg.max_subscriptions &&
		    s->nsubs >= w->cfg.max_subscriptions &&
		    sub_find(s, e.filter.p, e.filter.len) == NULL) {
			/* One more than max_subscriptions: refused for this
			 * filter, the others go on (5.0: Quota exceeded). */
			rmq_count(&w->st.subscriptions_refused, 1);
			codes[i++] = s->version == RMQ_V5
			    ? RMQ_RC_QUOTA_EXCEEDED
			    : RMQ_V3_SUBACK_FAILURE;
			continue;
		}
		/* Granted at most the server's Maximum QoS; the request is
		 * still accepted [MQTT-3.2.2-12]. */
		if (e.qos > s->max_qos)
			e.qos = s->max_qos;
		struct rmq_sub opt = {
			.owner = s->key,
			.subid = subid,
			.qos = e.qos,
			.flags = (uint8_t)((e.no_local ? RMQ_SUB_NO_LOCAL : 0) |
			    (e.retain_as_published ? RMQ_SUB_RETAIN_AS_PUBLISHED
						   : 0) |
			    (rmq_session_kept(s) ? RMQ_SUB_KEPT : 0)),
			.version = s->version,
			.retain_handling = e.retain_handling,
		};
		rmq_log(RMQ_LOG_DEBUG, "client %.*s: SUBSCRIBE %.*s (QoS %u)",
		    s->client_id_len, s->client_id, (int)e.filter.len,
		    e.filter.p, e.qos);
		struct rmq_subrec *had = sub_find(s, e.filter.p, e.filter.len);
		int old_qos = had ? had->opt.qos : -1;
		int existed =
		    rmq_index_add(w->b->index, e.filter.p, e.filter.len, &opt);
		if (existed < 0 ||
		    sub_record(s, e.filter.p, e.filter.len, &opt) != 0) {
			if (existed >= 0) {
				rmq_index_remove(w->b->index, e.filter.p,
				    e.filter.len, s->key);
				sub_tell(w, e.filter.p, e.filter.len, old_qos,
				    -1);
			}
			codes[i++] = s->version == RMQ_V5
			    ? RMQ_RC_UNSPECIFIED_ERROR
			    : RMQ_V3_SUBACK_FAILURE;
			continue;
		}
		uint64_t t =
		    sub_tell(w, e.filter.p, e.filter.len, old_qos, opt.qos);
		if (t > token)
			token = t;
		/* [MQTT-3.3.1-9..11]: Retain Handling 0 sends retained
		 * messages, 1 only for a new subscription, 2 never; shared
		 * subscriptions get none (4.8.2). */
		struct rmq_str g, in;
		int shared = rmq_topic_share_parse(e.filter.p, e.filter.len, &g,
				 &in) == 1;
		send_retained[i] = !shared &&
		    (e.retain_handling == 0 ||
			(e.retain_handling == 1 && existed == 0));
		codes[i++] = e.qos;
	}
	/* A persistent session's subscriptions are on disk before its
	 * SUBACK under `durability always` (durable.h). */
	uint64_t gen = s->session_expiry ? rmq_session_store(s) : 0;
	/* With cluster_subscribe_wait, once every peer up has the route
	 * too (cluster.h), or at the bound: no message published on another
	 * node after the SUBACK misses the subscription. */
	uint64_t until = 0;
	if (token && w->cfg.cluster_subscribe_wait_ms) {
		until = w->loop->now_ms + w->cfg.cluster_subscribe_wait_ms;
		rmq_count(&w->st.suback_waits, 1);
	} else {
		token = 0;
	}
	rmq_session_ack_codes(s, RMQ_SUBACK, sub->packet_id, codes, i,
	    w->b->hold_acks ? gen : 0, token, until);

	/* Retained messages after the SUBACK. */
	off = 0;
	i = 0;
	while (rmq_subscribe_next(sub, s->version, &off, &e)) {
		if (send_retained[i]) {
			struct sub_retained r = { s, codes[i], subid };
			rmq_retain_match(w->b->retain, e.filter.p, e.filter.len,
			    w->loop->now_ms, sub_send_retained, &r);
		}
		i++;
	}
	free(codes);
	free(send_retained);
}

void
rmq_session_on_unsubscribe(struct rmq_session *s, const struct rmq_packet *p)
{
	struct rmq_worker *w = s->w;
	const struct rmq_unsubscribe *u = &p->unsubscribe;
	uint8_t *codes = malloc(u->count);
	if (codes == NULL) {
		rmq_session_disconnect(s, RMQ_RC_SERVER_BUSY);
		return;
	}
	struct rmq_str f;
	uint32_t off = 0, i = 0;
	if (s->version != RMQ_V5) {
		/* A 3.x UNSUBACK cannot refuse one filter: one that breaks the
		 * rules of filters [MQTT-4.7.1-2, MQTT-4.7.1-3] closes the
		 * connection before any is removed. */
		while (rmq_unsubscribe_next(u, &off, &f)) {
			if (rmq_topic_filter_check(f.p, f.len) != 0) {
				struct rmq_codec_err err = {
					RMQ_RC_TOPIC_FILTER_INVALID,
					"UNSUBSCRIBE with an invalid topic filter"
				};
				free(codes);
				rmq_session_refuse(s, p, &err);
				return;
			}
		}
		off = 0;
	}
	while (rmq_unsubscribe_next(u, &off, &f)) {
		if (rmq_topic_filter_check(f.p, f.len) != 0) {
			/* 5.0: refused for this filter, as SUBSCRIBE does. */
			codes[i++] = RMQ_RC_TOPIC_FILTER_INVALID;
			continue;
		}
		int rc = rmq_index_remove(w->b->index, f.p, f.len, s->key);
		struct rmq_subrec *r = sub_find(s, f.p, f.len);
		if (r) {
			if (rc == 0)
				sub_tell(w, f.p, f.len, r->opt.qos, -1);
			sub_forget(s, r);
		}
		codes[i++] =
		    rc == 0 ? RMQ_RC_SUCCESS : RMQ_RC_NO_SUBSCRIPTION_EXISTED;
	}
	uint64_t gen = s->session_expiry ? rmq_session_store(s) : 0;
	rmq_session_ack_codes(s, RMQ_UNSUBACK, u->packet_id, codes, i,
	    w->b->hold_acks ? gen : 0, 0, 0);
	free(codes);
}

int
rmq_session_subscribe_restored(struct rmq_session *s, const char *filter,
    size_t len, const struct rmq_sub *opt)
{
	struct rmq_index *idx = s->w->b->index;
	struct rmq_subrec *had = sub_find(s, filter, len);
	int old_qos = had ? had->opt.qos : -1;
	int existed = rmq_index_add(idx, filter, len, opt);
	if (existed < 0)
		return existed;
	if (sub_record(s, filter, len, opt) != 0) {
		rmq_index_remove(idx, filter, len, s->key);
		sub_tell(s->w, filter, len, old_qos, -1);
		return -ENOMEM;
	}
	sub_tell(s->w, filter, len, old_qos, opt->qos);
	return 0;
}

void
rmq_session_subs_keep(struct rmq_session *s, int keep)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		struct rmq_sub *o = &s->subs[i].opt;
		uint8_t f =
		    keep ? o->flags | RMQ_SUB_KEPT : o->flags & ~RMQ_SUB_KEPT;
		if (f == o->flags)
			continue;
		o->flags = f;
		/* Replaces the entry; without the memory the old one
		 * stays, which costs at most a record. */
		(void)rmq_index_add(s->w->b->index, s->subs[i].filter,
		    s->subs[i].len, o);
	}
}

void
rmq_session_unsubscribe_all(struct rmq_session *s)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		if (rmq_index_remove(s->w->b->index, s->subs[i].filter,
			s->subs[i].len, s->key) == 0)
			sub_tell(s->w, s->subs[i].filter, s->subs[i].len,
			    s->subs[i].opt.qos, -1);
		free(s->subs[i].filter);
	}
	s->nsubs = 0;
	sub_index_free(s);
}
