/* bench/index_bench.c: ringmq-index-bench, a micro-benchmark of the
 * subscription index (core/index.c) on its own: build time per add,
 * resident memory per subscription, and the cost of rmq_index_match for
 * topics that hit exact filters, wildcard filters or nothing, from one
 * reader and from several at once.  Every PUBLISH pays for a lookup, and
 * ringmq-bench sees that cost only through a whole broker; this tool
 * isolates it.  It links core/ (and its liburcu) only.
 *
 * The shape, an IoT fleet.  N = --subs, W = N * --wild (wildcard
 * subscriptions), E = N - W (exact ones):
 *   - E exact filters site/{s}/dev/{d}/telemetry, one per device: device
 *     k = 0..E-1 is d = k % 100 of site s = k / 100, so there are
 *     S = ceil(E / 100) sites.  One subscriber (a backend session) each.
 *   - W wildcard subscriptions, taken from three kinds in turn: the i-th is
 *     of kind i % 3 and is number j = i / 3 of its kind:
 *       0  site/{s}/+/{d}/telemetry for device j % E: a monitor of one
 *          device's telemetry whatever the entity level;
 *       1  site/{s}/# for site j % S1, S1 = max(1, S / 4): dashboards on
 *          the first quarter of the sites, several per site;
 *       2  +/{s}/dev/+/status for site j % S: fleet status watchers.  They
 *          give the root a '+' child, which every lookup then walks.
 *     A kind with fewer subscriptions than targets covers the first
 *     targets; with more, it wraps and a filter gets several owners.
 * Every subscription has its own owner, so the index ends with exactly N;
 * they are added in random order, as sessions would connect.
 *
 * Lookups come from three pools of up to 262144 precomputed topics each,
 * drawn at random (fixed --seed) and cycled through:
 *   exact     site/{s}/dev/{d}/telemetry of a device that no wildcard
 *             filter covers: one match;
 *   wildcard  telemetry of devices with a monitor or on a dashboard site,
 *             site/{s}/gw/{d}/telemetry (kind 0 only) and
 *             site/{s}/dev/{d}/status, whenever a wildcard filter matches;
 *   nomatch   site/{s}/dev/{d}/config off dashboard sites, unknown sites,
 *             unknown devices and factory/{s}/line/{d}/telemetry.
 * The visit function only counts, so the figures are the index walk's.
 * The defaults (1M subscriptions, 500k lookups per class and per thread)
 * keep a run near 20 s on a two-core VM, where a lookup takes 1 to 5 us.
 *
 * Self-check: bench_expect gives every topic's match count from the shape
 * alone; each pool topic is matched once against it before timing, and the
 * timed loops' totals after.  A difference exits 1 with the topic.
 *
 * Threads: every reader, the main thread too, is a registered QSBR reader
 * that reports a quiescent state every 1024 lookups (and adds), as the
 * broker's loops do once per turn, so that grace periods (deferred frees,
 * the hash table's resizes) never wait on it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "index.h"

#define BENCH_DEVS 100 /* devices per site */
#define BENCH_POOL 262144 /* topics per class, at most */
#define BENCH_TOPIC_MAX 96 /* bytes of one filter or topic, NUL included */
#define BENCH_MAX_THREADS 64
#define BENCH_QS_EVERY 1024 /* lookups or adds between quiescent states */

struct bench_shape {
	uint64_t subs, exact, wild, sites, s1;
	uint64_t w[3]; /* subscriptions of each wildcard kind */
};

enum bench_form {
	BENCH_TELEMETRY, /* site/{s}/dev/{d}/telemetry */
	BENCH_GW, /* site/{s}/gw/{d}/telemetry */
	BENCH_STATUS, /* site/{s}/dev/{d}/status */
	BENCH_CONFIG, /* site/{s}/dev/{d}/config */
	BENCH_FACTORY, /* factory/{s}/line/{d}/telemetry */
};

enum bench_class { BENCH_EXACT, BENCH_WILD, BENCH_NOMATCH, BENCH_CLASSES };

