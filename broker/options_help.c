/* broker/options_help.c: what the option table (options.h) tells people:
 * `ringmq --help`, `ringmq --help-config`, and the key tables of
 * docs/configuration.md, which scripts/docs-config writes from
 * `ringmq --help-config markdown` and test/broker/test_options.c checks,
 * so that the documentation lists exactly the keys the table holds.
 */
#include <stdio.h>
#include <string.h>

#include "options.h"

static const char *const help_reload[] = {
	[RMQ_RELOAD_NOW] = "now",
	[RMQ_RELOAD_NEW_CONNECTIONS] = "new connections",
	[RMQ_RELOAD_RESTART] = "restart",
};

/* The value a derived flag takes, as --help writes it. */
static void
help_metavar(const struct rmq_option *o, char *buf, size_t len)
{
	size_t n = 0;
	switch (o->type) {
	case RMQ_OPT_BOOL: snprintf(buf, len, "true|false"); return;
	case RMQ_OPT_INT: snprintf(buf, len, "N"); return;
	case RMQ_OPT_ENUM:
		buf[0] = '\0';
		for (unsigned i = 0; o->names[i] && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    i ? "|" : "", o->names[i]);
		return;
	case RMQ_OPT_HOSTPORT: snprintf(buf, len, "ADDRESS:PORT|none"); return;
	case RMQ_OPT_CPULIST: snprintf(buf, len, "auto|none|LIST"); return;
	default:
		/* "PATH", "PORT [ADDRESS]", "0-7"; not a sentence. */
		if (o->arg && !strpbrk(o->arg, "`,abcdefghijklmnopqrstuvwxyz"))
			snprintf(buf, len, "%s", o->arg);
		else
			snprintf(buf, len, "VALUE");
		return;
	}
}

/* text from column `col` (the cursor there), wrapped at 79 columns back
 * to column `indent`. */
static void
help_wrap(FILE *out, int col, int indent, const char *text)
{
	int start = col;
	for (const char *w = text; *w;) {
		size_t k = strcspn(w, " ");
		if (col > start && col + 1 + (int)k > 79) {
			fprintf(out, "\n%*s", indent, "");
			col = start = indent;
		} else if (col > start) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)k, w);
		col += (int)k;
		w += k;
		while (*w == ' ')
			w++;
	}
	fputc('\n', out);
}

/* "  NAMES  text", the text from column 27. */
static void
help_entry(FILE *out, const char *names, const char *text)
{
	int col = fprintf(out, "  %s", names);
	if (col > 25) {
		fputc('\n', out);
		col = 0;
	}
	fprintf(out, "%*s", 27 - col, "");
	help_wrap(out, 27, 27, text);
}

/* The row's default as the help says it. */
static void
help_default(const struct rmq_option *o, char *buf, size_t len)
{
	if (o->def)
		snprintf(buf, len, "%s%s%s", o->def, o->unit ? " " : "",
		    o->unit ? o->unit : "");
	else if (o->unset)
		snprintf(buf, len, "%s", o->unset);
	else
		buf[0] = '\0';
}

