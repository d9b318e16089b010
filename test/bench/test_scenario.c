/* test/bench/test_scenario.c: bench/scenario.c: the command line
 * (emqtt-bench's flags and ours), the scenario defaults, topic templates
 * and the plan's receiver counts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scenario.h"

static char line[1024];
static char *args[64];
static char err[256];
static struct rmq_bench_cfg cfg;

/* Split a command line on spaces into writable argv strings (the parser
 * keeps pointers into them and splits comma lists in place). */
static int
parse(const char *cmd)
{
	int n = 0;
	snprintf(line, sizeof(line), "%s", cmd);
	for (char *t = strtok(line, " "); t && n < 63; t = strtok(NULL, " "))
		args[n++] = t;
	err[0] = '\0';
	return rmq_bench_cfg_parse(&cfg, n, args, err, sizeof(err));
}

Test(cfg, emqtt_bench_pub_flags)
{
	cr_assert_eq(parse("pub -h 127.0.0.2 -p 1884 -c 10 -t t/%i -q 1 -s 100 "
			   "-I 5 -i 2 --duration 3 --json - --broker-pid 42 "
			   "-V 4"),
	    0, "%s", err);
	cr_assert_eq(cfg.mode, RMQ_BENCH_PUB);
	cr_assert_eq(cfg.nhosts, 1);
	cr_assert_str_eq(cfg.hosts[0], "127.0.0.2");
	cr_assert_eq(cfg.port, 1884);
	cr_assert_eq(cfg.clients, 10);
	cr_assert_str_eq(cfg.topic, "t/%i");
	cr_assert_eq(cfg.qos, 1);
	cr_assert_eq(cfg.size, 100);
	cr_assert_float_eq(cfg.interval_ms, 5, 1e-9);
	cr_assert_float_eq(cfg.conn_interval_ms, 2, 1e-9);
	cr_assert_float_eq(cfg.duration_s, 3, 1e-9);
	cr_assert_str_eq(cfg.json, "-");
	cr_assert_eq(cfg.broker_pid, 42);
	cr_assert_eq(cfg.version, 4);
}

Test(cfg, pub_defaults_follow_emqtt_bench)
{
	cr_assert_eq(parse("pub -t x"), 0, "%s", err);
	cr_assert_float_eq(cfg.interval_ms, 1000, 1e-9);
	cr_assert_float_eq(cfg.conn_interval_ms, 10, 1e-9);
	cr_assert_eq(cfg.port, 1883);
	cr_assert_str_eq(cfg.hosts[0], "127.0.0.1");
	cr_assert_eq(cfg.size, 256);
	cr_assert_eq(cfg.version, 5);
}

Test(cfg, sub_topic_is_the_filter)
{
	cr_assert_eq(parse("sub -t a/+/c -c 3"), 0, "%s", err);
	cr_assert_str_eq(cfg.filter, "a/+/c");
	cr_assert_eq(cfg.clients, 3);
	cr_assert_eq(parse("sub -c 3"), -EINVAL);
	cr_assert(strstr(err, "-t") != NULL, "%s", err);
}

Test(cfg, run_scenario_defaults)
{
	cr_assert_eq(parse("run p2p -h localhost -p 1883"), 0, "%s", err);
	cr_assert_eq(cfg.mode, RMQ_BENCH_RUN);
	cr_assert_eq(cfg.scenario, RMQ_SCN_P2P);
	cr_assert_eq(cfg.clients, 100);
	cr_assert_float_eq(cfg.interval_ms, 0, 1e-9);
	cr_assert_str_eq(cfg.topic, "bench/p2p/%i");
	cr_assert_eq(parse("run sharedsub --clients 7 -q 2 -s 64 --duration 2 "
			   "--json out.json"),
	    0, "%s", err);
	cr_assert_eq(cfg.scenario, RMQ_SCN_SHAREDSUB);
	cr_assert_eq(cfg.clients, 7);
	cr_assert_eq(cfg.qos, 2);
	cr_assert_str_eq(cfg.json, "out.json");
	cr_assert_eq(parse("run fan-in"), 0, "%s", err);
	cr_assert_eq(cfg.scenario, RMQ_SCN_FANIN);
}