static const char *const bench_class_name[BENCH_CLASSES] = { "exact",
	"wildcard", "nomatch" };

struct bench_topic {
	uint32_t off, len;
	uint64_t expect;
};

struct bench_pool {
	struct bench_topic *t;
	size_t n;
	char *buf;
};

/* One reader's share of a timed run. */
struct bench_run {
	struct rmq_index *ix;
	const struct bench_pool *pool;
	pthread_barrier_t *barrier; /* NULL: runs on the calling thread */
	uint64_t lookups;
	size_t start;
	uint64_t ns, visited, counted, want;
};

struct bench_result {
	size_t topics;
	double per_lookup; /* matches per lookup */
	double ns1, mlps1; /* one thread: ns per lookup, Mlookups/s */
	double nsn, mlpsn; /* n threads: mean of the threads' ns per lookup,
			    * and all lookups over the wall time */
};

struct bench_opts {
	uint64_t subs, lookups, seed;
	uint64_t one; /* --one-filter: owners of a single filter, else 0 */
	int group; /* --one-group: the same as members of one shared group */
	double wild;
	unsigned threads;
	int json;
};

static uint64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64 */
static uint64_t
bench_rand(uint64_t *st)
{
	uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t
bench_below(uint64_t *st, uint64_t n)
{
	return bench_rand(st) % n;
}

/* VmRSS of this process in bytes, 0 when unreadable. */
static uint64_t
bench_rss(void)
{
	char line[256];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64 " kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static void *
bench_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "ringmq-index-bench: out of memory\n");
		exit(1);
	}
	return p;
}

static void
bench_shape_init(struct bench_shape *sh, uint64_t subs, double wild)
{
	sh->subs = subs;
	sh->wild = (uint64_t)((double)subs * wild + 0.5);
	if (sh->wild >= subs)
		sh->wild = subs - 1;
	sh->exact = subs - sh->wild;
	sh->sites = (sh->exact + BENCH_DEVS - 1) / BENCH_DEVS;
	sh->s1 = sh->sites / 4 ? sh->sites / 4 : 1;
	sh->w[0] = (sh->wild + 2) / 3;
	sh->w[1] = (sh->wild + 1) / 3;
	sh->w[2] = sh->wild / 3;
}

/* How many of n subscriptions spread round-robin over `targets` land on
 * target t. */
static uint64_t
bench_share(uint64_t n, uint64_t targets, uint64_t t)
{
	if (t >= targets)
		return 0;
	return n / targets + (t < n % targets);
}

/* Subscriptions matching the topic of form f for site s and device d,
 * from the shape alone; *wild gets those held by wildcard filters. */
static uint64_t
bench_expect(const struct bench_shape *sh, enum bench_form f, uint64_t s,
    uint64_t d, uint64_t *wild)
{
	uint64_t k = s * BENCH_DEVS + d;
	int dev = s < sh->sites && d < BENCH_DEVS && k < sh->exact;
	uint64_t c0 = dev ? bench_share(sh->w[0], sh->exact, k) : 0;
	uint64_t c1 = bench_share(sh->w[1], sh->s1, s);
	uint64_t c2 = bench_share(sh->w[2], sh->sites, s);
	uint64_t ex = 0, w = 0;

	switch (f) {
	case BENCH_TELEMETRY:
		ex = (uint64_t)dev;
		w = c0 + c1;
		break;
	case BENCH_GW: w = c0 + c1; break;
	case BENCH_STATUS: w = c1 + c2; break;
	case BENCH_CONFIG: w = c1; break;
	case BENCH_FACTORY: break;
	}
	*wild = w;
	return ex + w;
}

