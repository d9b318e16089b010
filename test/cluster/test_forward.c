/* test/cluster/test_forward.c: the streams of forwarded messages
 * (cluster/forward.c) with a recording transport in place of NNG: batches
 * numbered in order and sent at once, kept until acknowledged, all sent
 * again after the resend interval, a receiver that takes each batch once
 * and in order whatever is lost, duplicated or reordered on the way, a
 * restarted peer starting the stream over with what it had not taken
 * counted lost, the bound, and the wire form refused when malformed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"

#define SELF "node-a"
#define EPOCH 1111
#define PEER_EPOCH 2222

/* ---- the transport stand-in: what was sent, and whether it takes ---- */

static struct sent {
	uint8_t *p;
	size_t len;
} sent[256];
static unsigned nsent;
static int refuse; /* the socket's queue is full */

static int
rec_send(void *arg, const uint8_t *p, size_t len)
{
	(void)arg;
	if (refuse)
		return -1;
	cr_assert_lt(nsent, 256);
	sent[nsent].p = malloc(len);
	memcpy(sent[nsent].p, p, len);
	sent[nsent].len = len;
	nsent++;
	return 0;
}

static void
sent_clear(void)
{
	for (unsigned i = 0; i < nsent; i++)
		free(sent[i].p);
	nsent = 0;
}

static struct rmq_fwd_stream st;

static void
setup(void)
{
	rmq_fwd_stream_init(&st, SELF, EPOCH, 3, 1 << 20, 500);
	cr_assert_eq(rmq_fwd_peer(&st, PEER_EPOCH, 0), 0);
	nsent = 0;
	refuse = 0;
}

static void
teardown(void)
{
	rmq_fwd_stream_fini(&st);
	sent_clear();
}

/* One message "m<i>" into this turn's batch. */
static void
add(unsigned i)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "m%u", i);
	uint8_t *at = rmq_fwd_add(&st, (size_t)n);
	cr_assert_not_null(at);
	memcpy(at, text, (size_t)n);
}

/* A turn: messages first..last, sealed and sent at now. */
static void
turn(unsigned first, unsigned last, uint64_t now)
{
	for (unsigned i = first; i <= last; i++)
		add(i);
	cr_assert_eq(rmq_fwd_seal(&st), 0);
	rmq_fwd_pump(&st, now, rec_send, NULL);
}

/* The batch sent as number k: its head and its messages joined by ','. */
static void
read_sent(unsigned k, struct rmq_fwd_head *h, char *msgs, size_t cap)
{
	const uint8_t *body, *p;
	size_t left, len, at = 0;
	cr_assert_lt(k, nsent);
	cr_assert_eq(rmq_fwd_batch_decode(sent[k].p, sent[k].len, h, &body,
			 &left),
	    0);
	msgs[0] = '\0';
	while (rmq_fwd_next(&body, &left, &p, &len) == 1) {
		at += (size_t)snprintf(msgs + at, cap - at, "%s%.*s",
		    at ? "," : "", (int)len, (const char *)p);
	}
}

TestSuite(forward, .init = setup, .fini = teardown);

Test(forward, batches_are_numbered_addressed_and_sent_at_once)
{
	turn(1, 3, 10);
	turn(4, 4, 11);
	cr_assert_eq(nsent, 2);
	struct rmq_fwd_head h;
	char msgs[256];
	read_sent(0, &h, msgs, sizeof(msgs));
	cr_assert_str_eq(h.name, SELF);
	cr_assert_eq(h.epoch, EPOCH);
	cr_assert_eq(h.to_epoch, PEER_EPOCH);
	cr_assert_eq(h.worker, 3);
	cr_assert_eq(h.seq, 1);
	cr_assert_eq(h.count, 3);
	cr_assert_str_eq(msgs, "m1,m2,m3");
	read_sent(1, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 2);
	cr_assert_str_eq(msgs, "m4");
	cr_assert_eq(st.batches, 2);
	cr_assert_eq(atomic_load(&st.msgs), 4);
	/* An empty turn makes no batch. */
	cr_assert_eq(rmq_fwd_seal(&st), 0);
	cr_assert_eq(st.batches, 2);
}