Test(cfg, several_hosts_and_sources)
{
	cr_assert_eq(parse("run p2p -h 127.0.0.1,127.0.0.2 -h 127.0.0.3 "
			   "--ifaddr 127.0.0.10,127.0.0.11"),
	    0, "%s", err);
	cr_assert_eq(cfg.nhosts, 3);
	cr_assert_str_eq(cfg.hosts[1], "127.0.0.2");
	cr_assert_str_eq(cfg.hosts[2], "127.0.0.3");
	cr_assert_eq(cfg.nsrc, 2);
	cr_assert_str_eq(cfg.src[1], "127.0.0.11");
}

Test(cfg, long_options_with_equals_and_rates)
{
	cr_assert_eq(parse("run conn --clients=500 --connect-rate=250 "
			   "--warmup=0.5 --threads=3 --inflight 64 "
			   "--direct=tcp"),
	    -EINVAL);
	cr_assert(strstr(err, "p2p") != NULL, "%s", err);
	cr_assert_eq(parse("run conn --clients=500 --connect-rate=250 "
			   "--warmup=0.5 --threads=3 --inflight 64"),
	    0, "%s", err);
	cr_assert_eq(cfg.clients, 500);
	cr_assert_float_eq(cfg.conn_interval_ms, 4, 1e-9);
	cr_assert_float_eq(cfg.warmup_s, 0.5, 1e-9);
	cr_assert_eq(cfg.threads, 3);
	cr_assert_eq(cfg.inflight, 64);
	cr_assert_eq(parse("run p2p --direct"), 0, "%s", err);
	cr_assert_eq(cfg.direct, RMQ_DIRECT_UNIX);
	cr_assert_eq(parse("run p2p --direct=tcp"), 0, "%s", err);
	cr_assert_eq(cfg.direct, RMQ_DIRECT_TCP);
}

Test(cfg, arrival_pattern)
{
	cr_assert_eq(parse("run p2p -I 10"), 0, "%s", err);
	cr_assert_eq(cfg.arrival, RMQ_ARRIVAL_EVEN);
	cr_assert_eq(cfg.arrival_seed, 1);
	cr_assert_eq(parse("run p2p -I 10 --arrival random --seed 7"), 0, "%s",
	    err);
	cr_assert_eq(cfg.arrival, RMQ_ARRIVAL_RANDOM);
	cr_assert_eq(cfg.arrival_seed, 7);
	cr_assert_eq(parse("run p2p --arrival=aligned"), 0, "%s", err);
	cr_assert_eq(cfg.arrival, RMQ_ARRIVAL_ALIGNED);
	cr_assert_eq(parse("run p2p --arrival bursty"), -EINVAL);
	cr_assert(strstr(err, "bursty") != NULL && strstr(err, "aligned"), "%s",
	    err);
	cr_assert_eq(parse("run p2p --seed -1"), -EINVAL);
}

Test(cfg, loops_pinned_and_pairs_apart)
{
	cr_assert_eq(parse("run p2p"), 0, "%s", err);
	cr_assert_eq(cfg.pin, 0);
	cr_assert_eq(cfg.apart, 0);
	cr_assert_eq(parse("run p2p --cpu-affinity auto --apart"), 0, "%s",
	    err);
	cr_assert_eq(cfg.pin, 1);
	cr_assert_eq(cfg.apart, 1);
	cr_assert_eq(parse("run p2p --cpu-affinity=none"), 0, "%s", err);
	cr_assert_eq(cfg.pin, 0);
	cr_assert_eq(parse("run p2p --cpu-affinity 0,1"), -EINVAL);
	cr_assert(strstr(err, "'0,1'") && strstr(err, "auto"), "%s", err);
	cr_assert_eq(parse("run p2p --apart -T 1"), -EINVAL);
	cr_assert(strstr(err, "-T 2"), "%s", err);
	cr_assert_eq(parse("run p2p --apart --direct"), -EINVAL);
	cr_assert(strstr(err, "--direct"), "%s", err);
}

/* Every publisher of `npubs` is taken by exactly one of `nloops` loops,
 * and with --apart none by the loop that has its subscriber. */
static void
check_dealt(uint32_t npubs, unsigned nloops, int apart)
{
	unsigned taken[64] = { 0 };
	uint32_t sum = 0;
	for (unsigned id = 0; id < nloops; id++) {
		uint32_t first = rmq_bench_loop_first_pub(id, nloops, apart);
		uint32_t n = rmq_bench_dealt(npubs, first, nloops);
		sum += n;
		for (uint32_t j = 0; j < n; j++) {
			uint32_t k = first + j * nloops;
			cr_assert_lt(k, npubs, "loop %u of %u", id, nloops);
			taken[k]++;
			/* Subscriber k is on loop k % nloops. */
			if (apart)
				cr_assert_neq(k % nloops, id, "pub %u", k);
			else
				cr_assert_eq(k % nloops, id, "pub %u", k);
		}
	}
	cr_assert_eq(sum, npubs, "%u pubs, %u loops", npubs, nloops);
	for (uint32_t k = 0; k < npubs; k++)
		cr_assert_eq(taken[k], 1, "pub %u of %u", k, npubs);
}

