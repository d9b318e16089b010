/* test/broker/test_options.c: tests broker/options.c and its layers
 * (options_load.c, options_help.c): that every row's documented default
 * is the built-in one, that the file, the environment and the flags read
 * a value alike with one set of bounds, their precedence, include_dir in
 * Mosquitto's order, Mosquitto's keys, that a reload treats each row as
 * the table says (against rmq_broker_reload on a fake-backend node), and
 * that docs/configuration.md lists exactly the table's keys
 * (RMQ_SOURCE_ROOT names the tree, set by meson). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "options.h"
#include "rmq_fake_loop.h"
#include "rmq_test_node.h"

TestSuite(options);

static int
apply_text(struct rmq_config *cfg, const char *text, char *err, size_t len)
{
	return rmq_options_load_text(cfg, "t.conf", text, strlen(text), err,
	    len);
}

/* "key value" as a file line, as RINGMQ_KEY=value and as --key value;
 * each from the built-in defaults. */
struct three {
	struct rmq_config file, env, flag;
	int rc_file, rc_env, rc_flag;
	char err_file[1024], err_env[1024], err_flag[1024];
};

static void
three_ways(const char *key, const char *value, struct three *t)
{
	char line[512], var[512], flag[256];
	snprintf(line, sizeof(line), "%s %s\n", key, value);
	size_t n = (size_t)snprintf(var, sizeof(var), "RINGMQ_");
	for (const char *k = key; *k; k++)
		var[n++] = (char)(*k >= 'a' && *k <= 'z' ? *k - 32 : *k);
	snprintf(var + n, sizeof(var) - n, "=%s", value);
	n = (size_t)snprintf(flag, sizeof(flag), "--");
	for (const char *k = key; *k; k++)
		flag[n++] = *k == '_' ? '-' : *k;
	flag[n] = '\0';
	char *envp[] = { var, NULL };
	char *argv[] = { "ringmq", flag, (char *)value, NULL };
	rmq_config_defaults(&t->file);
	rmq_config_defaults(&t->env);
	rmq_config_defaults(&t->flag);
	t->rc_file =
	    apply_text(&t->file, line, t->err_file, sizeof(t->err_file));
	t->rc_env =
	    rmq_options_load_env(&t->env, envp, t->err_env, sizeof(t->err_env));
	t->rc_flag = rmq_options_load_args(&t->flag, 3, argv, t->err_flag,
	    sizeof(t->err_flag));
}

Test(options, every_documented_default_is_the_built_in_one)
{
	struct rmq_config want, got;
	char line[512], err[1024];
	rmq_config_defaults(&want);
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->def == NULL) {
			/* No default: the value is unset, all zero. */
			for (size_t b = 0; b < o->at.size; b++)
				cr_expect_eq(((const char
						     *)&want)[o->at.offset + b],
				    0, "%s: no default, but set", o->key);
			continue;
		}
		got = want;
		/* Spoil the value first, so that the default must write it. */
		memset((char *)&got + o->at.offset, 0xA5, o->at.size);
		snprintf(line, sizeof(line), "%s %s\n", o->key, o->def);
		cr_expect_eq(apply_text(&got, line, err, sizeof(err)), 0,
		    "%s's default '%s' does not parse: %s", o->key, o->def,
		    err);
		cr_expect(memcmp(&got, &want, sizeof(want)) == 0,
		    "%s's default '%s' is not what rmq_config_defaults sets",
		    o->key, o->def);
	}
}

Test(options, the_rows_are_whole_and_their_names_unique)
{
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		cr_expect(o->help && o->help[0], "%s has no help", o->key);
		cr_expect(rmq_option_find(o->key) == o,
		    "%s: another row answers to it", o->key);
		for (const char *a = o->aliases; a && *a;) {
			char alias[64];
			size_t k = strcspn(a, " ");
			snprintf(alias, sizeof(alias), "%.*s", (int)k, a);
			cr_expect(rmq_option_find(alias) == o,
			    "%s's alias %s answers to another row", o->key,
			    alias);
			a += k + (a[k] == ' ');
		}
		switch (o->type) {
		case RMQ_OPT_REFUSED:
			cr_expect((o->feature == NULL) != (o->why == NULL),
			    "%s: a feature or a reason, one of them", o->key);
			break;
		case RMQ_OPT_ENUM:
			cr_expect(o->names && o->names[0] && o->at.size == 4,
			    "%s", o->key);
			break;
		case RMQ_OPT_INT:
			cr_expect(o->min <= o->max && o->at.size > 0, "%s",
			    o->key);
			break;
		case RMQ_OPT_SPECIAL:
			cr_expect(o->set != NULL, "%s has no setter", o->key);
			break;
		default: break;
		}
		if (o->type != RMQ_OPT_REFUSED)
			cr_expect(o->def || o->unset,
			    "%s: neither a default nor what no value means",
			    o->key);
		/* Its flag finds it, unless it has none. */
		char flag[128], fixed[64];
		int own;
		size_t n = (size_t)snprintf(flag, sizeof(flag), "--");
		for (const char *k = o->key; *k; k++)
			flag[n++] = *k == '_' ? '-' : *k;
		flag[n] = '\0';
		const struct rmq_option *f =
		    rmq_option_find_flag(flag, fixed, sizeof(fixed), &own);
		if (o->bits & RMQ_OPT_NO_FLAG)
			cr_expect(f != o, "%s has a flag it should not", flag);
		else if (strchr(o->key, '*') == NULL)
			cr_expect(f == o, "%s does not find %s", flag, o->key);
	}
}