Test(forward, kept_until_acknowledged_then_freed)
{
	turn(1, 2, 10);
	turn(3, 3, 10);
	size_t kept = atomic_load(&st.kept);
	cr_assert_gt(kept, 0);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 20);
	cr_assert_eq(st.acked, 1);
	cr_assert_lt(atomic_load(&st.kept), kept);
	cr_assert_eq(st.head->seq, 2);
	/* An acknowledgement from another life of the peer, one already
	 * had, and one of a number never sent change nothing. */
	rmq_fwd_ack(&st, PEER_EPOCH + 1, 2, 21);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 21);
	rmq_fwd_ack(&st, PEER_EPOCH, 9, 21);
	cr_assert_eq(st.acked, 1);
	cr_assert_eq(st.head->seq, 2);
	rmq_fwd_ack(&st, PEER_EPOCH, 2, 22);
	cr_assert_null(st.head);
	cr_assert_null(st.tail);
	cr_assert_eq(atomic_load(&st.kept), 0);
}

Test(forward, nothing_acknowledged_for_the_interval_sends_all_again)
{
	turn(1, 1, 100);
	turn(2, 2, 150);
	cr_assert_eq(nsent, 2);
	/* Within the interval: nothing more. */
	rmq_fwd_pump(&st, 599, rec_send, NULL);
	cr_assert_eq(nsent, 2);
	/* The interval runs from the first send: both again, in order. */
	rmq_fwd_pump(&st, 600, rec_send, NULL);
	cr_assert_eq(nsent, 4);
	struct rmq_fwd_head h;
	char msgs[64];
	read_sent(2, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 1);
	read_sent(3, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 2);
	cr_assert_eq(st.resent, 2);
	/* An acknowledgement restarts the wait. */
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 700);
	rmq_fwd_pump(&st, 1100, rec_send, NULL);
	cr_assert_eq(nsent, 4);
	rmq_fwd_pump(&st, 1200, rec_send, NULL);
	cr_assert_eq(nsent, 5);
	read_sent(4, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 2);
}

static uint64_t ages[8], tags[8];
static unsigned nages;

static void
on_acked(void *arg, uint64_t ms, uint64_t tag)
{
	(void)arg;
	if (nages < 8) {
		tags[nages] = tag;
		ages[nages++] = ms;
	}
}

Test(forward, acknowledged_batches_tell_their_age_and_tag)
{
	st.on_acked = on_acked;
	add(1);
	cr_assert_eq(rmq_fwd_seal_at(&st, 100, 7), 0);
	add(2);
	cr_assert_eq(rmq_fwd_seal_at(&st, 130, 9), 0);
	add(3);
	cr_assert_eq(rmq_fwd_seal(&st), 0); /* unmarked: not told */
	rmq_fwd_pump(&st, 130, rec_send, NULL);
	rmq_fwd_ack(&st, PEER_EPOCH, 3, 145);
	cr_assert_eq(nages, 2);
	cr_assert_eq(ages[0], 45);
	cr_assert_eq(ages[1], 15);
	cr_assert_eq(tags[0], 7);
	cr_assert_eq(tags[1], 9);
}

/* cluster_ack's measure: the tag of the oldest batch not acknowledged,
 * which moves as acknowledgements come, 0 once none waits. */
Test(forward, the_oldest_waiting_tag)
{
	cr_assert_eq(rmq_fwd_waiting_tag(&st), 0);
	add(1);
	cr_assert_eq(rmq_fwd_seal_at(&st, 0, 4), 0);
	add(2);
	cr_assert_eq(rmq_fwd_seal_at(&st, 0, 4), 0); /* one turn, two */
	add(3);
	cr_assert_eq(rmq_fwd_seal_at(&st, 0, 5), 0);
	rmq_fwd_pump(&st, 10, rec_send, NULL);
	cr_assert_eq(rmq_fwd_waiting_tag(&st), 4);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 20);
	cr_assert_eq(rmq_fwd_waiting_tag(&st), 4, "turn 4 is half taken");
	rmq_fwd_ack(&st, PEER_EPOCH, 2, 20);
	cr_assert_eq(rmq_fwd_waiting_tag(&st), 5);
	rmq_fwd_ack(&st, PEER_EPOCH, 3, 20);
	cr_assert_eq(rmq_fwd_waiting_tag(&st), 0);
}

/* A receiver that says nothing is sent everything again after 500 ms,
 * then 1 s, 2 s ... at most 8 s: a slow one is not flooded with copies.
 * An acknowledgement brings the wait back to 500 ms. */
