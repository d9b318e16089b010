/* test/cluster/test_claims.c: claims of client identifiers and their
 * answers both ways (refused when malformed), and the claims waiting for
 * answers: settled by the last answer awaited, by a peer going down, by
 * the deadline; a lost claim carries no state; the bound.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "cluster.h"
#include "routes.h"

Test(claims, a_claim_both_ways)
{
	uint8_t buf[128];
	size_t n = rmq_claim_encode(buf, sizeof(buf), "node-a", 5, 77,
	    RMQ_CLAIM_CLEAN, "client-1", 8);
	cr_assert_gt(n, 0);
	struct rmq_claim_rec c;
	cr_assert_eq(rmq_claim_decode(buf, n, &c), 0);
	cr_assert_str_eq(c.node, "node-a");
	cr_assert_eq(c.claim, 5);
	cr_assert_eq(c.stamp, 77);
	cr_assert_eq(c.flags, RMQ_CLAIM_CLEAN);
	cr_assert_eq(c.len, 8);
	cr_assert_eq(memcmp(c.id, "client-1", 8), 0);
	cr_assert_eq(rmq_cluster_msg_kind(buf, n), 'C');
	/* Every cut, a byte too many, a short buffer. */
	for (size_t cut = 0; cut < n; cut++)
		cr_assert_eq(rmq_claim_decode(buf, cut, &c), -1, "cut %zu",
		    cut);
	cr_assert_eq(rmq_claim_decode(buf, n + 1, &c), -1);
	cr_assert_eq(rmq_claim_encode(buf, 10, "node-a", 5, 77, 0, "x", 1), 0);
	/* An identifier with U+0000 [MQTT-1.5.4-2], a claim numbered 0. */
	n = rmq_claim_encode(buf, sizeof(buf), "node-a", 5, 77, 0, "a\0b", 3);
	cr_assert_eq(rmq_claim_decode(buf, n, &c), -1);
	n = rmq_claim_encode(buf, sizeof(buf), "node-a", 0, 77, 0, "ab", 2);
	cr_assert_eq(rmq_claim_decode(buf, n, &c), -1);
	/* The empty identifier is one (the server's to assign, but a
	 * claim may name it). */
	n = rmq_claim_encode(buf, sizeof(buf), "node-a", 1, 1, 0, "", 0);
	cr_assert_eq(rmq_claim_decode(buf, n, &c), 0);
	cr_assert_eq(c.len, 0);
}

Test(claims, an_answer_both_ways)
{
	uint8_t buf[128];
	size_t h = rmq_answer_head_encode(buf, sizeof(buf), "node-b", 9,
	    RMQ_RELEASE_ENDED);
	cr_assert_gt(h, 0);
	memcpy(buf + h, "IMAGE", 5);
	struct rmq_answer_rec a;
	cr_assert_eq(rmq_answer_decode(buf, h + 5, &a), 0);
	cr_assert_str_eq(a.node, "node-b");
	cr_assert_eq(a.claim, 9);
	cr_assert_eq(a.result, RMQ_RELEASE_ENDED);
	cr_assert_eq(a.image_len, 5);
	cr_assert_eq(memcmp(a.image, "IMAGE", 5), 0);
	/* Without an image. */
	cr_assert_eq(rmq_answer_decode(buf, h, &a), 0);
	cr_assert_null(a.image);
	for (size_t cut = 0; cut < h; cut++)
		cr_assert_eq(rmq_answer_decode(buf, cut, &a), -1, "cut %zu",
		    cut);
	/* Only an ended session sends state; no result past NEWER. */
	h = rmq_answer_head_encode(buf, sizeof(buf), "node-b", 9,
	    RMQ_RELEASE_NEWER);
	cr_assert_eq(rmq_answer_decode(buf, h, &a), 0);
	cr_assert_eq(rmq_answer_decode(buf, h + 1, &a), -1);
	h = rmq_answer_head_encode(buf, sizeof(buf), "node-b", 9, 3);
	cr_assert_eq(rmq_answer_decode(buf, h, &a), -1);
}

/* What the claims settled, in order. */
static struct settled {
	uint64_t key;
	int lost;
	uint8_t *image;
	size_t len;
} got[8];
static unsigned ngot;