Test(options, today_s_flags_still_work)
{
	struct rmq_config cfg;
	char err[1024];
	char *argv[] = { "ringmq", "-p", "127.0.0.1:0", "--port", "*:1884",
		"-c", "/nonexistent.conf", "--threads", "2", "--loop", "uv",
		"--max-packet-size", "4096", "--max-queued", "100000",
		"--max-inflight", "8", "--max-connections", "0",
		"--connect-timeout", "1000", "--admin-listener", "none",
		"--shutdown-grace", "1", "--cpu-affinity", "none",
		"--connection-placement", "hash", "--log-format", "json",
		"--log-level", "notice", "-v", NULL };
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	rmq_config_defaults(&cfg);
	cr_assert_eq(rmq_options_load_args(&cfg, argc, argv, err, sizeof(err)),
	    0, "%s", err);
	cr_expect_eq(cfg.nlisteners, 2);
	cr_expect_str_eq(cfg.listeners[0].host, "127.0.0.1");
	cr_expect_eq(cfg.listeners[0].port, 0);
	cr_expect_str_eq(cfg.listeners[1].host, "");
	cr_expect_eq(cfg.listeners[1].port, 1884);
	cr_expect_eq(cfg.threads, 2);
	cr_expect_eq(cfg.loop, RMQ_LOOP_UV);
	cr_expect_eq(cfg.max_packet_size, 4096);
	cr_expect_eq(cfg.max_queued, 100000);
	cr_expect_eq(cfg.max_inflight, 8);
	cr_expect_eq(cfg.max_connections, 0);
	cr_expect_eq(cfg.connect_timeout_ms, 1000);
	cr_expect_eq(cfg.admin.port, 0);
	cr_expect_eq(cfg.shutdown_grace_ms, 1000);
	cr_expect_eq(cfg.cpu_affinity, RMQ_AFFINITY_NONE);
	cr_expect_eq(cfg.placement, RMQ_PLACE_HASH);
	cr_expect_eq(cfg.log_format, RMQ_LOG_JSON);
	cr_expect_eq(cfg.log_level, RMQ_LOG_DEBUG, "-v comes last");
	cr_expect_str_eq(rmq_options_config_file(argc, argv),
	    "/nonexistent.conf");

	/* --key=value, and a flag for every key: aliases included. */
	char *more[] = { "ringmq", "--max-queued-messages=7",
		"--topic-alias-maximum", "9", "--log-dest", "file /tmp/x.log",
		"--verbose", NULL };
	rmq_config_defaults(&cfg);
	cr_assert_eq(rmq_options_load_args(&cfg, 7, more, err, sizeof(err)), 0,
	    "%s", err);
	cr_expect_eq(cfg.max_queued, 7);
	cr_expect_eq(cfg.topic_alias_max, 9);
	cr_expect_eq(cfg.log_dest.to, RMQ_LOG_TO_FILE);
	cr_expect_str_eq(cfg.log_dest.file, "/tmp/x.log");
	cr_expect_eq(cfg.log_level, RMQ_LOG_DEBUG);

	static char *bad[][3] = { { "ringmq", "--threads", NULL },
		{ "ringmq", "--nonsense", "1" }, { "ringmq", "-v=info", NULL },
		{ "ringmq", "--port", NULL }, { "ringmq", "-c", NULL } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = bad[i][2] ? 3 : 2;
		rmq_config_defaults(&cfg);
		cr_expect_neq(rmq_options_load_args(&cfg, n, bad[i], err,
				  sizeof(err)),
		    0, "%s", bad[i][1]);
		cr_expect(strstr(err, "unknown or incomplete argument") != NULL,
		    "%s", err);
	}
}