Test(plan, publishers_dealt_to_loops_with_or_without_apart)
{
	for (uint32_t npubs = 1; npubs <= 9; npubs++)
		for (unsigned nloops = 1; nloops <= 4; nloops++) {
			check_dealt(npubs, nloops, 0);
			if (nloops > 1)
				check_dealt(npubs, nloops, 1);
		}
	cr_assert_eq(rmq_bench_loop_first_pub(0, 2, 1), 1);
	cr_assert_eq(rmq_bench_loop_first_pub(1, 2, 1), 0);
}

Test(plan, pinned_loops_go_round_the_allowed_cpus)
{
	int cpus[] = { 2, 5, 7 };
	cr_assert_eq(rmq_bench_loop_cpu(0, cpus, 3), 2);
	cr_assert_eq(rmq_bench_loop_cpu(2, cpus, 3), 7);
	cr_assert_eq(rmq_bench_loop_cpu(4, cpus, 3), 5);
	cr_assert_eq(rmq_bench_loop_cpu(0, cpus, 0), -1);
}

Test(cfg, errors_say_what_is_wrong)
{
	cr_assert_eq(parse("run nosuch"), -EINVAL);
	cr_assert(strstr(err, "nosuch") != NULL, "%s", err);
	cr_assert_eq(parse("run"), -EINVAL);
	cr_assert_eq(parse("bogus"), -EINVAL);
	cr_assert_eq(parse("run p2p -V 6"), -EINVAL);
	cr_assert(strstr(err, "-V") != NULL, "%s", err);
	cr_assert_eq(parse("run p2p -q 3"), -EINVAL);
	cr_assert_eq(parse("run p2p -p 0"), -EINVAL);
	cr_assert_eq(parse("run p2p -c ten"), -EINVAL);
	cr_assert_eq(parse("run p2p --frobnicate"), -EINVAL);
	cr_assert(strstr(err, "--frobnicate") != NULL, "%s", err);
	cr_assert_eq(parse("run p2p -p"), -EINVAL);
	cr_assert(strstr(err, "needs a value") != NULL, "%s", err);
	cr_assert_eq(parse("run p2p -s 10"), -EINVAL);
	cr_assert(strstr(err, "stamp") != NULL, "%s", err);
	cr_assert_eq(parse("run p2p --tls --direct"), -EINVAL);
	cr_assert(strstr(err, "--direct") != NULL, "%s", err);
	cr_assert_eq(parse("run p2p --duration 0"), -EINVAL);
}

Test(cfg, tls_options)
{
	cr_assert_eq(parse("run p2p --tls -p 8883"), 0, "%s", err);
	cr_assert(cfg.tls);
	cr_assert_null(cfg.tls_cacert);
	/* a CA file or a client certificate implies TLS */
	cr_assert_eq(parse("pub -t x --cacert ca.pem --certfile c.pem "
			   "--keyfile k.pem"),
	    0, "%s", err);
	cr_assert(cfg.tls);
	cr_assert_str_eq(cfg.tls_cacert, "ca.pem");
	cr_assert_str_eq(cfg.tls_cert, "c.pem");
	cr_assert_str_eq(cfg.tls_key, "k.pem");
}

Test(cfg, help_is_not_the_host)
{
	cr_assert_eq(parse("run p2p --help"), 0, "%s", err);
	cr_assert(cfg.help);
	cr_assert_eq(parse("pub -h --help -t x"), 0, "%s", err);
	cr_assert_str_eq(cfg.hosts[0], "--help");
	cr_assert(!cfg.help);
}

