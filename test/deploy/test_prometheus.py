"""test/deploy/test_prometheus.py: deploy/prometheus/prometheus.yml and the
Grafana dashboard, against a real Prometheus and the StatefulSet stand-in.

Three pods of deploy/standin; Prometheus (Debian's) in a namespace of the
stand-in's network, resolving the cluster's names as a pod does, runs the
shipped configuration and alerting rules with one change: scrapes and
rule evaluations every second instead of 15 s, so that rates have two
samples within seconds.  It must find every pod through the headless
Service's name and scrape it; with clients publishing across the nodes,
every query of the dashboard (deploy/kubernetes/components/monitoring/
ringmq-dashboard.json, its $job variable set to all jobs) must return
data; every rule must evaluate, and a pod killed must set off the
node-down and peer-down alerts.

Root (namespaces), dnsmasq and prometheus (scripts/deps --test).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import manifests as m  # noqa: E402
from rmqtest import BROKER_BINARY, run  # noqa: E402

standin = m.standin_or_skip("/usr/bin/prometheus", "/usr/bin/mosquitto_pub",
                            "/usr/bin/mosquitto_sub")

CONFIG = os.path.join(TREE, "deploy", "prometheus", "prometheus.yml")
DASHBOARD = os.path.join(TREE, "deploy", "kubernetes", "components",
                         "monitoring", "ringmq-dashboard.json")
NET = 200 + os.getpid() % 50  # a subnet no other test of the suite uses
DEADLINE = 90
TMP = tempfile.mkdtemp(prefix="rmq-prom-")
S = standin.StatefulSet(os.path.join(TMP, "standin"), NET, BROKER_BINARY,
                        grace=10)
PROM = None
PROM_URL = None


def api(path, **params):
    url = PROM_URL + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def start():
    global PROM, PROM_URL
    S.up(3)
    ns, ip = S.client(0)
    with open(CONFIG) as f:
        text = f.read()
    text, n = re.subn(r"(?m)^(  (scrape|evaluation)_interval:) 15s$",
                      r"\1 1s", text)
    assert n == 2, "the shipped file's global intervals moved"
    shutil.copy(os.path.join(os.path.dirname(CONFIG), "alerts.yml"), TMP)
    conf = os.path.join(TMP, "prometheus.yml")
    with open(conf, "w") as f:
        f.write(text)
    log = open(os.path.join(TMP, "prometheus.log"), "w")
    PROM = subprocess.Popen(
        ["ip", "netns", "exec", ns, "/usr/bin/prometheus",
         "--config.file=" + conf,
         "--storage.tsdb.path=" + os.path.join(TMP, "tsdb"),
         "--web.listen-address=%s:9090" % ip],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    PROM_URL = "http://%s:9090" % ip
    end = time.time() + DEADLINE
    while True:
        try:
            with urllib.request.urlopen(PROM_URL + "/-/ready",
                                        timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            assert PROM.poll() is None, open(log.name).read()[-2000:]
            assert time.time() < end, "Prometheus not ready"
            time.sleep(0.2)


def stop():
    if PROM is not None and PROM.poll() is None:
        PROM.terminate()
        try:
            PROM.wait(20)
        except subprocess.TimeoutExpired:
            PROM.kill()
    S.down(purge=True)


def every_pod_is_found_and_scraped(_):
    start()
    want = {"%s:8080" % S.addr(i) for i in range(3)}
    end = time.time() + DEADLINE
    while True:
        targets = api("/api/v1/targets")["data"]["activeTargets"]
        up = {t["labels"]["instance"] for t in targets
              if t["labels"].get("job") == "ringmq" and t["health"] == "up"}
        if up == want:
            break
        assert time.time() < end, (want, [(t["labels"], t["health"],
                                           t.get("lastError"))
                                          for t in targets])
        time.sleep(0.5)
    r = api("/api/v1/query", query='count(ringmq_build_info{job="ringmq"})')
    assert r["data"]["result"][0]["value"][1] == "3", r


def every_dashboard_query_returns_data(_):
    # Traffic the panels chart: QoS 1 messages published on pod 0 to a
    # subscriber on pod 1 (forwarded between nodes) and one on pod 0,
    # retained messages, and one malformed packet (a protocol error).
    subs = [subprocess.Popen(
        ["mosquitto_sub", "-h", S.addr(i), "-t", "dash/#", "-q", "1",
         "-i", "dash-sub-%d" % i, "-c"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL) for i in (0, 1)]
    try:
        time.sleep(1)
        end = time.time() + 8
        while time.time() < end:
            subprocess.run(["mosquitto_pub", "-h", S.addr(0), "-t",
                            "dash/r", "-q", "1", "-r", "-m", "x" * 64],
                           timeout=10, check=True)
            subprocess.run(["mosquitto_pub", "-h", S.addr(0), "-t",
                            "dash/m", "-q", "1", "-l"],
                           input=b"m\n" * 200, timeout=10, check=True)
            time.sleep(0.3)
        with socket.create_connection((S.addr(0), 1883), timeout=5) as c:
            c.sendall(b"\x10\x05\x00\x03XYZ")  # not MQTT: closed
            c.settimeout(5)
            try:
                c.recv(16)
            except OSError:
                pass
        time.sleep(3)
        with open(DASHBOARD) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"]
                 for t in p.get("targets", []) if t.get("expr")]
        assert len(exprs) > 40, len(exprs)
        empty = []
        for e in exprs:
            q = e.replace("$job", ".*")
            r = api("/api/v1/query", query=q)
            assert r["status"] == "success", (q, r)
            res = r["data"]["result"]
            if not res or all(x["value"][1] == "NaN" for x in res):
                empty.append(e)
        assert not empty, "queries without data:\n" + "\n".join(empty)
        print("    %d dashboard queries, each with data, over %d targets" %
              (len(exprs), 3))
    finally:
        for sub in subs:
            sub.terminate()
            sub.wait(10)


def every_rule_evaluates_and_a_dead_pod_alerts(_):
    # the metrics the rules read are all served
    with open(os.path.join(os.path.dirname(CONFIG), "alerts.yml")) as f:
        rules_text = f.read()
    used = set(re.findall(r"\b((?:ringmq|process)_[a-z_]+)\b", rules_text))
    with urllib.request.urlopen("http://%s:8080/metrics" % S.addr(0),
                                timeout=10) as r:
        served = set(re.findall(r"(?m)^(\w+)(?:\{| )", r.read().decode()))
    assert used and used <= served, sorted(used - served)
    end = time.time() + DEADLINE
    while True:
        groups = api("/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("20") and
                         r["health"] == "ok" for r in rules):
            break
        assert time.time() < end, rules
        time.sleep(0.5)
    assert len(rules) == 10, [r["name"] for r in rules]
    # nothing fires on a healthy cluster
    firing = [a for a in api("/api/v1/alerts")["data"]["alerts"]]
    assert firing == [], firing
    # pod 2 killed: its target goes down, the others see their peer down
    dead = "%s:8080" % S.addr(2)
    S.kill(2)
    want = {("RingMQNodeDown", dead, None)} | {
        ("RingMQPeerDown", "%s:8080" % S.addr(i), S.pod(2)) for i in (0, 1)}
    end = time.time() + DEADLINE
    while True:
        alerts = api("/api/v1/alerts")["data"]["alerts"]
        seen = {(a["labels"]["alertname"], a["labels"]["instance"],
                 a["labels"].get("peer")) for a in alerts
                if a["state"] in ("pending", "firing")}
        if want <= seen:
            break
        assert time.time() < end, alerts
        time.sleep(0.5)
    assert seen == want, seen  # and nothing else
    print("    10 rules evaluated; pod 2 killed: RingMQNodeDown for it, "
          "RingMQPeerDown on the two others")


try:
    run([every_pod_is_found_and_scraped, every_dashboard_query_returns_data,
         every_rule_evaluates_and_a_dead_pod_alerts],
        make_broker=None)
finally:
    stop()
    shutil.rmtree(TMP, ignore_errors=True)