Test(options, file_environment_and_flags_share_each_row_s_bounds)
{
	struct three t;
	char v[64];
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->type != RMQ_OPT_INT)
			continue;
		/* Both ends are taken, alike. */
		long long ends[] = { o->min, o->max };
		for (int e = 0; e < 2; e++) {
			snprintf(v, sizeof(v), "%lld", ends[e]);
			three_ways(o->key, v, &t);
			cr_expect(t.rc_file == 0 && t.rc_env == 0 &&
				t.rc_flag == 0,
			    "%s %s: %s / %s / %s", o->key, v, t.err_file,
			    t.err_env, t.err_flag);
			cr_expect(!memcmp(&t.file, &t.env, sizeof(t.file)) &&
				!memcmp(&t.file, &t.flag, sizeof(t.file)),
			    "%s %s reads differently", o->key, v);
		}
		/* One past the top is refused by all three, each naming
		 * where the value came from. */
		snprintf(v, sizeof(v), "%lld", o->max + 1);
		three_ways(o->key, v, &t);
		cr_expect(t.rc_file && t.rc_env && t.rc_flag, "%s %s", o->key,
		    v);
		cr_expect(strstr(t.err_file, "t.conf:1: ") == t.err_file, "%s",
		    t.err_file);
		cr_expect(strstr(t.err_env, "environment RINGMQ_") == t.err_env,
		    "%s", t.err_env);
		cr_expect(strncmp(t.err_flag, "--", 2) == 0 &&
			strstr(t.err_flag, " takes a whole number from ") &&
			strstr(t.err_flag, v),
		    "%s", t.err_flag);
	}
	/* Every other row's default reads the same three ways. */
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if (o->def == NULL || o->type == RMQ_OPT_INT)
			continue;
		three_ways(o->key, o->def, &t);
		cr_expect(t.rc_file == 0 && t.rc_env == 0 && t.rc_flag == 0,
		    "%s %s: %s / %s / %s", o->key, o->def, t.err_file,
		    t.err_env, t.err_flag);
		cr_expect(!memcmp(&t.file, &t.env, sizeof(t.file)) &&
			!memcmp(&t.file, &t.flag, sizeof(t.file)),
		    "%s %s reads differently", o->key, o->def);
	}
}

Test(options, errors_name_the_file_and_line_the_variable_or_the_flag)
{
	struct three t;
	three_ways("threads", "zero", &t);
	cr_expect_str_eq(t.err_file,
	    "t.conf:1: threads: 'zero' is not a whole number from 0 to 64");
	cr_expect_str_eq(t.err_env,
	    "environment RINGMQ_THREADS: 'zero' is not a whole number from 0 to 64");
	cr_expect_str_eq(t.err_flag,
	    "--threads takes a whole number from 0 to 64, not 'zero'");
	three_ways("cpu_affinity", "banana", &t);
	cr_expect_str_eq(t.err_file,
	    "t.conf:1: cpu_affinity: 'banana' is not auto, none or a CPU list such as 0-3,8");
	cr_expect_str_eq(t.err_flag,
	    "--cpu-affinity takes auto, none or a CPU list such as 0-3,8, not 'banana'");
	three_ways("auth_plugin", "/usr/lib/auth.so", &t);
	cr_expect_str_eq(t.err_file,
	    "t.conf:1: auth_plugin: not supported yet (not built in this version: authentication)");
	cr_expect_str_eq(t.err_env,
	    "environment RINGMQ_AUTH_PLUGIN: not supported yet (not built in this version: authentication)");
	cr_expect_str_eq(t.err_flag,
	    "--auth-plugin: not supported yet (not built in this version: authentication)");

	struct rmq_config cfg;
	char err[1024];
	rmq_config_defaults(&cfg);
	cr_expect_neq(apply_text(&cfg, "\n\nlistenr 1883\n", err, sizeof(err)),
	    0);
	cr_expect_str_eq(err, "t.conf:3: unknown key 'listenr'");
	char *envp[] = { "RINGMQ_NOPE=1", NULL };
	cr_expect_neq(rmq_options_load_env(&cfg, envp, err, sizeof(err)), 0);
	cr_expect_str_eq(err, "environment RINGMQ_NOPE: unknown key 'nope'");
	char *argv[] = { "ringmq", "-p", "localhost", NULL };
	cr_expect_neq(rmq_options_load_args(&cfg, 3, argv, err, sizeof(err)),
	    0);
	cr_expect_str_eq(err, "-p takes [HOST:]PORT, not 'localhost'");
}

