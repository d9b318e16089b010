/* test/support/rmq_test_broker.h: the configuration the broker unit tests
 * start an in-process broker with: built-in defaults, `threads` loops, an
 * MQTT port of the kernel's choosing, no admin listener, no $SYS, and no
 * max_keepalive (so a 5.0 CONNECT without keep alive gets the CONNACK the
 * tests spell out byte for byte; test_connect checks the default's). */
#ifndef RMQ_TEST_BROKER_H
#define RMQ_TEST_BROKER_H

#include "broker.h"

static inline void
rmq_test_broker_config(struct rmq_config *cfg, unsigned threads)
{
	rmq_config_defaults(cfg);
	cfg->threads = threads;
	cfg->listeners[0].port = 0;
	cfg->admin.host[0] = '\0';
	cfg->sys_interval = 0;
	cfg->max_keepalive = 0;
	/* Memory only unless a test gives a directory of its own: tests run
	 * side by side in one working directory. */
	cfg->persistence = 0;
}

#endif
