/* test/core/test_strmap.c: tests core/strmap.c: put, replace, get, delete,
 * growth past many entries with tombstones in between, and the walk. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "strmap.h"

TestSuite(strmap);

Test(strmap, put_get_replace_delete)
{
	struct rmq_strmap m;
	void *old;
	int a = 1, b = 2;
	cr_assert_eq(rmq_strmap_init(&m), 0);
	cr_assert_eq(rmq_strmap_put(&m, "k", 1, &a, &old), 0);
	cr_assert_null(old);
	cr_assert_eq(rmq_strmap_get(&m, "k", 1), &a);
	cr_assert_null(rmq_strmap_get(&m, "k2", 2));
	cr_assert_eq(rmq_strmap_put(&m, "k", 1, &b, &old), 0);
	cr_assert_eq(old, &a, "replacing hands back the old value");
	cr_assert_eq(m.live, 1);
	cr_assert_eq(rmq_strmap_put(&m, "", 0, &a, &old), 0,
	    "the empty key is a key");
	cr_assert_eq(rmq_strmap_get(&m, "", 0), &a);
	cr_assert_eq(rmq_strmap_del(&m, "k", 1), &b);
	cr_assert_null(rmq_strmap_del(&m, "k", 1));
	cr_assert_null(rmq_strmap_get(&m, "k", 1));
	cr_assert_eq(m.live, 1);
	rmq_strmap_fini(&m);
}

Test(strmap, many_with_deletions_and_walk)
{
	struct rmq_strmap m;
	char key[32];
	void *old;
	cr_assert_eq(rmq_strmap_init(&m), 0);
	for (uintptr_t i = 1; i <= 20000; i++) {
		int n =
		    snprintf(key, sizeof(key), "client-%lu", (unsigned long)i);
		cr_assert_eq(rmq_strmap_put(&m, key, (size_t)n, (void *)i,
				 &old),
		    0);
		if (i % 3 == 0) /* tombstones among live entries */
			cr_assert_eq(rmq_strmap_del(&m, key, (size_t)n),
			    (void *)i);
	}
	cr_assert_eq(m.live, 20000 - 20000 / 3);
	for (uintptr_t i = 1; i <= 20000; i++) {
		int n =
		    snprintf(key, sizeof(key), "client-%lu", (unsigned long)i);
		void *v = rmq_strmap_get(&m, key, (size_t)n);
		cr_assert_eq(v, i % 3 ? (void *)i : NULL, "%s", key);
	}
	size_t it = 0, seen = 0;
	struct rmq_strmap_entry *e;
	while ((e = rmq_strmap_next(&m, &it)) != NULL) {
		if ((uintptr_t)e->val % 2 == 0)
			rmq_strmap_del_at(&m, e);
		seen++;
	}
	cr_assert_eq(seen, 20000 - 20000 / 3);
	cr_assert_eq(m.live, seen - seen / 2);
	rmq_strmap_fini(&m);
}
