/* bench/report.h: what a run shows and writes: a progress line once a
 * second when the output is a terminal, a readable summary at the end,
 * and one JSON object per run (JSON Lines, appended to --json FILE, or
 * written to stdout with --json -) for scripts such as bench/compare.
 */
#ifndef RMQ_BENCH_REPORT_H
#define RMQ_BENCH_REPORT_H

#include <stdio.h>

#include "run.h"
#include "scenario.h"

/* Where human-readable output goes: stdout, or stderr when the JSON goes
 * to stdout. */
FILE *rmq_bench_report_stream(const struct rmq_bench_cfg *cfg);

/* Once a second while clients connect (terminal only). */
void
rmq_bench_report_connecting(const struct rmq_bench_cfg *cfg, const char *what,
    unsigned long long up, unsigned long long want, double elapsed_s);

/* Once a second of the run (terminal only): second `sec`, this second's
 * merged tick, the previous one (NULL for the first), and the counters. */
void rmq_bench_report_progress(const struct rmq_bench_cfg *cfg, unsigned sec,
    const struct rmq_bench_tick *t, const struct rmq_bench_tick *prev,
    const struct rmq_bench_stats *s);

/* The end-of-run summary. */
void rmq_bench_report_summary(FILE *f, const struct rmq_bench_cfg *cfg,
    const struct rmq_bench_result *res);

/* One JSON object on one line. */
void rmq_bench_report_json(FILE *f, const struct rmq_bench_cfg *cfg,
    const struct rmq_bench_result *res);

#endif
