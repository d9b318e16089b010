/* bench/main.c: ringmq-bench's entry point: the usage text, the
 * subcommands (pub, sub, conn, run SCENARIO), and the exit status: 0 when
 * the run completed as asked, 1 when it stopped early, 2 for a bad
 * command line.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "run.h"
#include "scenario.h"

#include "rmq_config.h"

static void
bench_usage(FILE *f)
{
	fputs(
	    "usage: ringmq-bench pub|sub|conn [options]\n"
	    "       ringmq-bench run p2p|fanout|fanin|sharedsub|conn [options]\n"
	    "\n"
	    "emqtt-bench's flags:\n"
	    "  -h, --host HOST[,HOST...]  broker(s); clients are spread over them (127.0.0.1)\n"
	    "  -p, --port PORT            (1883)\n"
	    "  -c, --count N              clients (pub, sub, conn); run: --clients N\n"
	    "  -t, --topic TOPIC          topic (pub) or filter (sub); %i is the client index\n"
	    "  -q, --qos 0|1|2            (0)\n"
	    "  -s, --size BYTES           payload size, at least 20 (256)\n"
	    "  -I, --interval_of_msg MS   per publisher; 0 = unlimited, windowed (pub 1000, run 0)\n"
	    "  -i, --interval MS          between connection starts (pub/sub/conn 10, run 0)\n"
	    "  -V, --version 3|4|5        MQTT 3.1, 3.1.1 or 5.0 (5)\n"
	    "  -u, --username U  -P, --password P\n"
	    "  -k, --keepalive S          (60)\n"
	    "  -L, --limit N              messages per publisher, then stop\n"
	    "\n"
	    "run and measurement:\n"
	    "  --clients N                run: pairs (p2p), subscribers (fanout), publishers (fanin, sharedsub), connections (conn) (100)\n"
	    "  --pubs N, --subs N         override the scenario's counts\n"
	    "  --filter F                 subscribers' filter (run)\n"
	    "  --group NAME               $share group of sharedsub (bench)\n"
	    "  --arrival even|random|aligned  when, within -I, each publisher sends (even):\n"
	    "                             spread out, each its own seeded offset, or all at once\n"
	    "  --seed N                   for --arrival random (1)\n"
	    "  --duration S               measured window (10)\n"
	    "  --warmup S                 before the window (run 1, else 0)\n"
	    "  --drain S                  wait for messages in flight after it (5)\n"
	    "  --inflight N               unacknowledged QoS 1/2 publishes, and with -I 0 messages\n"
	    "                             not yet received, per publisher (100; --direct 1000)\n"
	    "  --connect-rate N           connections per second (sets -i)\n"
	    "  --connect-timeout S        per connection, up to SUBACK (10)\n"
	    "  --ifaddr A[,A...]          source addresses (127.0.0.x) to pass 64k connections\n"
	    "  -T, --threads N            loops (one per CPU)\n"
	    "  --cpu-affinity auto|none   pin loop i to the i-th allowed CPU (none)\n"
	    "  --apart                    publisher k on another loop than subscriber k\n"
	    "  --hosts-apart              publisher k on the host after subscriber k's (p2p across cluster nodes)\n"
	    "  --all-addresses            a host is every address its name resolves to, not its first\n"
	    "                             (a headless Service: one per pod); with --hosts-apart, across pods\n"
	    "  --direct[=unix|tcp]        p2p with no broker: the tool's own ceiling\n"
	    "  --broker-pid PID           sample the broker's CPU and RSS\n"
	    "  --json FILE|-              append one JSON object per run\n"
	    "  --shard I/N                run p2p or conn: this process is shard I of N\n"
	    "                             of one load, with clients [I*n/N, (I+1)*n/N);\n"
	    "                             bench/merge adds the shards' JSON into one report\n"
	    "  --quiet                    no progress or summary\n"
	    "  -S, --tls                  MQTT over TLS (use the broker's TLS port)\n"
	    "  --cacert FILE              verify the server against this CA (else no verification)\n"
	    "  --cert FILE, --key FILE    client certificate and key (PEM)\n"
	    "  --tls-resume               resume TLS sessions: each loop offers the last ticket it got\n"
	    "  --retain                   publish retained: each publisher's topic keeps its last message\n"
	    "  --persistent               subscribers keep their sessions (clean session 0; 5.0: Session Expiry 3600 s)\n"
	    "  --ws                       MQTT over WebSocket (with --tls: secure WebSocket)\n"
	    "  --ws-path PATH             the upgrade's path (/mqtt)\n"
	    "  --help, --tool-version\n",
	    f);
}

int
main(int argc, char **argv)
{
	struct rmq_bench_cfg cfg;
	char err[512];
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		bench_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--tool-version") == 0) {
		printf("ringmq-bench %s\n", RMQ_VERSION);
		return 0;
	}
	if (rmq_bench_cfg_parse(&cfg, argc - 1, argv + 1, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "ringmq-bench: %s (see --help)\n", err);
		return 2;
	}
	if (cfg.help) {
		bench_usage(stdout);
		return 0;
	}
	if (cfg.show_version) {
		printf("ringmq-bench %s\n", RMQ_VERSION);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);

	struct rmq_bench_result *res = calloc(1, sizeof(*res));
	if (res == NULL) {
		fprintf(stderr, "ringmq-bench: out of memory\n");
		return 1;
	}
	int rc = rmq_bench_run_exec(&cfg, res);
	FILE *out = rmq_bench_report_stream(&cfg);
	if (!cfg.quiet)
		rmq_bench_report_summary(out, &cfg, res);
	if (cfg.json) {
		FILE *jf =
		    strcmp(cfg.json, "-") == 0 ? stdout : fopen(cfg.json, "a");
		if (jf == NULL) {
			fprintf(stderr, "ringmq-bench: --json %s: %s\n",
			    cfg.json, strerror(errno));
			rc = rc ? rc : -EIO;
		} else {
			rmq_bench_report_json(jf, &cfg, res);
			if (jf != stdout)
				fclose(jf);
		}
	}
	if (rc != 0)
		fprintf(stderr, "ringmq-bench: %s\n",
		    res->error[0] ? res->error : strerror(-rc));
	free(res);
	return rc == 0 ? 0 : 1;
}
