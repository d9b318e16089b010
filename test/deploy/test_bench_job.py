"""test/deploy/test_bench_job.py: the load test as a Kubernetes Job
(deploy/kubernetes/bench) and bench/merge, tried on the StatefulSet
stand-in.

The Job renders and validates, and agrees with the StatefulSet it loads
(its image, the client Service's name and port, its shard count and its
pods).  Then its pods' command runs here: one ringmq-bench process per
shard, all at once, from a namespace of the stand-in's network, each with
the Job's arguments and its index, a smaller load (clients, warm-up and
window shortened) and the three pods' names as hosts with --hosts-apart
(the stand-in has no Service address to spread connections, so the test
spreads them, each publisher on another pod than its subscriber: every
message crosses between nodes).  bench/merge adds their results into one
report: every client counted, nothing lost, throughput and latency from
all shards; and refuses a shard missing or given twice.

This test found pods taking each other for dead while their DNS server
was slow to answer (it ran beside deploy_prometheus, whose pods start at
the same time): 127-241 of 2,400 messages lost, until the lookups of
cluster_dns left the hellos' thread (cluster/resolve.h).

Root (namespaces), dnsmasq (scripts/deps --test).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import manifests as m  # noqa: E402
from rmqtest import BROKER_BINARY, run  # noqa: E402

standin = m.standin_or_skip()

BENCH = os.path.join(os.path.dirname(BROKER_BINARY), "..", "bench",
                     "ringmq-bench")
MERGE = os.path.join(TREE, "bench", "merge")
NET = 150 + os.getpid() % 50  # a subnet no other test of the suite uses
TMP = tempfile.mkdtemp(prefix="rmq-benchjob-")
JOB = {}


def the_job_renders_and_agrees_with_the_statefulset(_):
    rc, out, err = m.kustomize(os.path.join(m.KUBE, "bench"))
    assert rc == 0, err
    path = os.path.join(TMP, "bench.yaml")
    with open(path, "w") as f:
        f.write(out)
    rc, msg = m.validate(path)
    assert rc == 0, msg
    job = m.one(m.objects(out), "Job")
    spec = job["spec"]
    c = spec["template"]["spec"]["containers"][0]
    args = c["args"]
    shard = args[args.index("--shard") + 1]
    index, _, n = shard.partition("/")
    assert index == "$(JOB_COMPLETION_INDEX)", shard
    n = int(n)
    assert spec["completionMode"] == "Indexed", spec
    assert spec["completions"] == n and spec["parallelism"] == n, spec
    assert any(e["name"] == "JOB_COMPLETION_INDEX" for e in c["env"]), c
    # the StatefulSet it loads: same image, its client Service and port
    base = m.objects(m.kustomize(os.path.join(m.KUBE, "base"))[1])
    sts = m.one(base, "StatefulSet")
    assert c["image"] == sts["spec"]["template"]["spec"]["containers"][0][
        "image"], c["image"]
    host = args[args.index("--host") + 1]
    port = int(args[args.index("--port") + 1])
    svc = m.one(base, "Service", host)
    assert port in [p["port"] for p in svc["spec"]["ports"]], svc
    assert c["command"] == ["/usr/bin/ringmq-bench"], c["command"]
    JOB.update(args=args, n=n, host=host)


def the_shards_run_on_the_standin_and_merge(_):
    assert JOB, "the Job was not read"
    s = standin.StatefulSet(os.path.join(TMP, "standin"), NET,
                            BROKER_BINARY, grace=10)
    try:
        s.up(3)
        ns, _ = s.client(1)
        hosts = ",".join("%s.%s" % (s.pod(i), s.headless) for i in range(3))
        small = {"--clients": "60", "--warmup": "1", "--duration": "3",
                 "--host": hosts}
        procs, outs = [], []
        for i in range(JOB["n"]):
            args = list(JOB["args"])
            for k, v in small.items():
                args[args.index(k) + 1] = v
            args = [a.replace("$(JOB_COMPLETION_INDEX)", str(i))
                    for a in args]
            out = open(os.path.join(TMP, "shard-%d.log" % i), "w+")
            outs.append(out)
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, BENCH, *args, "--hosts-apart"],
                stdout=out, stderr=subprocess.STDOUT))
        for p in procs:
            assert p.wait(120) == 0, [open(o.name).read()[-2000:]
                                      for o in outs]
        logs = []
        for o in outs:
            o.seek(0)
            logs.append(o.read())
            o.close()
        runs = [json.loads(l) for log in logs for l in log.splitlines()
                if l.startswith('{"tool":"ringmq-bench"')]
        assert len(runs) == JOB["n"], logs
        # as `kubectl logs -l job-name=...` gives them: one stream
        both = os.path.join(TMP, "logs.txt")
        with open(both, "w") as f:
            f.write("".join(logs))
        r = subprocess.run([MERGE, "--json", "-", both], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        merged = json.loads(r.stdout)
        print("    " + r.stderr.strip().replace("\n", "\n    "))
        assert merged["shards"] == JOB["n"] == merged["shards_of"]
        assert merged["publishers"] == 60 == merged["subscribers"], merged
        assert merged["connected"] == 120, merged
        assert merged["lost"] == 0 and merged["duplicated"] == 0, merged
        assert merged["delivered"] == sum(x["delivered"] for x in runs)
        assert merged["delivered"] > 0
        assert merged["expected"] == merged["delivered"], merged
        assert abs(merged["delivered_per_s"] -
                   sum(x["delivered_per_s"] for x in runs)) < 1
        lat = merged["latency_us"]
        assert lat["count"] == sum(x["latency_hist_ns"]["count"]
                                   for x in runs)
        assert abs(lat["p100"] - max(x["latency_us"]["max"]
                                     for x in runs)) < 0.01, lat
        p50s = [x["latency_us"]["p50"] for x in runs]
        assert min(p50s) - 0.01 <= lat["p50"] <= max(p50s) + 0.01, (lat,
                                                                    p50s)
        assert merged["windows_overlap"] > 0.5, merged
        # a shard missing, or given twice, is refused
        some = os.path.join(TMP, "some.txt")
        with open(some, "w") as f:
            f.write("".join(logs[:-1]))
        r = subprocess.run([MERGE, some], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1 and "shards missing" in r.stdout, r
        r = subprocess.run([MERGE, some, "--partial"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r
        r = subprocess.run([MERGE, both, some], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 1 and "given twice" in r.stdout, r
    finally:
        s.down(purge=True)


try:
    run([the_job_renders_and_agrees_with_the_statefulset,
         the_shards_run_on_the_standin_and_merge], make_broker=None)
finally:
    shutil.rmtree(TMP, ignore_errors=True)
