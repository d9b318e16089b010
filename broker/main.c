/* broker/main.c: the ringmq executable's entry point.
 *
 * For now it reports the build: its version and the versions of the
 * libraries the broker is built on, read from the libraries themselves at
 * run time.  The event loops and sessions come next, on top of core/.
 */
#include <nng/nng.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "rmq_config.h"

#if RMQ_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static void
main_version(FILE *out)
{
	const char *je = "not linked";
#if RMQ_HAVE_JEMALLOC
	size_t len = sizeof(je);
	if (mallctl("version", &je, &len, NULL, 0) != 0)
		je = "unknown";
#endif
	fprintf(out, "ringmq %s\n", RMQ_VERSION);
	fprintf(out, "  io_uring loop: %s\n",
	    RMQ_HAVE_URING ? "built (liburing)" : "not built");
	fprintf(out, "  libuv %s, %s, nng %s, jemalloc %s\n",
	    uv_version_string(), OpenSSL_version(OPENSSL_VERSION),
	    nng_version(), je);
}

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: ringmq [--version] [--help]\n"
	    "This build carries the MQTT codec (core/); the broker's event\n"
	    "loops and sessions are not built yet.\n");
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0 ||
		    strcmp(argv[i], "-V") == 0) {
			main_version(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			main_usage(stdout);
			return 0;
		}
		fprintf(stderr, "ringmq: unknown argument '%s'\n", argv[i]);
		main_usage(stderr);
		return 2;
	}
	main_version(stdout);
	main_usage(stdout);
	return 0;
}
