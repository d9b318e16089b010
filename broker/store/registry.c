/* broker/store/registry.c: client identifier -> session key, a string map
 * behind a mutex (CONNECT and session end only). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "registry.h"
#include "strmap.h"

struct rmq_registry {
	pthread_mutex_t lock;
	struct rmq_strmap map; /* id -> key, stored in the pointer */
};

int
rmq_registry_new(struct rmq_registry **out)
{
	struct rmq_registry *r = calloc(1, sizeof(*r));
	if (r == NULL || rmq_strmap_init(&r->map) != 0) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void
rmq_registry_free(struct rmq_registry *r)
{
	if (r == NULL)
		return;
	rmq_strmap_fini(&r->map);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int
rmq_registry_claim(struct rmq_registry *r, const char *id, size_t len,
    uint64_t key, size_t max, uint64_t *owner)
{
	void *old;
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	void *cur = rmq_strmap_get(&r->map, id, len);
	if (cur) {
		*owner = (uint64_t)(uintptr_t)cur;
		rc = 1;
	} else if (max && r->map.live >= max) {
		rc = -ENOSPC;
	} else if (rmq_strmap_put(&r->map, id, len, (void *)(uintptr_t)key,
		       &old) != 0) {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void
rmq_registry_release(struct rmq_registry *r, const char *id, size_t len,
    uint64_t key)
{
	pthread_mutex_lock(&r->lock);
	if ((uint64_t)(uintptr_t)rmq_strmap_get(&r->map, id, len) == key)
		rmq_strmap_del(&r->map, id, len);
	pthread_mutex_unlock(&r->lock);
}

int
rmq_registry_find(struct rmq_registry *r, const char *id, size_t len,
    uint64_t *key)
{
	pthread_mutex_lock(&r->lock);
	void *cur = rmq_strmap_get(&r->map, id, len);
	pthread_mutex_unlock(&r->lock);
	*key = (uint64_t)(uintptr_t)cur;
	return cur != NULL;
}

size_t
rmq_registry_count(struct rmq_registry *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->map.live;
	pthread_mutex_unlock(&r->lock);
	return n;
}