Test(options, defaults_then_file_then_environment_then_flags)
{
	struct rmq_config cfg;
	char err[1024];
	char *envp[] = { "PATH=/bin", "RINGMQ_THREADS=2",
		"RINGMQ_LISTENER=1885", NULL };
	char *argv[] = { "ringmq", "--threads", "1", NULL };
	rmq_config_defaults(&cfg);
	cr_assert_eq(apply_text(&cfg,
			 "threads 3\nlistener 1883\nlistener 1884 ::1\n"
			 "sys_interval 7\n",
			 err, sizeof(err)),
	    0, "%s", err);
	cr_expect_eq(cfg.threads, 3);
	cr_expect_eq(cfg.nlisteners, 2);
	cr_assert_eq(rmq_options_load_env(&cfg, envp, err, sizeof(err)), 0,
	    "%s", err);
	cr_expect_eq(cfg.threads, 2);
	/* A layer's first listener replaces the layers' before it. */
	cr_expect_eq(cfg.nlisteners, 1);
	cr_expect_eq(cfg.listeners[0].port, 1885);
	cr_assert_eq(rmq_options_load_args(&cfg, 3, argv, err, sizeof(err)), 0,
	    "%s", err);
	cr_expect_eq(cfg.threads, 1);
	cr_expect_eq(cfg.sys_interval, 7, "what no later layer sets stays");
}

/* A directory of files, each "KEY VALUE"; its path in dir. */
static void
make_dir(char *dir, size_t len, const char *const (*files)[2], size_t n)
{
	snprintf(dir, len, "/tmp/rmq-test-options-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	for (size_t i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f, "%s", path);
		fputs(files[i][1], f);
		fclose(f);
	}
}

static void
remove_dir(const char *dir, const char *const (*files)[2], size_t n)
{
	char path[512];
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		unlink(path);
	}
	rmdir(dir);
}

static void
seen(void *arg, const char *path)
{
	char *out = arg;
	const char *slash = strrchr(path, '/');
	strcat(out, slash ? slash + 1 : path);
	strcat(out, " ");
}

Test(options, include_dir_reads_conf_files_in_mosquitto_s_order)
{
	static const char *const files[][2] = {
		{ "b.conf", "response_information b\n" },
		{ "B.conf", "response_information B\n" },
		{ "a.conf", "response_information a\n" },
		{ "A.conf", "response_information A\n" },
		{ "01.conf", "response_information 01\nsys_interval 1\n" },
		{ "00.conf", "response_information 00\n" },
		{ "main.conf.off", "response_information off\n" },
		{ "zz.conf", "\n\nmax_qos 3\n" },
		{ "zy.conf", "include_dir /tmp\n" },
	};
	char dir[256], path[512], order[256] = "", text[600], err[1024];
	struct rmq_config cfg;
	/* Without the two bad files: 00 01 A a B b, the last one winning
	 * over the main file's lines before include_dir. */
	make_dir(dir, sizeof(dir), files, 7);
	snprintf(path, sizeof(path), "%s/main.conf.off", dir);
	FILE *f = fopen(path, "w");
	fprintf(f,
	    "sys_interval 9\nresponse_information main\ninclude_dir %s\n", dir);
	fclose(f);
	rmq_config_defaults(&cfg);
	cr_assert_eq(rmq_options_load_file(&cfg, path, seen, order, err,
			 sizeof(err)),
	    0, "%s", err);
	cr_expect_str_eq(order, "00.conf 01.conf A.conf a.conf B.conf b.conf ");
	cr_expect_str_eq(cfg.response_info, "b");
	cr_expect_eq(cfg.sys_interval, 1);
	remove_dir(dir, files, 7);

	/* An error in an included file names that file and its line. */
	make_dir(dir, sizeof(dir), files, 8);
	snprintf(text, sizeof(text), "include_dir %s\n", dir);
	rmq_config_defaults(&cfg);
	cr_expect_neq(apply_text(&cfg, text, err, sizeof(err)), 0);
	cr_expect(strstr(err, "/zz.conf:3: max_qos: '3' is not") != NULL, "%s",
	    err);
	remove_dir(dir, files, 8);

	/* Only the main file includes. */
	make_dir(dir, sizeof(dir), files + 8, 1);
	snprintf(text, sizeof(text), "include_dir %s\n", dir);
	rmq_config_defaults(&cfg);
	cr_expect_neq(apply_text(&cfg, text, err, sizeof(err)), 0);
	cr_expect(
	    strstr(err,
		"/zy.conf:1: include_dir: only the main file may include") !=
		NULL,
	    "%s", err);
	remove_dir(dir, files + 8, 1);

	rmq_config_defaults(&cfg);
	cr_expect_neq(apply_text(&cfg, "include_dir /nonexistent/conf.d\n", err,
			  sizeof(err)),
	    0);
	cr_expect_str_eq(err,
	    "t.conf:1: include_dir: /nonexistent/conf.d: No such file or directory");
}

