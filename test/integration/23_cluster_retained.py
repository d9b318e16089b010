#!/usr/bin/python3
"""Retained messages across the cluster, with real broker processes on
loopback ports and real clients (paho, mosquitto_sub): a retained message
set on one node is served to a subscriber that subscribes on another; a
node that joins later gets the retained messages already set; a delete
(empty payload) reaches every node; two nodes updating one topic at once
end with the same message everywhere; $SYS stays on its node; and the
cluster's retained counters show what was sent and applied."""
import faulthandler
import itertools
import re
import subprocess
import threading
import time

from rmqcluster import finish, node, promtool_ok, seed, wait_peers
from rmqtest import DEADLINE, Client, paho, run

faulthandler.dump_traceback_later(400, exit=True)
MARKS = itertools.count()


def mesh(*names):
    first = node(names[0])
    nodes = [first] + [node(n, "--cluster-seeds", seed(first))
                       for n in names[1:]]
    for x in nodes:
        wait_peers(x, {y.name: 1 for y in nodes if y is not x})
    return nodes


def retained_all(b, topic):
    """The retained payloads a new subscriber to topic on node b gets,
    read with a paho client that then publishes to a topic of its own:
    the node queues a subscription's retained messages before it reads
    the next packet, so they all come before that marker."""
    marker = "rmqtest/marker/%d" % next(MARKS)
    c = Client(b)
    try:
        c.c.subscribe([(topic, 0), (marker, 0)])
        c.wait(lambda: c.subacks, "SUBACK")
        c.publish(marker, "m")
        c.wait(lambda: any(m.topic == marker for m in c.msgs), "marker")
        got = [m.payload.decode() for m in c.msgs
               if m.topic != marker and m.retain]
    finally:
        c.close()
    return got


def retained(b, topic):
    """The retained payload of one topic on node b; None: none."""
    got = retained_all(b, topic)
    assert len(got) <= 1, got
    return got[0] if got else None


def wait_retained(b, topic, want):
    """Until a new subscriber on b gets want (None: nothing), bounded."""
    end = time.time() + DEADLINE
    got = retained(b, topic)
    while got != want:
        assert time.time() < end, "%s on %s: %r, want %r" % (
            topic, b.name, got, want)
        time.sleep(0.05)
        got = retained(b, topic)


def metric(b, name):
    m = re.search(r"^%s (\d+)$" % name, b.metrics_text(), re.M)
    return int(m.group(1)) if m else None


def served_on_every_node(_):
    # [MQTT-3.3.1-5]: the server stores a retained message and delivers
    # it to future subscribers whose subscriptions match its topic; in a
    # cluster, whichever node they subscribe on.
    a, b, c = mesh("a", "b", "c")
    try:
        pub = Client(a, "rp", version=paho.MQTTv5)
        pub.publish("status/door", "open", 1, retain=True)
        pub.close()
        for x in (b, c):
            wait_retained(x, "status/door", "open")
        # mosquitto_sub on b gets it too (-C 1: it leaves with it).
        r = subprocess.run(["mosquitto_sub", "-p", str(b.port), "-t",
                            "status/door", "--retained-only", "-C", "1",
                            "-W", "10"], capture_output=True, text=True,
                           timeout=DEADLINE)
        assert r.stdout == "open\n", r
        # A paho subscriber on c gets it with the retain flag set.
        s = Client(c, "rs")
        s.subscribe("status/#", 1)
        m = s.wait_msgs(1)[0]
        assert m.payload == b"open" and m.retain, (m.payload, m.retain)
        s.close()
        # Replaced on b: every node serves the new one.
        pub = Client(b, "rp2")
        pub.publish("status/door", "closed", 1, retain=True)
        pub.close()
        for x in (a, b, c):
            wait_retained(x, "status/door", "closed")
        # Deleted on c (empty payload, [MQTT-3.3.1-6]): gone everywhere.
        pub = Client(c, "rp3")
        pub.publish("status/door", "", 1, retain=True)
        pub.close()
        for x in (a, b, c):
            wait_retained(x, "status/door", None)
        assert metric(a, "ringmq_cluster_retained_sent_total") == 1
        assert metric(b, "ringmq_cluster_retained_applied_total") == 2
        promtool_ok(a)
    finally:
        finish(a, b, c)


def late_node_gets_them(_):
    # Set before the node exists: it gets them with its snapshot, and
    # $SYS topics (the node's own) are not among them.
    a, b = mesh("a", "b")
    c = None
    try:
        pub = Client(a, "lp")
        for i in range(300):
            pub.c.publish("late/%d" % i, "v%d" % i, 1, retain=True)
        pub.publish("late/last", "end", 1, retain=True)
        pub.close()
        wait_retained(b, "late/last", "end")
        c = node("c", "--cluster-seeds", seed(b))
        wait_peers(c, {"a": 1, "b": 1})
        wait_retained(c, "late/last", "end")
        got = sorted(retained_all(c, "late/#"))
        assert got == sorted(["v%d" % i for i in range(300)] + ["end"]), \
            len(got)
        # c's $SYS topics are its own: set by c's first tick, which may
        # come after c met the others.
        end = time.time() + DEADLINE
        while retained(c, "$SYS/broker/version") is None:
            assert time.time() < end, "no $SYS/broker/version on c"
            time.sleep(0.05)
        assert metric(c, "ringmq_cluster_retained_applied_total") >= 301
    finally:
        finish(a, b, *([c] if c else []))


def concurrent_updates_converge(_):
    # a and b set one topic 200 times each at once: whatever order the
    # changes cross in, both end with the same value, the newer change.
    a, b = mesh("a", "b")
    try:
        def hammer(x, tag):
            cl = Client(x, "h" + tag)
            for i in range(200):
                cl.c.publish("race/t", "%s%d" % (tag, i), 1, retain=True)
            cl.publish("race/other-" + tag, "done", 1, retain=True)
            cl.close()
        ts = [threading.Thread(target=hammer, args=(x, t))
              for x, t in ((a, "a"), (b, "b"))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(DEADLINE)
        for x in (a, b):
            wait_retained(x, "race/other-a", "done")
            wait_retained(x, "race/other-b", "done")
        va, vb = retained(a, "race/t"), retained(b, "race/t")
        assert va == vb and va in ("a199", "b199"), (va, vb)
        print("    both nodes hold %s; %d and %d changes not applied "
              "(older)" % (va, metric(a,
                                      "ringmq_cluster_retained_older_total"),
                           metric(b, "ringmq_cluster_retained_older_total")))
    finally:
        finish(a, b)


run([served_on_every_node, late_node_gets_them,
     concurrent_updates_converge], make_broker=None)
