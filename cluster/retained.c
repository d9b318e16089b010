/* cluster/retained.c: the wire form of a retained change and the deletes
 * remembered (retained.h). */
#include "retained.h"

#include <string.h>

#include "wire.h"

#define VERSION 1

size_t
rmq_retained_head_encode(uint8_t *buf, size_t cap, const char *node,
    uint64_t stamp)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	static const uint8_t magic[] = { 'R', 'T', VERSION };
	rmq_wput(&o, magic, sizeof(magic));
	rmq_wput_str(&o, node, strlen(node), 1);
	rmq_wput_u(&o, stamp, 8);
	return o.full ? 0 : o.len;
}

int
rmq_retained_decode(const uint8_t *p, size_t n, struct rmq_retained_change *c)
{
	struct rmq_win in = { p, n, 0 };
	if (rmq_wget_u(&in, 1) != 'R' || rmq_wget_u(&in, 1) != 'T' ||
	    rmq_wget_u(&in, 1) != VERSION)
		return -1;
	rmq_wget_name(&in, c->node, sizeof(c->node), 0);
	c->stamp = rmq_wget_u(&in, 8);
	if (in.bad || c->stamp == 0 || in.left == 0)
		return -1;
	c->msg = in.p;
	c->msg_len = in.left;
	return 0;
}

int
rmq_tombs_init(struct rmq_tombs *t)
{
	t->refused = 0;
	return rmq_strmap_init(&t->map);
}

void
rmq_tombs_fini(struct rmq_tombs *t)
{
	rmq_strmap_fini(&t->map);
}

void
rmq_tombs_put(struct rmq_tombs *t, const char *topic, size_t len,
    uint64_t stamp)
{
	uintptr_t had = (uintptr_t)rmq_strmap_get(&t->map, topic, len);
	void *old;
	if (had >= stamp || (had == 0 && t->map.live >= RMQ_TOMBS_MAX))
		return;
	(void)rmq_strmap_put(&t->map, topic, len, (void *)(uintptr_t)stamp,
	    &old);
}

int
rmq_tombs_refuse(struct rmq_tombs *t, const char *topic, size_t len,
    uint64_t stamp)
{
	uintptr_t had = (uintptr_t)rmq_strmap_get(&t->map, topic, len);
	if (had == 0 || had < stamp)
		return 0;
	t->refused++;
	return 1;
}

void
rmq_tombs_expire(struct rmq_tombs *t, uint64_t now_us)
{
	uint64_t before = now_us > (uint64_t)RMQ_TOMB_MS * 1000
	    ? (now_us - (uint64_t)RMQ_TOMB_MS * 1000) << 12
	    : 0;
	struct rmq_strmap_entry *e;
	size_t i = 0;
	while ((e = rmq_strmap_next(&t->map, &i)) != NULL)
		if ((uintptr_t)e->val < before)
			rmq_strmap_del_at(&t->map, e);
}