Test(forward, resends_back_off_while_nothing_comes)
{
	turn(1, 1, 0);
	cr_assert_eq(nsent, 1);
	uint64_t at = 0;
	for (uint32_t wait = 500, k = 2; wait <= 8000; wait *= 2, k++) {
		rmq_fwd_pump(&st, at + wait - 1, rec_send, NULL);
		cr_assert_eq(nsent, k - 1, "resent before %u ms", wait);
		rmq_fwd_pump(&st, at + wait, rec_send, NULL);
		cr_assert_eq(nsent, k, "not resent after %u ms", wait);
		at += wait;
	}
	/* The cap: 8 s again, not 16. */
	unsigned before = nsent;
	rmq_fwd_pump(&st, at + 8000, rec_send, NULL);
	cr_assert_eq(nsent, before + 1);
	at += 8000;
	turn(2, 2, at);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, at + 10);
	before = nsent;
	rmq_fwd_pump(&st, at + 509, rec_send, NULL);
	cr_assert_eq(nsent, before);
	rmq_fwd_pump(&st, at + 510, rec_send, NULL);
	cr_assert_eq(nsent, before + 1, "the wait is 500 ms again");
}

/* How long the peer has taken nothing: from the oldest batch's first
 * send, through its resends, to its acknowledgement; a new connection
 * starts the wait again at the next send; the next batch's wait starts
 * at its own first send. */
Test(forward, the_wait_of_the_oldest_batch_counts_from_its_first_send)
{
	cr_assert_eq(rmq_fwd_waited(&st, 100), 0, "nothing sent");
	add(1);
	cr_assert_eq(rmq_fwd_seal(&st), 0);
	cr_assert_eq(rmq_fwd_waited(&st, 100), 0, "sealed, not yet sent");
	rmq_fwd_pump(&st, 1000, rec_send, NULL);
	cr_assert_eq(rmq_fwd_waited(&st, 1000), 0);
	cr_assert_eq(rmq_fwd_waited(&st, 1400), 400);
	turn(2, 2, 1450);
	rmq_fwd_pump(&st, 1500, rec_send, NULL); /* resent: the wait goes on */
	cr_assert_eq(rmq_fwd_waited(&st, 1900), 900);
	rmq_fwd_kick(&st, 2000);
	cr_assert_eq(rmq_fwd_waited(&st, 2000), 0, "not sent on this one");
	rmq_fwd_pump(&st, 2100, rec_send, NULL);
	cr_assert_eq(rmq_fwd_waited(&st, 6000), 3900);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 6000);
	cr_assert_eq(rmq_fwd_waited(&st, 6000), 3900, "the second's");
	rmq_fwd_ack(&st, PEER_EPOCH, 2, 6001);
	cr_assert_eq(rmq_fwd_waited(&st, 7000), 0, "every batch taken");
}

/* A connection made again may have lost what the one before carried:
 * what waits for acknowledgement goes again at once, in order, and the
 * grown interval is back at its start. */
Test(forward, a_new_connection_sends_the_unacknowledged_again_at_once)
{
	turn(1, 1, 0);
	turn(2, 3, 0);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 10);
	rmq_fwd_pump(&st, 510, rec_send, NULL);
	rmq_fwd_pump(&st, 1510, rec_send, NULL); /* the wait is 2 s now */
	cr_assert_eq(nsent, 4);
	uint64_t resent = st.resent;
	rmq_fwd_kick(&st, 1600);
	cr_assert_eq(nsent, 4, "sent by the next pump, not the kick");
	rmq_fwd_pump(&st, 1600, rec_send, NULL);
	cr_assert_eq(nsent, 5);
	cr_assert_eq(st.resent, resent + 1);
	struct rmq_fwd_head h;
	char msgs[64];
	read_sent(4, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 2);
	cr_assert_str_eq(msgs, "m2,m3");
	rmq_fwd_pump(&st, 2099, rec_send, NULL);
	cr_assert_eq(nsent, 5);
	rmq_fwd_pump(&st, 2100, rec_send, NULL);
	cr_assert_eq(nsent, 6, "the wait is 500 ms again");
	/* Nothing waiting: a kick sends nothing. */
	rmq_fwd_ack(&st, PEER_EPOCH, 2, 2200);
	rmq_fwd_kick(&st, 2300);
	rmq_fwd_pump(&st, 2300, rec_send, NULL);
	cr_assert_eq(nsent, 6);
}

Test(forward, a_refused_send_waits_and_keeps_the_order)
{
	refuse = 1;
	turn(1, 1, 10);
	turn(2, 2, 10);
	cr_assert_eq(nsent, 0);
	refuse = 0;
	cr_assert_eq(rmq_fwd_pump(&st, 20, rec_send, NULL), 2);
	struct rmq_fwd_head h;
	char msgs[64];
	read_sent(0, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 1);
	read_sent(1, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 2);
}

