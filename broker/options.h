/* broker/options.h: every setting of ringmq as rows of one table, read
 * alike from the configuration file, RINGMQ_* environment variables and
 * command line flags, with the precedence built-in defaults < file <
 * environment < command line.
 *
 * Like nginx's ngx_command_t, a row names a key, its type and bounds,
 * where its value lives in struct rmq_config (config.h) or the setter
 * that places it, when a SIGHUP reload applies it, its default and its
 * help.  The environment variable is RINGMQ_ and the key in capitals; the
 * flag is -- and the key with dashes, and takes the value as a file line
 * does.  options.c holds the table and the parsers of its types,
 * options_load.c the layers, options_help.c the help and the key tables
 * of docs/configuration.md.
 */
#ifndef RMQ_OPTIONS_H
#define RMQ_OPTIONS_H

#ifndef RMQ_LAYER_TOP
#error "options.h is for the top layer (main, tests) only"
#endif

#include <stddef.h>
#include <stdio.h>

#include "conf.h"
#include "config.h"

enum rmq_opt_type {
	RMQ_OPT_BOOL, /* true or false, into an int */
	RMQ_OPT_INT, /* a whole number from min to max, times scale */
	RMQ_OPT_ENUM, /* one of names[], into an int: its index */
	RMQ_OPT_STRING, /* text into a char array of `size` bytes */
	RMQ_OPT_HOSTPORT, /* ADDRESS:PORT, or none */
	RMQ_OPT_LISTENER, /* PORT [ADDRESS] */
	RMQ_OPT_CPULIST, /* auto, none, or a CPU list such as 0-3,8 */
	RMQ_OPT_SPECIAL, /* the row's own setter */
	RMQ_OPT_REFUSED, /* only the `accepted` values; otherwise refused */
};

/* When a SIGHUP reload applies a changed value. */
enum rmq_opt_reload {
	RMQ_RELOAD_NOW,
	RMQ_RELOAD_NEW_CONNECTIONS, /* a connected client keeps its own */
	RMQ_RELOAD_RESTART, /* only at the next start; the reload says so */
};

/* Row bits. */
#define RMQ_OPT_ZERO_NOLIMIT 0x1u /* INT: 0 means no limit (`nolimit`) */
#define RMQ_OPT_MINUS1_NOLIMIT 0x2u /* INT: -1 means no limit (`nolimit`) */
#define RMQ_OPT_NO_FLAG 0x4u /* the key has no --flag of its own */
#define RMQ_OPT_REPEAT 0x8u /* may be given more than once */
#define RMQ_OPT_PROCESS 0x10u /* applied by main (the process), not the node */
/* A listener's setting: `at` is in struct rmq_listen_addr, of the listener
 * the latest `listener` line made (the first one before any). */
#define RMQ_OPT_PER_LISTENER 0x20u

struct rmq_opt_ctx;
struct rmq_option;

/* A setter: place args[0..nargs) into c->cfg.  Returns 0; RMQ_OPT_BAD
 * when the value is not of the row's form (the caller says what the row
 * takes); or -1 with the reason in err. */
typedef int (*rmq_opt_set_fn)(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen);
#define RMQ_OPT_BAD (-2)

struct rmq_option {
	/* The file's key: Mosquitto's name where Mosquitto has the key.  A
	 * key ending in '*' is a prefix (Mosquitto's auth_opt_*). */
	const char *key;
	const char *aliases; /* other spellings of the key, blank separated */
	/* Flags besides --key-with-dashes, blank separated; FLAG=VALUE is a
	 * flag that takes no argument and stands for VALUE (-v=debug). */
	const char *flags;
	enum rmq_opt_type type;
	rmq_opt_set_fn set; /* SPECIAL, or a type's setter replaced */
	rmq_opt_set_fn flag_set; /* the value of one of `flags`, when it
				  * has a syntax of its own (-p HOST:PORT) */
	/* The value in struct rmq_config; size 0: not one place (a setter's
	 * business). */
	struct rmq_opt_at {
		size_t offset, size;
	} at;
	long long min, max; /* INT bounds, before scale */
	unsigned long long nolimit; /* what "no limit" stores */
	unsigned scale; /* INT: stored = value * scale (seconds to ms) */
	const char *unit; /* INT: "bytes", "seconds" */
	unsigned bits; /* RMQ_OPT_* */
	/* Words after the key; 0, 0: one.  Several words of a STRING are
	 * joined by one blank (a path, a strftime format). */
	unsigned minargs, maxargs;
	const char *const *names; /* ENUM: the words, in value order */
	const char *accepted; /* REFUSED: values taken, blank separated */
	const char *feature; /* REFUSED: the feature not built yet */
	const char *why; /* REFUSED without a feature: the reason */
	enum rmq_opt_reload reload;
	const char *arg; /* the arguments as the help writes them */
	const char *flag_arg; /* the same for `flags` read by flag_set */
	const char *expect; /* what a bad value should have been */
	const char *def; /* the default, as a file line writes it */
	const char *unset; /* without a default: what no value means */
	const char *help; /* one line for --help */
	const char *flag_help; /* what --help adds for `flags` of flag_set */
	const char *doc; /* docs/configuration.md's meaning (markdown) */
};

