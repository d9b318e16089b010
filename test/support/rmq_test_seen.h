/* test/support/rmq_test_seen.h: an authenticator that lets everyone in
 * and remembers what the last CONNECT asked, for tests of where a user
 * name comes from (a certificate's name, a TLS-PSK identity). */
#ifndef RMQ_TEST_SEEN_H
#define RMQ_TEST_SEEN_H

#include "auth.h"

extern struct rmq_test_seen {
	int calls, certified;
	char username[256];
} rmq_test_seen;

/* Set as the node's auth; reset rmq_test_seen before the test. */
extern const struct rmq_authenticator rmq_test_seen_auth;

#endif
