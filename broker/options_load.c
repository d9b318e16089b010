/* broker/options_load.c: reading the option table's layers (options.h):
 * a configuration file and the files its include_dir lines name, the
 * RINGMQ_* environment variables, and the command line flags.
 *
 * Every layer finds its rows the same way (a key, one of its aliases, or
 * the flag made from either) and applies them with the same parsers, so
 * a value means the same wherever it is written.  An error names where
 * the value came from: FILE:LINE, the variable, or the flag.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "options.h"

/* Whether the blank-separated list holds the word w. */
static int
load_listed(const char *list, const char *w)
{
	size_t n = strlen(w);
	while (list && *list) {
		size_t k = strcspn(list, " ");
		if (k == n && strncmp(list, w, n) == 0)
			return 1;
		list += k;
		list += *list == ' ';
	}
	return 0;
}

const struct rmq_option *
rmq_option_find(const char *key)
{
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (strcmp(key, o->key) == 0 || load_listed(o->aliases, key))
			return o;
	}
	/* Mosquitto's families of keys: auth_opt_*, bridge_*. */
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		size_t n = strlen(o->key);
		if (o->key[n - 1] == '*' && strncmp(key, o->key, n - 1) == 0)
			return o;
	}
	return NULL;
}

const struct rmq_option *
rmq_option_find_flag(const char *flag, char *fixed, size_t fixedlen, int *own)
{
	fixed[0] = '\0';
	*own = 0;
	/* A row's own flags first: -p and --port are listener's. */
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		for (const char *f = o->flags; f && *f;) {
			size_t k = strcspn(f, " ");
			size_t name = strcspn(f, " =");
			if (name > k)
				name = k;
			if (name == strlen(flag) &&
			    strncmp(f, flag, name) == 0) {
				if (name < k)
					snprintf(fixed, fixedlen, "%.*s",
					    (int)(k - name - 1), f + name + 1);
				*own = o->flag_set != NULL && name == k;
				return o;
			}
			f += k;
			f += *f == ' ';
		}
	}
	/* --key-with-dashes: the key, or one of its aliases. */
	char key[128];
	size_t n = strlen(flag);
	if (n < 3 || n - 2 >= sizeof(key) || strncmp(flag, "--", 2) != 0)
		return NULL;
	for (size_t i = 0; i + 2 <= n; i++)
		key[i] = flag[i + 2] == '-' ? '_' : flag[i + 2];
	const struct rmq_option *o = rmq_option_find(key);
	if (o && (o->bits & RMQ_OPT_NO_FLAG) && strcmp(key, o->key) == 0)
		return NULL;
	return o;
}

/* Apply a row to the words args[0..nargs), the value as `name` (a key,
 * a variable or a flag) gave it; on an error, err gets "NAME: reason",
 * or for a flag's bad value "FLAG takes WHAT, not 'VALUE'". */
static int
load_apply(const struct rmq_option *o, struct rmq_opt_ctx *c,
    rmq_opt_set_fn set, const char *name, int is_flag, unsigned nargs,
    const char *const *args, char *err, size_t errlen)
{
	char why[512] = "", what[512];
	int rc = rmq_option_apply(o, c, set, nargs, args, why, sizeof(why));
	if (rc == 0)
		return 0;
	if (rc != RMQ_OPT_BAD) {
		snprintf(err, errlen, "%s: %s", name, why);
		return -1;
	}
	if (set && o->flag_arg)
		snprintf(what, sizeof(what), "%s", o->flag_arg);
	else
		rmq_option_expect(o, what, sizeof(what));
	if (is_flag)
		snprintf(err, errlen, "%s takes %s, not '%s'", name, what,
		    args[0]);
	else
		snprintf(err, errlen, "%s: '%s' is not %s", name, args[0],
		    what);
	return -1;
}

/* Cut a value into words at blanks, as a file line is cut; buf holds
 * them.  Returns their count, or -1 when there are too many. */