static int
bench_topic(char *out, size_t cap, enum bench_form f, uint64_t s, uint64_t d)
{
	switch (f) {
	case BENCH_TELEMETRY:
		return snprintf(out, cap,
		    "site/%" PRIu64 "/dev/%" PRIu64 "/telemetry", s, d);
	case BENCH_GW:
		return snprintf(out, cap,
		    "site/%" PRIu64 "/gw/%" PRIu64 "/telemetry", s, d);
	case BENCH_STATUS:
		return snprintf(out, cap,
		    "site/%" PRIu64 "/dev/%" PRIu64 "/status", s, d);
	case BENCH_CONFIG:
		return snprintf(out, cap,
		    "site/%" PRIu64 "/dev/%" PRIu64 "/config", s, d);
	case BENCH_FACTORY:
		return snprintf(out, cap,
		    "factory/%" PRIu64 "/line/%" PRIu64 "/telemetry", s, d);
	}
	return -1;
}

/* The filter of subscription i (0..N-1), as the top comment lays out. */
static int
bench_filter(const struct bench_shape *sh, uint64_t i, char *out, size_t cap)
{
	if (i < sh->exact)
		return bench_topic(out, cap, BENCH_TELEMETRY, i / BENCH_DEVS,
		    i % BENCH_DEVS);
	uint64_t w = i - sh->exact, j = w / 3, k = j % sh->exact;
	switch (w % 3) {
	case 0:
		return snprintf(out, cap,
		    "site/%" PRIu64 "/+/%" PRIu64 "/telemetry", k / BENCH_DEVS,
		    k % BENCH_DEVS);
	case 1: return snprintf(out, cap, "site/%" PRIu64 "/#", j % sh->s1);
	default:
		return snprintf(out, cap, "+/%" PRIu64 "/dev/+/status",
		    j % sh->sites);
	}
}

/* Build the index: every filter is formatted first, into a buffer freed
 * again before the caller reads VmRSS, so that the timed loop is adds
 * only.  Returns the nanoseconds the adds took. */
static uint64_t
bench_build(struct rmq_index *ix, const struct bench_shape *sh, uint64_t *rng)
{
	uint64_t n = sh->subs;
	uint64_t *order = bench_alloc(n * sizeof(*order));
	size_t *off = bench_alloc((n + 1) * sizeof(*off));
	char tmp[BENCH_TOPIC_MAX];

	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = bench_below(rng, i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	off[0] = 0;
	for (uint64_t i = 0; i < n; i++)
		off[i + 1] = off[i] +
		    (size_t)bench_filter(sh, order[i], tmp, sizeof(tmp));
	char *buf = bench_alloc(off[n] + 1);
	for (uint64_t i = 0; i < n; i++)
		bench_filter(sh, order[i], buf + off[i], BENCH_TOPIC_MAX);

	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		struct rmq_sub sub = { .owner = order[i] + 1,
			.qos = 1,
			.version = 5 };
		int rc =
		    rmq_index_add(ix, buf + off[i], off[i + 1] - off[i], &sub);
		if (rc != 0) {
			fprintf(stderr, "ringmq-index-bench: add %.*s: %s\n",
			    (int)(off[i + 1] - off[i]), buf + off[i],
			    rc < 0 ? strerror(-rc) : "replaced an entry");
			exit(1);
		}
		if (i % BENCH_QS_EVERY == BENCH_QS_EVERY - 1)
			rcu_quiescent_state();
	}
	uint64_t ns = bench_now_ns() - t0;
	free(buf);
	free(off);
	free(order);
	return ns;
}

/* Draw one candidate topic of class c; the caller keeps it if its counts
 * fit the class. */
static void
bench_draw(const struct bench_shape *sh, enum bench_class c, uint64_t *rng,
    enum bench_form *f, uint64_t *s, uint64_t *d)
{
	uint64_t k = bench_below(rng, sh->exact);
	*s = k / BENCH_DEVS;
	*d = k % BENCH_DEVS;
	*f = BENCH_TELEMETRY;
	if (c == BENCH_WILD) {
		static const enum bench_form forms[] = { BENCH_TELEMETRY,
			BENCH_GW, BENCH_STATUS };
		*f = forms[bench_below(rng, 3)];
	} else if (c == BENCH_NOMATCH) {
		switch (bench_below(rng, 4)) {
		case 0: *f = BENCH_CONFIG; break;
		case 1: *s = sh->sites + bench_below(rng, sh->sites); break;
		case 2: *d = BENCH_DEVS + bench_below(rng, BENCH_DEVS); break;
		default: *f = BENCH_FACTORY; break;
		}
	}
}

