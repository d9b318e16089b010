/* core/utf8.h: validation of MQTT UTF-8 Encoded Strings (spec 1.5.4).
 *
 * Well-formed UTF-8 (RFC 3629: no overlong forms, nothing past U+10FFFF),
 * no UTF-16 surrogates U+D800..U+DFFF and no U+0000, as [MQTT-1.5.4-1] and
 * [MQTT-1.5.4-2] require.
 */
#ifndef RMQ_UTF8_H
#define RMQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..len) is a valid MQTT UTF-8 string. */
bool rmq_utf8_valid(const char *s, size_t len);

#endif