Test(options, mosquitto_s_operational_keys)
{
	struct rmq_config cfg;
	char err[1024];
	rmq_config_defaults(&cfg);
	cr_assert_eq(
	    apply_text(&cfg,
		"pid_file /run/ringmq dir/ringmq.pid\n"
		"user nobody\n"
		"log_dest file /var/log/ringmq.log\n"
		"log_dest syslog\nlog_dest stdout\n"
		"log_timestamp false\n"
		"log_timestamp_format %Y-%m-%d %H:%M:%S\n"
		"log_facility 5\nlog_type error\nlog_type warning\n"
		"per_listener_settings false\nset_tcp_nodelay true\n"
		"queue_qos0_messages false\nupgrade_outgoing_qos false\n"
		"check_retain_source false\nmemory_limit 0\n"
		"max_inflight_bytes 0\nallow_anonymous true\n"
		"persistence false\nprotocol mqtt\n"
		"max_topic_alias 10\n",
		err, sizeof(err)),
	    0, "%s", err);
	cr_expect_str_eq(cfg.pid_file, "/run/ringmq dir/ringmq.pid");
	cr_expect_str_eq(cfg.user, "nobody");
	cr_expect_eq(cfg.log_dest.to,
	    RMQ_LOG_TO_FILE | RMQ_LOG_TO_SYSLOG | RMQ_LOG_TO_STDOUT,
	    "the first log_dest replaces stderr, the others add");
	cr_expect_str_eq(cfg.log_dest.file, "/var/log/ringmq.log");
	cr_expect_eq(cfg.log_dest.timestamp, 0);
	cr_expect_str_eq(cfg.log_dest.timestamp_format, "%Y-%m-%d %H:%M:%S");
	cr_expect_eq(cfg.log_dest.facility, 6, "local5");
	cr_expect_eq(cfg.log_level, RMQ_LOG_WARNING);
	cr_expect_eq(cfg.topic_alias_max, 10);
	cr_expect_eq(cfg.memory_limit, 0, "Mosquitto's 0: no limit");
	rmq_config_defaults(&cfg);
	cr_expect_eq(cfg.memory_limit, -1, "unset: auto");
	cr_expect_eq(apply_text(&cfg, "memory_limit 536870912\n", err,
			 sizeof(err)),
	    0, "%s", err);
	cr_expect_eq(cfg.memory_limit, 536870912);
	cr_expect_eq(apply_text(&cfg, "memory_limit auto\n", err, sizeof(err)),
	    0, "%s", err);
	cr_expect_eq(cfg.memory_limit, -1);
	rmq_config_defaults(&cfg);
	cr_expect_eq(apply_text(&cfg, "log_dest none\n", err, sizeof(err)), 0);
	cr_expect_eq(cfg.log_dest.to, 0);

	/* Refused, each with its reason; never ignored. */
	static const char *const refused[][2] = {
		{ "log_dest topic",
		    "not supported yet (not built in this version: log messages on $SYS/broker/log topics)" },
		{ "log_dest file", "file needs a path" },
		{ "log_dest stderr x", "only file takes a path" },
		{ "log_dest file /a\nlog_dest file /b",
		    "only one file destination" },
		{ "log_dest screen",
		    "'screen' is not stderr, stdout, file PATH, syslog or none" },
		{ "log_facility 8", "'8' is not a whole number from 0 to 7" },
		{ "per_listener_settings true",
		    "not supported yet (not built in this version: settings per listener (listener blocks))" },
		{ "set_tcp_nodelay false",
		    "only true (client sockets always have TCP_NODELAY set)" },
		{ "check_retain_source maybe", "only true or false" },
		{ "queue_qos0_messages true", "not supported yet" },
		{ "upgrade_outgoing_qos true", "not supported yet" },
		{ "memory_limit 1000",
		    "'1000' is not auto, 0 (no limit) or a number of bytes from 1048576" },
		{ "memory_limit 1G", "is not auto, 0" },
		{ "max_inflight_bytes 100", "not supported yet" },
		{ "clientid_prefixes secure-", "not supported yet" },
		{ "auto_id_prefix auto-", "only ringmq-" },
		{ "tls_engine pkcs11",
		    "not supported yet (not built in this version: OpenSSL engines)" },
		{ "tls_version tlsv1.1", "'tlsv1.1' is not" },
		{ "auth_opt_db_host x",
		    "not supported yet (not built in this version: authentication)" },
		{ "bridge_cafile x",
		    "not supported yet (not built in this version: bridging)" },
		{ "persistence_file mosquitto.db",
		    "not supported yet (not built in this version: persistence)" },
		{ "durability sometimes",
		    "always, interval MS (1-3600000) or off" },
		{ "durability interval 0",
		    "always, interval MS (1-3600000) or off" },
		{ "autosave_interval 3601",
		    "a number of seconds from 0 to 3600" },
		{ "protocol http", "'http' is not" },
		{ "websockets_path mqtt", "a path beginning with /" },
		{ "websockets_path /a?b", "a path beginning with /" },
		{ "websockets_headers_size 100", "from 512 to 65535" },
		{ "websockets_log_level 255", "only 0" },
		{ "max_packet_size 19",
		    "'19' is not a whole number from 20 to 268435460, or 0 for no limit" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "%s\n", refused[i][0]);
		rmq_config_defaults(&cfg);
		cr_expect_neq(apply_text(&cfg, text, err, sizeof(err)), 0, "%s",
		    refused[i][0]);
		cr_expect(strstr(err, refused[i][1]) != NULL, "%s: %s",
		    refused[i][0], err);
	}
}

