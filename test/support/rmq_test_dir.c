/* test/support/rmq_test_dir.c: scratch directories and files for tests
 * (rmq_test_dir.h). */
#include "rmq_test_dir.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static int
dir_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

void
rmq_test_dir_make(char *dir, size_t len, const char *tag)
{
	snprintf(dir, len, "/tmp/rmq-%s-XXXXXX", tag);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

void
rmq_test_dir_remove(const char *dir)
{
	nftw(dir, dir_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

void
rmq_test_write_file(const char *path, const void *text, size_t len)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}