Test(forward, a_restarted_peer_starts_over_and_what_it_missed_is_lost)
{
	turn(1, 3, 10);
	turn(4, 5, 10);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 11);
	/* The same epoch again is no restart. */
	cr_assert_eq(rmq_fwd_peer(&st, PEER_EPOCH, 12), 0);
	cr_assert_eq(rmq_fwd_peer(&st, PEER_EPOCH + 5, 12), 2);
	cr_assert_eq(st.lost, 2);
	cr_assert_null(st.head);
	cr_assert_eq(atomic_load(&st.kept), 0);
	sent_clear();
	turn(6, 6, 13);
	struct rmq_fwd_head h;
	char msgs[64];
	read_sent(0, &h, msgs, sizeof(msgs));
	cr_assert_eq(h.seq, 1);
	cr_assert_eq(h.to_epoch, PEER_EPOCH + 5);
}

Test(forward, the_bound_drops_and_counts)
{
	rmq_fwd_stream_fini(&st);
	rmq_fwd_stream_init(&st, SELF, EPOCH, 0, 200, 500);
	rmq_fwd_peer(&st, PEER_EPOCH, 0);
	refuse = 1;
	unsigned taken = 0;
	for (unsigned i = 0; i < 40; i++) {
		uint8_t *at = rmq_fwd_add(&st, 10);
		if (at) {
			memset(at, 'x', 10);
			taken++;
		}
	}
	cr_assert_gt(taken, 0);
	cr_assert_lt(taken, 40);
	cr_assert_eq(atomic_load(&st.dropped), 40 - taken);
	cr_assert_eq(rmq_fwd_seal(&st), 0);
	/* Sealed and waiting, it still counts against the bound. */
	cr_assert_null(rmq_fwd_add(&st, 150));
	refuse = 0;
	rmq_fwd_pump(&st, 1, rec_send, NULL);
	rmq_fwd_ack(&st, PEER_EPOCH, 1, 2);
	cr_assert_not_null(rmq_fwd_add(&st, 150));
}

Test(forward, a_large_turn_says_it_is_full)
{
	static uint8_t big[RMQ_FWD_BATCH_BYTES / 2];
	memset(big, 'b', sizeof(big));
	memcpy(rmq_fwd_add(&st, sizeof(big)), big, sizeof(big));
	cr_assert_not(rmq_fwd_full(&st));
	memcpy(rmq_fwd_add(&st, sizeof(big)), big, sizeof(big));
	cr_assert(rmq_fwd_full(&st));
}

/* ---- the receiver ---- */

Test(forward, the_receiver_takes_each_batch_once_and_in_order)
{
	struct rmq_fwd_in in = { 0 };
	cr_assert_eq(rmq_fwd_in_acked(&in), 0);
	cr_assert_eq(rmq_fwd_in_check(&in, 7, 1), RMQ_FWD_TAKE);
	cr_assert_eq(rmq_fwd_in_check(&in, 7, 1), RMQ_FWD_COPY);
	cr_assert_eq(rmq_fwd_in_check(&in, 7, 3), RMQ_FWD_GAP);
	cr_assert_eq(rmq_fwd_in_acked(&in), 1);
	cr_assert_eq(rmq_fwd_in_check(&in, 7, 2), RMQ_FWD_TAKE);
	cr_assert_eq(rmq_fwd_in_check(&in, 7, 3), RMQ_FWD_TAKE);
	cr_assert_eq(rmq_fwd_in_acked(&in), 3);
	/* The sender restarted: its stream starts at 1 again. */
	cr_assert_eq(rmq_fwd_in_check(&in, 8, 2), RMQ_FWD_GAP);
	cr_assert_eq(rmq_fwd_in_check(&in, 8, 1), RMQ_FWD_TAKE);
	cr_assert_eq(rmq_fwd_in_acked(&in), 1);
}

/* Sender and receiver over a link that drops every third send and
 * delivers some twice: all 60 messages arrive once each, in order, by
 * acknowledgements and resends alone. */
