/* test/broker/io/test_tls_record.c: TLS 1.3 records (broker/io/
 * tls_record.c) against a real OpenSSL client.  An OpenSSL server finishes
 * the handshake over memory BIOs, its traffic secrets taken from its key
 * log and its tickets counted as tls.c does; then the server is freed and
 * the record layer carries on with the client: data both ways on every
 * suite, padding, KeyUpdates asked for by the client and made by us, and
 * each refusal with the alert RFC 8446 names for it.
 */
#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "rmq_test_tls.h"
#include "tls_record.h"

static struct rmq_test_certs certs;

static void
setup(void)
{
	rmq_test_certs_make(&certs);
}

static void
teardown(void)
{
	rmq_test_certs_remove(&certs);
}

TestSuite(tls_record, .init = setup, .fini = teardown, .timeout = 30);

struct pair {
	SSL_CTX *cctx, *sctx;
	SSL *c, *s;
	BIO *c_in, *c_out; /* the client's side of the wire */
	uint8_t cs[48], ss[48];
	size_t slen;
	int secrets, tickets;
	struct rmq_tls_rec rec;
	uint8_t wire[1 << 18]; /* what the client wrote, not yet opened */
	size_t wire_len;
};

static struct pair *current;

static void
keylog(const SSL *ssl, const char *line)
{
	(void)ssl;
	uint8_t *out = NULL;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		out = current->cs;
	else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		out = current->ss;
	if (out == NULL)
		return;
	const char *hex = strchr(line + 24, ' ') + 1;
	current->slen = strlen(hex) / 2;
	for (size_t i = 0; i < current->slen; i++) {
		unsigned v;
		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	current->secrets |= out == current->cs ? 1 : 2;
}

static void
msg(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
    void *arg)
{
	(void)version, (void)ssl, (void)arg;
	if (write_p && type == SSL3_RT_HANDSHAKE && len &&
	    ((const uint8_t *)buf)[0] == SSL3_MT_NEWSESSION_TICKET)
		current->tickets++;
}

/* Move what one side wrote to the other's read BIO. */
static void
move(BIO *from, BIO *to)
{
	uint8_t b[4096];
	int n;
	while ((n = BIO_read(from, b, sizeof(b))) > 0)
		BIO_write(to, b, n);
}

/* A finished handshake on `suite`, the server given up for the record
 * layer; `tickets` session tickets sent. */
static struct pair *
pair_new(const char *suite, int tickets)
{
	struct pair *p = calloc(1, sizeof(*p));
	cr_assert_not_null(p);
	current = p;
	p->sctx = SSL_CTX_new(TLS_server_method());
	p->cctx = SSL_CTX_new(TLS_client_method());
	cr_assert_eq(SSL_CTX_use_certificate_chain_file(p->sctx,
			 certs.server_cert),
	    1);
	cr_assert_eq(SSL_CTX_use_PrivateKey_file(p->sctx, certs.server_key,
			 SSL_FILETYPE_PEM),
	    1);
	SSL_CTX_set_keylog_callback(p->sctx, keylog);
	SSL_CTX_set_msg_callback(p->sctx, msg);
	SSL_CTX_set_num_tickets(p->sctx, (size_t)tickets);
	SSL_CTX_set_min_proto_version(p->cctx, TLS1_3_VERSION);
	cr_assert_eq(SSL_CTX_set_ciphersuites(p->cctx, suite), 1);
	p->s = SSL_new(p->sctx);
	p->c = SSL_new(p->cctx);
	BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
	p->c_in = BIO_new(BIO_s_mem());
	p->c_out = BIO_new(BIO_s_mem());
	SSL_set_bio(p->s, s_in, s_out);
	SSL_set_bio(p->c, p->c_in, p->c_out);
	SSL_set_accept_state(p->s);
	SSL_set_connect_state(p->c);
	BIO_up_ref(p->c_in);
	BIO_up_ref(p->c_out);
	int cdone = 0, sdone = 0;
	for (int i = 0; i < 10 && !(cdone && sdone); i++) {
		if (!cdone)
			cdone = SSL_do_handshake(p->c) == 1;
		move(p->c_out, s_in);
		if (!sdone)
			sdone = SSL_do_handshake(p->s) == 1;
		move(s_out, p->c_in);
	}
	cr_assert(cdone && sdone, "handshake");
	cr_assert_eq(p->secrets, 3, "both traffic secrets logged");
	cr_assert_eq(p->tickets, tickets);
	cr_assert_eq(SSL_has_pending(p->s), 0);
	const SSL_CIPHER *c = SSL_get_current_cipher(p->s);
	uint16_t id = SSL_CIPHER_get_protocol_id(c);
	cr_assert(rmq_tls_rec_supported(id), "%s", suite);
	cr_assert_eq(rmq_tls_rec_start(&p->rec, id, p->cs, p->ss, p->slen,
			 (uint64_t)p->tickets),
	    0);
	SSL_set_shutdown(p->s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(p->s);
	SSL_CTX_free(p->sctx);
	return p;
}

static void
pair_free(struct pair *p)
{
	rmq_tls_rec_clear(&p->rec);
	BIO_free(p->c_in);
	BIO_free(p->c_out);
	SSL_free(p->c);
	SSL_CTX_free(p->cctx);
	free(p);
}

/* Records the record layer sealed: to the client, which reads up to cap
 * bytes of plaintext. */
static size_t
to_client(struct pair *p, struct rmq_iobuf *out, uint8_t *buf, size_t cap)
{
	BIO_write(p->c_in, out->p, (int)out->len);
	out->len = 0;
	size_t got = 0, n;
	while (got < cap && SSL_read_ex(p->c, buf + got, cap - got, &n))
		got += n;
	ERR_clear_error();
	return got;
}

/* The client's next record: 0 and its plaintext, or the alert. */
static int
from_client(struct pair *p, uint8_t *plain, size_t *n, uint8_t *type,
    size_t *rec_len)
{
	if (p->wire_len == 0) {
		int k = BIO_read(p->c_out, p->wire, sizeof(p->wire));
		cr_assert_gt(k, 0, "the client wrote a record");
		p->wire_len = (size_t)k;
	}
	size_t len = rmq_tls_rec_len(p->wire);
	cr_assert_geq(p->wire_len, len);
	*rec_len = len;
	int alert = rmq_tls_rec_open(&p->rec, p->wire, len, plain, n, type);
	memmove(p->wire, p->wire + len, p->wire_len - len);
	p->wire_len -= len;
	return alert;
}

static void
both_ways(const char *suite)
{
	struct pair *p = pair_new(suite, 2);
	struct rmq_iobuf out = { 0 };
	static uint8_t big[40000], plain[RMQ_TLS_PLAIN_MAX + 256], got[40000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	/* Ours: three iovecs gathered into records of at most 2^14. */
	struct iovec v[3] = { { big, 10 }, { big + 10, 30000 },
		{ big + 30010, 9990 } };
	cr_assert_eq(rmq_tls_rec_seal(&p->rec, RMQ_TLS_DATA, v, 3, &out), 0);
	cr_assert_eq(p->rec.wr.seq, 2 + 3, "after the tickets, 3 records");
	cr_assert_eq(to_client(p, &out, got, sizeof(got)), sizeof(big),
	    "the client read it all (%s)", suite);
	cr_assert_arr_eq(got, big, sizeof(big));
	/* Theirs. */
	size_t done, n, rl, total = 0;
	uint8_t type;
	cr_assert_eq(SSL_write_ex(p->c, big, sizeof(big), &done), 1);
	while (total < sizeof(big)) {
		cr_assert_eq(from_client(p, plain, &n, &type, &rl), 0);
		cr_assert_eq(type, RMQ_TLS_DATA);
		cr_assert_arr_eq(plain, big + total, n);
		total += n;
	}
	cr_assert_eq(p->rec.rd.seq, 3);
	rmq_iobuf_free(&out);
	pair_free(p);
}

Test(tls_record, aes_128_gcm_both_ways)
{
	both_ways("TLS_AES_128_GCM_SHA256");
}

Test(tls_record, aes_256_gcm_both_ways)
{
	both_ways("TLS_AES_256_GCM_SHA384");
}

Test(tls_record, chacha20_poly1305_both_ways)
{
	both_ways("TLS_CHACHA20_POLY1305_SHA256");
}

Test(tls_record, no_tickets_start_at_zero)
{
	struct pair *p = pair_new("TLS_AES_128_GCM_SHA256", 0);
	struct rmq_iobuf out = { 0 };
	uint8_t got[8];
	struct iovec v = { "hello", 5 };
	cr_assert_eq(rmq_tls_rec_seal(&p->rec, RMQ_TLS_DATA, &v, 1, &out), 0);
	cr_assert_eq(to_client(p, &out, got, sizeof(got)), 5);
	cr_assert_arr_eq(got, "hello", 5);
	rmq_iobuf_free(&out);
	pair_free(p);
}

Test(tls_record, padded_records_are_opened)
{
	struct pair *p = pair_new("TLS_AES_256_GCM_SHA384", 1);
	uint8_t plain[RMQ_TLS_PLAIN_MAX + 256];
	size_t done, n, rl;
	uint8_t type;
	cr_assert_eq(SSL_set_block_padding(p->c, 256), 1);
	cr_assert_eq(SSL_write_ex(p->c, "abc", 3, &done), 1);
	cr_assert_eq(from_client(p, plain, &n, &type, &rl), 0);
	cr_assert_eq(rl, RMQ_TLS_HEADER + 256 + 16, "padded to 256");
	cr_assert_eq(n, 3);
	cr_assert_eq(type, RMQ_TLS_DATA);
	cr_assert_arr_eq(plain, "abc", 3);
	pair_free(p);
}

/* RFC 8446 4.6.3: "If the request_update field is set to
 * "update_requested", then the receiver MUST send a KeyUpdate of its own
 * with request_update set to "update_not_requested" prior to sending its
 * next Application Data record." */
Test(tls_record, key_update_asked_by_the_client_is_answered)
{
	struct pair *p = pair_new("TLS_AES_128_GCM_SHA256", 1);
	struct rmq_iobuf out = { 0 };
	uint8_t plain[RMQ_TLS_PLAIN_MAX + 256], got[16];
	size_t done, n, rl;
	uint8_t type;
	for (int round = 1; round <= 3; round++) {
		cr_assert_eq(SSL_key_update(p->c, SSL_KEY_UPDATE_REQUESTED), 1);
		cr_assert_eq(SSL_write_ex(p->c, "ping", 4, &done), 1);
		cr_assert_eq(from_client(p, plain, &n, &type, &rl), 0);
		cr_assert_eq(type, RMQ_TLS_HANDSHAKE);
		cr_assert_eq(rmq_tls_rec_handshake(&p->rec, plain, n, &out), 0);
		cr_assert_eq(p->rec.updates_in, (uint64_t)round);
		cr_assert_eq(p->rec.updates_out, (uint64_t)round);
		cr_assert_gt(out.len, 0, "our KeyUpdate sealed");
		cr_assert_eq(p->rec.rd.seq, 0, "the client's new key");
		cr_assert_eq(from_client(p, plain, &n, &type, &rl), 0,
		    "data under the client's new key");
		cr_assert_arr_eq(plain, "ping", 4);
		struct iovec v = { "pong", 4 };
		cr_assert_eq(rmq_tls_rec_seal(&p->rec, RMQ_TLS_DATA, &v, 1,
				 &out),
		    0);
		cr_assert_eq(to_client(p, &out, got, sizeof(got)), 4,
		    "the client took our KeyUpdate and read under our new key");
		cr_assert_arr_eq(got, "pong", 4);
	}
	rmq_iobuf_free(&out);
	pair_free(p);
}

Test(tls_record, key_update_not_asked_changes_only_theirs)
{
	struct pair *p = pair_new("TLS_CHACHA20_POLY1305_SHA256", 1);
	struct rmq_iobuf out = { 0 };
	uint8_t plain[RMQ_TLS_PLAIN_MAX + 256];
	size_t done, n, rl;
	uint8_t type;
	cr_assert_eq(SSL_key_update(p->c, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
	cr_assert_eq(SSL_write_ex(p->c, "x", 1, &done), 1);
	cr_assert_eq(from_client(p, plain, &n, &type, &rl), 0);
	cr_assert_eq(rmq_tls_rec_handshake(&p->rec, plain, n, &out), 0);
	cr_assert_eq(out.len, 0, "nothing to answer");
	cr_assert_eq(p->rec.updates_out, 0);
	cr_assert_eq(p->rec.wr.seq, 1, "our key unchanged");
	cr_assert_eq(from_client(p, plain, &n, &type, &rl), 0);
	cr_assert_arr_eq(plain, "x", 1);
	pair_free(p);
}

/* RFC 8446 5.5: keys are updated before AES-GCM's limit; update_at is
 * 2^24 records, made small here. */
Test(tls_record, our_key_is_updated_at_the_limit)
{
	struct pair *p = pair_new("TLS_AES_128_GCM_SHA256", 1);
	struct rmq_iobuf out = { 0 };
	uint8_t got[64];
	p->rec.update_at = 4;
	for (int i = 0; i < 10; i++) {
		char m[8];
		int k = snprintf(m, sizeof(m), "m%d", i);
		struct iovec v = { m, (size_t)k };
		cr_assert_eq(rmq_tls_rec_seal(&p->rec, RMQ_TLS_DATA, &v, 1,
				 &out),
		    0);
		cr_assert_eq(to_client(p, &out, got, sizeof(got)), (size_t)k,
		    "record %d read", i);
		cr_assert_arr_eq(got, m, (size_t)k);
	}
	/* The ticket and m0-m2 under the first key; the KeyUpdate and
	 * m3-m6 under the second; the next and m7-m9 under the third. */
	cr_assert_eq(p->rec.updates_out, 2);
	cr_assert_eq(p->rec.wr.seq, 3);
	rmq_iobuf_free(&out);
	pair_free(p);
}

/* RFC 8446 5.2: "If the decryption fails, the receiver MUST terminate
 * the connection with a "bad_record_mac" alert." */
Test(tls_record, a_changed_byte_is_bad_record_mac)
{
	struct pair *p = pair_new("TLS_AES_128_GCM_SHA256", 1);
	uint8_t plain[RMQ_TLS_PLAIN_MAX + 256];
	size_t done, n, rl;
	uint8_t type;
	cr_assert_eq(SSL_write_ex(p->c, "secret", 6, &done), 1);
	int k = BIO_read(p->c_out, p->wire, sizeof(p->wire));
	cr_assert_gt(k, 8);
	p->wire_len = (size_t)k;
	p->wire[7] ^= 1;
	cr_assert_eq(from_client(p, plain, &n, &type, &rl),
	    RMQ_TLS_BAD_RECORD_MAC);
	pair_free(p);
}

Test(tls_record, a_replayed_record_is_bad_record_mac)
{
	struct pair *p = pair_new("TLS_AES_128_GCM_SHA256", 1);
	uint8_t plain[RMQ_TLS_PLAIN_MAX + 256], copy[256];
	size_t done, n, rl;
	uint8_t type;
	cr_assert_eq(SSL_write_ex(p->c, "once", 4, &done), 1);
	int k = BIO_read(p->c_out, copy, sizeof(copy));
	cr_assert_gt(k, 0);
	memcpy(p->wire, copy, (size_t)k);
	p->wire_len = (size_t)k;
	cr_assert_eq(from_client(p, plain, &n, &type, &rl), 0);
	memcpy(p->wire, copy, (size_t)k);
	p->wire_len = (size_t)k;
	cr_assert_eq(from_client(p, plain, &n, &type, &rl),
	    RMQ_TLS_BAD_RECORD_MAC, "the sequence number moved on");
	pair_free(p);
}

/* RFC 8446 5.1/5.2: a plaintext record after the handshake, a record
 * longer than 2^14 + 256, one too short to hold a tag. */
Test(tls_record, headers_are_checked_before_the_body)
{
	static const uint8_t ccs[] = { 20, 3, 3, 0, 1 };
	static const uint8_t plain_alert[] = { 21, 3, 3, 0, 2 };
	static const uint8_t huge[] = { 23, 3, 3, 0x41, 0x01 };
	static const uint8_t most[] = { 23, 3, 3, 0x41, 0x00 };
	static const uint8_t tiny[] = { 23, 3, 3, 0, 16 };
	cr_assert_eq(rmq_tls_rec_header(ccs), RMQ_TLS_UNEXPECTED_MESSAGE);
	cr_assert_eq(rmq_tls_rec_header(plain_alert),
	    RMQ_TLS_UNEXPECTED_MESSAGE);
	cr_assert_eq(rmq_tls_rec_header(huge), RMQ_TLS_RECORD_OVERFLOW);
	cr_assert_eq(rmq_tls_rec_header(most), 0, "2^14 + 256 is allowed");
	cr_assert_eq(rmq_tls_rec_header(tiny), RMQ_TLS_DECODE_ERROR);
}

/* Only KeyUpdate is taken after the handshake, whole, alone in its
 * record, with a request_update of 0 or 1 (RFC 8446 4.6.3). */
Test(tls_record, other_handshake_messages_are_refused)
{
	struct pair *p = pair_new("TLS_AES_128_GCM_SHA256", 1);
	struct rmq_iobuf out = { 0 };
	static const uint8_t ticket[] = { 4, 0, 0, 1, 0 };
	static const uint8_t bad_req[] = { 24, 0, 0, 1, 2 };
	static const uint8_t short_ku[] = { 24, 0, 0, 0 };
	static const uint8_t trailing[] = { 24, 0, 0, 1, 0, 24, 0, 0, 1, 0 };
	cr_assert_eq(rmq_tls_rec_handshake(&p->rec, ticket, 5, &out),
	    RMQ_TLS_UNEXPECTED_MESSAGE);
	cr_assert_eq(rmq_tls_rec_handshake(&p->rec, bad_req, 5, &out),
	    RMQ_TLS_ILLEGAL_PARAMETER);
	cr_assert_eq(rmq_tls_rec_handshake(&p->rec, short_ku, 4, &out),
	    RMQ_TLS_DECODE_ERROR);
	cr_assert_eq(rmq_tls_rec_handshake(&p->rec, trailing, 10, &out),
	    RMQ_TLS_UNEXPECTED_MESSAGE);
	cr_assert_eq(p->rec.updates_in, 0);
	cr_assert_eq(out.len, 0);
	pair_free(p);
}

Test(tls_record, suites_it_does_not_seal)
{
	cr_assert(rmq_tls_rec_supported(0x1301));
	cr_assert(rmq_tls_rec_supported(0x1302));
	cr_assert(rmq_tls_rec_supported(0x1303));
	cr_assert_not(rmq_tls_rec_supported(0x1304), "AES-CCM stays OpenSSL's");
	cr_assert_not(rmq_tls_rec_supported(0x1305));
	struct rmq_tls_rec r = { 0 };
	uint8_t s[48] = { 0 };
	cr_assert_eq(rmq_tls_rec_start(&r, 0x1304, s, s, 32, 0), -1);
	cr_assert_eq(rmq_tls_rec_start(&r, 0x1302, s, s, 32, 0), -1,
	    "SHA-384's secrets are 48 bytes");
}
