/* core/codec.h: MQTT 3.1, 3.1.1 and 5.0 wire encoding and decoding.
 *
 * The contract of codec_decode.c (bytes to struct rmq_packet, validating
 * every rule of the spec that a single packet can break), codec_encode.c
 * (struct to bytes, into caller memory, never allocating) and frame.c (the
 * incremental framer that cuts a byte stream into packets).
 *
 * Errors from peer input are -EPROTO with a struct rmq_codec_err naming the
 * reason code a broker or client should send and the spec statement broken;
 * the codec never asserts on peer input.
 */
#ifndef RMQ_CODEC_H
#define RMQ_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "packet.h"
#include "reason.h"

/* Why the peer's bytes were refused.  msg is a static string that starts
 * with the spec statement it breaks where there is one. */
struct rmq_codec_err {
	uint8_t
	    reason; /* 5.0 reason code to send (0x81 Malformed Packet, ...) */
	const char *msg;
};

/* Who sent the bytes being decoded: a server receives RMQ_FROM_CLIENT. */
enum rmq_role {
	RMQ_FROM_CLIENT = 0,
	RMQ_FROM_SERVER = 1,
};

/* ---- decoding a packet whose bytes are all here ---- */

/* Decode one packet from its first byte (type and flags) and its body (the
 * Remaining Length bytes).  `version` is the session's protocol level; it
 * is ignored for CONNECT, which carries its own.  The packet's strings point
 * into body, which must outlive *out.
 * Returns 0, or -EPROTO with *err set.  Thread-safe, no allocation. */
int rmq_codec_decode(uint8_t first, const uint8_t *body, size_t len,
    uint8_t version, enum rmq_role from, struct rmq_packet *out,
    struct rmq_codec_err *err);

/* ---- cutting a byte stream into packets ---- */

/* A complete packet as cut from the stream. */
struct rmq_frame {
	uint8_t first; /* packet type << 4 | flags */
	const uint8_t *body; /* Remaining Length bytes */
	uint32_t body_len;
	uint32_t size; /* the whole packet: header + body */
};

/* State of one stream.  A packet that arrives whole in one input chunk is
 * handed out in place; only a packet split across chunks is gathered into
 * a heap buffer, after its header has been checked against max_packet; the
 * buffer grows with the bytes that arrive.  It is freed when the packet
 * has been handed out, so an idle stream holds no buffer. */
struct rmq_framer {
	uint32_t max_packet; /* whole-packet limit; 0 means the protocol's */
	uint8_t strict_varint; /* refuse non-minimal lengths (5.0 1.5.5-1) */
	uint8_t hdr_len;
	uint8_t hdr[5];
	uint32_t need; /* body bytes of the packet being gathered */
	uint32_t have;
	uint32_t cap;
	uint8_t *buf;
};

void rmq_framer_init(struct rmq_framer *f, uint32_t max_packet);

/* Whether a packet is begun and not complete. */
static inline int
rmq_framer_pending(const struct rmq_framer *f)
{
	return f->hdr_len != 0 || f->need != 0;
}

/* Free the gathering buffer, if any.  The framer may be reused after init. */
void rmq_framer_fini(struct rmq_framer *f);

/* Take bytes from in[0..len).  Returns 1 with *frame set when a packet is
 * complete, 0 when all of in was consumed without completing one, -EPROTO
 * with *err set (0x81 for a bad length, 0x95 for a packet over max_packet),
 * or -ENOMEM.  *used tells how much of in was consumed; call again with the
 * rest.  frame->body stays valid until the next call or fini.
 * A framer that returned -EPROTO or -ENOMEM keeps refusing: close the
 * stream. */
int rmq_framer_next(struct rmq_framer *f, const uint8_t *in, size_t len,
    size_t *used, struct rmq_frame *frame, struct rmq_codec_err *err);

/* A framer plus the per-stream protocol state: the version (learnt from
 * CONNECT on the server side, given on the client side) and, on the server
 * side, whether a CONNECT was seen, so that a packet before CONNECT and a
 * second CONNECT are refused as the spec says.  The client side leaves the
 * order of CONNACK to the client. */
struct rmq_decoder {
	struct rmq_framer framer;
	uint8_t version; /* 0 until known */
	uint8_t from; /* enum rmq_role of the peer */
	uint8_t connected;
};

/* Server side: from = RMQ_FROM_CLIENT, version 0 (learnt from CONNECT).
 * Client side: from = RMQ_FROM_SERVER and the version the client sent. */
