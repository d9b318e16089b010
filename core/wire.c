/* core/wire.c: the one MQTT data representation too long to inline, the
 * Variable Byte Integer decoder (spec 1.5.5), shared by the framer and the
 * property parser. */
#include "wire.h"

int
rmq_varint_decode(const uint8_t *p, size_t len, uint32_t *v, int strict)
{
	uint32_t value = 0;
	for (size_t i = 0; i < 4; i++) {
		if (i >= len)
			return 0;
		value |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			/* A last byte of 0 after a first one means the value
			 * fitted in fewer bytes. */
			if (strict && i > 0 && p[i] == 0)
				return -1;
			*v = value;
			return (int)i + 1;
		}
	}
	return -1;
}