void
rmq_options_usage(FILE *out)
{
	char names[256], meta[128], text[1024], def[256];
	fprintf(out,
	    "usage: ringmq [options]\n"
	    "       ringmq check-config [--syntax-only] FILE\n"
	    "       ringmq passwd [-c | -D] [-b] [-I ROUNDS] FILE USER [PASSWORD]\n"
	    "       ringmq --help-config [text|markdown]\n"
	    "\n"
	    "Every setting is a key of the configuration file (Mosquitto's format), a\n"
	    "RINGMQ_<KEY> environment variable, and a flag: --key-with-dashes VALUE,\n"
	    "the value as on a file line.  Flags outrank the environment, which\n"
	    "outranks the file.  ringmq --help-config lists every key.\n"
	    "\n");
	help_entry(out, "-c, --config FILE",
	    "configuration file (Mosquitto's format; keys in docs/configuration.md)");
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type == RMQ_OPT_REFUSED)
			continue;
		help_default(o, def, sizeof(def));
		snprintf(text, sizeof(text), "%s%s%s%s", o->help,
		    def[0] ? " (default: " : "", def, def[0] ? ")" : "");
		/* The row's own flags: those standing for a value (-v), then
		 * those with a syntax of their own (-p HOST:PORT). */
		char fixed[256] = "", fixnames[128] = "";
		size_t n = 0, nf = 0;
		names[0] = '\0';
		for (const char *f = o->flags; f && *f;) {
			size_t k = strcspn(f, " ");
			size_t name = strcspn(f, " =");
			if (name < k && nf < sizeof(fixnames)) {
				nf += (size_t)snprintf(fixnames + nf,
				    sizeof(fixnames) - nf, "%s%.*s",
				    nf ? ", " : "", (int)name, f);
				snprintf(fixed, sizeof(fixed),
				    "the same as --%s %.*s", o->key,
				    (int)(k - name - 1), f + name + 1);
			} else if (name == k && n < sizeof(names)) {
				n += (size_t)snprintf(names + n,
				    sizeof(names) - n, "%.*s, ", (int)k, f);
			}
			f += k;
			f += *f == ' ';
		}
		for (char *p = fixed + 14; *p && *p != ' '; p++)
			if (*p == '_')
				*p = '-';
		if (nf)
			help_entry(out, fixnames, fixed);
		if (o->flag_set && n > 0) {
			char own[1024];
			snprintf(names + n - 2, sizeof(names) - n + 2, " %s",
			    o->flag_arg);
			snprintf(own, sizeof(own), "%s; %s%s%s%s", o->help,
			    o->flag_help ? o->flag_help : "",
			    def[0] ? " (default: " : "", def,
			    def[0] ? ")" : "");
			help_entry(out, names, own);
			n = 0;
			names[0] = '\0';
		}
		if (o->bits & RMQ_OPT_NO_FLAG)
			continue;
		n = strlen(names);
		n += (size_t)snprintf(names + n, sizeof(names) - n, "--");
		for (const char *k = o->key; *k && n + 1 < sizeof(names); k++)
			names[n++] = *k == '_' ? '-' : *k;
		names[n] = '\0';
		help_metavar(o, meta, sizeof(meta));
		snprintf(names + n, sizeof(names) - n, " %s", meta);
		help_entry(out, names, text);
	}
	help_entry(out, "--help-config [text|markdown]",
	    "every key: arguments, default, when a reload applies it, meaning; markdown: docs/configuration.md's tables");
	help_entry(out, "--version", "versions of ringmq and its libraries");
	help_entry(out, "-h, --help", "this text");
	fprintf(out,
	    "\nKeys of features not built yet (bridges, plugins, the cluster, some of\n"
	    "persistence) are refused, never ignored.\n");
}

void
rmq_options_describe(FILE *out)
{
	char args[512], def[256];
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type == RMQ_OPT_REFUSED) {
			fprintf(out, "%s: %s%s%s%s%s\n", o->key,
			    o->accepted ? "only " : "",
			    o->accepted ? o->accepted : "",
			    o->accepted ? "; otherwise " : "",
			    o->feature ? "not supported yet: " : "",
			    o->feature ? o->feature : o->why);
			continue;
		}
		rmq_option_args(o, args, sizeof(args));
		help_default(o, def, sizeof(def));
		fprintf(out, "%s%s%s: %s\n    default: %s; SIGHUP: %s\n    ",
		    o->key, o->aliases ? " or " : "",
		    o->aliases ? o->aliases : "", args, def[0] ? def : "-",
		    help_reload[o->reload]);
		help_wrap(out, 4, 4, o->doc ? o->doc : o->help);
	}
}

const char *const rmq_options_markdown_blocks[] = { "keys", "refused", "flags",
	NULL };

/* Text for a table cell: '|' escaped. */
static void
md_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', out);
		fputc(*s, out);
	}
}

/* "`a`, `b`" from a blank-separated list. */
static void
md_words(FILE *out, const char *list)
{
	for (const char *w = list; w && *w;) {
		size_t k = strcspn(w, " ");
		fprintf(out, "%s`%.*s`", w == list ? "" : ", ", (int)k, w);
		w += k;
		w += *w == ' ';
	}
}

