/* core/packet.c: helpers over the packet structs that both decoded and
 * hand-built packets use: type names and the walk over SUBSCRIBE and
 * UNSUBSCRIBE entries, which the decoder leaves in their wire form so that
 * decoding allocates nothing. */
#include "packet.h"
#include "wire.h"

static const char *const type_names[16] = {
	"reserved",
	"CONNECT",
	"CONNACK",
	"PUBLISH",
	"PUBACK",
	"PUBREC",
	"PUBREL",
	"PUBCOMP",
	"SUBSCRIBE",
	"SUBACK",
	"UNSUBSCRIBE",
	"UNSUBACK",
	"PINGREQ",
	"PINGRESP",
	"DISCONNECT",
	"AUTH",
};

const char *
rmq_packet_type_name(unsigned type)
{
	return type < 16 ? type_names[type] : "reserved";
}

int
rmq_subscribe_next(const struct rmq_subscribe *s, uint8_t version,
    uint32_t *off, struct rmq_sub_entry *e)
{
	if (s->entries != NULL) {
		if (*off >= s->count)
			return 0;
		*e = s->entries[(*off)++];
		return 1;
	}
	if (s->raw.p == NULL)
		return 0;
	struct rmq_rd r = { (const uint8_t *)s->raw.p + *off,
		(const uint8_t *)s->raw.p + s->raw.len };
	uint8_t opt;
	if (rmq_rd_left(&r) == 0 || rmq_rd_bin(&r, &e->filter) != 0 ||
	    rmq_rd_u8(&r, &opt) != 0)
		return 0;
	e->qos = opt & 3;
	if (version >= RMQ_V5) {
		e->no_local = (opt >> 2) & 1;
		e->retain_as_published = (opt >> 3) & 1;
		e->retain_handling = (opt >> 4) & 3;
	} else {
		e->no_local = e->retain_as_published = e->retain_handling = 0;
	}
	*off = (uint32_t)(r.p - (const uint8_t *)s->raw.p);
	return 1;
}

int
rmq_unsubscribe_next(const struct rmq_unsubscribe *u, uint32_t *off,
    struct rmq_str *filter)
{
	if (u->filters != NULL) {
		if (*off >= u->count)
			return 0;
		*filter = u->filters[(*off)++];
		return 1;
	}
	if (u->raw.p == NULL)
		return 0;
	struct rmq_rd r = { (const uint8_t *)u->raw.p + *off,
		(const uint8_t *)u->raw.p + u->raw.len };
	if (rmq_rd_left(&r) == 0 || rmq_rd_bin(&r, filter) != 0)
		return 0;
	*off = (uint32_t)(r.p - (const uint8_t *)u->raw.p);
	return 1;
}
