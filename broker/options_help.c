/* broker/options_help.c: what the option table (options.h) tells people:
 * `ringmq --help`, `ringmq --help-config`, and the key tables of
 * docs/configuration.md, which scripts/docs-config writes from
 * `ringmq --help-config markdown` and test/broker/test_options.c checks,
 * so that the documentation lists exactly the keys the table holds.
 */
#include <stdio.h>
#include <string.h>

#include "options.h"
#include "rmq_config.h"

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
	    "       ringmq --help-config [text|markdown|man5|man8]\n"
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
	help_entry(out, "--help-config [text|markdown|man5|man8]",
	    "every key: arguments, default, when a reload applies it, meaning; markdown: docs/configuration.md's tables; man5, man8: the man pages ringmq.conf(5) and ringmq(8)");
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
	    "| `--help-config [text\\|markdown\\|man5\\|man8]` | every key; `markdown` writes the tables of this file, `man5` and `man8` the man pages ringmq.conf(5) and ringmq(8) |\n");
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

/* ---- man pages: ringmq(8) and ringmq.conf(5), from the same table */

/* Text of the table (markdown's `code` and **bold**) as roff: code in
 * bold, backslashes escaped, '-' as a hyphen that man keeps, and no line
 * begun by a control character. */
static void
man_text(FILE *out, const char *s)
{
	int code = 0;
	fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '`') {
			fputs(code ? "\\fR" : "\\fB", out);
			code = !code;
		} else if (s[0] == '*' && s[1] == '*') {
			s++;
		} else if (*s == '\\') {
			fputs("\\e", out);
		} else if (*s == '-') {
			fputs("\\-", out);
		} else if (*s == '\n') {
			fputs("\n\\&", out);
		} else {
			fputc(*s, out);
		}
	}
	if (code)
		fputs("\\fR", out);
	fputc('\n', out);
}

/* A word as roff: escaped as man_text does, without its line start. */
static void
man_word(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		if (s[i] == '-')
			fputs("\\-", out);
		else if (s[i] == '\\')
			fputs("\\e", out);
		else
			fputc(s[i], out);
	}
}

static void
man_head(FILE *out, const char *title, int section, const char *what)
{
	fprintf(out,
	    ".\\\" Written by `ringmq --help-config man%d` from the option\n"
	    ".\\\" table (broker/options.c); do not edit.\n"
	    ".TH %s %d \"\" \"RingMQ %s\" \"%s\"\n"
	    ".ad l\n",
	    section, title, section, RMQ_VERSION, what);
}

static void
man_conf(FILE *out)
{
	char args[512], def[256];
	man_head(out, "RINGMQ.CONF", 5, "File Formats");
	fputs(
	    ".SH NAME\n"
	    "ringmq.conf \\- configuration of the RingMQ MQTT broker\n"
	    ".SH SYNOPSIS\n"
	    ".I /etc/ringmq/ringmq.conf\n"
	    ".SH DESCRIPTION\n"
	    "\\&The file\n"
	    ".BR ringmq (8)\n"
	    "reads with \\fB\\-c\\fR \\fIFILE\\fR, in Mosquitto's format: one key and its\n"
	    "values on a line, blank separated; lines starting with \\fB#\\fR and blank\n"
	    "lines are ignored.  A \\fBlistener\\fR line starts a listener; the listener\n"
	    "keys after it (\\fBcertfile\\fR, \\fBprotocol\\fR, ...) apply to it.\n"
	    "Mosquitto's keys of features RingMQ does not have are refused, naming\n"
	    "the file and line, never ignored.\n"
	    ".PP\n"
	    "\\&Every key is also an environment variable \\fBRINGMQ_\\fR\\fIKEY\\fR (upper\n"
	    "case) and a flag \\fB\\-\\-\\fR\\fIkey\\-with\\-dashes\\fR; flags outrank the\n"
	    "environment, which outranks the file.\n"
	    "\\fBringmq check\\-config\\fR \\fIFILE\\fR checks a file without starting.\n"
	    ".PP\n"
	    "\\&At SIGHUP the file is read again.  Each key says when a new value\n"
	    "takes effect: \\fBnow\\fR, for \\fBnew connections\\fR, or only at a\n"
	    "\\fBrestart\\fR.\n"
	    ".SH KEYS\n",
	    out);
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type == RMQ_OPT_REFUSED)
			continue;
		rmq_option_args(o, args, sizeof(args));
		fputs(".TP\n\\fB", out);
		man_word(out, o->key, strlen(o->key));
		fputs("\\fR \\fI", out);
		man_word(out, args, strlen(args));
		fputs("\\fR\n", out);
		man_text(out, o->doc ? o->doc : o->help);
		help_default(o, def, sizeof(def));
		fputs(".br\n", out);
		char tail[512];
		snprintf(tail, sizeof(tail), "Default: %s.%s  At SIGHUP: %s.",
		    def[0] ? def : "none",
		    (o->bits & RMQ_OPT_REPEAT) ? "  Repeatable." : "",
		    help_reload[o->reload]);
		man_text(out, tail);
		if (o->aliases) {
			fputs(".br\n", out);
			snprintf(tail, sizeof(tail), "Also spelt: %s.",
			    o->aliases);
			man_text(out, tail);
		}
	}
	fputs(
	    ".SH \"KEYS REFUSED\"\n"
	    "\\&Mosquitto's keys that RingMQ takes only with the values shown, or not\n"
	    "at all:\n",
	    out);
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type != RMQ_OPT_REFUSED)
			continue;
		char line[1024];
		snprintf(line, sizeof(line), "%s%s%s%s%s",
		    o->accepted ? "only " : "", o->accepted ? o->accepted : "",
		    o->accepted ? "; otherwise " : "",
		    o->feature ? "not supported yet: " : "",
		    o->feature ? o->feature : o->why);
		fputs(".TP\n\\fB", out);
		man_word(out, o->key, strlen(o->key));
		fputs("\\fR\n", out);
		man_text(out, line);
	}
	fputs(
	    ".SH FILES\n"
	    ".TP\n.I /etc/ringmq/ringmq.conf\n"
	    "\\&The file the systemd unit and the container image start the broker\n"
	    "with.\n"
	    ".SH \"SEE ALSO\"\n"
	    ".BR ringmq (8),\n"
	    ".BR mosquitto.conf (5)\n",
	    out);
}

