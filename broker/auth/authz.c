/* broker/auth/authz.c: the node's authorizer from its acl_file (authz.h),
 * read by the loops under RCU.
 */
#include "authz.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "acl.h"

struct rmq_authz {
	struct rmq_authorizer contract;
	struct rmq_acl *acl; /* RCU: the loops read it */
	_Atomic uint64_t generation;
};

static int
authz_check(void *ctx, const char *user, size_t ulen, const char *cid,
    size_t clen, const char *topic, size_t tlen, enum rmq_access access)
{
	struct rmq_authz *z = ctx;
	/* A loop thread is always inside a QSBR read-side section between
	 * its quiescent states. */
	struct rmq_acl *acl = rcu_dereference(z->acl);
	if (acl == NULL)
		return 1;
	unsigned want = access == RMQ_ACCESS_READ ? RMQ_ACL_READ
	    : access == RMQ_ACCESS_WRITE          ? RMQ_ACL_WRITE
						  : RMQ_ACL_SUBSCRIBE;
	return rmq_acl_check(acl, user, ulen, cid, clen, topic, tlen,
	    (enum rmq_acl_access)want);
}

static uint64_t
authz_generation(void *ctx)
{
	struct rmq_authz *z = ctx;
	return atomic_load_explicit(&z->generation, memory_order_acquire);
}

int
rmq_authz_new(const struct rmq_config *cfg, struct rmq_authz **out, char *err,
    size_t errlen)
{
	*out = NULL;
	struct rmq_authz *z = calloc(1, sizeof(*z));
	if (z == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	z->contract.ctx = z;
	z->contract.check = authz_check;
	z->contract.generation = authz_generation;
	atomic_init(&z->generation, 1);
	if (cfg->acl_file[0]) {
		int rc = rmq_acl_load(cfg->acl_file, &z->acl, err, errlen);
		if (rc != 0) {
			free(z);
			return rc;
		}
	}
	*out = z;
	return 0;
}

const struct rmq_authorizer *
rmq_authz_contract(struct rmq_authz *z)
{
	return &z->contract;
}

int
rmq_authz_reload(struct rmq_authz *z, const struct rmq_config *cfg, char *err,
    size_t errlen)
{
	struct rmq_acl *acl = NULL;
	if (cfg->acl_file[0]) {
		int rc = rmq_acl_load(cfg->acl_file, &acl, err, errlen);
		if (rc != 0)
			return rc;
	}
	struct rmq_acl *old = rcu_xchg_pointer(&z->acl, acl);
	atomic_fetch_add_explicit(&z->generation, 1, memory_order_release);
	if (old) {
		synchronize_rcu(); /* no loop reads it any more */
		rmq_acl_free(old);
	}
	return 0;
}

size_t
rmq_authz_rules(struct rmq_authz *z)
{
	struct rmq_acl *acl = rcu_dereference(z->acl);
	return acl ? rmq_acl_rules(acl) : 0;
}

void
rmq_authz_free(struct rmq_authz *z)
{
	if (z == NULL)
		return;
	rmq_acl_free(z->acl);
	free(z);
}
