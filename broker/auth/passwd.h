/* broker/auth/passwd.h: the password file, in the format of Mosquitto 2's
 * mosquitto_passwd, so an operator's existing file works unchanged: lines
 * `USER:HASH`, HASH either `$7$ITERATIONS$SALT$HASH` (PBKDF2-HMAC-SHA512,
 * Mosquitto 2's default) or `$6$SALT$HASH` (one SHA-512 of password then
 * salt, Mosquitto 1.x), salt and hash in padded standard base64.  One
 * more kind is RingMQ's (Mosquitto cannot read it):
 * `$scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY`, the credentials
 * SCRAM-SHA-256 needs (scram.h), which also check a CONNECT's password.
 *
 * A loaded file is an immutable table: any thread may check passwords
 * against it at once, and a reload builds a new one.  Checking costs the
 * hash's work (PBKDF2 at 101 iterations: about 0.1 ms) on the calling
 * thread, known user or not.
 */
#ifndef RMQ_PASSWD_H
#define RMQ_PASSWD_H

#include <stddef.h>

#include "scram.h"

/* What mosquitto_passwd 2.0 writes when not told otherwise. */
#define RMQ_PASSWD_DEFAULT_ITERATIONS 101u
/* More would let one CONNECT hold a thread for seconds. */
#define RMQ_PASSWD_MAX_ITERATIONS 10000000u
/* The longest user name: an MQTT string's. */
#define RMQ_PASSWD_USER_MAX 65535u
/* The longest line: a user name, ':' and a hash with a 64-byte salt (a
 * $scram-sha-256$ entry's is the longest, 203 bytes). */
#define RMQ_PASSWD_LINE_MAX (RMQ_PASSWD_USER_MAX + 1u + 255u)
/* Room for what rmq_passwd_hash() writes, NUL included. */
#define RMQ_PASSWD_HASH_SIZE 256u

struct rmq_passwd;

enum rmq_passwd_result {
	RMQ_PASSWD_OK = 0,
	RMQ_PASSWD_BAD_PASSWORD,
	RMQ_PASSWD_NO_SUCH_USER,
	RMQ_PASSWD_FAILED, /* OpenSSL could not hash: deny */
};

/* Read and parse the file at `path` into *out.  Blank lines and lines
 * whose first non-blank character is '#' are skipped; blanks around the
 * user name and the hash are dropped, as Mosquitto does.  Every other
 * line must be a valid entry: the first that is not makes the whole load
 * fail with "PATH:LINE: what is wrong" in err (never the hash), and a
 * file that cannot be read with "PATH: strerror".  Returns 0, -EINVAL
 * (a bad line), -EFBIG (over 1 GiB), -ENOMEM or the negated errno of the
 * read; *out is set only on success. */
int rmq_passwd_load(const char *path, struct rmq_passwd **out, char *err,
    size_t errlen);

/* Free a table no thread checks against any more.  NULL is fine. */
void rmq_passwd_free(struct rmq_passwd *p);

/* The number of users. */
size_t rmq_passwd_count(const struct rmq_passwd *p);

/* Whether user[0..ulen) may log in with pw[0..pwlen).  The stored and the
 * computed hash are compared in constant time, and an unknown user costs
 * a hash against a dummy entry like the file's most common one, so the
 * time taken tells neither how much of a hash matched nor which users
 * exist.  The password is hashed as given, all its bytes, where Mosquitto
 * stops at a NUL (though HMAC pads a key of up to 128 bytes with zeros,
 * so to `$7$` NULs at the end of such a password make no difference).
 * pw may be NULL when pwlen is 0; whether a CONNECT without a password
 * may match an empty one is the caller's choice (Mosquitto refuses it).
 * Any thread, at the same time as others. */
enum rmq_passwd_result rmq_passwd_check(const struct rmq_passwd *p,
    const char *user, size_t ulen, const char *pw, size_t pwlen);

/* What checking an unknown user costs: the hash type (6 or 7) and rounds
 * of the dummy entry it is checked against, the file's most common (for
 * tests: the cost, not the clock, is what can be asserted). */
void rmq_passwd_dummy_cost(const struct rmq_passwd *p, unsigned *type,
    unsigned *iterations);

/* Write into out a new `$7$` hash of pw[0..pwlen) with a fresh 12-byte
 * random salt and `iterations` rounds (0: the default), NUL-terminated;
 * outlen of RMQ_PASSWD_HASH_SIZE is always enough.  Returns 0, -EINVAL
 * (iterations past the maximum, pwlen past 65535), -ENOSPC (out too
 * small) or -EIO (OpenSSL failed). */
int rmq_passwd_hash(const char *pw, size_t pwlen, unsigned iterations,
    char *out, size_t outlen);

/* Set user's password in the file at `path` to pw (a new `$7$` hash of
 * `iterations` rounds, 0: the default), or remove the user when pw is
 * NULL.  Every other line is kept byte for byte; the user's first line is
 * replaced (or a line is appended) and any later line of the user's is
 * dropped.  The new file is written to PATH.tmp beside the real file (a
 * symbolic link is followed), with its mode and owner, synced and renamed
 * over it, so a reader sees the old file or the new one, whole.  A missing
 * file is created with mode 0600 when pw is not NULL.  The user name must
 * be one mosquitto_passwd accepts and that loads back as written: not
 * empty, valid UTF-8 without control characters or ':', no blanks at
 * either end, not starting with '#'.  Returns 0, or -EINVAL (a bad user
 * name or password), -ENOENT (no such file or user to remove), -EEXIST
 * (PATH.tmp is there: another update runs, or one was killed), -ENOMEM or
 * the negated errno of the failed call, with the reason in err. */
int rmq_passwd_update_file(const char *path, const char *user, const char *pw,
    unsigned iterations, char *err, size_t errlen);

/* The same, the new entry a `$scram-sha-256$` one when scram is set. */
int rmq_passwd_update_file_as(const char *path, const char *user,
    const char *pw, unsigned iterations, int scram, char *err, size_t errlen);

/* The SCRAM-SHA-256 credentials of user[0..ulen) into *out.  Returns 0,
 * -ENOENT (no such user) or -EPERM (a user whose entry is a `$7$` or
 * `$6$` hash, which SCRAM cannot use).  Any thread. */
int rmq_passwd_scram(const struct rmq_passwd *p, const char *user, size_t ulen,
    struct rmq_scram_creds *out);

/* Write into out a new `$scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY`
 * entry for pw[0..pwlen) (RFC 5802's credentials, a fresh 16-byte salt,
 * `iterations` rounds of PBKDF2-HMAC-SHA256, 0: 4096), NUL-terminated.
 * Returns 0, -EINVAL, -ENOSPC or -EIO as rmq_passwd_hash(). */
int rmq_passwd_hash_scram(const char *pw, size_t pwlen, unsigned iterations,
    char *out, size_t outlen);

#endif