static void
man_broker(FILE *out)
{
	char meta[128], def[256], text[1024];
	man_head(out, "RINGMQ", 8, "System Administration");
	fputs(
	    ".SH NAME\n"
	    "ringmq \\- clustered MQTT broker\n"
	    ".SH SYNOPSIS\n"
	    ".B ringmq\n[\\fB\\-c\\fR \\fIFILE\\fR] [\\fIoptions\\fR]\n"
	    ".br\n.B ringmq check\\-config\n[\\fB\\-\\-syntax\\-only\\fR] \\fIFILE\\fR\n"
	    ".br\n.B ringmq passwd\n[\\fB\\-c\\fR | \\fB\\-D\\fR] [\\fB\\-b\\fR] [\\fB\\-S\\fR] [\\fB\\-I\\fR \\fIROUNDS\\fR] \\fIFILE USER\\fR [\\fIPASSWORD\\fR]\n"
	    ".br\n.B ringmq ctl\n[\\fB\\-c\\fR \\fIFILE\\fR] [\\fB\\-\\-admin\\fR \\fIHOST:PORT\\fR] [\\fB\\-\\-token\\-file\\fR \\fIPATH\\fR] [\\fB\\-\\-local\\fR] \\fICOMMAND\\fR\n"
	    ".br\n.B ringmq store\n\\fBcheck\\fR|\\fBdump\\fR \\fIDIR\\fR\n"
	    ".br\n.B ringmq \\-\\-help\\-config\n[\\fBtext\\fR|\\fBmarkdown\\fR|\\fBman5\\fR|\\fBman8\\fR]\n"
	    ".SH DESCRIPTION\n"
	    "\\&RingMQ is an MQTT broker (MQTT 3.1, 3.1.1 and 5.0, over TCP, TLS and\n"
	    "WebSocket) whose nodes form one cluster.  Each CPU runs an event loop\n"
	    "(io_uring where the kernel allows it, libuv elsewhere) that owns a share\n"
	    "of the connections.  It reads its configuration from \\fIFILE\\fR\n"
	    "(\\fBringmq.conf\\fR(5)); with none, it listens on 127.0.0.1:1883.\n"
	    ".SH OPTIONS\n"
	    "\\&Every key of \\fBringmq.conf\\fR(5) is a flag:\n"
	    "\\fB\\-\\-\\fR\\fIkey\\-with\\-dashes VALUE\\fR, the value as on a file line.\n"
	    ".TP\n\\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fIFILE\\fR\n"
	    "\\&The configuration file.\n",
	    out);
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type == RMQ_OPT_REFUSED || (o->bits & RMQ_OPT_NO_FLAG))
			continue;
		/* The row's own flags: those standing for a value (-v means
		 * log_level debug), and those with a syntax of their own (-p
		 * [HOST:]PORT); then --key-with-dashes. */
		int own = 0;
		for (const char *f = o->flags; f && *f;) {
			size_t k = strcspn(f, " ");
			size_t name = strcspn(f, " =");
			if (name < k) {
				fputs(".TP\n\\fB", out);
				man_word(out, f, name);
				snprintf(text, sizeof(text),
				    "The same as --%s %.*s.", o->key,
				    (int)(k - name - 1), f + name + 1);
				for (char *p = text + 14; *p && *p != ' '; p++)
					if (*p == '_')
						*p = '-';
				fputs("\\fR\n", out);
				man_text(out, text);
			} else if (o->flag_set) {
				fputs(own++ ? ", \\fB" : ".TP\n\\fB", out);
				man_word(out, f, k);
				fputs("\\fR", out);
			}
			f += k;
			f += *f == ' ';
		}
		if (own) {
			fputs(" \\fI", out);
			man_word(out, o->flag_arg, strlen(o->flag_arg));
			fputs("\\fR\n", out);
			snprintf(text, sizeof(text), "%s; %s", o->help,
			    o->flag_help ? o->flag_help : "");
			man_text(out, text);
		}
		fputs(".TP\n", out);
		for (const char *f = o->flags; !o->flag_set && f && *f;) {
			size_t k = strcspn(f, " ");
			if (strcspn(f, " =") == k) {
				fputs("\\fB", out);
				man_word(out, f, k);
				fputs("\\fR, ", out);
			}
			f += k;
			f += *f == ' ';
		}
		fputs("\\fB\\-\\-", out);
		for (const char *k = o->key; *k; k++)
			fputs(*k == '_' ? "\\-" : (char[]){ *k, 0 }, out);
		help_metavar(o, meta, sizeof(meta));
		fputs("\\fR \\fI", out);
		man_word(out, meta, strlen(meta));
		fputs("\\fR\n", out);
		help_default(o, def, sizeof(def));
		snprintf(text, sizeof(text), "%s%s%s%s", o->help,
		    def[0] ? " (default: " : "", def, def[0] ? ")." : ".");
		man_text(out, text);
	}
	fputs(
	    ".TP\n\\fB\\-\\-help\\-config\\fR [\\fBtext\\fR|\\fBmarkdown\\fR|\\fBman5\\fR|\\fBman8\\fR]\n"
	    "\\&Every key with its arguments, default and meaning; markdown writes\n"
	    "the tables of the documentation, man5 and man8 these pages.\n"
	    ".TP\n\\fB\\-\\-version\\fR\n"
	    "\\&The versions of ringmq and of its libraries.\n"
	    ".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n"
	    "\\&A summary of the options.\n"
	    ".SH COMMANDS\n"
	    ".TP\n\\fBcheck\\-config\\fR [\\fB\\-\\-syntax\\-only\\fR] \\fIFILE\\fR\n"
	    "\\&Reads \\fIFILE\\fR as a start would (and the certificates, password and\n"
	    "ACL files it names, unless \\fB\\-\\-syntax\\-only\\fR); exits 0 when it would\n"
	    "start, 1 naming the file and line otherwise.\n"
	    ".TP\n\\fBpasswd\\fR\n"
	    "\\&Creates and updates password files, in mosquitto_passwd's format.\n"
	    ".TP\n\\fBctl\\fR \\fICOMMAND\\fR\n"
	    "\\&The operator's commands over a running node's admin API:\n"
	    "\\fBcluster status\\fR, \\fBnode leave\\fR, \\fBclients list\\fR|\\fBshow\\fR|\\fBkick\\fR,\n"
	    "\\fBsessions show\\fR|\\fBdrop\\fR, \\fBsubscriptions\\fR, \\fBretained list\\fR|\\fBdelete\\fR,\n"
	    "and \\fBhealth\\fR and \\fBready\\fR (the probes' endpoints).\n"
	    "\\fBringmq ctl\\fR with no command lists them.\n"
	    ".TP\n\\fBstore check\\fR|\\fBdump\\fR \\fIDIR\\fR\n"
	    "\\&Checks or prints a data directory, even one a broker is using.\n"
	    ".SH SIGNALS\n"
	    ".TP\n.B SIGHUP\n"
	    "\\&Reads the configuration file again and applies what can change\n"
	    "without a restart (certificates, password and ACL files, limits, log\n"
	    "level); a file with an error is refused and the running configuration\n"
	    "stays.\n"
	    ".TP\n\\fBSIGTERM\\fR, \\fBSIGINT\\fR\n"
	    "\\&Stops: no new connections, clients sent to \\fBserver_reference\\fR,\n"
	    "sessions handed to the cluster's other nodes, within \\fBshutdown_grace\\fR.\n"
	    ".SH ENVIRONMENT\n"
	    ".TP\n\\fBRINGMQ_\\fR\\fIKEY\\fR\n"
	    "\\&Any key of \\fBringmq.conf\\fR(5), upper case; outranks the file.\n"
	    ".TP\n.B NOTIFY_SOCKET\n"
	    "\\&Set by systemd for a unit of Type=notify: the broker says READY=1\n"
	    "once it listens, RELOADING=1 and READY=1 around a reload, STOPPING=1\n"
	    "when it stops.\n"
	    ".SH EXIT STATUS\n"
	    "\\&0 after a stop asked for; 1 when the broker could not start (the\n"
	    "reason logged); 2 for an error in the configuration file, the\n"
	    "environment or the flags (named with its file and line), or in\n"
	    "a command's arguments.\n"
	    ".SH FILES\n"
	    ".TP\n.I /etc/ringmq/ringmq.conf\n"
	    "\\&The configuration the systemd unit and the container image use.\n"
	    ".TP\n.I /var/lib/ringmq\n"
	    "\\&Their data directory (\\fBpersistence_location\\fR).\n"
	    ".SH \"SEE ALSO\"\n"
	    ".BR ringmq.conf (5),\n"
	    ".BR mosquitto_passwd (1)\n",
	    out);
}

int
rmq_options_man(FILE *out, int section)
{
	if (section == 5)
		man_conf(out);
	else if (section == 8)
		man_broker(out);
	else
		return -1;
	return 0;
}