Test(topic, expand_templates)
{
	char buf[64];
	cr_assert_eq(rmq_bench_topic_expand("a/%i/b", 7, buf, sizeof(buf)), 5);
	cr_assert_str_eq(buf, "a/7/b");
	cr_assert_eq(rmq_bench_topic_expand("%i%i", 12, buf, sizeof(buf)), 4);
	cr_assert_str_eq(buf, "1212");
	cr_assert_eq(rmq_bench_topic_expand("100%%/x", 1, buf, sizeof(buf)), 6);
	cr_assert_str_eq(buf, "100%/x");
	cr_assert_eq(rmq_bench_topic_expand("plain", 3, buf, sizeof(buf)), 5);
	cr_assert_str_eq(buf, "plain");
	cr_assert_eq(rmq_bench_topic_expand("bad%x", 1, buf, sizeof(buf)),
	    -EINVAL);
	cr_assert_eq(rmq_bench_topic_expand("t/%i", 123456, buf, 6), -ENOBUFS);
	cr_assert_eq(rmq_bench_topic_expand("t/%i", 1234, buf, 7), 6);
}

static struct rmq_bench_plan plan;

static void
build(const char *cmd)
{
	cr_assert_eq(parse(cmd), 0, "%s", err);
	cr_assert_eq(rmq_bench_plan_build(&plan, &cfg, err, sizeof(err)), 0,
	    "%s", err);
}

Test(plan, p2p_pairs_each_topic)
{
	build("run p2p --clients 5");
	cr_assert_eq(plan.npubs, 5);
	cr_assert_eq(plan.nsubs, 5);
	for (uint32_t i = 0; i < 5; i++) {
		char want[32];
		snprintf(want, sizeof(want), "bench/p2p/%u", i);
		cr_assert_str_eq(rmq_bench_plan_topic(&plan, &plan.pubs[i]),
		    want);
		cr_assert_str_eq(rmq_bench_plan_topic(&plan, &plan.subs[i]),
		    want);
		cr_assert_eq(plan.pubs[i].nmatch, 1);
		cr_assert_eq(plan.subs[i].nmatch, 1);
		cr_assert_eq(plan.pubs[i].idx, i);
	}
	cr_assert_eq(plan.receivers_total, 5);
	rmq_bench_plan_fini(&plan);
}

Test(plan, fanout_every_subscriber_hears_every_publisher)
{
	build("run fanout --pubs 2 --clients 3");
	cr_assert_eq(plan.npubs, 2);
	cr_assert_eq(plan.nsubs, 3);
	cr_assert_eq(plan.pubs[0].nmatch, 3);
	cr_assert_eq(plan.pubs[1].nmatch, 3);
	cr_assert_eq(plan.subs[2].nmatch, 2);
	cr_assert_eq(plan.receivers_total, 6);
	rmq_bench_plan_fini(&plan);
}

Test(plan, fanin_wildcard_subscriber)
{
	build("run fanin --clients 4");
	cr_assert_eq(plan.npubs, 4);
	cr_assert_eq(plan.nsubs, 1);
	cr_assert_str_eq(rmq_bench_plan_topic(&plan, &plan.subs[0]),
	    "bench/fanin/+");
	cr_assert_eq(plan.subs[0].nmatch, 4);
	cr_assert_eq(plan.pubs[3].nmatch, 1);
	cr_assert_eq(plan.receivers_total, 4);
	rmq_bench_plan_fini(&plan);
}

Test(plan, shared_group_counts_once)
{
	build("run sharedsub --clients 6 --subs 3 --group g1");
	cr_assert_eq(plan.nsubs, 3);
	cr_assert_str_eq(rmq_bench_plan_topic(&plan, &plan.subs[1]),
	    "$share/g1/bench/shared/+");
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert(plan.subs[i].shared);
		cr_assert_eq(plan.subs[i].nmatch, 6);
	}
	for (uint32_t i = 0; i < 6; i++)
		cr_assert_eq(plan.pubs[i].nmatch, 1);
	cr_assert_eq(plan.receivers_total, 6);
	rmq_bench_plan_fini(&plan);
}

Test(plan, pub_and_sub_commands_with_exact_topics)
{
	build("pub -c 3 -t same/topic");
	cr_assert_eq(plan.npubs, 3);
	cr_assert_eq(plan.nsubs, 0);
	cr_assert_eq(plan.receivers_total, 0);
	rmq_bench_plan_fini(&plan);
	build("run p2p --clients 3 --subs 2 --filter bench/p2p/1");
	/* both subscribers take topic 1, so publisher 1 has two receivers */
	cr_assert_eq(plan.pubs[0].nmatch, 0);
	cr_assert_eq(plan.pubs[1].nmatch, 2);
	cr_assert_eq(plan.subs[0].nmatch, 1);
	rmq_bench_plan_fini(&plan);
	build("conn -c 9");
	cr_assert_eq(plan.nconns, 9);
	rmq_bench_plan_fini(&plan);
}

