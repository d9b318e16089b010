/* test/support/rmq_test_node.h: a whole broker node on the fake loop
 * backend (rmq_fake_loop.h), for unit tests of the session layer.
 *
 * The node runs on the test's thread: the test sends a client's bytes,
 * settles the loops, and checks the exact bytes that came back.  Stopping
 * the node checks that nothing leaked: every connection closed and freed,
 * every session gone from its worker, the registry and the index empty
 * (AddressSanitizer's leak check covers the rest in the sanitizer build).
 */
#ifndef RMQ_TEST_NODE_H
#define RMQ_TEST_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "rmq_fake_loop.h"
#include "worker_impl.h"

extern struct rmq_broker rmq_test_node;

/* Start a node of `workers` loops on the fake backend with the unit
 * tests' configuration (rmq_test_broker.h), changed by `tweak` when it is
 * not NULL; the calling thread becomes an RCU reader, as a loop's is. */
void rmq_test_node_start(unsigned workers, void (*tweak)(struct rmq_config *));

/* Hang up every client, settle, stop the node and check for leaks. */
void rmq_test_node_stop(void);

/* A new connection accepted by worker `worker`. */
struct rmq_fake_client *rmq_test_client(unsigned worker);

/* Settle the loops, then check that the next bytes the client got are
 * want[0..n) exactly, and take them; a failure shows both in hex. */
void rmq_test_expect(struct rmq_fake_client *c, const uint8_t *want, size_t n,
    const char *file, int line);

/* Settle; the client got nothing more. */
void
rmq_test_expect_nothing(struct rmq_fake_client *c, const char *file, int line);

/* Settle; the broker ended the connection (after what was expected):
 * closed it, or shut its side down and closed it once the client, seeing
 * the end, hung up. */
void
rmq_test_expect_closed(struct rmq_fake_client *c, const char *file, int line);

/* Settle, then take the next whole packet the client got: its bytes are
 * copied to buf (cap bytes at most) and their count returned; 0 when no
 * whole packet is there. */
size_t
rmq_test_next_packet(struct rmq_fake_client *c, uint8_t *buf, size_t cap);

/* Packets as bytes, for clients that send through a layer of their own
 * (TLS, WebSocket, a PROXY header): pkt encoded at `version` into
 * buf[0..cap), its length returned; and the 3.1.1 packets those tests
 * send: CONNECT as id (no keep alive), SUBSCRIBE to filter at QoS 0
 * (packet id 1), and PUBLISH of payload[0..n) at QoS 0 (as the broker
 * delivers it to a 3.1.1 subscriber, too). */
size_t rmq_test_encode(const struct rmq_packet *pkt, uint8_t version,
    uint8_t *buf, size_t cap);
size_t
rmq_test_connect_bytes(const char *id, int clean, uint8_t *buf, size_t cap);
size_t rmq_test_subscribe_bytes(const char *filter, uint8_t *buf, size_t cap);
size_t rmq_test_publish_bytes(const char *topic, const uint8_t *payload,
    size_t n, uint8_t *buf, size_t cap);

/* Send pkt encoded at `version`. */
void rmq_test_send_packet(struct rmq_fake_client *c,
    const struct rmq_packet *pkt, uint8_t version);

/* A client of `version` on worker `worker` that connects as `id` (clean
 * start or clean session as `clean`, no keep alive, no properties) and
 * is accepted; returns it, with the CONNACK's Session Present in
 * *present when present is not NULL. */
struct rmq_fake_client *rmq_test_connect(unsigned worker, uint8_t version,
    const char *id, int clean, int *present);

/* A client of `version` on worker `worker` that connects as id with a
 * session that outlives its connection (3.1.1: clean session 0; 5.0:
 * clean start 0 and an hour's Session Expiry Interval) and is accepted;
 * *present gets the CONNACK's Session Present. */
struct rmq_fake_client *rmq_test_connect_kept(unsigned worker, uint8_t version,
    const char *id, int *present);

/* A client of `version` on worker `worker` whose CONNECT as id (clean,
 * no keep alive, no properties) is refused: a CONNACK with `code` (5.0's
 * reason code, 3.x's return code) and no properties, then the end. */
void rmq_test_connect_refused(unsigned worker, uint8_t version, const char *id,
    uint8_t code, const char *file, int line);
#define RMQ_CONNECT_REFUSED(worker, version, id, code)                         \
	rmq_test_connect_refused((worker), (version), (id), (code), __FILE__,  \
	    __LINE__)

/* SUBSCRIBE to one filter at qos (packet id 1); the SUBACK must grant
 * `granted`. */
void rmq_test_subscribe(struct rmq_fake_client *c, uint8_t version,
    const char *filter, uint8_t qos, uint8_t granted);

/* PUBLISH payload on topic at qos with packet id pid (no properties);
 * its acknowledgement is left for the caller to check. */
void rmq_test_publish(struct rmq_fake_client *c, uint8_t version,
    const char *topic, const char *payload, uint8_t qos, uint16_t pid);

/* The session a client's connection belongs to now, or NULL. */
struct rmq_session *rmq_test_session_of(struct rmq_fake_client *c);

/* A Criterion suite whose every test runs on a node of its own, of
 * `workers` loops, its configuration changed by `tweak` (NULL: the unit
 * tests' defaults), stopped and checked for leaks after the test. */
#define RMQ_NODE_SUITE(name, workers, tweak)                                   \
	static void name##_init(void)                                          \
	{                                                                      \
		rmq_test_node_start((workers), (tweak));                       \
	}                                                                      \
	static void name##_fini(void)                                          \
	{                                                                      \
		rmq_test_node_stop();                                          \
	}                                                                      \
	TestSuite(name, .init = name##_init, .fini = name##_fini, .timeout = 30)

#define RMQ_SEND(c, ...)                                                       \
	do {                                                                   \
		static const uint8_t send_[] = { __VA_ARGS__ };                \
		rmq_fake_send((c), send_, sizeof(send_));                      \
	} while (0)
#define RMQ_EXPECT(c, ...)                                                     \
	do {                                                                   \
		static const uint8_t want_[] = { __VA_ARGS__ };                \
		rmq_test_expect((c), want_, sizeof(want_), __FILE__,           \
		    __LINE__);                                                 \
	} while (0)
#define RMQ_EXPECT_NOTHING(c) rmq_test_expect_nothing((c), __FILE__, __LINE__)
#define RMQ_EXPECT_CLOSED(c) rmq_test_expect_closed((c), __FILE__, __LINE__)

#endif