static int
bench_fits(enum bench_class c, uint64_t expect, uint64_t wild)
{
	switch (c) {
	case BENCH_EXACT: return expect == 1 && wild == 0;
	case BENCH_WILD: return wild > 0;
	default: return expect == 0;
	}
}

/* Fill a pool with up to `want` topics of class c, giving up after 64
 * draws per topic (a shape can leave a class empty). */
static void
bench_pool_make(struct bench_pool *p, const struct bench_shape *sh,
    enum bench_class c, size_t want, uint64_t *rng)
{
	p->t = bench_alloc(want * sizeof(*p->t));
	p->buf = bench_alloc(want * BENCH_TOPIC_MAX);
	p->n = 0;
	size_t used = 0;
	for (uint64_t tries = 0; p->n < want && tries < (uint64_t)want * 64;
	     tries++) {
		enum bench_form f;
		uint64_t s, d, wild;
		bench_draw(sh, c, rng, &f, &s, &d);
		uint64_t expect = bench_expect(sh, f, s, d, &wild);
		if (!bench_fits(c, expect, wild))
			continue;
		int len = bench_topic(p->buf + used, BENCH_TOPIC_MAX, f, s, d);
		p->t[p->n].off = (uint32_t)used;
		p->t[p->n].len = (uint32_t)len;
		p->t[p->n].expect = expect;
		used += (size_t)len;
		p->n++;
	}
}

static void
bench_count(void *ctx, const struct rmq_sub *subs, uint32_t n,
    const struct rmq_str *group)
{
	(void)subs;
	(void)group;
	*(uint64_t *)ctx += n;
}

/* Match every topic of the pool once against its expected count. */
static int
bench_verify(struct rmq_index *ix, const struct bench_pool *p, const char *cls)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct bench_topic *t = &p->t[i];
		uint64_t counted = 0;
		size_t v = rmq_index_match(ix, p->buf + t->off, t->len,
		    bench_count, &counted);
		if (v != t->expect || counted != t->expect) {
			fprintf(stderr,
			    "ringmq-index-bench: self-check failed (%s): %.*s matched %zu subscriptions (visited %" PRIu64
			    "), the shape implies %" PRIu64 "\n",
			    cls, (int)t->len, p->buf + t->off, v, counted,
			    t->expect);
			return -1;
		}
		if (i % BENCH_QS_EVERY == BENCH_QS_EVERY - 1)
			rcu_quiescent_state();
	}
	return 0;
}

static void
bench_lookups(struct bench_run *r)
{
	const struct bench_pool *p = r->pool;
	uint64_t counted = 0, visited = 0, want = 0;
	size_t j = r->start;

	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < r->lookups; i++) {
		const struct bench_topic *t = &p->t[j];
		visited += rmq_index_match(r->ix, p->buf + t->off, t->len,
		    bench_count, &counted);
		want += t->expect;
		if (++j == p->n)
			j = 0;
		if (i % BENCH_QS_EVERY == BENCH_QS_EVERY - 1)
			rcu_quiescent_state();
	}
	r->ns = bench_now_ns() - t0;
	r->visited = visited;
	r->counted = counted;
	r->want = want;
}

static void *
bench_reader(void *arg)
{
	struct bench_run *r = arg;
	/* Registering a QSBR thread puts it online, as a broker loop is. */
	rcu_register_thread();
	pthread_barrier_wait(r->barrier);
	bench_lookups(r);
	rcu_unregister_thread();
	return NULL;
}

