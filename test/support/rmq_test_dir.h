/* test/support/rmq_test_dir.h: scratch directories and files for tests
 * that read files (password files, ACLs, certificates). */
#ifndef RMQ_TEST_DIR_H
#define RMQ_TEST_DIR_H

#include <stddef.h>

/* A fresh directory /tmp/rmq-TAG-XXXXXX into dir[0..len) (the test fails
 * if it cannot be made). */
void rmq_test_dir_make(char *dir, size_t len, const char *tag);

/* Remove dir and everything under it. */
void rmq_test_dir_remove(const char *dir);

/* Write text[0..len) to path, replacing what it held. */
void rmq_test_write_file(const char *path, const void *text, size_t len);

#endif
