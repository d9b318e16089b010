"""Helpers of the cluster's integration tests: nodes as real broker
processes on loopback ports of the kernel's choice, and their view of the
cluster read from their /metrics and logs, every wait bounded."""
import re
import time

from rmqtest import DEADLINE, Broker


def node(name, *args, timeout_ms=1500, host="127.0.0.1", prefix=()):
    """A node named `name` whose cluster listener is on a port of the
    kernel's choice; its port read from the log.  `host` and `prefix` as
    Broker's (a node in a network namespace of rmqnet)."""
    b = Broker("--node-name", name, "--cluster-listener", host + ":0",
               "--cluster-peer-timeout", str(timeout_ms), *args, host=host,
               prefix=prefix)
    end = time.time() + DEADLINE
    while True:
        for line in list(b.log):
            m = re.search(r"cluster: node %s on (?:tls\+)?tcp://[^ ,]+:(\d+), "
                          r"channel on port (\d+)(?:, links on port (\d+))?;"
                          % name, line)
            if m:
                b.cluster_port = int(m.group(1))
                b.channel_port = int(m.group(2))
                # 0: links off (cluster_links false, or TLS between nodes)
                b.link_port = int(m.group(3) or 0)
                b.name = name
                return b
        assert time.time() < end, "no cluster listener:\n" + "\n".join(
            b.log[-20:])
        time.sleep(0.02)


def seed(b):
    return "%s:%d" % (b.host, b.cluster_port)


def pair(a_args=(), b_args=(), timeout_ms=1500):
    """Nodes a and b (b seeded with a), each seeing the other up."""
    a = node("a", *a_args, timeout_ms=timeout_ms)
    b = node("b", "--cluster-seeds", seed(a), *b_args, timeout_ms=timeout_ms)
    wait_peers(a, {"b": 1})
    wait_peers(b, {"a": 1})
    return a, b


def peers(b):
    """{peer name: 1 up, 0 down} as the node's /metrics says."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^ringmq_cluster_peer_up\{peer="([^"]+)"\} (\d)$', b.metrics_text(),
        re.M)}


def wait_view(view, b, want, timeout=DEADLINE):
    """Until view(b) (peers, routes) is want, bounded."""
    end = time.time() + timeout
    while view(b) != want:
        assert time.time() < end, "%s, want %s" % (view(b), want)
        time.sleep(0.02)


def wait_peers(b, want):
    wait_view(peers, b, want)


def wait_line(b, pattern):
    """Until the node has logged a line matching pattern (its log is read
    by a thread, a little after the node writes it), bounded."""
    end = time.time() + DEADLINE
    while not any(re.search(pattern, l) for l in list(b.log)):
        assert time.time() < end, "no %r in:\n%s" % (pattern,
                                                    "\n".join(b.log[-10:]))
        time.sleep(0.02)


def finish(*nodes):
    """Stop every node (all of them, whatever one does); each must exit
    0."""
    bad = []
    for b in nodes:
        if b.alive():
            rc = b.stop()
            if rc != 0:
                bad.append("node %s exited %s:\n%s" % (
                    getattr(b, "name", "?"), rc, "\n".join(b.log[-30:])))
    assert not bad, "\n".join(bad)


def routes(b):
    """{peer name: routes held for it} as the node's /metrics says."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^ringmq_cluster_routes\{peer="([^"]+)"\} (\d+)$', b.metrics_text(),
        re.M)}


def wait_routes(b, want):
    wait_view(routes, b, want)


def promtool_ok(b):
    """The node's /metrics pass promtool's check."""
    import subprocess
    r = subprocess.run(["promtool", "check", "metrics"],
                       input=b.metrics_text(), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