/* A value for the row other than the fake node's, or NULL. */
static const char *
other_value(const struct rmq_option *o, char *buf, size_t len)
{
	static const struct {
		const char *key, *value;
	} special[] = { { "listener", "1 127.0.0.1" }, { "port", "1" },
		{ "bind_address", "127.0.0.2" }, { "cpu_affinity", "0" },
		{ "admin_listener", "127.0.0.1:1" }, { "log_type", "debug" },
		{ "log_dest", "stdout" }, { "log_facility", "3" },
		/* The test node keeps memory only. */
		{ "persistence", "true" } };
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (strcmp(o->key, special[i].key) == 0)
			return special[i].value;
	switch (o->type) {
	case RMQ_OPT_BOOL:
		return o->def && strcmp(o->def, "true") == 0 ? "false" : "true";
	case RMQ_OPT_INT:
		snprintf(buf, len, "%lld",
		    o->def && atoll(o->def) == o->min ? o->max : o->min);
		return buf;
	case RMQ_OPT_ENUM:
		return o->def && strcmp(o->def, o->names[0]) == 0 ? o->names[1]
								  : o->names[0];
	case RMQ_OPT_STRING: return "x";
	default: return NULL;
	}
}

Test(options, a_reload_applies_each_row_as_its_table_row_says)
{
	char buf[64], line[256], err[1024];
	rmq_test_node_start(1, NULL);
	struct rmq_broker *b = &rmq_test_node;
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		const char *v = other_value(o, buf, sizeof(buf));
		if (v == NULL)
			continue;
		struct rmq_config next = b->cfg;
		snprintf(line, sizeof(line), "%s %s\n", o->key, v);
		cr_assert_eq(apply_text(&next, line, err, sizeof(err)), 0, "%s",
		    err);
		const char *restart = NULL;
		rmq_broker_reload(b, &next, &restart);
		cr_assert_neq(rmq_fake_settle(), 0);
		/* port and bind_address are older spellings of listener, and
		 * a listener's own settings are part of it. */
		const struct rmq_option *named = o;
		if (strcmp(o->key, "port") == 0 ||
		    strcmp(o->key, "bind_address") == 0 ||
		    (o->bits & RMQ_OPT_PER_LISTENER))
			named = rmq_option_find("listener");
		if (o->reload == RMQ_RELOAD_RESTART &&
		    !(o->bits & RMQ_OPT_PROCESS)) {
			cr_expect(restart != NULL &&
				rmq_option_find(restart) == named,
			    "%s: the table says restart, the node says '%s'",
			    o->key, restart ? restart : "(applied)");
		} else {
			cr_expect(restart == NULL,
			    "%s: the table says %s, the node says restart (%s)",
			    o->key,
			    o->reload == RMQ_RELOAD_RESTART ? "main applies it"
							    : "applied",
			    restart);
		}
	}
	rmq_log_set(RMQ_LOG_WARNING, RMQ_LOG_TEXT);
	rmq_test_node_stop();
}

/* The text of docs/configuration.md, or a failed test. */
static char *
read_docs(void)
{
	const char *root = getenv("RMQ_SOURCE_ROOT");
	char path[1024];
	/* Meson sets it; run by hand from the tree's root, without it. */
	snprintf(path, sizeof(path), "%s%sdocs/configuration.md",
	    root ? root : "", root ? "/" : "");
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	static char text[1 << 18];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* The lines between the docs' markers of a generated block. */
static const char *
docs_block(const char *text, const char *name, size_t *len)
{
	char begin[128], end[128];
	snprintf(begin, sizeof(begin), "<!-- begin generated %s -->\n", name);
	snprintf(end, sizeof(end), "<!-- end generated %s -->\n", name);
	const char *b = strstr(text, begin);
	cr_assert_not_null(b, "docs/configuration.md has no '%.*s' line",
	    (int)strlen(begin) - 1, begin);
	b += strlen(begin);
	const char *e = strstr(b, end);
	cr_assert_not_null(e, "docs/configuration.md: no end of %s", name);
	*len = (size_t)(e - b);
	return b;
}

static int
listed(const char *const *keys, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], k) == 0)
			return 1;
	return 0;
}

