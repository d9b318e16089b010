/* test/fuzz/fuzz_tls_record.c: TLS 1.3 records after the handshake
 * (broker/io/tls_record.c) from a client that holds the keys, as every
 * client does, so the fuzzer reaches what lies behind the AEAD: content
 * types, padding, empty and oversized plaintexts, handshake messages,
 * alerts, and raw bytes between them.
 *
 * Input: a suite byte, then operations [op][len hi][len lo][data]:
 *   op & 3 == 0  the client seals data as a record of type op >> 2
 *   op & 3 == 1  data goes on the wire as it is
 *   op & 3 == 2  the client seals data and one byte flipped in its body
 *   op & 3 == 3  the wire so far is opened record by record
 * The server opens records until the first alert, handing handshake
 * records to rmq_tls_rec_handshake as tls.c does.  An opened data record
 * must be what the client sealed, when nothing raw or changed came before
 * it.  Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <string.h>

#include "tls_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t suites[] = { 0x1301, 0x1302, 0x1303 };
static const size_t lens[] = { 32, 48, 32 };

struct wire {
	struct rmq_iobuf b;
	size_t at; /* opened up to here */
	int clean; /* nothing raw or changed sent yet */
};

/* Open what is whole; 1 once the server has ended the connection. */
static int
drain(struct rmq_tls_rec *sv, struct wire *w, const uint8_t *want,
    size_t want_len, int want_type)
{
	static uint8_t plain[RMQ_TLS_PLAIN_MAX + 256];
	struct rmq_iobuf out = { 0 };
	int ended = 0;
	while (!ended && w->b.len - w->at >= RMQ_TLS_HEADER) {
		const uint8_t *r = w->b.p + w->at;
		if (rmq_tls_rec_header(r) != 0) {
			ended = 1;
			break;
		}
		size_t len = rmq_tls_rec_len(r);
		if (w->b.len - w->at < len)
			break;
		w->at += len;
		size_t n;
		uint8_t type;
		if (rmq_tls_rec_open(sv, r, len, plain, &n, &type) != 0) {
			ended = 1;
			break;
		}
		if (type == RMQ_TLS_HANDSHAKE)
			ended = rmq_tls_rec_handshake(sv, plain, n, &out) != 0;
		else if (type == RMQ_TLS_ALERT)
			ended = n != 2 || plain[1] != RMQ_TLS_USER_CANCELED;
		else if (type != RMQ_TLS_DATA)
			ended = 1;
		else if (want != NULL && w->clean &&
		    want_type == RMQ_TLS_DATA &&
		    (n != want_len || memcmp(plain, want, n) != 0))
			__builtin_trap(); /* opened is not what was sealed */
	}
	rmq_iobuf_free(&out);
	return ended;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned s = data[0] % 3;
	uint8_t cs[48], ss[48];
	memset(cs, 0xc1, sizeof(cs));
	memset(ss, 0x5e, sizeof(ss));
	struct rmq_tls_rec sv = { 0 }, cl = { 0 };
	if (rmq_tls_rec_start(&sv, suites[s], cs, ss, lens[s], 1) != 0 ||
	    rmq_tls_rec_start(&cl, suites[s], ss, cs, lens[s], 0) != 0)
		__builtin_trap();
	struct wire w = { .clean = 1 };
	size_t i = 1;
	int ended = 0;
	while (!ended && i + 3 <= size) {
		uint8_t op = data[i];
		size_t n = (size_t)data[i + 1] << 8 | data[i + 2];
		i += 3;
		if (n > size - i)
			n = size - i;
		const uint8_t *p = data + i;
		i += n;
		struct iovec v = { (void *)p, n };
		size_t before = w.b.len;
		switch (op & 3) {
		case 0:
		case 2:
			if (rmq_tls_rec_seal(&cl, (uint8_t)(op >> 2), &v, 1,
				&w.b) != 0)
				__builtin_trap();
			if ((op & 3) == 2 &&
			    w.b.len > before + RMQ_TLS_HEADER) {
				size_t body = w.b.len - before - RMQ_TLS_HEADER;
				w.b.p[before + RMQ_TLS_HEADER + n % body] ^= 1;
				w.clean = 0;
			}
			if ((op >> 2) != RMQ_TLS_DATA)
				w.clean = 0; /* keys may change under it */
			else if ((op & 3) == 0 && n <= RMQ_TLS_PLAIN_MAX)
				ended = drain(&sv, &w, p, n, RMQ_TLS_DATA);
			else if ((op & 3) == 0)
				ended = drain(&sv, &w, NULL, 0, 0);
			break;
		case 1:
			if (rmq_iobuf_put(&w.b, p, n) != 0)
				__builtin_trap();
			w.clean = 0;
			break;
		case 3: ended = drain(&sv, &w, NULL, 0, 0); break;
		}
	}
	if (!ended)
		(void)drain(&sv, &w, NULL, 0, 0);
	rmq_iobuf_free(&w.b);
	rmq_tls_rec_clear(&sv);
	rmq_tls_rec_clear(&cl);
	return 0;
}