void rmq_decoder_init(struct rmq_decoder *d, enum rmq_role from,
    uint8_t version, uint32_t max_packet);

void rmq_decoder_fini(struct rmq_decoder *d);

/* Frame and decode the next packet from in[0..len): as rmq_framer_next(),
 * with *pkt decoded when 1 is returned.  pkt's strings stay valid until the
 * next call. */
int rmq_decoder_next(struct rmq_decoder *d, const uint8_t *in, size_t len,
    size_t *used, struct rmq_packet *pkt, struct rmq_codec_err *err);

/* ---- encoding ---- */

/* Bytes that `pkt` takes on the wire at `version`, or 0 if it cannot be
 * encoded there: a string over 65535 bytes, a body over the Remaining
 * Length limit, a reason code the version or packet does not have, or a
 * packet the spec forbids (a PUBLISH with DUP at QoS 0, with an empty
 * topic and no alias, or with a wildcard in its topic).  What a version
 * does not have is left out: properties before 5.0, subscription options
 * other than QoS before 5.0, reason codes of a 3.x UNSUBACK. */
size_t rmq_codec_size(const struct rmq_packet *pkt, uint8_t version);

/* Encode pkt at `version` into buf[0..cap).  Returns the bytes written,
 * -ENOBUFS if cap is short of rmq_codec_size(), or -EINVAL if the packet
 * cannot be encoded at that version.  Thread-safe, no allocation. */
long rmq_codec_encode(const struct rmq_packet *pkt, uint8_t version,
    uint8_t *buf, size_t cap);

/* ---- PUBLISH split into a shared part and a per-subscriber part ----
 *
 * A message going to many subscribers is encoded once per protocol version
 * as a shared part: the topic with its length prefix, the properties every
 * copy carries (payload format, content type, response topic, correlation
 * data, user properties), and the payload, which stays where it is.  Each
 * subscriber then gets a few header bytes of its own (fixed header, packet
 * id, topic alias, subscription identifiers, remaining expiry) and an iovec
 * that points at the shared bytes: no payload is copied per subscriber. */

struct rmq_pub_shared {
	uint8_t version;
	const uint8_t *topic; /* 2-byte length + topic name */
	uint32_t topic_len;
	const uint8_t *props; /* shared properties, no length prefix */
	uint32_t props_len;
	const uint8_t *payload;
	uint32_t payload_len;
};

/* What differs per subscriber. */
struct rmq_pub_var {
	uint8_t qos;
	uint8_t dup;
	uint8_t retain;
	uint8_t omit_topic; /* send an empty topic (alias already known) */
	uint16_t packet_id;
	uint16_t topic_alias; /* 0: none */
	uint8_t has_expiry;
	uint32_t message_expiry; /* remaining seconds, when has_expiry */
	uint32_t n_subid;
	const uint32_t *subids;
};

/* Largest header buffer rmq_codec_publish_iov() may need. */
#define RMQ_PUB_HDR_MAX 64u

/* Bytes of shared wire form that `pub` needs at `version` (topic and shared
 * properties; the payload is referenced, not copied), or 0 if it cannot be
 * encoded. */
size_t
rmq_codec_publish_shared_size(const struct rmq_publish *pub, uint8_t version);

/* Write the shared wire form of pub into buf[0..cap) and describe it in
 * *sh, which then points into buf and at pub's payload.  Returns 0,
 * -ENOBUFS or -EINVAL. */
int rmq_codec_publish_shared(const struct rmq_publish *pub, uint8_t version,
    uint8_t *buf, size_t cap, struct rmq_pub_shared *sh);

/* The same without the checks, for a caller that has its size from
 * rmq_codec_publish_shared_size (not 0) and a buf that large. */
void rmq_codec_publish_shared_put(const struct rmq_publish *pub,
    uint8_t version, uint8_t *buf, struct rmq_pub_shared *sh);

/* Build one subscriber's copy: its header bytes go into hdr (at least
 * RMQ_PUB_HDR_MAX bytes, more when it carries many subscription
 * identifiers: 5 each), and iov[0..5) is filled to describe the whole
 * packet.  Returns the number of iovecs used (at most 5), with the packet's
 * total size in *size, or -EINVAL (more subscription identifiers than fit,
 * or a packet over the protocol limit). */
int rmq_codec_publish_iov(const struct rmq_pub_shared *sh,
    const struct rmq_pub_var *var, uint8_t *hdr, size_t hdr_cap,
    struct iovec iov[5], size_t *size);

#endif
