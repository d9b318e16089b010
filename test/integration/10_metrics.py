"""10: the admin endpoint: /healthz, /readyz, /metrics in the Prometheus
text format (checked by promtool), counters that move with traffic, and a
real Prometheus server scraping the broker."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from rmqtest import (Broker, Client, dashboard_metrics, free_port, paho,
                     offline_session, raw_subscriber, run, served_metrics,
                     unserved)


def get(b, path):
    url = "http://127.0.0.1:%d%s" % (b.admin_port, path)
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no metric " + name)


def total(text, name):
    """The sum of every series of a metric family (name with or without
    labels)."""
    found, v = False, 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            found, v = True, v + float(line.rsplit(" ", 1)[1])
    assert found, "no metric " + name
    return v


def health_and_readiness(b):
    # /healthz answers as soon as the admin endpoint listens; /readyz says
    # 503 until the worker loops run (a moment later: the admin endpoint
    # starts first), then 200, as a readiness probe expects.
    assert get(b, "/healthz")[0] == 200
    end = time.time() + 10
    while True:
        try:
            assert get(b, "/readyz")[0] == 200
            return
        except urllib.error.HTTPError as e:
            assert e.code == 503, e.code
            assert time.time() < end, "never ready"
            time.sleep(0.05)


def exposition_format_passes_promtool(b):
    status, ctype, text = get(b, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    if shutil.which("promtool") is None:
        raise AssertionError("promtool not installed (scripts/deps --test)")
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def counters_move_with_traffic(b):
    before = get(b, "/metrics")[2]
    s = Client(b, "m-s")
    s.subscribe("m/t", 1)
    p = Client(b, "m-p")
    for i in range(10):
        p.publish("m/t", b"x" * 100, qos=1)
    s.wait_msgs(10)
    after = get(b, "/metrics")[2]
    for name, at_least in (("ringmq_messages_received_total", 10),
                           ("ringmq_messages_sent_total", 10),
                           ("ringmq_received_bytes_total", 1000),
                           ("ringmq_sent_bytes_total", 1000),
                           ("ringmq_connects_total", 2)):
        moved = total(after, name) - total(before, name)
        assert moved >= at_least, (name, moved)
    assert metric(after, "ringmq_connections") >= 2
    assert metric(after, "ringmq_subscriptions") >= 1
    assert metric(after, "process_resident_memory_bytes") > 0
    s.close()
    p.close()


def labelled_metrics_move(b):
    # By packet type, QoS, protocol version and listener; the loops'
    # events and the delivery latency histogram.
    before = get(b, "/metrics")[2]
    s = Client(b, "lm-s", version=paho.MQTTv5)
    s.subscribe("lm/t", 1)
    p = Client(b, "lm-p")
    for i in range(10):
        p.publish("lm/t", b"x", qos=1)
    s.wait_msgs(10)
    during = get(b, "/metrics")[2]

    def moved(name):
        return metric(during, name) - metric(before, name)
    assert moved('ringmq_packets_received_total{type="publish"}') >= 10
    assert moved('ringmq_packets_sent_total{type="puback"}') >= 10
    assert moved('ringmq_packets_sent_total{type="publish"}') >= 10
    assert moved('ringmq_packets_received_total{type="subscribe"}') >= 1
    assert moved('ringmq_messages_received_total{qos="1"}') >= 10
    assert moved('ringmq_messages_sent_total{qos="1"}') >= 10
    assert moved('ringmq_messages_received_total{qos="2"}') == 0
    assert metric(during, 'ringmq_clients_connected{version="5.0"}') >= 1
    assert metric(during, 'ringmq_clients_connected{version="3.1.1"}') >= 1
    assert total(during, "ringmq_listener_connections") >= 2
    assert total(during, "ringmq_listener_accepted_total") - \
        total(before, "ringmq_listener_accepted_total") >= 2
    assert total(during, "ringmq_loop_events_total") > \
        total(before, "ringmq_loop_events_total")
    # Each loop's own allocator arena: a series for every loop (or none,
    # in a build without jemalloc), never a negative count.
    alloc = [l for l in during.splitlines()
             if l.startswith("ringmq_loop_allocated_bytes{")]
    loops = [l for l in during.splitlines()
             if l.startswith("ringmq_loop_turns_total{")]
    assert len(alloc) in (0, len(loops)) and loops, (alloc, loops)
    assert all(float(l.rsplit(" ", 1)[1]) >= 0 for l in alloc), alloc
    # The histogram: cumulative buckets, +Inf equal to the count, and at
    # least the 10 deliveries just made.
    buckets = [float(l.rsplit(" ", 1)[1]) for l in during.splitlines()
               if l.startswith("ringmq_delivery_latency_seconds_bucket")]
    assert buckets == sorted(buckets) and len(buckets) == 20, buckets
    # The lowest bounds are microseconds: the broker's own share of a
    # delivery is a few of them.
    assert 'ringmq_delivery_latency_seconds_bucket{le="2e-06"}' in during
    assert 'ringmq_delivery_latency_seconds_bucket{le="5e-06"}' in during
    count = metric(during, "ringmq_delivery_latency_seconds_count")
    assert buckets[-1] == count
    assert count - metric(before, "ringmq_delivery_latency_seconds_count") \
        >= 10
    s.close()
    p.close()
    # Gauges come back down when the clients leave.
    b.wait_connections(0)
    after = get(b, "/metrics")[2]
    assert metric(after, 'ringmq_clients_connected{version="5.0"}') == 0
    assert total(after, "ringmq_listener_connections") == 0


def queue_and_inflight_gauges(b):
    # An offline session with 7 QoS 1 messages waiting: the sampled
    # queue gauge shows them, and drops back when they are delivered.
    offline_session(b, "qg", "qg/t")
    p = Client(b, "qg-p")
    for i in range(7):
        p.publish("qg/t", b"x", qos=1)
    p.close()
    end = time.time() + 10
    while total(get(b, "/metrics")[2], "ringmq_queued_messages") < 7:
        assert time.time() < end, "queued gauge never showed 7"
        time.sleep(0.1)
    text = get(b, "/metrics")[2]
    assert metric(text, "ringmq_sessions_offline") >= 1
    assert metric(text, "ringmq_sessions_persistent") >= 1
    s = Client(b, "qg", clean=False)
    s.wait_msgs(7)
    end = time.time() + 10
    while total(get(b, "/metrics")[2], "ringmq_queued_messages") != 0:
        assert time.time() < end, "queued gauge never went back to 0"
        time.sleep(0.1)
    s.close()
    # A subscriber that takes QoS 1 messages and never acknowledges them:
    # they stay in flight.
    r = raw_subscriber(b, "ifl", "if/t", qos=1)
    p = Client(b, "ifl-p")
    for i in range(3):
        p.publish("if/t", b"x", qos=1)
    p.close()
    for i in range(3):
        assert r.recv_packet()[0] & 0xF0 == 0x30
    end = time.time() + 10
    while total(get(b, "/metrics")[2], "ringmq_inflight_messages") < 3:
        assert time.time() < end, "in-flight gauge never showed 3"
        time.sleep(0.1)
    r.close()


def dashboard_names_only_served_metrics(b):
    # the Grafana dashboard must not chart a metric that does not
    # exist (its Cluster row: 21_cluster, against a node of a cluster).
    used = dashboard_metrics(None)
    assert used and not unserved(used, served_metrics(get(b, "/metrics")[2])), \
        unserved(used, served_metrics(get(b, "/metrics")[2]))


def sys_topics(_):
    # $SYS/broker/... every sys_interval seconds (1 here), retained; a
    # leading '#' does not see them [MQTT-4.7.2-1].
    old = dict(os.environ)
    os.environ["RINGMQ_SYS_INTERVAL"] = "1"
    try:
        b = Broker()
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        every = Client(b, "sys-all")
        every.subscribe("#", 0)
        s = Client(b, "sys-s")
        s.subscribe("$SYS/broker/#", 0)
        p = Client(b, "sys-p")
        for i in range(3):
            p.publish("sys/x", b"x", qos=1)

        def latest(topic):
            vals = [m.payload.decode() for m in s.msgs if m.topic == topic]
            return vals[-1] if vals else None

        # A cycle ends with the retained count: wait for a whole one that
        # has seen the three messages.
        s.wait(lambda: latest("$SYS/broker/messages/received") is not None
               and int(latest("$SYS/broker/messages/received")) >= 3
               and latest("$SYS/broker/retained messages/count") is not None,
               "$SYS messages/received >= 3", timeout=10)
        s.quiet(0.2)
        assert latest("$SYS/broker/version").startswith("ringmq ")
        assert latest("$SYS/broker/uptime").endswith(" seconds")
        assert int(latest("$SYS/broker/clients/connected")) >= 3
        assert int(latest("$SYS/broker/subscriptions/count")) >= 2
        assert not any(m.topic.startswith("$SYS") for m in every.msgs)
        for c in (every, s, p):
            c.close()
    finally:
        assert b.stop() == 0


def prometheus_scrapes_the_broker(b):
    prom = shutil.which("prometheus")
    if prom is None:
        raise AssertionError("prometheus not installed (scripts/deps --test)")
    d = tempfile.mkdtemp(prefix="rmq-prom-")
    port = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n"
                "scrape_configs:\n  - job_name: ringmq\n"
                "    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % b.admin_port)
    proc = subprocess.Popen(
        [prom, "--config.file=" + os.path.join(d, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(d, "data"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def query(q):
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (
            port, urllib.request.quote(q))
        with urllib.request.urlopen(url, timeout=5) as r:
            res = json.load(r)["data"]["result"]
        return float(res[0]["value"][1]) if res else None

    def wait_for(q, cond, seconds=30):
        end = time.time() + seconds
        while time.time() < end:
            try:
                v = query(q)
                if v is not None and cond(v):
                    return v
            except OSError:
                pass  # Prometheus still starting
            time.sleep(0.5)
        raise AssertionError("Prometheus never saw %s" % q)

    try:
        assert wait_for('up{job="ringmq"}', lambda v: v == 1) == 1
        base = wait_for("sum(ringmq_messages_received_total)",
                        lambda v: True)
        p = Client(b, "prom-p")
        for i in range(25):
            p.publish("prom/t", b"x", qos=1)
        p.close()
        wait_for("sum(ringmq_messages_received_total)",
                 lambda v: v >= base + 25)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


run([health_and_readiness, exposition_format_passes_promtool,
     counters_move_with_traffic, labelled_metrics_move,
     queue_and_inflight_gauges, dashboard_names_only_served_metrics,
     sys_topics,
     prometheus_scrapes_the_broker])