static int
load_words(const char *value, char *buf, size_t len, const char **args)
{
	unsigned n = 0;
	snprintf(buf, len, "%s", value);
	for (char *p = buf;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return (int)n;
		if (n == RMQ_CONF_MAX_ARGS)
			return -1;
		args[n++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
}

static int
load_file(struct rmq_opt_ctx *c, const char *path, char *err, size_t errlen);

/* A directive of a file: the conf callback (core/conf.h). */
static int
load_line(void *ctx, const struct rmq_conf_line *l, char *err, size_t errlen)
{
	struct rmq_opt_ctx *c = ctx;
	const struct rmq_option *o = rmq_option_find(l->key);
	if (o == NULL) {
		snprintf(err, errlen, "unknown key '%s'", l->key);
		return -1;
	}
	return load_apply(o, c, NULL, l->key, 0, l->nargs, l->args, err,
	    errlen);
}

static int
load_text(struct rmq_opt_ctx *c, const char *file, const char *text, size_t len,
    char *err, size_t errlen)
{
	c->nested[0] = '\0';
	int rc = rmq_conf_parse(file, text, len, load_line, c, err, errlen);
	if (rc != 0 && c->nested[0])
		snprintf(err, errlen, "%s", c->nested); /* its own line */
	return rc;
}

static int
load_file(struct rmq_opt_ctx *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char *text = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[8192];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n > cap) {
			cap = (len + n) * 2;
			char *t = realloc(text, cap);
			if (t == NULL) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory",
				    path);
				return -ENOMEM;
			}
			text = t;
		}
		memcpy(text + len, chunk, n);
		len += n;
	}
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc == 0)
		rc = load_text(c, path, text ? text : "", len, err, errlen);
	else
		snprintf(err, errlen, "%s: read error", path);
	free(text);
	return rc;
}

/* Mosquitto's include_dir order: by name, letters compared without case
 * first, and of the same letter the upper case first (00.conf, A.conf,
 * a.conf, B.conf, b.conf). */
static int
load_name_order(const void *pa, const void *pb)
{
	const unsigned char *a = *(const unsigned char *const *)pa;
	const unsigned char *b = *(const unsigned char *const *)pb;
	for (; *a && *b; a++, b++) {
		int d = toupper(*a) - toupper(*b);
		if (d == 0)
			d = *a - *b;
		if (d != 0)
			return d;
	}
	return *a - *b;
}

int
rmq_options_include_dir(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	char dir[PATH_MAX] = "", path[PATH_MAX + 256];
	(void)o;
	if (c->level > 0) {
		snprintf(err, errlen,
		    "only the main file may include (as in Mosquitto)");
		return -1;
	}
	for (unsigned i = 0; i < nargs; i++) /* the rest of the line */
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "%s%s",
		    i ? " " : "", args[i]);
	DIR *d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct stat st;
		if (len <= 5 || strcmp(e->d_name + len - 5, ".conf") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **t = realloc(names, cap * sizeof(*names));
			if (t == NULL) {
				rc = -1;
				break;
			}
			names = t;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc != 0)
		snprintf(err, errlen, "%s: out of memory", dir);
	else if (n > 0)
		qsort(names, n, sizeof(*names), load_name_order);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (c->included)
			c->included(c->arg, path);
		char sub[sizeof(c->nested)];
		c->level = 1;
		rc = load_file(c, path, sub, sizeof(sub));
		c->level = 0;
		if (rc != 0) {
			/* The included file's own line, not include_dir's. */
			snprintf(c->nested, sizeof(c->nested), "%s", sub);
			snprintf(err, errlen, "%s", sub);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc == 0 ? 0 : -1;
}

int
rmq_options_load_text(struct rmq_config *cfg, const char *file,
    const char *text, size_t len, char *err, size_t errlen)
{
	struct rmq_opt_ctx c = { .cfg = cfg };
	return load_text(&c, file, text, len, err, errlen);
}

int
rmq_options_load_file(struct rmq_config *cfg, const char *path,
    void (*included)(void *arg, const char *path), void *arg, char *err,
    size_t errlen)
{
	struct rmq_opt_ctx c = { .cfg = cfg, .included = included, .arg = arg };
	return load_file(&c, path, err, errlen);
}