static int
bench_check_run(const struct bench_run *r, const char *cls)
{
	if (r->visited == r->want && r->counted == r->want)
		return 0;
	fprintf(stderr,
	    "ringmq-index-bench: self-check failed (%s, timed loop): %" PRIu64
	    " matches returned, %" PRIu64 " visited, the shape implies %" PRIu64
	    "\n",
	    cls, r->visited, r->counted, r->want);
	return -1;
}

/* One class: a run on this thread, then `threads` readers at once, each
 * doing `lookups` lookups from its own point in the pool. */
static int
bench_class_run(struct rmq_index *ix, const struct bench_pool *p,
    const struct bench_opts *o, const char *cls, struct bench_result *res)
{
	struct bench_run one = { .ix = ix, .pool = p, .lookups = o->lookups };
	bench_lookups(&one);
	if (bench_check_run(&one, cls) != 0)
		return -1;
	res->topics = p->n;
	res->per_lookup = (double)one.want / (double)o->lookups;
	res->ns1 = (double)one.ns / (double)o->lookups;
	res->mlps1 = (double)o->lookups * 1e3 / (double)one.ns;

	struct bench_run run[BENCH_MAX_THREADS];
	pthread_t tid[BENCH_MAX_THREADS];
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, o->threads + 1);
	for (unsigned t = 0; t < o->threads; t++) {
		run[t] = (struct bench_run){ .ix = ix,
			.pool = p,
			.barrier = &barrier,
			.lookups = o->lookups,
			.start = p->n * t / o->threads };
		int rc = pthread_create(&tid[t], NULL, bench_reader, &run[t]);
		if (rc != 0) {
			fprintf(stderr,
			    "ringmq-index-bench: pthread_create: %s\n",
			    strerror(rc));
			exit(1);
		}
	}
	/* Offline while it only waits, so it holds up no grace period. */
	rcu_thread_offline();
	pthread_barrier_wait(&barrier);
	uint64_t t0 = bench_now_ns();
	for (unsigned t = 0; t < o->threads; t++)
		pthread_join(tid[t], NULL);
	uint64_t wall = bench_now_ns() - t0;
	rcu_thread_online();
	pthread_barrier_destroy(&barrier);

	double sum = 0;
	for (unsigned t = 0; t < o->threads; t++) {
		if (bench_check_run(&run[t], cls) != 0)
			return -1;
		sum += (double)run[t].ns / (double)o->lookups;
	}
	res->nsn = sum / o->threads;
	res->mlpsn = (double)o->lookups * o->threads * 1e3 / (double)wall;
	return 0;
}

static void
bench_usage(FILE *f)
{
	fputs(
	    "usage: ringmq-index-bench [options]\n"
	    "  --subs N       subscriptions in the index (1000000)\n"
	    "  --wild F       fraction of them that are wildcard filters, 0 to 0.9 (0.1)\n"
	    "  --lookups N    timed lookups per class and per thread (500000)\n"
	    "  --threads N    readers of the concurrent run, 1 to 64 (2)\n"
	    "  --seed N       random seed of order and topics (1)\n"
	    "  --one-filter N instead: N owners subscribe to one filter, then leave;\n"
	    "                 the cost of an add and a remove at that size\n"
	    "  --one-group N  the same for N members of one shared group ($share/...),\n"
	    "                 whose lookups take one member each, in turn\n"
	    "  --json         one JSON object on stdout instead of the table\n"
	    "  --help\n"
	    "Exit status: 0, 1 when the self-check or a resource fails, 2 for a bad command line.\n",
	    f);
}

static int
bench_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-' || v < min ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

