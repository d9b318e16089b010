#!/usr/bin/python3
"""The cluster with real broker processes on loopback ports.  Membership:
nodes that meet through one seed, a node killed with SIGKILL found down and
found again when it comes back, a restart told by its new epoch, peers from
a DNS name (and a name that lists the node itself), and the settings'
refusals.  Routes: every node holds one route per filter and node, whatever
the subscribers behind it, changes follow subscribes and unsubscribes, a
late node gets them by snapshot, and a dead node's go.  Each node's view is
read from its /metrics (ringmq_cluster_peer_up, ringmq_cluster_routes)."""
import faulthandler
import os
import re
import signal
import subprocess
import time

from rmqcluster import (finish, node, pair, peers, promtool_ok, routes, seed,
                        wait_line, wait_peers, wait_routes)
from rmqtest import (BROKER, DEADLINE, Broker, Client, certs, conf_file,
                     dashboard_metrics, free_port, paho, run, served_metrics,
                     unserved)


# Every wait below is bounded; should one not be, say where it stuck.
faulthandler.dump_traceback_later(400, exit=True)


def meet_through_one_seed(_):
    # c knows only b, and b only a: each hello lists the members its
    # sender knows, so every node comes to know every other.
    a = node("a")
    b = node("b", "--cluster-seeds", seed(a))
    c = node("c", "--cluster-seeds", seed(b))
    try:
        wait_peers(a, {"b": 1, "c": 1})
        wait_peers(b, {"a": 1, "c": 1})
        wait_peers(c, {"a": 1, "b": 1})
        for x in (a, b, c):
            assert x.metric("ringmq_cluster_joins_total") == 2
            assert x.metric("ringmq_cluster_departures_total") == 0
            assert x.metric('ringmq_cluster_peers{state="up"}') == 2
            assert x.metric("ringmq_cluster_bad_messages_total") == 0
        # a dials c where c listens, learnt from b.
        wait_line(a, r"cluster: node c joined at tcp://127\.0\.0\.1:%d; "
                  % c.cluster_port)
    finally:
        finish(a, b, c)


def killed_node_found_down_and_back(_):
    # SIGKILL: no goodbye.  The others find it down once it has been
    # silent for cluster_peer_timeout (1.5 s); it comes back on another
    # port under the same name and is found up again.
    a = node("a")
    b = node("b", "--cluster-seeds", seed(a))
    c = node("c", "--cluster-seeds", seed(a))
    c2 = None
    try:
        for x, want in ((a, {"b": 1, "c": 1}), (b, {"a": 1, "c": 1})):
            wait_peers(x, want)
        t0 = time.time()
        c.proc.kill()
        c.proc.wait()
        wait_peers(a, {"b": 1, "c": 0})
        wait_peers(b, {"a": 1, "c": 0})
        found = time.time() - t0
        print("    c found down after %.0f ms" % (found * 1000))
        # The bound is the timeout and one hello interval; a loaded
        # machine's scheduling is not this test's to measure, so only a
        # wide margin fails it.
        assert found < 1.5 + 3.0, found
        assert a.metric("ringmq_cluster_departures_total") == 1
        wait_line(a, r"cluster: node c left: silent for over 1500 ms")
        c2 = node("c", "--cluster-seeds", seed(b))
        wait_peers(a, {"b": 1, "c": 1})
        wait_peers(c2, {"a": 1, "b": 1})
        assert a.metric("ringmq_cluster_joins_total") == 3
    finally:
        c.stop()
        finish(a, b, *([c2] if c2 else []))


