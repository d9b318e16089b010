/* broker/store/registry.h: which worker owns which client identifier.
 *
 * A client identifier names one session in the node.  The registry maps it
 * to the session's key so that a CONNECT on any worker finds an existing
 * session, wherever it lives, and hands the connection to its worker
 * (session takeover).  It is touched on CONNECT and at session end only,
 * behind one mutex.
 */
#ifndef RMQ_REGISTRY_H
#define RMQ_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

struct rmq_registry;

int rmq_registry_new(struct rmq_registry **out);

void rmq_registry_free(struct rmq_registry *r);

/* Claim `id` for `key` unless it is taken.  Returns 0 when claimed, 1
 * with the current owner's key in *owner, -ENOSPC when `max` identifiers
 * (0: no bound) are held and `id` is not one of them, or -ENOMEM. */
int rmq_registry_claim(struct rmq_registry *r, const char *id, size_t len,
    uint64_t key, size_t max, uint64_t *owner);

/* Release `id` if it is still held by `key`. */
void rmq_registry_release(struct rmq_registry *r, const char *id, size_t len,
    uint64_t key);

/* The key that holds `id`: 1 with *key, 0 when none does. */
int rmq_registry_find(struct rmq_registry *r, const char *id, size_t len,
    uint64_t *key);

size_t rmq_registry_count(struct rmq_registry *r);

#endif