static void
on_settled(void *arg, uint64_t id, uint64_t key, int lost, uint8_t *image,
    size_t len, uint32_t from)
{
	(void)id;
	(void)from;
	cr_assert_eq(arg, &ngot);
	cr_assert_lt(ngot, 8);
	got[ngot++] = (struct settled){ key, lost, image, len };
}

static void
count_settled(void *arg, uint64_t id, uint64_t key, int lost, uint8_t *image,
    size_t len, uint32_t from)
{
	(void)id;
	(void)from;
	(void)key;
	(void)lost;
	(void)len;
	free(image);
	(*(unsigned *)arg)++;
}

static void
peers(uint64_t w[RMQ_PEER_WORDS], const unsigned *numbers, unsigned n)
{
	memset(w, 0, RMQ_PEER_WORDS * sizeof(*w));
	for (unsigned i = 0; i < n; i++)
		w[(numbers[i] - 1) / 64] |= 1ull << ((numbers[i] - 1) % 64);
}

static void
reset(void)
{
	for (unsigned i = 0; i < ngot; i++)
		free(got[i].image);
	ngot = 0;
}

Test(claims, settled_by_the_last_answer_with_the_image)
{
	struct rmq_claims c;
	rmq_claims_init(&c);
	uint64_t w[RMQ_PEER_WORDS], id;
	peers(w, (unsigned[]){ 1, 2, 200 }, 3);
	cr_assert_eq(rmq_claims_open(&c, 0xABC, w, 1000, &id), 0);
	cr_assert_eq(c.live, 1);
	/* An answer from a peer not asked, or for no claim, is late. */
	cr_assert_eq(rmq_claims_answer(&c, id, 3, RMQ_RELEASE_NONE, NULL, 0,
			 on_settled, &ngot),
	    -ENOENT);
	cr_assert_eq(rmq_claims_answer(&c, id + (1ull << 32), 1,
			 RMQ_RELEASE_NONE, NULL, 0, on_settled, &ngot),
	    -ENOENT);
	cr_assert_eq(c.answers_late, 2);
	cr_assert_eq(rmq_claims_answer(&c, id, 1, RMQ_RELEASE_NONE, NULL, 0,
			 on_settled, &ngot),
	    0);
	cr_assert_eq(rmq_claims_answer(&c, id, 200, RMQ_RELEASE_ENDED,
			 (const uint8_t *)"state", 5, on_settled, &ngot),
	    0);
	cr_assert_eq(ngot, 0);
	/* Twice from one peer: the second is late. */
	cr_assert_eq(rmq_claims_answer(&c, id, 1, RMQ_RELEASE_NONE, NULL, 0,
			 on_settled, &ngot),
	    -ENOENT);
	cr_assert_eq(rmq_claims_answer(&c, id, 2, RMQ_RELEASE_NONE, NULL, 0,
			 on_settled, &ngot),
	    0);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].key, 0xABC);
	cr_assert_eq(got[0].lost, 0);
	cr_assert_eq(got[0].len, 5);
	cr_assert_eq(memcmp(got[0].image, "state", 5), 0);
	cr_assert_eq(c.live, 0);
	cr_assert_eq(c.moved, 1);
	cr_assert_eq(c.ended, 1);
	reset();
	rmq_claims_fini(&c);
}

Test(claims, lost_down_and_timed_out)
{
	struct rmq_claims c;
	rmq_claims_init(&c);
	uint64_t w[RMQ_PEER_WORDS], a, b, d;
	peers(w, (unsigned[]){ 1, 2 }, 2);
	cr_assert_eq(rmq_claims_open(&c, 1, w, 1000, &a), 0);
	cr_assert_eq(rmq_claims_open(&c, 2, w, 1000, &b), 0);
	cr_assert_eq(rmq_claims_open(&c, 3, w, 2000, &d), 0);
	cr_assert_neq(a, b);
	/* A newer connection on peer 1: claim a loses, and an image that
	 * came with another answer is not given. */
	cr_assert_eq(rmq_claims_answer(&c, a, 2, RMQ_RELEASE_ENDED,
			 (const uint8_t *)"x", 1, on_settled, &ngot),
	    0);
	cr_assert_eq(rmq_claims_answer(&c, a, 1, RMQ_RELEASE_NEWER, NULL, 0,
			 on_settled, &ngot),
	    0);
	cr_assert_eq(ngot, 1);
	cr_assert(got[0].key == 1 && got[0].lost && got[0].image == NULL);
	/* Peer 1 goes down: b waits for peer 2 alone, which answers. */
	rmq_claims_down(&c, 1, on_settled, &ngot);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(rmq_claims_answer(&c, b, 2, RMQ_RELEASE_NONE, NULL, 0,
			 on_settled, &ngot),
	    0);
	cr_assert(ngot == 2 && got[1].key == 2 && !got[1].lost);
	/* d's deadline: nothing before it, settled with none at it. */
	rmq_claims_expire(&c, 1999, on_settled, &ngot);
	cr_assert_eq(ngot, 2);
	rmq_claims_expire(&c, 2000, on_settled, &ngot);
	cr_assert(ngot == 3 && got[2].key == 3 && !got[2].lost &&
	    got[2].image == NULL);
	cr_assert_eq(c.timed_out, 1);
	cr_assert_eq(c.lost, 1);
	cr_assert_eq(c.live, 0);
	/* Its answer after that is late. */
	cr_assert_eq(rmq_claims_answer(&c, d, 2, RMQ_RELEASE_NONE, NULL, 0,
			 on_settled, &ngot),
	    -ENOENT);
	reset();
	rmq_claims_fini(&c);
}