static int
bench_parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "subs", required_argument, NULL, 's' },
		{ "wild", required_argument, NULL, 'w' },
		{ "lookups", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 'r' },
		{ "one-filter", required_argument, NULL, 'o' },
		{ "one-group", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	uint64_t v;
	char *end;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (bench_u64(optarg, 1, 50000000, &o->subs) != 0)
				goto bad;
			break;
		case 'l':
			if (bench_u64(optarg, 1, UINT64_C(1) << 40,
				&o->lookups) != 0)
				goto bad;
			break;
		case 't':
			if (bench_u64(optarg, 1, BENCH_MAX_THREADS, &v) != 0)
				goto bad;
			o->threads = (unsigned)v;
			break;
		case 'r':
			if (bench_u64(optarg, 0, UINT64_MAX, &o->seed) != 0)
				goto bad;
			break;
		case 'w':
			errno = 0;
			o->wild = strtod(optarg, &end);
			if (errno || end == optarg || *end != '\0' ||
			    !(o->wild >= 0 && o->wild <= 0.9))
				goto bad;
			break;
		case 'o':
		case 'g':
			if (bench_u64(optarg, 10, 50000000, &o->one) != 0)
				goto bad;
			o->group = c == 'g';
			break;
		case 'j': o->json = 1; break;
		case 'h': bench_usage(stdout); exit(0);
		default: bench_usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ringmq-index-bench: unexpected argument: %s\n",
		    argv[optind]);
		bench_usage(stderr);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "ringmq-index-bench: bad value: %s\n", optarg);
	bench_usage(stderr);
	return -1;
}

static void
bench_print_table(const struct bench_opts *o, const struct bench_shape *sh,
    uint64_t build_ns, size_t nodes, uint64_t rss0, uint64_t rss1,
    const struct bench_result *res)
{
	double mib = 1024.0 * 1024.0;
	printf("ringmq-index-bench: %" PRIu64 " subscriptions: %" PRIu64
	       " exact, %" PRIu64 " wildcard; %" PRIu64 " sites x %d "
	       "devices\n",
	    sh->subs, sh->exact, sh->wild, sh->sites, BENCH_DEVS);
	printf("build   %.3f s, %.0f ns/add, %zu trie nodes (%.2f per "
	       "subscription)\n",
	    (double)build_ns / 1e9, (double)build_ns / (double)sh->subs, nodes,
	    (double)nodes / (double)sh->subs);
	printf("memory  VmRSS %.1f MiB after build, %.1f MiB before: "
	       "%.0f bytes/subscription\n\n",
	    (double)rss1 / mib, (double)rss0 / mib,
	    (double)(rss1 - rss0) / (double)sh->subs);
	printf("%-9s %7s %9s %9s | %-18s | %u threads at once\n", "", "", "",
	    "", "1 thread", o->threads);
	printf("%-9s %7s %9s %9s | %9s %8s | %9s %8s %7s\n", "class", "topics",
	    "lookups", "match/lkp", "ns/lookup", "Mlkp/s", "ns/lookup",
	    "Mlkp/s", "speedup");
	for (int c = 0; c < BENCH_CLASSES; c++) {
		const struct bench_result *r = &res[c];
		if (r->topics == 0) {
			printf("%-9s %7s  (the shape leaves this class "
			       "empty)\n",
			    bench_class_name[c], "0");
			continue;
		}
		printf("%-9s %7zu %9" PRIu64 " %9.2f | %9.1f %8.2f | %9.1f "
		       "%8.2f %6.2fx\n",
		    bench_class_name[c], r->topics, o->lookups, r->per_lookup,
		    r->ns1, r->mlps1, r->nsn, r->mlpsn, r->mlpsn / r->mlps1);
	}
}

