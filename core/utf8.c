/* core/utf8.c: MQTT UTF-8 string validation.
 *
 * Every string the peer sends passes through here, so the ASCII run is
 * checked eight bytes at a time and only multi-byte sequences take the
 * careful path.
 */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

/* True when none of the eight bytes is 0x00 or has its high bit set. */
static inline int
utf8_ascii8(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
	return ((w | ((w - lo) & ~w)) & hi) == 0;
}

bool
rmq_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;

	while (p < end) {
		if (end - p >= 8 && utf8_ascii8(p)) {
			p += 8;
			continue;
		}
		unsigned c = *p;
		if (c < 0x80) {
			if (c == 0) /* [MQTT-1.5.4-2] */
				return false;
			p++;
			continue;
		}
		size_t n;
		uint32_t cp, min;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1, cp = c & 0x1F, min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false; /* continuation byte, C0/C1 or F5..FF */
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF)
			return false; /* overlong, or past Unicode */
		if (cp >= 0xD800 && cp <= 0xDFFF)
			return false; /* [MQTT-1.5.4-1] surrogates */
		p += n + 1;
	}
	return true;
}