Test(claims, bounded)
{
	struct rmq_claims c;
	rmq_claims_init(&c);
	uint64_t w[RMQ_PEER_WORDS], id;
	peers(w, (unsigned[]){ 1 }, 1);
	for (unsigned i = 0; i < RMQ_CLAIMS_MAX; i++)
		cr_assert_eq(rmq_claims_open(&c, i, w, 1000, &id), 0);
	cr_assert_eq(rmq_claims_open(&c, 0, w, 1000, &id), -ENOSPC);
	cr_assert_eq(c.refused, 1);
	/* One settled frees a slot; its id is not the one before. */
	rmq_claims_answer(&c, id, 1, RMQ_RELEASE_NONE, NULL, 0, on_settled,
	    &ngot);
	cr_assert_eq(ngot, 1);
	uint64_t again;
	cr_assert_eq(rmq_claims_open(&c, 0, w, 1000, &again), 0);
	cr_assert_neq(again, id);
	cr_assert_eq((uint32_t)again, (uint32_t)id);
	reset();
	unsigned n = 0;
	rmq_claims_down(&c, 1, count_settled, &n);
	cr_assert_eq(n, RMQ_CLAIMS_MAX);
	cr_assert_eq(c.live, 0);
	rmq_claims_fini(&c);
}

Test(claims, cut_and_tail_records)
{
	uint8_t buf[128];
	size_t n = rmq_move_rec_encode(buf, sizeof(buf), 'U', "node-b", 42);
	cr_assert_gt(n, 0);
	cr_assert_eq(rmq_cluster_msg_kind(buf, n), 'U');
	struct rmq_move_rec r;
	cr_assert_eq(rmq_move_rec_decode(buf, n, 'U', &r), 0);
	cr_assert_str_eq(r.node, "node-b");
	cr_assert_eq(r.claim, 42);
	cr_assert_null(r.body);
	/* A cut has no body; read as a tail it is one without. */
	cr_assert_eq(rmq_move_rec_decode(buf, n + 1, 'U', &r), -1);
	cr_assert_eq(rmq_move_rec_decode(buf, n, 'L', &r), -1);
	for (size_t cut = 0; cut < n; cut++)
		cr_assert_eq(rmq_move_rec_decode(buf, cut, 'U', &r), -1);
	n = rmq_move_rec_encode(buf, sizeof(buf), 'L', "node-a", 42);
	memcpy(buf + n, "TAIL", 4);
	cr_assert_eq(rmq_cluster_msg_kind(buf, n + 4), 'L');
	cr_assert_eq(rmq_move_rec_decode(buf, n + 4, 'L', &r), 0);
	cr_assert_eq(r.body_len, 4);
	cr_assert_eq(memcmp(r.body, "TAIL", 4), 0);
	/* Claim 0 names none; another kind is refused. */
	n = rmq_move_rec_encode(buf, sizeof(buf), 'U', "node-b", 0);
	cr_assert_eq(rmq_move_rec_decode(buf, n, 'U', &r), -1);
	cr_assert_eq(rmq_move_rec_decode(buf, n, 'X', &r), -1);
}