def a_paused_node_keeps_its_peers(_):
    # a's process stopped (SIGSTOP) past the peer timeout, then let go:
    # b finds a silent and down, as it should.  a's own bus thread was
    # held, not its peers: b's hellos of meanwhile are on their way to
    # it, so a reads them before it looks for the silent, and keeps b up
    # and b's routes (it took b for dead and met it again before).
    a, b = pair()
    clients = []
    try:
        sub = Client(b, "pz-s")
        clients.append(sub)
        sub.subscribe("pz/#", 1)
        wait_routes(a, {"b": 1})
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            wait_peers(b, {"a": 0})
            time.sleep(0.5)  # a held past b's finding: 2 s or more
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        wait_peers(b, {"a": 1})
        time.sleep(0.5)  # a's passes after its pause, more than one
        assert not any("node b left" in l for l in a.log), \
            [l for l in a.log if "left" in l]
        assert a.metric("ringmq_cluster_departures_total") == 0
        assert b.metric("ringmq_cluster_departures_total") == 1
        pub = Client(a, "pz-p")
        clients.append(pub)
        pub.publish("pz/1", "after", 1)
        assert sub.wait_msgs(1)[0].payload == b"after"
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def restart_within_the_timeout_is_a_new_epoch(_):
    # Back before its silence counts: the new epoch in its hello tells
    # the restart apart.
    a = node("a", timeout_ms=20000)
    b = node("b", "--cluster-seeds", seed(a), timeout_ms=20000)
    b2 = None
    try:
        wait_peers(a, {"b": 1})
        b.proc.kill()
        b.proc.wait()
        b2 = node("b", "--cluster-seeds", seed(a), timeout_ms=20000)
        end = time.time() + DEADLINE
        while a.metric("ringmq_cluster_restarts_total") != 1:
            assert time.time() < end, a.log[-10:]
            time.sleep(0.02)
        wait_line(a, r"cluster: node b restarted \(a new epoch\)")
        assert a.metric("ringmq_cluster_departures_total") == 0
        wait_peers(b2, {"a": 1})
    finally:
        b.stop()
        finish(a, *([b2] if b2 else []))


def peers_from_a_dns_name(_):
    # cluster_dns: every address of the name is dialled (localhost here;
    # a headless Service in Kubernetes).  A node whose name lists itself
    # closes that dialer and is not alone by mistake: it has no peers.
    # Its channel and links on ports of their own: the listener's + 1 and
    # + 2 may be taken.
    port = free_port()
    s = Broker("--node-name", "self", "--cluster-listener",
               "127.0.0.1:%d" % port, "--cluster-forward-port",
               str(free_port()), "--cluster-link-port", str(free_port()),
               "--cluster-dns",
               "localhost:%d" % port, "--cluster-dns-interval", "200")
    a = node("a")
    b = node("b", "--cluster-dns", "localhost:%d" % a.cluster_port)
    try:
        wait_peers(a, {"b": 1})
        wait_peers(b, {"a": 1})
        end = time.time() + DEADLINE
        while not any("is this node: not dialled" in l for l in s.log):
            assert time.time() < end, s.log[-10:]
            time.sleep(0.02)
        time.sleep(0.5)  # two more resolutions: not dialled again
        assert sum("is this node" in l for l in s.log) == 1, s.log
        assert peers(s) == {}
    finally:
        finish(s, a, b)