static void
md_keys(FILE *out)
{
	char args[512];
	fprintf(out,
	    "| key | arguments | default | SIGHUP | meaning |\n"
	    "|---|---|---|---|---|\n");
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type == RMQ_OPT_REFUSED)
			continue;
		fprintf(out, "| `%s`", o->key);
		if (o->aliases) {
			fprintf(out, " (");
			md_words(out, o->aliases);
			fprintf(out, ")");
		}
		rmq_option_args(o, args, sizeof(args));
		fprintf(out, " | ");
		md_cell(out, args);
		if (o->bits & RMQ_OPT_REPEAT)
			fprintf(out, "; repeatable");
		fprintf(out, " | ");
		if (o->def)
			fprintf(out, "`%s`", o->def);
		else if (o->unset)
			md_cell(out, o->unset);
		fprintf(out, " | %s | ", help_reload[o->reload]);
		md_cell(out, o->doc ? o->doc : o->help);
		fprintf(out, " |\n");
	}
}

static int
md_same_refusal(const struct rmq_option *a, const struct rmq_option *b)
{
	return b->type == RMQ_OPT_REFUSED &&
	    (a->accepted ? b->accepted && !strcmp(a->accepted, b->accepted)
			 : !b->accepted) &&
	    (a->feature ? b->feature && !strcmp(a->feature, b->feature)
			: !b->feature && !strcmp(a->why, b->why));
}

static void
md_refused(FILE *out)
{
	fprintf(out,
	    "| keys | values taken | anything else |\n"
	    "|---|---|---|\n");
	for (size_t i = 0; i < rmq_options_count;) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type != RMQ_OPT_REFUSED) {
			i++;
			continue;
		}
		fprintf(out, "| ");
		size_t j = i;
		for (; j < rmq_options_count &&
		     md_same_refusal(o, &rmq_options[j]);
		     j++)
			fprintf(out, "%s`%s`", j == i ? "" : ", ",
			    rmq_options[j].key);
		fprintf(out, " | ");
		if (o->accepted)
			md_words(out, o->accepted);
		else
			fprintf(out, "none");
		fprintf(out, " | ");
		if (o->feature)
			fprintf(out, "not supported yet: %s", o->feature);
		else
			md_cell(out, o->why);
		fprintf(out, " |\n");
		i = j;
	}
}

static void
md_flags(FILE *out)
{
	fprintf(out,
	    "| flag | what it sets |\n"
	    "|---|---|\n"
	    "| `--KEY-WITH-DASHES VALUE`, `--KEY-WITH-DASHES=VALUE` | any key of the table above (or one of its other spellings), the value as on a file line: `--max-queued-messages 100` is `max_queued_messages 100`, `--log-dest 'file /var/log/ringmq.log'` is `log_dest file /var/log/ringmq.log` |\n");
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type == RMQ_OPT_REFUSED || !o->flags)
			continue;
		const char *fixed = strchr(o->flags, '=');
		fprintf(out, "| ");
		for (const char *f = o->flags; *f;) {
			size_t k = strcspn(f, " ");
			size_t name = strcspn(f, " =");
			fprintf(out, "%s`%.*s`", f == o->flags ? "" : ", ",
			    (int)(name < k ? name : k), f);
			f += k;
			f += *f == ' ';
		}
		if (fixed)
			fprintf(out, " | `%s %.*s` |\n", o->key,
			    (int)strcspn(fixed + 1, " "), fixed + 1);
		else if (o->flag_set)
			fprintf(out,
			    " `%s` | `%s`, in a syntax of its own (see the key) |\n",
			    o->flag_arg, o->key);
		else
			fprintf(out, " | `%s` |\n", o->key);
	}
	fprintf(out,
	    "| `-c`, `--config FILE` | the file to read |\n"
	    "| `--help-config [text\\|markdown]` | every key; `markdown` writes the tables of this file |\n");
}

int
rmq_options_markdown(FILE *out, const char *name)
{
	static void (*const blocks[])(
	    FILE *) = { md_keys, md_refused, md_flags };
	int found = 0;
	for (size_t i = 0; rmq_options_markdown_blocks[i]; i++) {
		const char *b = rmq_options_markdown_blocks[i];
		if (name && strcmp(name, b) != 0)
			continue;
		if (name == NULL)
			fprintf(out, "<!-- begin generated %s -->\n", b);
		blocks[i](out);
		if (name == NULL)
			fprintf(out, "<!-- end generated %s -->\n", b);
		found = 1;
	}
	return found ? 0 : -1;
}