Test(claims, moves_found_by_claim_and_peer)
{
	struct rmq_moves t = { 0 };
	for (uint32_t i = 1; i <= 40; i++) {
		struct rmq_move m = { .claim = i,
			.peer = i % 3 + 1,
			.key = 100 + i };
		cr_assert_eq(rmq_moves_add(&t, &m), 0);
	}
	cr_assert_null(rmq_moves_find(&t, 7, 1)); /* 7 is peer 2's */
	struct rmq_move *m = rmq_moves_find(&t, 7, 2);
	cr_assert(m && m->key == 107);
	struct rmq_move out;
	rmq_moves_take(&t, m, &out);
	cr_assert_eq(out.key, 107);
	cr_assert_eq(t.n, 39);
	cr_assert_null(rmq_moves_find(&t, 7, 2));
	/* The one moved into its place is still found. */
	cr_assert_not_null(rmq_moves_find(&t, 40, 2));
	rmq_moves_fini(&t);
	cr_assert_eq(t.n, 0);
}

Test(claims, identifiers_held_both_ways)
{
	uint8_t buf[256];
	size_t h = rmq_ids_head_encode(buf, sizeof(buf), "node-c");
	cr_assert_gt(h, 0);
	size_t len = h;
	len += rmq_ids_put(buf + len, sizeof(buf) - len, 7, "x", 1);
	len += rmq_ids_put(buf + len, sizeof(buf) - len, 9, "", 0);
	len += rmq_ids_put(buf + len, sizeof(buf) - len, 11, "yy", 2);
	cr_assert_eq(rmq_ids_put(buf, 5, 1, "x", 1), 0, "no room");
	rmq_ids_count(buf, h, 3);
	cr_assert_eq(rmq_cluster_msg_kind(buf, len), 'I');
	struct rmq_ids_rec r;
	cr_assert_eq(rmq_ids_decode(buf, len, &r), 0);
	cr_assert_str_eq(r.node, "node-c");
	cr_assert_eq(r.count, 3);
	const uint8_t *q = r.entries;
	size_t left = r.entries_len, idlen;
	uint64_t stamp;
	const char *id;
	cr_assert(rmq_ids_next(&q, &left, &stamp, &id, &idlen));
	cr_assert(stamp == 7 && idlen == 1 && id[0] == 'x');
	cr_assert(rmq_ids_next(&q, &left, &stamp, &id, &idlen));
	cr_assert(stamp == 9 && idlen == 0);
	cr_assert(rmq_ids_next(&q, &left, &stamp, &id, &idlen));
	cr_assert(stamp == 11 && idlen == 2 && memcmp(id, "yy", 2) == 0);
	cr_assert_not(rmq_ids_next(&q, &left, &stamp, &id, &idlen));
	/* A count that lies, an entry cut short, U+0000 in an id. */
	rmq_ids_count(buf, h, 4);
	cr_assert_eq(rmq_ids_decode(buf, len, &r), -1);
	rmq_ids_count(buf, h, 3);
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(rmq_ids_decode(buf, cut, &r), -1, "cut %zu", cut);
	len = h + rmq_ids_put(buf + h, sizeof(buf) - h, 1, "a\0b", 3);
	rmq_ids_count(buf, h, 1);
	cr_assert_eq(rmq_ids_decode(buf, len, &r), -1);
}

Test(claims, an_older_sessions_state)
{
	uint8_t buf[128];
	size_t h = rmq_state_head_encode(buf, sizeof(buf), "node-a", "cid", 3);
	cr_assert_gt(h, 0);
	memcpy(buf + h, "IMG", 3);
	cr_assert_eq(rmq_cluster_msg_kind(buf, h + 3), 'J');
	struct rmq_state_rec r;
	cr_assert_eq(rmq_state_decode(buf, h + 3, &r), 0);
	cr_assert_str_eq(r.node, "node-a");
	cr_assert(r.len == 3 && memcmp(r.id, "cid", 3) == 0);
	cr_assert(r.image_len == 3 && memcmp(r.image, "IMG", 3) == 0);
	/* No image, every cut, U+0000 in the id. */
	for (size_t cut = 0; cut <= h; cut++)
		cr_assert_eq(rmq_state_decode(buf, cut, &r), -1, "cut %zu",
		    cut);
	h = rmq_state_head_encode(buf, sizeof(buf), "node-a", "c\0d", 3);
	cr_assert_eq(rmq_state_decode(buf, h + 1, &r), -1);
	cr_assert_eq(rmq_state_head_encode(buf, 8, "node-a", "cid", 3), 0);
}
