/* broker/platform/limits.h: the compile-time bounds that array sizes and bit masks
 * rely on.  The configuration may set lower limits, never higher ones;
 * docs/configuration.md states them. */
#ifndef RMQ_LIMITS_H
#define RMQ_LIMITS_H

#define RMQ_MAX_LISTENERS 8
#define RMQ_MAX_WORKERS 64 /* a worker is a bit of a 64-bit mask */
#define RMQ_MAX_INFLIGHT 1024 /* per session: the window's slots */

#endif
