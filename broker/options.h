/* broker/options.h: loading the configuration from a file and from RINGMQ_*
 * environment variables into struct rmq_config (config.h), with the
 * precedence built-in defaults < file < environment < command line. */
#ifndef RMQ_OPTIONS_H
#define RMQ_OPTIONS_H

#ifndef RMQ_LAYER_TOP
#error "options.h is for the top layer (main, tests) only"
#endif

#include <stddef.h>

#include "config.h"

/* Parse ADDRESS:PORT, or "none" (port 0: no listener).  Returns 0 or
 * -1. */
int rmq_options_hostport(const char *s, struct rmq_listen_addr *a);

/* Apply the directives of a configuration file.  Returns 0, or a negative
 * errno with "FILE:LINE: message" (or "FILE: reason") in err. */
int rmq_options_load_file(struct rmq_config *cfg, const char *path, char *err,
    size_t errlen);

/* The same for text already in memory; `file` names it in messages. */
int rmq_options_load_text(struct rmq_config *cfg, const char *file,
    const char *text, size_t len, char *err, size_t errlen);

/* Apply RINGMQ_<KEY>=VALUE variables from envp: the key in lower case,
 * the value as on a configuration line ("RINGMQ_LISTENER=1883 0.0.0.0"). */
int rmq_options_load_env(struct rmq_config *cfg, char **envp, char *err,
    size_t errlen);

#endif
