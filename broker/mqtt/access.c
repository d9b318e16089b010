/* broker/mqtt/access.c: what the node's ACL (auth.h's authorizer) lets a
 * session do, asked on SUBSCRIBE, PUBLISH and every delivery.
 *
 * A session remembers its last few answers, keyed by access and the whole
 * topic (never a hash alone: a collision must not grant anything), so a
 * stream of messages on one topic costs one ACL walk, not one per message.
 * A reload moves the authorizer's generation on and the answers are asked
 * again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "worker_impl.h"

#define MEMO_SLOTS 4
#define MEMO_TOPIC 52 /* longer topics are asked each time */

struct rmq_access_memo {
	struct memo_slot {
		uint64_t generation; /* 0: empty */
		uint16_t len;
		uint8_t access, allowed;
		char topic[MEMO_TOPIC];
	} slot[MEMO_SLOTS];
};

int
rmq_session_set_user(struct rmq_session *s, const char *p, size_t len)
{
	struct rmq_session_rare *r = s->rare;
	if (p == NULL) {
		if (r) {
			free(r->user);
			r->user = NULL;
			r->user_len = 0;
		}
		return 0;
	}
	if (len > UINT16_MAX || (r = rmq_session_rare(s)) == NULL)
		return -ENOMEM;
	char *u = malloc(len ? len : 1);
	if (u == NULL)
		return -ENOMEM;
	memcpy(u, p, len);
	free(r->user);
	r->user = u;
	r->user_len = (uint16_t)len;
	/* Answers were for whoever held the session before. */
	free(r->memo);
	r->memo = NULL;
	return 0;
}

static unsigned
memo_slot(const char *topic, size_t len, unsigned access)
{
	uint32_t h = 2166136261u ^ access;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)topic[i]) * 16777619u;
	return h % MEMO_SLOTS;
}

int
rmq_session_may(struct rmq_session *s, const char *topic, size_t len,
    enum rmq_access access)
{
	const struct rmq_authorizer *z =
	    atomic_load_explicit(&s->w->b->authz, memory_order_acquire);
	if (z == NULL)
		return 1;
	struct rmq_session_rare *r = s->rare;
	const char *user = r ? r->user : NULL;
	size_t ulen = r ? r->user_len : 0;
	uint64_t gen = z->generation(z->ctx);
	struct memo_slot *m = NULL;
	if (len <= MEMO_TOPIC && (r || (r = rmq_session_rare(s)))) {
		if (r->memo == NULL)
			r->memo = calloc(1, sizeof(*r->memo));
		if (r->memo) {
			m = &r->memo->slot[memo_slot(topic, len, access)];
			if (m->generation == gen && m->access == access &&
			    m->len == len && memcmp(m->topic, topic, len) == 0)
				return m->allowed;
		}
	}
	int allowed = z->check(z->ctx, user, ulen, s->client_id,
	    s->client_id_len, topic, len, access);
	if (m) {
		m->generation = gen;
		m->access = (uint8_t)access;
		m->len = (uint16_t)len;
		m->allowed = (uint8_t)allowed;
		memcpy(m->topic, topic, len);
	}
	return allowed;
}

void
rmq_session_access_free(struct rmq_session *s)
{
	if (s->rare == NULL)
		return;
	free(s->rare->user);
	free(s->rare->memo);
	s->rare->user = NULL;
	s->rare->memo = NULL;
}
