/* core/topic.h: MQTT topic names and topic filters (spec 4.7, 4.8.2).
 *
 * Owns their validation, the matching of a name against a filter (with the
 * rule that names starting with '$' do not match a leading wildcard), and
 * the parsing of shared subscriptions, $share/{ShareName}/{filter}.  Pure
 * functions over (pointer, length); the strings need no NUL terminator and
 * are assumed to be valid UTF-8 already (the codec checks that).
 */
#ifndef RMQ_TOPIC_H
#define RMQ_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "props.h"

/* 0 when `name` may be used as a Topic Name in a PUBLISH or a will: at
 * least one character, at most 65535 bytes, no '+' or '#', no U+0000.
 * Otherwise RMQ_RC_TOPIC_NAME_INVALID (0x90). */
int rmq_topic_name_check(const char *name, size_t len);

/* 0 when `filter` is a valid Topic Filter: at least one character, '+'
 * alone in its level, '#' alone in the last level.  Shared subscriptions
 * are checked as well (a ShareName without '/', '+' or '#', followed by '/'
 * and a valid filter).  Otherwise RMQ_RC_TOPIC_FILTER_INVALID (0x8F). */
int rmq_topic_filter_check(const char *filter, size_t len);

/* Whether topic `name` matches `filter`.  Both must be valid; a shared
 * filter must be passed without its $share/{ShareName}/ prefix. */
bool
rmq_topic_match(const char *filter, size_t flen, const char *name, size_t nlen);

/* Split a shared subscription.  Returns 1 and sets *group and *inner when
 * filter starts with "$share/" and is well formed, 0 when it is not a
 * shared subscription, RMQ_RC_TOPIC_FILTER_INVALID when it starts with
 * "$share/" but is malformed. */
int rmq_topic_share_parse(const char *filter, size_t len, struct rmq_str *group,
    struct rmq_str *inner);

/* Number of levels in a name or filter ("a/b" has 2, "" has 1). */
size_t rmq_topic_levels(const char *s, size_t len);

/* Whether a filter contains '+' or '#'. */
bool rmq_topic_has_wildcard(const char *filter, size_t len);

#endif