static void
bench_print_json(const struct bench_opts *o, const struct bench_shape *sh,
    uint64_t build_ns, size_t nodes, uint64_t rss0, uint64_t rss1,
    const struct bench_result *res)
{
	printf("{\"subs\":%" PRIu64 ",\"exact\":%" PRIu64 ",\"wild\":%" PRIu64
	       ",\"sites\":%" PRIu64 ",\"devices_per_site\":%d,"
	       "\"lookups\":%" PRIu64 ",\"threads\":%u,\"seed\":%" PRIu64
	       ",\"build_s\":%.6f,\"ns_per_add\":%.1f,\"nodes\":%zu,"
	       "\"rss_before\":%" PRIu64 ",\"rss_after\":%" PRIu64
	       ",\"bytes_per_sub\":%.1f,\"classes\":[",
	    sh->subs, sh->exact, sh->wild, sh->sites, BENCH_DEVS, o->lookups,
	    o->threads, o->seed, (double)build_ns / 1e9,
	    (double)build_ns / (double)sh->subs, nodes, rss0, rss1,
	    (double)(rss1 - rss0) / (double)sh->subs);
	for (int c = 0; c < BENCH_CLASSES; c++) {
		const struct bench_result *r = &res[c];
		printf("%s{\"class\":\"%s\",\"topics\":%zu", c ? "," : "",
		    bench_class_name[c], r->topics);
		if (r->topics)
			printf(",\"matches_per_lookup\":%.4f,"
			       "\"ns_per_lookup\":%.2f,\"mlookups_s\":%.4f,"
			       "\"mt_ns_per_lookup\":%.2f,"
			       "\"mt_mlookups_s\":%.4f,\"speedup\":%.3f",
			    r->per_lookup, r->ns1, r->mlps1, r->nsn, r->mlpsn,
			    r->mlpsn / r->mlps1);
		printf("}");
	}
	printf("]}\n");
}

/* For --one-group: which members the lookups reached. */
struct bench_turns {
	uint8_t *turns;
	uint64_t n, bad;
};

static void
bench_turn(void *ctx, const struct rmq_sub *subs, uint32_t n,
    const struct rmq_str *group)
{
	struct bench_turns *t = ctx;
	if (group == NULL || n != 1 || subs[0].owner == 0 ||
	    subs[0].owner > t->n || t->turns[subs[0].owner - 1]++ != 0)
		t->bad++;
}

/* One filter shared by many owners (a broadcast topic), or one shared
 * group of many members (a worker pool): what an add and a remove cost
 * when it already has about N, and one lookup (a group's takes one
 * member; N of them must reach every member once). */
static int
bench_one_filter(const struct bench_opts *o)
{
	static const char topic[] = "fleet/broadcast/all";
	const char *f = o->group ? "$share/pool/fleet/broadcast/all" : topic;
	size_t flen = strlen(f);
	struct rmq_index *ix;
	uint64_t n = o->one, tail = n / 10, t0, add_ns = 0, del_ns = 0;
	uint64_t rss0 = bench_rss();
	if (rmq_index_new(&ix) != 0)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		struct rmq_sub sub = { .owner = i + 1, .qos = 1 };
		t0 = bench_now_ns();
		if (rmq_index_add(ix, f, flen, &sub) != 0)
			return -1;
		if (i >= n - tail)
			add_ns += bench_now_ns() - t0;
		if ((i & 255) == 0)
			rcu_quiescent_state();
	}
	uint64_t rss1 = bench_rss(), seen = 0;
	t0 = bench_now_ns();
	rmq_index_match(ix, topic, sizeof(topic) - 1, bench_count, &seen);
	uint64_t lookup_ns = bench_now_ns() - t0;
	if (o->group && seen == 1) {
		struct bench_turns t = { calloc(n, 1), n, 0 };
		if (t.turns == NULL)
			return -1;
		/* The first lookup took member 0; N-1 more reach the rest. */
		t.turns[0] = 1;
		for (uint64_t i = 1; i < n; i++)
			rmq_index_match(ix, topic, sizeof(topic) - 1,
			    bench_turn, &t);
		for (uint64_t i = 0; i < n; i++)
			t.bad += t.turns[i] != 1;
		free(t.turns);
		if (t.bad) {
			fprintf(stderr,
			    "ringmq-index-bench: %" PRIu64
			    " members out of turn\n",
			    t.bad);
			return -1;
		}
		seen = n;
	}
	if (seen != n) {
		fprintf(stderr,
		    "ringmq-index-bench: %" PRIu64 " of %" PRIu64
		    " owners matched\n",
		    seen, n);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++) {
		/* Leave in a scattered order, as clients do. */
		uint64_t owner = (i * 0x9E3779B1u) % n + 1;
		t0 = bench_now_ns();
		int rc = rmq_index_remove(ix, f, flen, owner);
		if (i < tail)
			del_ns += bench_now_ns() - t0;
		if (rc != 0 && rc != -ENOENT)
			return -1;
		if ((i & 255) == 0)
			rcu_quiescent_state();
	}
	rmq_index_free(ix);
	double per_add = (double)add_ns / (double)tail,
	       per_del = (double)del_ns / (double)tail,
	       bps = (double)(rss1 - rss0) / (double)n;
	if (o->json)
		printf("{\"%s\":%" PRIu64 ",\"ns_per_add\":%.1f,"
		       "\"ns_per_remove\":%.1f,\"lookup_ns\":%" PRIu64
		       ",\"bytes_per_owner\":%.1f}\n",
		    o->group ? "one_group" : "one_filter", n, per_add, per_del,
		    lookup_ns, bps);
	else
		printf("one %s, %" PRIu64 " owners: %.0f ns per add and "
		       "%.0f ns per remove at that size (last and first "
		       "tenth), "
		       "%.3f ms for a lookup visiting %s, %.0f bytes per "
		       "owner\n",
		    o->group ? "group" : "filter", n, per_add, per_del,
		    (double)lookup_ns / 1e6, o->group ? "one member" : "all",
		    bps);
	return 0;
}

