/* broker/mqtt/linger.c: connections read to their end before they close
 * (linger.h).
 *
 * Each worker keeps its lingering connections in a list in the order they
 * began, which is the order of their deadlines (one fixed time each, cut
 * short only when the worker stops), so the tick looks at the head only.
 */
#include <errno.h>
#include <stdlib.h>

#include "conn.h"
#include "worker_impl.h"

struct rmq_linger {
	struct rmq_worker *w;
	struct rmq_conn *conn;
	uint64_t until;
	struct rmq_linger *prev, *next;
	uint8_t listener;
};

static void
linger_unlink(struct rmq_linger *l)
{
	struct rmq_worker *w = l->w;
	if (l->prev)
		l->prev->next = l->next;
	else
		w->linger_head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		w->linger_tail = l->prev;
	l->prev = l->next = NULL;
}

static void
linger_on_closed(struct rmq_conn *c)
{
	struct rmq_linger *l = c->data;
	rmq_worker_conn_gone(l->w, l->listener);
	rmq_uncount(&l->w->st.lingering);
	free(l);
}

static void
linger_close(struct rmq_linger *l)
{
	linger_unlink(l);
	rmq_conn_close(l->conn, linger_on_closed);
}

static void
linger_on_read(struct rmq_conn *c, const uint8_t *data, ssize_t n)
{
	struct rmq_linger *l = c->data;
	(void)data;
	if (n > 0) {
		rmq_count(&l->w->st.bytes_in, (uint64_t)n);
		rmq_count(&l->w->st.linger_discarded, (uint64_t)n);
		return;
	}
	if (!c->closing)
		linger_close(l); /* the client's end, or an error */
}

int
rmq_linger_start(struct rmq_worker *w, struct rmq_conn *c, uint8_t listener)
{
	struct rmq_linger *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	int rc = rmq_conn_shutdown(c);
	if (rc != 0) {
		free(l);
		return rc;
	}
	l->w = w;
	l->conn = c;
	l->listener = listener;
	l->until = w->loop->now_ms + RMQ_LINGER_MS;
	if (w->linger_stop_at && w->linger_stop_at < l->until)
		l->until = w->linger_stop_at;
	c->data = l;
	l->prev = w->linger_tail;
	if (w->linger_tail)
		w->linger_tail->next = l;
	else
		w->linger_head = l;
	w->linger_tail = l;
	rmq_count(&w->st.lingered, 1);
	rmq_count(&w->st.lingering, 1);
	/* Reading goes on, into the linger's callback (loop.h: read_start
	 * again replaces it). */
	rc = rmq_conn_read_start(c, linger_on_read);
	if (rc != 0)
		linger_close(l);
	return 0;
}

void
rmq_linger_tick(struct rmq_worker *w, uint64_t now)
{
	while (w->linger_head && w->linger_head->until <= now) {
		rmq_count(&w->st.linger_timeouts, 1);
		linger_close(w->linger_head);
	}
}

void
rmq_linger_stop(struct rmq_worker *w, uint64_t deadline)
{
	w->linger_stop_at = deadline;
	for (struct rmq_linger *l = w->linger_head; l; l = l->next)
		if (l->until > deadline)
			l->until = deadline;
}
