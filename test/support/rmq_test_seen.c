/* test/support/rmq_test_seen.c: the remembering authenticator
 * (rmq_test_seen.h). */
#include "rmq_test_seen.h"

#include <stdio.h>

struct rmq_test_seen rmq_test_seen;

static enum rmq_auth_verdict
seen_connect(void *ctx, const struct rmq_auth_request *rq, uint8_t *reason)
{
	(void)ctx, (void)reason;
	rmq_test_seen.calls++;
	rmq_test_seen.certified = rq->certified;
	snprintf(rmq_test_seen.username, sizeof(rmq_test_seen.username), "%.*s",
	    (int)rq->username.len, rq->username.p);
	return RMQ_AUTH_ALLOW;
}

const struct rmq_authenticator rmq_test_seen_auth = { .connect = seen_connect };
