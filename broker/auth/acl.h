/* broker/auth/acl.h: the ACL file, in the format and with the meaning of
 * Mosquitto 2.0's acl_file, so an operator's existing file works
 * unchanged: which topics a client may publish to (WRITE) and receive
 * messages from (READ), by user name and client identifier.
 *
 * The file, line by line (keywords in lower case, words apart by blanks):
 *   # a comment            a line whose first non-blank is '#'; blank lines
 *   topic [ACCESS] FILTER  a rule of the current section; ACCESS is read,
 *                          write, readwrite or deny, readwrite if left out;
 *                          FILTER is the rest of the line, blanks inside
 *                          kept ("topic read a b" is the topic "a b")
 *   user NAME              starts NAME's section (the rest of the line);
 *                          `topic` lines before any `user` line are the
 *                          section of clients without a user name
 *   pattern [ACCESS] FILTER  a rule for every client, a level that is
 *                          exactly %c or %u standing for its client id or
 *                          its user name
 * A user's sections, if several, are one.
 *
 * A loaded file is an immutable table: any thread may check against it
 * at once, and a reload builds a new one.  A check costs a hash of the
 * user name and a walk of that user's rules, then of the patterns, with
 * no allocation and no copy.
 */
#ifndef RMQ_ACL_H
#define RMQ_ACL_H

#include <stddef.h>

/* The longest topic filter and user name: an MQTT string's. */
#define RMQ_ACL_TOPIC_MAX 65535u
/* The longest line: a topic filter, its keyword and access, blanks. */
#define RMQ_ACL_LINE_MAX (RMQ_ACL_TOPIC_MAX + 256u)

struct rmq_acl;

enum rmq_acl_access {
	RMQ_ACL_READ = 1, /* receive a message published to the topic */
	RMQ_ACL_WRITE = 2, /* publish to the topic (a will too) */
	RMQ_ACL_SUBSCRIBE = 4, /* subscribe to the filter */
};

/* Read and parse the file at `path` into *out.  Every line must be one of
 * the above: the first that is not makes the whole load fail with
 * "PATH:LINE: what is wrong" in err, and a file that cannot be read with
 * "PATH: strerror".  Mosquitto 2.0 refuses to start on the same lines,
 * and also on some this reads as meant (an indented comment, tabs between
 * words), but it loads some that are refused here, each a line it reads
 * in a way its writer likely did not mean:
 *  - an access word alone, as in `topic deny` (Mosquitto: readwrite on
 *    the topic "deny"; write `topic readwrite deny` to mean that);
 *  - in a pattern, %c or %u inside a level, as in `a/x%cy` (Mosquitto 2.0
 *    substitutes it, 2.1 will not, mosquitto.conf(5) forbids it);
 *  - a filter or user name that is not valid UTF-8, holds U+0000 or, in
 *    a name, another control character (as the password file refuses),
 *    or is over 65535 bytes;
 *  - a filter with a tab in it and no access word before it, as in
 *    `topic a<TAB>b` (a tab is a blank here);
 *  - a line longer than RMQ_ACL_LINE_MAX.
 * In a `topic` line %c and %u are plain text, as in Mosquitto.  Returns
 * 0, -EINVAL (a bad line), -EFBIG (over 1 GiB), -ENOMEM or the negated
 * errno of the read; *out is set only on success. */
int
rmq_acl_load(const char *path, struct rmq_acl **out, char *err, size_t errlen);

/* Free a table no thread checks against any more.  NULL is fine. */
void rmq_acl_free(struct rmq_acl *a);

/* The number of rules (topic and pattern lines), for the log. */
size_t rmq_acl_rules(const struct rmq_acl *a);

/* Whether a client may have `access` to topic[0..tlen): 1 allowed, 0
 * denied.  user is NULL for a client without a user name, and a user
 * name of length 0 is none, as Mosquitto reads one.  The answer depends
 * on the table and the arguments alone, so a session may cache it per
 * (topic, access) for as long as it checks against the same table.
 * Any thread, at the same time as others.  As Mosquitto 2.0 decides
 * (src/security_default.c, mosquitto_acl_check_default):
 *  1. The rules of the client's section (its user's, or the anonymous
 *     one), deny rules first: a deny rule whose filter matches the topic
 *     denies; else a rule that matches and grants the access allows.
 *     Patterns are not asked then, so a `pattern deny` does not take back
 *     what a user's `topic` line gave.
 *  2. If the file has patterns: a user name or client id holding '+' or
 *     '#' is denied.  Then the patterns, deny first, in the same way; a
 *     pattern with %u never matches a client without a user name.
 *  3. Anything else is denied (an empty file denies everything).
 * A topic starting with '$' is matched only by a filter whose first
 * level starts with '$' (MQTT 4.7.2): not by `#` nor by `+/...`.
 * Where Mosquitto would let a client's own id or user name widen a
 * pattern, this fails closed: a value that is empty or holds '/' (which
 * Mosquitto substitutes as is, so client "a/b" under `dev/%c/#` reaches
 * dev/a/b/..., inside client a's) makes the allow patterns that use it
 * grant nothing and the deny patterns that use it deny; and %c or %u as
 * a pattern's first level never matches a topic starting with '$' (a
 * user "$SYS" under `%u/#`), as a wildcard there would not.  Mosquitto
 * 2.1 (develop, topic_matches_sub) is heading the same way: there such a
 * name never matches, deny or allow.
 * READ and WRITE want a valid topic name (not empty, no wildcard, no
 * U+0000, at most 65535 bytes): anything else is denied.  client_id NULL
 * is denied, as Mosquitto denies a client without one.
 * SUBSCRIBE to a filter without wildcards is READ of that topic.  To a
 * filter with wildcards it is allowed when some topic the filter matches
 * could be read: a rule of the client's section that grants READ
 * overlaps it (some topic matches both), or, when no deny rule of that
 * section covers the whole filter, a pattern that does (with no deny
 * pattern covering it).  It errs on the side of allowing: what the file
 * forbids is then withheld message by message, by a READ check of each
 * message's topic on delivery, retained and queued messages included, as
 * Mosquitto does (src/subs.c, retain.c, handle_connect.c).  Mosquitto
 * 2.0's acl_file allows every SUBSCRIBE ("FIXME - implement ACL
 * subscription strings") and then delivers nothing, which leaves a
 * client subscribed to `secret/#` unaware; here its SUBACK says so.  So a
 * subscription to `#` succeeds for a client that may read something and
 * brings only what READ allows.  Any other access value is
 * denied.  The checks Mosquitto makes before any ACL (no client writes to
 * $SYS, a bridge may do anything) are the caller's. */
int rmq_acl_check(const struct rmq_acl *a, const char *user, size_t ulen,
    const char *client_id, size_t clen, const char *topic, size_t tlen,
    enum rmq_acl_access access);

#endif