Test(options, docs_list_exactly_the_table_s_keys)
{
	const char *text = read_docs();
	static char names[512][64];
	const char *docs[512];
	size_t ndocs = 0;
	/* The keys the docs' tables name: the backquoted words of the
	 * first cell of each row. */
	static const char *const blocks[] = { "keys", "refused" };
	for (size_t bi = 0; bi < 2; bi++) {
		size_t len;
		const char *b = docs_block(text, blocks[bi], &len);
		for (const char *l = b; l < b + len;) {
			const char *nl = memchr(l, '\n', (size_t)(b + len - l));
			const char *cell = strstr(l, " | ");
			if (strncmp(l, "| `", 3) == 0 && cell && cell < nl) {
				for (const char *p = l; p < cell;) {
					const char *q =
					    memchr(p, '`', (size_t)(cell - p));
					if (q == NULL)
						break;
					const char *r = memchr(q + 1, '`',
					    (size_t)(cell - q - 1));
					cr_assert_not_null(r);
					snprintf(names[ndocs], sizeof(names[0]),
					    "%.*s", (int)(r - q - 1), q + 1);
					docs[ndocs] = names[ndocs];
					ndocs++;
					p = r + 1;
				}
			}
			l = nl ? nl + 1 : b + len;
		}
	}
	/* Both ways: a key the table holds and the docs lack, and a key
	 * the docs name and the table lacks. */
	for (size_t i = 0; i < rmq_options_count; i++)
		cr_expect(listed(docs, ndocs, rmq_options[i].key),
		    "'%s' is in the option table but not in docs/configuration.md (scripts/docs-config writes it)",
		    rmq_options[i].key);
	for (size_t i = 0; i < ndocs; i++) {
		const struct rmq_option *o = rmq_option_find(docs[i]);
		cr_expect(o != NULL &&
			(strcmp(o->key, docs[i]) == 0 ||
			    strstr(o->aliases ? o->aliases : "", docs[i])),
		    "docs/configuration.md lists '%s', which the option table does not hold",
		    docs[i]);
	}
}

Test(options, docs_tables_are_what_the_table_writes)
{
	const char *text = read_docs();
	for (size_t i = 0; rmq_options_markdown_blocks[i]; i++) {
		char *gen = NULL;
		size_t genlen = 0, len;
		FILE *f = open_memstream(&gen, &genlen);
		cr_assert_eq(rmq_options_markdown(f,
				 rmq_options_markdown_blocks[i]),
		    0);
		fclose(f);
		const char *doc =
		    docs_block(text, rmq_options_markdown_blocks[i], &len);
		cr_expect(len == genlen && memcmp(doc, gen, len) == 0,
		    "docs/configuration.md's %s table is not what the option table writes: run scripts/docs-config",
		    rmq_options_markdown_blocks[i]);
		free(gen);
	}
	cr_expect_eq(rmq_options_markdown(stdout, "nope"), -1);
}

/* A listener's TLS keys set the listener of the latest `listener` (or
 * `port`) line, as Mosquitto's listener blocks do; before any, the first
 * listener. */
