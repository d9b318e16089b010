/* core/topic.c: topic name and filter rules (spec 4.7) and shared
 * subscription syntax (spec 4.8.2).  Matching walks both strings once, level
 * by level, without splitting or allocating. */
#include <string.h>

#include "packet.h"
#include "reason.h"
#include "topic.h"

#define SHARE_PREFIX "$share/"
#define SHARE_PREFIX_LEN (sizeof(SHARE_PREFIX) - 1)

int
rmq_topic_name_check(const char *name, size_t len)
{
	if (len == 0 || len > RMQ_STRING_MAX) /* [MQTT-4.7.3-1] */
		return RMQ_RC_TOPIC_NAME_INVALID;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == '+' || c == '#' || c == '\0') /* [MQTT-3.3.2-2] */
			return RMQ_RC_TOPIC_NAME_INVALID;
	}
	return 0;
}

/* The wildcard rules alone, for a filter without a $share prefix. */
static int
topic_filter_plain_check(const char *f, size_t len)
{
	if (len == 0 || len > RMQ_STRING_MAX) /* [MQTT-4.7.3-1] */
		return RMQ_RC_TOPIC_FILTER_INVALID;
	for (size_t i = 0; i < len; i++) {
		char c = f[i];
		int starts = i == 0 || f[i - 1] == '/';
		int ends = i + 1 == len || f[i + 1] == '/';
		if (c == '+') {
			if (!starts || !ends) /* [MQTT-4.7.1-3] */
				return RMQ_RC_TOPIC_FILTER_INVALID;
		} else if (c == '#') {
			if (!starts || i + 1 != len) /* [MQTT-4.7.1-2] */
				return RMQ_RC_TOPIC_FILTER_INVALID;
		} else if (c == '\0') {
			return RMQ_RC_TOPIC_FILTER_INVALID;
		}
	}
	return 0;
}

int
rmq_topic_share_parse(const char *filter, size_t len, struct rmq_str *group,
    struct rmq_str *inner)
{
	if (len < SHARE_PREFIX_LEN ||
	    memcmp(filter, SHARE_PREFIX, SHARE_PREFIX_LEN) != 0)
		return 0;
	const char *g = filter + SHARE_PREFIX_LEN;
	size_t rest = len - SHARE_PREFIX_LEN, glen = 0;
	while (glen < rest && g[glen] != '/') {
		if (g[glen] == '+' || g[glen] == '#') /* [MQTT-4.8.2-1] */
			return RMQ_RC_TOPIC_FILTER_INVALID;
		glen++;
	}
	/* A ShareName of at least one character, then '/' and a filter of
	 * at least one character [MQTT-4.8.2-1], [MQTT-4.8.2-2]. */
	if (glen == 0 || glen + 1 >= rest)
		return RMQ_RC_TOPIC_FILTER_INVALID;
	group->p = g;
	group->len = (uint32_t)glen;
	inner->p = g + glen + 1;
	inner->len = (uint32_t)(rest - glen - 1);
	return 1;
}

int
rmq_topic_filter_check(const char *filter, size_t len)
{
	struct rmq_str group, inner;
	if (len > RMQ_STRING_MAX) /* [MQTT-4.7.3-3] the whole filter */
		return RMQ_RC_TOPIC_FILTER_INVALID;
	int shared = rmq_topic_share_parse(filter, len, &group, &inner);
	if (shared == 1)
		return topic_filter_plain_check(inner.p, inner.len);
	if (shared != 0)
		return shared;
	return topic_filter_plain_check(filter, len);
}

bool
rmq_topic_match(const char *filter, size_t flen, const char *name, size_t nlen)
{
	/* [MQTT-4.7.2-1]: a wildcard in the first level never matches a
	 * name that starts with '$'. */
	if (nlen > 0 && name[0] == '$' && flen > 0 &&
	    (filter[0] == '+' || filter[0] == '#'))
		return false;

	size_t fi = 0, ni = 0;
	for (;;) {
		/* Here fi and ni both stand at the start of a level. */
		if (fi < flen && filter[fi] == '#')
			return true; /* matches this level, the rest, or none */
		if (fi < flen && filter[fi] == '+') {
			fi++;
			while (ni < nlen && name[ni] != '/')
				ni++;
		} else {
			while (fi < flen && ni < nlen && filter[fi] != '/' &&
			    filter[fi] == name[ni]) {
				fi++;
				ni++;
			}
			int fend = fi == flen || filter[fi] == '/';
			int nend = ni == nlen || name[ni] == '/';
			if (!fend || !nend)
				return false;
		}
		/* Both levels ended: move past the separators. */
		if (fi == flen && ni == nlen)
			return true;
		if (fi == flen)
			return false; /* name has more levels */
		if (ni == nlen) {
			/* "a/#" matches "a": the parent level [MQTT-4.7.1-2]. */
			return flen - fi == 2 && filter[fi + 1] == '#';
		}
		fi++; /* both on '/' */
		ni++;
	}
}

size_t
rmq_topic_levels(const char *s, size_t len)
{
	size_t n = 1;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '/';
	return n;
}

bool
rmq_topic_has_wildcard(const char *filter, size_t len)
{
	return memchr(filter, '+', len) != NULL ||
	    memchr(filter, '#', len) != NULL;
}