def settings_refused(_):
    # Bad values name the file and line; a cluster listener that cannot
    # be bound stops the start with the reason.
    for line in ("cluster_seeds nohost", "cluster_seeds a:1,b",
                 "cluster_seeds a:0", "cluster_dns a:1,b:2",
                 "cluster_peer_timeout 5"):
        p = conf_file("%s\n" % line)
        r = subprocess.run([BROKER, "check-config", p], capture_output=True,
                           text=True, timeout=DEADLINE)
        os.unlink(p)
        assert r.returncode == 1 and "%s:1: %s" % (p, line.split()[0]) \
            in r.stderr, (line, r)
    p = conf_file("node_name n1\ncluster_listener *:7400\n"
                  "cluster_seeds ringmq-0.ringmq-headless:7400,"
                  "10.0.0.2:7400\ncluster_dns ringmq-headless:7400\n")
    r = subprocess.run([BROKER, "check-config", p], capture_output=True,
                       text=True, timeout=DEADLINE)
    os.unlink(p)
    assert r.returncode == 0, r
    a = node("a")
    try:
        r = subprocess.run([BROKER, "-p", "127.0.0.1:0", "--admin-listener",
                            "none", "--cluster-listener",
                            "127.0.0.1:%d" % a.cluster_port],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 1, r
        assert "cluster_listener 127.0.0.1:%d: Address in use" \
            % a.cluster_port in r.stderr, r.stderr
    finally:
        finish(a)


def routes_follow_subscriptions(_):
    # One route per (filter, node): a and b both subscribe to x/+, b
    # twice (two clients); c holds a's two filters and b's one.  An
    # unsubscribe, a client leaving, a late node, a dead node.
    a = node("a")
    b = node("b", "--cluster-seeds", seed(a))
    c = node("c", "--cluster-seeds", seed(a))
    clients, d = [], None
    try:
        for x in (a, b, c):
            wait_peers(x, {y: 1 for y in ("a", "b", "c") if y != x.name})
        ca = Client(a, "ca", version=paho.MQTTv5)
        clients.append(ca)
        ca.subscribe("x/+", qos=1)
        ca.subscribe("y/#", qos=0)
        for i in range(2):
            cb = Client(b, "cb%d" % i)
            clients.append(cb)
            cb.subscribe("x/+", qos=i)
        wait_routes(c, {"a": 2, "b": 1})
        wait_routes(a, {"b": 1, "c": 0})
        wait_routes(b, {"a": 2, "c": 0})
        assert c.metric("ringmq_subscriptions") == 3, "remote entries"
        assert b.metric("ringmq_cluster_local_routes") == 1
        assert b.metric("ringmq_subscriptions") == 2 + 2
        ca.unsubscribe("y/#")
        wait_routes(c, {"a": 1, "b": 1})
        clients[1].close()  # one of b's two x/+ subscribers
        time.sleep(0.3)
        assert routes(c) == {"a": 1, "b": 1}, "the other still holds it"
        # A node that comes later gets the routes as they are now.
        d = node("d", "--cluster-seeds", seed(c))
        wait_routes(d, {"a": 1, "b": 1, "c": 0})
        # One snapshot of each (c's, empty, may come after the others).
        end = time.time() + DEADLINE
        while d.metric("ringmq_cluster_snapshots_installed_total") < 3:
            assert time.time() < end, d.log[-10:]
            time.sleep(0.02)
        # a goes: its route goes from every index.
        ca.close()
        clients.remove(ca)
        wait_routes(c, {"a": 0, "b": 1, "d": 0})
        a.proc.kill()
        a.proc.wait()
        for x in (b, c, d):
            wait_peers(x, {y: (0 if y == "a" else 1)
                           for y in ("a", "b", "c", "d") if y != x.name})
            assert routes(x).get("a", 0) == 0
        for x in (b, c, d):
            assert x.metric("ringmq_cluster_bad_messages_total") == 0
        promtool_ok(c)
    finally:
        for cl in clients:
            cl.close()
        a.stop()
        finish(b, c, *([d] if d else []))


def local_routes(b):
    return int(b.metric("ringmq_cluster_local_routes"))


def ten_nodes_converge(_):
    # Ten nodes that meet through the first; 40 clients spread over them
    # subscribe to filters, then a third unsubscribe one, a third leave,
    # and new ones subscribe.  Every node ends holding, for each peer,
    # exactly the routes that peer has: the time that takes after the
    # last change is reported.
    names = ["n%d" % i for i in range(10)]
    nodes = [node(names[0])]
    clients = []
    try:
        nodes += [node(n, "--cluster-seeds", seed(nodes[0]))
                  for n in names[1:]]
        for x in nodes:
            wait_peers(x, {y.name: 1 for y in nodes if y is not x})
        for i in range(40):
            cl = Client(nodes[i % 10], "c%d" % i)
            clients.append(cl)
            cl.subscribe("f/%d/+" % (i % 13), i % 3)
            cl.subscribe("g/%d" % i, 1)
        for i, cl in enumerate(list(clients)):
            if i % 3 == 0:
                cl.unsubscribe("g/%d" % i)
            elif i % 3 == 1:
                cl.close()
                clients.remove(cl)
        for i in range(40, 50):
            cl = Client(nodes[i % 10], "c%d" % i)
            clients.append(cl)
            cl.subscribe("h/#", 2)
        # Each node's own count, then every view of it; again until they
        # agree (a client's leave is processed a little after close()).
        t0 = time.time()
        while True:
            want = {x.name: local_routes(x) for x in nodes}
            if all(routes(x) == {n: v for n, v in want.items()
                                 if n != x.name} for x in nodes):
                break
            assert time.time() < t0 + DEADLINE, want
            time.sleep(0.05)
        took = time.time() - t0
        print("    10 nodes: %d routes in all, every index whole within "
              "%.0f ms of the last change (20 scrapes a round included)"
              % (sum(want.values()), took * 1000))
    finally:
        for cl in clients:
            cl.close()
        finish(*nodes)


def readyz(b):
    """/readyz's status code."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz"
                                    % b.admin_port, timeout=DEADLINE) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def ready_once_the_index_is_whole(_):
    # /readyz waits for the cluster: a node whose only seed answers
    # nothing is not ready until a peer timeout has passed (its seeds had
    # their chance); one that meets a peer is ready once that peer's
    # routes are installed.
    dead = free_port()
    a = node("a", "--cluster-seeds", "127.0.0.1:%d" % dead,
             timeout_ms=3000)
    b = None
    try:
        t0 = time.time()
        assert readyz(a) == 503 and a.metric("ringmq_cluster_ready") == 0
        end = t0 + DEADLINE
        while readyz(a) != 200:
            assert time.time() < end, a.log[-5:]
            time.sleep(0.05)
        assert time.time() - t0 >= 2.5, "ready before the peer timeout"
        assert a.metric("ringmq_cluster_ready") == 1
        cl = Client(a, "ra")
        cl.subscribe("r/#")
        b = node("b", "--cluster-seeds", seed(a), timeout_ms=3000)
        wait_routes(b, {"a": 1})
        end = time.time() + DEADLINE
        while readyz(b) != 200:
            assert time.time() < end, b.log[-5:]
            time.sleep(0.05)
        assert routes(b) == {"a": 1}, "ready with a's routes in"
        cl.close()
    finally:
        finish(a, *([b] if b else []))


def single_node_has_no_cluster(_):
    # No cluster_listener: nothing of the cluster runs or is reported.
    b = Broker()
    try:
        assert "ringmq_cluster_" not in b.metrics_text()
        assert not any("cluster:" in l for l in b.log)
    finally:
        finish(b)


def tls_between_nodes(_):
    # cluster_tls_*: nodes with certificates of the cluster's CA meet over
    # TLS and messages cross; a node whose certificate another CA signed,
    # one without TLS, and one that wants another peer name are kept out.
    # Only some of the three files: the start is refused, naming the one
    # missing.
    c = certs()

    def tls(cert="node", *more):
        return ("--cluster-tls-certfile", c.path(cert + ".pem"),
                "--cluster-tls-keyfile", c.path(cert + ".key"),
                "--cluster-tls-cafile", c.path("ca.pem")) + more

    a, b = pair(tls(), tls("node", "--cluster-tls-peer-name",
                           "ringmq-cluster"))
    outsiders = []
    clients = []
    try:
        assert any("node a on tls+tcp://" in l for l in a.log), a.log[-5:]
        s = Client(b, "tls-s")
        clients.append(s)
        s.subscribe("tls/#", 1)
        wait_routes(a, {"b": 1})
        p = Client(a, "tls-p")
        clients.append(p)
        p.publish("tls/x", "over tls", 1)
        assert s.wait_msgs(1)[0].payload == b"over tls"
        # Outsiders dial a for 2 s (the peer timeout and more): none
        # becomes a member.
        outsiders = [
            node("rogue", "--cluster-seeds", seed(a), *tls("node_rogue")),
            node("plain", "--cluster-seeds", seed(a)),
            node("named", "--cluster-seeds", seed(a),
                 *tls("node", "--cluster-tls-peer-name", "elsewhere")),
        ]
        time.sleep(2.0)
        assert peers(a) == {"b": 1}, peers(a)
        for x in outsiders:
            assert peers(x) == {}, (x.name, peers(x))
    finally:
        for cl in clients:
            cl.close()
        finish(a, b, *outsiders)
    r = subprocess.run([BROKER, "--cluster-listener", "127.0.0.1:0",
                        "--cluster-tls-certfile", c.path("node.pem"),
                        "--cluster-tls-cafile", c.path("ca.pem"),
                        "--port", "127.0.0.1:0", "--admin-listener", "none"],
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode != 0 and "cluster_tls_keyfile is missing" in \
        r.stderr, r


def dashboard_cluster_row(_):
    # the Grafana dashboard's Cluster row charts only metrics a node of a
    # cluster serves.
    a, b = pair()
    try:
        used = dashboard_metrics("Cluster")
        assert len(used) >= 10, used
        missing = unserved(used, served_metrics(a.metrics_text()))
        assert not missing, missing
    finally:
        finish(a, b)


run([meet_through_one_seed, killed_node_found_down_and_back,
     a_paused_node_keeps_its_peers, restart_within_the_timeout_is_a_new_epoch, peers_from_a_dns_name,
     settings_refused, routes_follow_subscriptions,
     ready_once_the_index_is_whole, ten_nodes_converge,
     single_node_has_no_cluster, tls_between_nodes, dashboard_cluster_row],
    make_broker=None)