Test(plan, invalid_topics_are_refused)
{
	cr_assert_eq(parse("pub -t a/+/b"), 0, "%s", err);
	cr_assert_eq(rmq_bench_plan_build(&plan, &cfg, err, sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "a/+/b") != NULL, "%s", err);
	cr_assert_eq(parse("sub -t a/#/b"), 0, "%s", err);
	cr_assert_eq(rmq_bench_plan_build(&plan, &cfg, err, sizeof(err)),
	    -EINVAL);
}

Test(cfg, transports_and_resumption)
{
	cr_assert_eq(parse("run p2p --ws"), 0, "%s", err);
	cr_assert_eq(cfg.ws, 1);
	cr_assert_eq(cfg.tls, 0);
	cr_assert_null(cfg.ws_path, "/mqtt unless told");
	cr_assert_eq(parse("run p2p --ws-path /ws --tls"), 0, "%s", err);
	cr_assert_eq(cfg.ws, 1, "a path implies --ws");
	cr_assert_str_eq(cfg.ws_path, "/ws");
	cr_assert_eq(parse("run p2p --ws-path ws"), -EINVAL);
	cr_assert(strstr(err, "a path beginning with /"), "%s", err);
	cr_assert_eq(parse("conn --tls-resume"), 0, "%s", err);
	cr_assert_eq(cfg.tls_resume, 1);
	cr_assert_eq(cfg.tls, 1, "resumption is of TLS sessions");
	cr_assert_eq(parse("run p2p --ws --direct"), -EINVAL);
	cr_assert(strstr(err, "--ws and --direct"), "%s", err);
}

Test(plan, shards_split_the_pairs_and_keep_topics_apart)
{
	/* 10 pairs in 3 shards: 3, 3 and 4, topics numbered as in the
	 * whole load, so that no topic is in two shards. */
	const uint32_t want_first[] = { 0, 3, 6 }, want_n[] = { 3, 3, 4 };
	for (uint32_t s = 0; s < 3; s++) {
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "run p2p --clients 10 --shard %u/3",
		    s);
		build(cmd);
		cr_assert_eq(cfg.shard_i, s);
		cr_assert_eq(cfg.shard_n, 3);
		cr_assert_eq(plan.npubs, want_n[s]);
		cr_assert_eq(plan.nsubs, want_n[s]);
		cr_assert_eq(plan.first, want_first[s]);
		for (uint32_t i = 0; i < plan.npubs; i++) {
			char want[32];
			snprintf(want, sizeof(want), "bench/p2p/%u",
			    want_first[s] + i);
			cr_assert_str_eq(rmq_bench_plan_topic(&plan,
					     &plan.pubs[i]),
			    want);
			cr_assert_str_eq(rmq_bench_plan_topic(&plan,
					     &plan.subs[i]),
			    want);
			cr_assert_eq(plan.pubs[i].nmatch, 1);
			cr_assert_eq(plan.pubs[i].idx,
			    i); /* local, for arrays */
		}
		rmq_bench_plan_fini(&plan);
	}
	build("run conn --clients 7 --shard 1/2");
	cr_assert_eq(plan.nconns, 4);
	rmq_bench_plan_fini(&plan);
}

Test(cfg, shard_takes_what_splits)
{
	cr_assert_eq(parse("run p2p --shard 2/2"), -EINVAL);
	cr_assert(strstr(err, "I/N") != NULL, "%s", err);
	cr_assert_eq(parse("run p2p --shard 1"), -EINVAL);
	cr_assert_eq(parse("run p2p --shard 0/0"), -EINVAL);
	cr_assert_eq(parse("run p2p --shard 0/2x"), -EINVAL);
	/* a topic every shard shares would cross between them */
	cr_assert_eq(parse("run fanout --shard 0/2"), -EINVAL);
	cr_assert(strstr(err, "p2p") != NULL, "%s", err);
	cr_assert_eq(parse("pub -t x --shard 0/2"), -EINVAL);
	cr_assert_eq(parse("run p2p --direct --shard 0/2"), -EINVAL);
	/* p2p shards split pairs: as many subscribers as publishers */
	cr_assert_eq(parse("run p2p --clients 10 --subs 5 --shard 0/2"),
	    -EINVAL);
	cr_assert_eq(parse("run p2p --pubs 4 --subs 3 --shard 0/2"), -EINVAL);
	cr_assert_eq(parse("run p2p --pubs 4 --shard 0/2"), 0); /* 4 and 4 */
	cr_assert_eq(parse("run p2p --shard 1/4"), 0);
}