int
main(int argc, char **argv)
{
	struct bench_opts o = { .subs = 1000000,
		.lookups = 500000,
		.seed = 1,
		.wild = 0.1,
		.threads = 2 };
	struct bench_shape sh;
	struct bench_pool pool[BENCH_CLASSES];
	struct bench_result res[BENCH_CLASSES];
	struct rmq_index *ix;
	int rc = 0;

	if (bench_parse(argc, argv, &o) != 0)
		return 2;
	bench_shape_init(&sh, o.subs, o.wild);
	uint64_t rng = o.seed;

	rcu_register_thread();
	if (o.one) {
		rc = bench_one_filter(&o) != 0;
		rcu_unregister_thread();
		return rc;
	}
	uint64_t rss0 = bench_rss();
	if (rmq_index_new(&ix) != 0) {
		fprintf(stderr, "ringmq-index-bench: out of memory\n");
		return 1;
	}
	uint64_t build_ns = bench_build(ix, &sh, &rng);
	/* Let the deferred frees of replaced arrays run before measuring. */
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	uint64_t rss1 = bench_rss();
	size_t nodes = rmq_index_nodes(ix);
	if (rmq_index_count(ix) != sh.subs) {
		fprintf(stderr,
		    "ringmq-index-bench: self-check failed: the index counts %zu subscriptions, %" PRIu64
		    " were added\n",
		    rmq_index_count(ix), sh.subs);
		return 1;
	}

	size_t want = o.lookups < BENCH_POOL ? (size_t)o.lookups : BENCH_POOL;
	for (int c = 0; c < BENCH_CLASSES; c++) {
		bench_pool_make(&pool[c], &sh, (enum bench_class)c, want, &rng);
		if (bench_verify(ix, &pool[c], bench_class_name[c]) != 0)
			return 1;
	}
	memset(res, 0, sizeof(res));
	for (int c = 0; c < BENCH_CLASSES && rc == 0; c++)
		if (pool[c].n)
			rc = bench_class_run(ix, &pool[c], &o,
			    bench_class_name[c], &res[c]);
	if (rc != 0)
		return 1;

	if (o.json)
		bench_print_json(&o, &sh, build_ns, nodes, rss0, rss1, res);
	else
		bench_print_table(&o, &sh, build_ns, nodes, rss0, rss1, res);

	for (int c = 0; c < BENCH_CLASSES; c++) {
		free(pool[c].t);
		free(pool[c].buf);
	}
	rmq_index_free(ix);
	rcu_unregister_thread();
	return 0;
}