Test(forward, a_lossy_link_loses_and_repeats_nothing)
{
	struct rmq_fwd_in in = { 0 };
	char got[2048] = "";
	size_t at = 0;
	unsigned next = 1, delivered = 0;
	uint64_t now = 0;
	for (unsigned round = 0; round < 400 && delivered < 60; round++) {
		now += 100;
		if (next <= 60) {
			unsigned last = next + 2 > 60 ? 60 : next + 2;
			for (unsigned i = next; i <= last; i++)
				add(i);
			next = last + 1;
			cr_assert_eq(rmq_fwd_seal(&st), 0);
		}
		rmq_fwd_pump(&st, now, rec_send, NULL);
		for (unsigned k = 0; k < nsent; k++) {
			static unsigned link;
			link++;
			if (link % 3 == 0)
				continue; /* lost */
			for (int copy = 0; copy < 1 + (link % 5 == 0); copy++) {
				struct rmq_fwd_head h;
				const uint8_t *body, *p;
				size_t left, len;
				cr_assert_eq(rmq_fwd_batch_decode(sent[k].p,
						 sent[k].len, &h, &body, &left),
				    0);
				if (rmq_fwd_in_check(&in, h.epoch, h.seq) ==
				    RMQ_FWD_TAKE) {
					while (rmq_fwd_next(&body, &left, &p,
						   &len) == 1) {
						at += (size_t)snprintf(got + at,
						    sizeof(got) - at, "%.*s,",
						    (int)len, (const char *)p);
						delivered++;
					}
				}
				rmq_fwd_ack(&st, PEER_EPOCH,
				    rmq_fwd_in_acked(&in), now);
			}
		}
		sent_clear();
	}
	char want[2048];
	size_t w = 0;
	for (unsigned i = 1; i <= 60; i++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, "m%u,", i);
	cr_assert_str_eq(got, want);
	cr_assert_gt(st.resent, 0);
	cr_assert_null(st.head, "all acknowledged in the end");
}

/* ---- wire ---- */

Test(forward, an_acknowledgement_both_ways)
{
	uint8_t buf[128];
	size_t k = rmq_fwd_ack_encode(buf, sizeof(buf), "node-b", 5, 6, 2, 77);
	cr_assert_gt(k, 0);
	struct rmq_fwd_head h;
	cr_assert_eq(rmq_fwd_ack_decode(buf, k, &h), 0);
	cr_assert_str_eq(h.name, "node-b");
	cr_assert_eq(h.epoch, 5);
	cr_assert_eq(h.to_epoch, 6);
	cr_assert_eq(h.worker, 2);
	cr_assert_eq(h.seq, 77);
	for (size_t cut = 0; cut < k; cut++)
		cr_assert_eq(rmq_fwd_ack_decode(buf, cut, &h), -1, "cut at %zu",
		    cut);
	cr_assert_eq(rmq_fwd_ack_encode(buf, 10, "node-b", 5, 6, 2, 77), 0);
	buf[1] = 'F';
	cr_assert_eq(rmq_fwd_ack_decode(buf, k, &h), -1);
}

Test(forward, a_malformed_batch_is_refused)
{
	turn(1, 2, 10);
	struct rmq_fwd_head h;
	const uint8_t *body;
	size_t left;
	uint8_t *p = sent[0].p;
	size_t len = sent[0].len;
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(rmq_fwd_batch_decode(p, cut, &h, &body, &left), -1,
		    "cut at %zu", cut);
	/* A count that does not match the messages. */
	size_t count_at = 4 + strlen(SELF) + 8 + 8 + 1 + 8;
	p[count_at + 3] = 3;
	cr_assert_eq(rmq_fwd_batch_decode(p, len, &h, &body, &left), -1);
	p[count_at + 3] = 2;
	cr_assert_eq(rmq_fwd_batch_decode(p, len, &h, &body, &left), 0);
	/* A message's length past the end ("m1" takes a byte of length,
	 * two of text). */
	size_t second = count_at + 4 + 1 + 2;
	cr_assert_eq(p[second], 2);
	p[second] = 3;
	cr_assert_eq(rmq_fwd_batch_decode(p, len, &h, &body, &left), -1);
	p[second] = 2;
	/* Sequence number 0 and a wrong version. */
	uint8_t seq_lo = p[count_at - 1];
	p[count_at - 1] = 0;
	cr_assert_eq(rmq_fwd_batch_decode(p, len, &h, &body, &left), -1);
	p[count_at - 1] = seq_lo;
	char name[64];
	cr_assert_eq(rmq_fwd_foreign(p, len, name, sizeof(name)), 0);
	p[2] = 9;
	cr_assert_eq(rmq_fwd_batch_decode(p, len, &h, &body, &left), -1);
	/* Another version is told apart from noise, with its sender. */
	cr_assert_eq(rmq_fwd_foreign(p, len, name, sizeof(name)), 9);
	cr_assert_str_eq(name, SELF);
	cr_assert_eq(rmq_fwd_foreign(p, 3, name, sizeof(name)), 0);
	p[0] = 'X';
	cr_assert_eq(rmq_fwd_foreign(p, len, name, sizeof(name)), 0);
}

