/* broker/broker.h: building, starting, reloading and stopping the node
 * (its state: node.h).  The top of broker/: main.c and the tests call it,
 * nothing below does. */
#ifndef RMQ_BROKER_H
#define RMQ_BROKER_H

#ifndef RMQ_LAYER_TOP
#error "broker.h is for the top layer (main, tests) only"
#endif

#include "config.h"
#include "node.h"

/* Create the node: index, registry, workers and their listening sockets
 * (one per worker per listener, SO_REUSEPORT).  Nothing runs yet.
 * Returns 0 or a negative errno, with a message on stderr. */
int rmq_broker_init(struct rmq_broker *b, const struct rmq_config *cfg);

/* The same on the loop backend `ops` instead of the one cfg->loop picks:
 * the unit tests' fake backend (test/support/rmq_fake_loop.h). */
int rmq_broker_init_on(struct rmq_broker *b, const struct rmq_config *cfg,
    const struct rmq_loop_ops *ops);

/* Check the files the settings name (TLS certificates and keys, the
 * password file, the ACL) as the start will read them: 0, or -EINVAL with
 * "listener ADDRESS:PORT: why", "password_file PATH:LINE: why" or
 * "acl_file PATH:LINE: why" in err.  For check-config. */
int
rmq_broker_check_files(const struct rmq_config *cfg, char *err, size_t errlen);

/* Apply the reloadable part of cfg (limits, logging; docs/configuration.md
 * says which keys) to the running node: each worker takes its copy on its
 * own thread.  Writes to *changed_restart the name of a key that differs
 * but needs a restart, or NULL.  Main thread. */
void rmq_broker_reload(struct rmq_broker *b, const struct rmq_config *cfg,
    const char **needs_restart);

/* Start one thread per worker loop. */
int rmq_broker_start(struct rmq_broker *b);

/* Ask every loop to close its connections and stop; wait for them. */
void rmq_broker_stop(struct rmq_broker *b);

void rmq_broker_fini(struct rmq_broker *b);

#endif