Test(options, tls_keys_belong_to_the_listener_above_them)
{
	struct rmq_config cfg;
	char err[512];
	rmq_config_defaults(&cfg);
	const char *text = "listener 1883 127.0.0.1\n"
			   "listener 8883\n"
			   "certfile /s.pem\n"
			   "keyfile /s.key\n"
			   "require_certificate true\n"
			   "tls_version tlsv1.3\n"
			   "listener 8884\n"
			   "use_identity_as_username true\n";
	cr_assert_eq(apply_text(&cfg, text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.nlisteners, 3);
	cr_assert_str_empty(cfg.listeners[0].tls.certfile);
	cr_assert_str_eq(cfg.listeners[1].tls.certfile, "/s.pem");
	cr_assert_str_eq(cfg.listeners[1].tls.keyfile, "/s.key");
	cr_assert_eq(cfg.listeners[1].tls.require_certificate, 1);
	cr_assert_eq(cfg.listeners[1].tls.min_version, RMQ_TLS_V13);
	cr_assert_eq(cfg.listeners[1].tls.use_identity_as_username, 0);
	cr_assert_eq(cfg.listeners[2].tls.use_identity_as_username, 1);
	cr_assert_str_empty(cfg.listeners[2].tls.certfile);

	/* Before the first listener line, they would set the listener
	 * that line replaces: refused, with where to put them. */
	rmq_config_defaults(&cfg);
	cr_assert_neq(apply_text(&cfg,
			  "certfile /a.pem\nkeyfile /a.key\nlistener 8883\n",
			  err, sizeof(err)),
	    0);
	cr_assert(strstr(err,
		      "t.conf:3: listener: `keyfile` above this line") != NULL,
	    "%s", err);
	/* Mosquitto's older `port` sets the listener they were for. */
	rmq_config_defaults(&cfg);
	cr_assert_eq(apply_text(&cfg,
			 "certfile /p.pem\nkeyfile /p.key\nport 8883\n", err,
			 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(cfg.nlisteners, 1);
	cr_assert_eq(cfg.listeners[0].port, 8883);
	cr_assert_str_eq(cfg.listeners[0].tls.certfile, "/p.pem");

	/* With no listener line, the built-in listener takes them. */
	rmq_config_defaults(&cfg);
	cr_assert_eq(apply_text(&cfg, "certfile /d.pem\nkeyfile /d.key\n", err,
			 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(cfg.nlisteners, 1);
	cr_assert_str_eq(cfg.listeners[0].tls.certfile, "/d.pem");
}

Test(options, websocket_keys_belong_to_the_listener_above_them)
{
	struct rmq_config cfg;
	char err[512];
	rmq_config_defaults(&cfg);
	const char *text = "listener 1883 127.0.0.1\n"
			   "listener 8080\n"
			   "protocol websockets\n"
			   "websockets_path /mqtt\n"
			   "websockets_headers_size 2048\n"
			   "listener 8443\n"
			   "protocol websockets\n"
			   "certfile /s.pem\n"
			   "keyfile /s.key\n";
	cr_assert_eq(apply_text(&cfg, text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.nlisteners, 3);
	cr_assert_eq(cfg.listeners[0].protocol, RMQ_PROTO_MQTT);
	cr_assert_eq(cfg.listeners[1].protocol, RMQ_PROTO_WEBSOCKETS);
	cr_assert_str_eq(cfg.listeners[1].ws.path, "/mqtt");
	cr_assert_eq(cfg.listeners[1].ws.headers_max, 2048);
	cr_assert_eq(cfg.listeners[2].protocol, RMQ_PROTO_WEBSOCKETS);
	cr_assert_str_empty(cfg.listeners[2].ws.path);
	cr_assert_eq(cfg.listeners[2].ws.headers_max, 0);
	cr_assert_str_eq(cfg.listeners[2].tls.certfile, "/s.pem");

	/* Mosquitto's `port` keeps every listener key above it. */
	rmq_config_defaults(&cfg);
	cr_assert_eq(apply_text(&cfg, "protocol websockets\nport 9001\n", err,
			 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(cfg.nlisteners, 1);
	cr_assert_eq(cfg.listeners[0].port, 9001);
	cr_assert_eq(cfg.listeners[0].protocol, RMQ_PROTO_WEBSOCKETS);
}

/* Persistence: on by default in ./data with `always`; Mosquitto's
 * `persistence true` alone gets `always`, its autosave_interval the
 * interval policy in seconds (0, its save at exit only, the longest). */
Test(options, durability_and_mosquitto_s_persistence_keys)
{
	struct rmq_config cfg;
	char err[1024];
	rmq_config_defaults(&cfg);
	cr_assert_eq(cfg.persistence, 1);
	cr_assert_str_eq(cfg.persistence_location, "./data");
	cr_assert_eq(cfg.durability, RMQ_DURABLE_ALWAYS);
	static const struct {
		const char *text;
		int on;
		enum rmq_durability d;
		uint32_t ms;
	} cases[] = {
		{ "persistence true\n", 1, RMQ_DURABLE_ALWAYS, 0 },
		{ "persistence false\n", 0, RMQ_DURABLE_ALWAYS, 0 },
		{ "durability off\n", 0, RMQ_DURABLE_ALWAYS, 0 },
		{ "durability interval 100\n", 1, RMQ_DURABLE_INTERVAL, 100 },
		{ "persistence true\nautosave_interval 1800\n", 1,
		    RMQ_DURABLE_INTERVAL, 1800000 },
		{ "autosave_interval 0\n", 1, RMQ_DURABLE_INTERVAL, 3600000 },
		{ "autosave_interval 5\ndurability always\n", 1,
		    RMQ_DURABLE_ALWAYS, 5000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rmq_config_defaults(&cfg);
		cr_assert_eq(apply_text(&cfg, cases[i].text, err, sizeof(err)),
		    0, "%s: %s", cases[i].text, err);
		cr_expect_eq(cfg.persistence, cases[i].on, "%s", cases[i].text);
		if (!cases[i].on)
			continue;
		cr_expect_eq(cfg.durability, cases[i].d, "%s", cases[i].text);
		if (cases[i].d == RMQ_DURABLE_INTERVAL)
			cr_expect_eq(cfg.durability_interval_ms, cases[i].ms,
			    "%s", cases[i].text);
	}
	rmq_config_defaults(&cfg);
	cr_assert_eq(apply_text(&cfg,
			 "persistence_location /var/lib/mosquitto/\n", err,
			 sizeof(err)),
	    0);
	cr_expect_str_eq(cfg.persistence_location, "/var/lib/mosquitto/");
}