/* A message's length takes as few bytes as it needs, 7 bits each; a
 * reader refuses more. */
Test(forward, lengths_take_the_bytes_they_need)
{
	uint8_t big[300];
	memset(big, 'x', sizeof(big));
	uint8_t *at = rmq_fwd_add(&st, 127);
	cr_assert_not_null(at);
	memcpy(at, big, 127);
	at = rmq_fwd_add(&st, sizeof(big));
	cr_assert_not_null(at);
	memcpy(at, big, sizeof(big));
	cr_assert_eq(rmq_fwd_seal(&st), 0);
	rmq_fwd_pump(&st, 1, rec_send, NULL);
	struct rmq_fwd_head h;
	const uint8_t *body, *p;
	size_t left, len;
	cr_assert_eq(rmq_fwd_batch_decode(sent[0].p, sent[0].len, &h, &body,
			 &left),
	    0);
	cr_assert_eq(left, 1 + 127 + 2 + sizeof(big));
	cr_assert_eq(body[0], 127);
	cr_assert_eq(body[128], 0x80 | (300 & 0x7f));
	cr_assert_eq(body[129], 300 >> 7);
	cr_assert_eq(rmq_fwd_next(&body, &left, &p, &len), 1);
	cr_assert_eq(len, 127);
	cr_assert_eq(rmq_fwd_next(&body, &left, &p, &len), 1);
	cr_assert_eq(len, sizeof(big));
	cr_assert_eq(rmq_fwd_next(&body, &left, &p, &len), 0);
	/* 2 written in two bytes; a length of eleven bytes. */
	static const uint8_t longer[] = { 0x82, 0x00, 'a', 'b' };
	body = longer;
	left = sizeof(longer);
	cr_assert_eq(rmq_fwd_next(&body, &left, &p, &len), -1);
	uint8_t eleven[12];
	memset(eleven, 0x80, 10);
	eleven[10] = 0x01;
	eleven[11] = 'a';
	body = eleven;
	left = sizeof(eleven);
	cr_assert_eq(rmq_fwd_next(&body, &left, &p, &len), -1);
}

/* A message's head on a worker's stream: its identity as the worker and a
 * count in the bytes it needs, and whether groups follow. */
Test(forward, a_message_head_keeps_its_identity)
{
	static const uint64_t xids[] = { 0, 1, 127, 128, 3ull << 56 | 300,
		255ull << 56 | ((1ull << 56) - 1) };
	for (size_t i = 0; i < sizeof(xids) / sizeof(xids[0]); i++) {
		uint8_t buf[16];
		size_t n = rmq_fwd_msg_head_size(xids[i]);
		cr_assert_eq(rmq_fwd_msg_head_put(buf, xids[i], (int)(i & 1)),
		    buf + n);
		uint64_t xid = 7;
		int groups = -1;
		cr_assert_eq(rmq_fwd_msg_head_get(buf, n, &xid, &groups),
		    (int)n);
		cr_assert_eq(xid, xids[i]);
		cr_assert_eq(groups, (int)(i & 1));
		for (size_t cut = 0; cut < n; cut++)
			cr_assert_eq(rmq_fwd_msg_head_get(buf, cut, &xid,
					 &groups),
			    -1);
	}
	cr_assert_eq(rmq_fwd_msg_head_size(5), 3);
	cr_assert_eq(rmq_fwd_msg_head_size(2ull << 56 | 200), 4);
	uint64_t xid;
	int groups;
	static const uint8_t flag[] = { 0x02, 0, 1 };
	cr_assert_eq(rmq_fwd_msg_head_get(flag, 3, &xid, &groups), -1);
	static const uint8_t longer[] = { 0x00, 0, 0x81, 0x00 };
	cr_assert_eq(rmq_fwd_msg_head_get(longer, 4, &xid, &groups), -1);
	/* A count past 56 bits. */
	static const uint8_t wide[] = { 0x00, 0, 0x80, 0x80, 0x80, 0x80, 0x80,
		0x80, 0x80, 0x80, 0x01 };
	cr_assert_eq(rmq_fwd_msg_head_get(wide, sizeof(wide), &xid, &groups),
	    -1);
}