extern const struct rmq_option rmq_options[];
extern const size_t rmq_options_count;

/* One layer being read: a file (and the files it includes), the
 * environment, or the command line. */
struct rmq_opt_ctx {
	struct rmq_config *cfg;
	unsigned level; /* 0: a layer's own lines; 1: an included file's */
	/* A layer's first listener, log_type or log_dest line replaces what
	 * the layers before set; later lines of that layer add to it. */
	int listeners_set, log_type_set, log_dest_set;
	/* A listener key applied before the layer's first listener line. */
	const char *listener_keys_early;
	void (*included)(void *arg, const char *path); /* each file read */
	void *arg;
	char nested[1024]; /* an included file's error, with its line */
};

/* The row of a key or one of its aliases (a prefix row matches every key
 * it starts); NULL if none. */
const struct rmq_option *rmq_option_find(const char *key);

/* The row a command line flag sets, or NULL.  fixed[0..fixedlen) gets
 * the value a flag stands for (-v: debug), or "" when it takes one; *own
 * tells that the row's flag_set reads its value. */
const struct rmq_option *
rmq_option_find_flag(const char *flag, char *fixed, size_t fixedlen, int *own);

/* Apply one value (words args[0..nargs)) to c->cfg with `set`, or the
 * row's setter when NULL (the type's when the row has none).  The count
 * of words is checked first (-1).  Returns 0, RMQ_OPT_BAD or -1 as a
 * setter does. */
int rmq_option_apply(const struct rmq_option *o, struct rmq_opt_ctx *c,
    rmq_opt_set_fn set, unsigned nargs, const char *const *args, char *err,
    size_t errlen);

/* What a row takes, for "'x' is not ..." ("true or false"). */
void rmq_option_expect(const struct rmq_option *o, char *buf, size_t len);

/* The arguments a row takes, as the help and docs write them. */
void rmq_option_args(const struct rmq_option *o, char *buf, size_t len);

/* Parse ADDRESS:PORT, or "none" (port 0: no listener).  Returns 0 or
 * -1. */
int rmq_options_hostport(const char *s, struct rmq_listen_addr *a);

/* Apply the directives of a configuration file (and of the files its
 * include_dir lines name, in Mosquitto's order).  `included`, when not
 * NULL, is told each included file as it is read.  Returns 0, or a
 * negative errno with "FILE:LINE: message" (or "FILE: reason") in err. */
int rmq_options_load_file(struct rmq_config *cfg, const char *path,
    void (*included)(void *arg, const char *path), void *arg, char *err,
    size_t errlen);

/* The same for text already in memory; `file` names it in messages. */
int rmq_options_load_text(struct rmq_config *cfg, const char *file,
    const char *text, size_t len, char *err, size_t errlen);

/* Apply RINGMQ_<KEY>=VALUE variables from envp: the key in lower case,
 * the value as on a configuration line ("RINGMQ_LISTENER=1883 0.0.0.0");
 * an error names the variable. */
int rmq_options_load_env(struct rmq_config *cfg, char **envp, char *err,
    size_t errlen);

/* Apply the command line flags argv[1..argc): --key VALUE or
 * --key=VALUE for every row, and the rows' own flags; -c/--config FILE
 * is skipped (rmq_options_config_file).  An error names the flag. */
int rmq_options_load_args(struct rmq_config *cfg, int argc, char **argv,
    char *err, size_t errlen);

/* The file -c/--config names, or NULL. */
const char *rmq_options_config_file(int argc, char **argv);

/* The include_dir directive (the table's setter; options_load.c). */
int rmq_options_include_dir(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen);

/* `ringmq --help`, written from the table. */
void rmq_options_usage(FILE *out);

/* `ringmq --help-config text`: every key with its arguments, default,
 * when a reload applies it and meaning. */
void rmq_options_describe(FILE *out);

/* The generated parts of docs/configuration.md, each between the lines
 * "<!-- begin generated NAME -->" and "<!-- end generated NAME -->":
 * "keys" (the key table), "refused" (Mosquitto's keys taken only where
 * they match what ringmq does) and "flags" (the command line).  NULL
 * writes them all, markers included (`ringmq --help-config markdown`).
 * Returns 0, or -1 for an unknown name. */
int rmq_options_markdown(FILE *out, const char *name);

extern const char *const rmq_options_markdown_blocks[];

/* The man pages, in roff: section 5, ringmq.conf(5) (every key, as the
 * docs' table), or 8, ringmq(8) (the flags, commands, signals).  Returns
 * 0, or -1 for another section. */
int rmq_options_man(FILE *out, int section);

#endif