int
rmq_options_load_env(struct rmq_config *cfg, char **envp, char *err,
    size_t errlen)
{
	struct rmq_opt_ctx c = { .cfg = cfg };
	for (char **e = envp; *e; e++) {
		if (strncmp(*e, "RINGMQ_", 7) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (eq == NULL)
			continue;
		/* RINGMQ_MAX_QUEUED_MESSAGES=10 is "max_queued_messages 10". */
		char name[128], key[128], words[4096];
		const char *args[RMQ_CONF_MAX_ARGS];
		size_t klen = (size_t)(eq - *e) - 7;
		snprintf(name, sizeof(name), "environment %.*s", (int)(eq - *e),
		    *e);
		if (klen >= sizeof(key) || strlen(eq + 1) >= sizeof(words)) {
			snprintf(err, errlen, "%s: too long", name);
			return -EINVAL;
		}
		for (size_t i = 0; i < klen; i++)
			key[i] = (char)tolower((unsigned char)(*e)[7 + i]);
		key[klen] = '\0';
		const struct rmq_option *o = rmq_option_find(key);
		if (o == NULL) {
			snprintf(err, errlen, "%s: unknown key '%s'", name,
			    key);
			return -EINVAL;
		}
		int nargs = load_words(eq + 1, words, sizeof(words), args);
		if (nargs < 0) {
			snprintf(err, errlen, "%s: more than %d words", name,
			    RMQ_CONF_MAX_ARGS);
			return -EINVAL;
		}
		c.nested[0] = '\0';
		if (load_apply(o, &c, NULL, name, 0, (unsigned)nargs, args, err,
			errlen) != 0) {
			if (c.nested[0])
				snprintf(err, errlen, "%s", c.nested);
			return -EINVAL;
		}
	}
	return 0;
}

/* -c FILE, --config FILE or --config=FILE: 1 (and its value) when argv[i]
 * is one. */
static int
load_config_flag(int argc, char **argv, int i, const char **file)
{
	const char *a = argv[i];
	if (strncmp(a, "--config=", 9) == 0) {
		*file = a + 9;
		return 1;
	}
	if (strcmp(a, "-c") != 0 && strcmp(a, "--config") != 0)
		return 0;
	*file = i + 1 < argc ? argv[i + 1] : NULL;
	return 1;
}

const char *
rmq_options_config_file(int argc, char **argv)
{
	const char *file = NULL, *f;
	for (int i = 1; i < argc; i++)
		if (load_config_flag(argc, argv, i, &f) && f) {
			file = f;
			i += strchr(argv[i], '=') == NULL;
		}
	return file;
}

int
rmq_options_load_args(struct rmq_config *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	struct rmq_opt_ctx c = { .cfg = cfg };
	const char *a = NULL;
	for (int i = 1; i < argc; i++) {
		const char *value = NULL, *file;
		char flag[128], fixed[64], words[4096];
		const char *args[RMQ_CONF_MAX_ARGS];
		int own, nargs;
		a = argv[i];
		if (load_config_flag(argc, argv, i, &file)) {
			if (file == NULL)
				goto incomplete;
			i += strchr(a, '=') == NULL; /* read before the flags */
			continue;
		}
		const char *eq =
		    strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		snprintf(flag, sizeof(flag), "%.*s",
		    (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
		const struct rmq_option *o =
		    rmq_option_find_flag(flag, fixed, sizeof(fixed), &own);
		if (o == NULL)
			goto incomplete;
		if (fixed[0] && eq)
			goto incomplete; /* -v takes no value */
		value = fixed[0] ? fixed : eq ? eq + 1 : NULL;
		if (value == NULL && i + 1 < argc)
			value = argv[++i];
		if (value == NULL)
			goto incomplete;
		if (own) {
			/* The row's own syntax reads the value whole. */
			snprintf(words, sizeof(words), "%s", value);
			args[0] = words;
			nargs = 1;
		} else if ((nargs = load_words(value, words, sizeof(words),
				args)) < 0) {
			snprintf(err, errlen, "%s: more than %d words", flag,
			    RMQ_CONF_MAX_ARGS);
			return -EINVAL;
		}
		c.nested[0] = '\0';
		if (load_apply(o, &c, own ? o->flag_set : NULL, flag, 1,
			(unsigned)nargs, args, err, errlen) != 0) {
			if (c.nested[0])
				snprintf(err, errlen, "%s", c.nested);
			return -EINVAL;
		}
	}
	return 0;
incomplete:
	snprintf(err, errlen,
	    "unknown or incomplete argument '%s' (ringmq --help lists the flags)",
	    a);
	return -EINVAL;
}
