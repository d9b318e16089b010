#!/usr/bin/python3
"""Messages between nodes, with real broker processes on loopback ports and
real clients (paho): a message published on one node reaches the
subscribers of every other, once per node over the channel (not once per
subscriber, never back), in the publisher's order, with its properties,
for every protocol version and QoS; wills cross, No Local holds;
QoS 1 and 2 survive the channel's connections being killed under load and
a node paused past the resend interval, each message delivered once and in
order; what a node forwards and takes is counted in /metrics."""
import faulthandler
import os
import signal
import subprocess
import threading
import time

from rmqcluster import (finish, node, pair, promtool_ok, seed, wait_peers,
                        wait_routes)
from rmqtest import DEADLINE, Client, paho, run

faulthandler.dump_traceback_later(400, exit=True)


def by_peer(b, name):
    """{peer: value} of a per-peer metric."""
    import re
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^%s\{peer="([^"]+)"\} (\d+)$' % name, b.metrics_text(), re.M)}


def mesh(*names, timeout_ms=1500):
    """Nodes that all meet through the first."""
    first = node(names[0], timeout_ms=timeout_ms)
    nodes = [first] + [node(n, "--cluster-seeds", seed(first),
                            timeout_ms=timeout_ms) for n in names[1:]]
    for x in nodes:
        wait_peers(x, {y.name: 1 for y in nodes if y is not x})
    return nodes


def payloads(cl):
    return [m.payload.decode() for m in cl.msgs]


def publish_all(cl, topic, n, qos, **kw):
    """n messages "0".."n-1", each acknowledged (QoS > 0) before the end."""
    infos = [cl.c.publish(topic, str(i), qos, **kw) for i in range(n)]
    for info in infos:
        info.wait_for_publish(DEADLINE)
        assert info.is_published()


def once_per_node_in_order(_):
    # b has two subscribers and c one: a forwards each message once to
    # each of them, and each subscriber has all 200 in order.  a's own
    # subscriber gets each once: nothing comes back.
    a, b, c = mesh("a", "b", "c")
    clients = []
    try:
        for x, cid, f in ((b, "b1", "f/#"), (b, "b2", "f/+"),
                          (c, "c1", "f/1"), (a, "a1", "f/#")):
            cl = Client(x, cid)
            clients.append(cl)
            cl.subscribe(f, 1)
        wait_routes(a, {"b": 2, "c": 1})
        pub = Client(a, "pub")
        clients.append(pub)
        publish_all(pub, "f/1", 200, 1)
        want = [str(i) for i in range(200)]
        for cl in clients[:4]:
            cl.wait_msgs(200)
            assert payloads(cl) == want, (cl.c._client_id, payloads(cl)[:10])
        clients[3].quiet(0.3)
        assert len(clients[3].msgs) == 200, "a message came back to a"
        assert by_peer(a, "ringmq_cluster_forwarded_messages_total") == {
            "b": 200, "c": 200}
        assert by_peer(b, "ringmq_cluster_received_messages_total")["a"] \
            == 200
        assert by_peer(c, "ringmq_cluster_received_messages_total")["a"] \
            == 200
        # Nothing of b's or c's went anywhere: they published nothing.
        assert sum(by_peer(b, "ringmq_cluster_forwarded_messages_total")
                   .values()) == 0
        batches = sum(by_peer(a, "ringmq_cluster_forward_batches_total")
                      .values())
        print("    400 messages in %d batches" % batches)
        # The subscriptions' route changes were applied on a, and timed.
        import re
        n = re.search(r"^ringmq_cluster_control_applied_seconds_count (\d+)$",
                      b.metrics_text(), re.M)
        assert n and int(n.group(1)) >= 1, "no route change timed on b"
        # The messages went on links (cluster_links, the default): a
        # dialled b and c, and they took a's links on their loops.
        assert a.link_port and b.link_port and c.link_port
        assert a.metric("ringmq_cluster_link_dials_total") >= 2
        for x in (b, c):
            assert x.metric("ringmq_cluster_link_accepted_total") >= 1
            assert x.metric("ringmq_cluster_link_bad_frames_total") == 0

        promtool_ok(a)
    finally:
        for cl in clients:
            cl.close()
        finish(a, b, c)


def streams_without_links(_):
    """A node with cluster_links false (or one before links) offers none:
    its peers send to it over the channel, and it sends over the channel
    to every peer; messages cross both ways, once, in the publisher's order
    [MQTT-4.6.0-6]."""
    a = node("a", "--cluster-links", "false")
    b = node("b", "--cluster-seeds", seed(a))
    clients = []
    try:
        wait_peers(a, {"b": 1})
        wait_peers(b, {"a": 1})
        assert a.link_port == 0 and b.link_port != 0
        sa, sb = Client(a, "sa"), Client(b, "sb")
        clients += [sa, sb]
        sa.subscribe("to/a", 1)
        sb.subscribe("to/b", 1)
        wait_routes(a, {"b": 1})
        wait_routes(b, {"a": 1})
        pa, pb = Client(a, "pa"), Client(b, "pb")
        clients += [pa, pb]
        publish_all(pa, "to/b", 300, 1)
        publish_all(pb, "to/a", 300, 1)
        want = [str(i) for i in range(300)]
        for cl in (sa, sb):
            cl.wait_msgs(300)
            assert payloads(cl) == want, (cl.c._client_id, len(cl.msgs))
        # b did not dial a (no port offered) and a has no links at all.
        assert b.metric("ringmq_cluster_link_dials_total") == 0
        assert b.metric("ringmq_cluster_link_accepted_total") == 0
        assert "ringmq_cluster_link_dials_total" not in a.metrics_text()
        assert by_peer(a, "ringmq_cluster_forwarded_messages_total")["b"] \
            == 300
        assert by_peer(b, "ringmq_cluster_forwarded_messages_total")["a"] \
            == 300
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def properties_cross(_):
    # A 5.0 message's properties and expiry reach a 5.0 subscriber on
    # the other node; a 3.1.1 subscriber there gets topic and payload.
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    a, b = mesh("a", "b")
    clients = []
    try:
        s5 = Client(b, "s5", version=paho.MQTTv5)
        s3 = Client(b, "s3")
        clients += [s5, s3]
        s5.subscribe("p/#", 1)
        s3.subscribe("p/#", 1)
        wait_routes(a, {"b": 1})
        pub = Client(a, "p5", version=paho.MQTTv5)
        clients.append(pub)
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "text/plain"
        props.UserProperty = [("k", "v")]
        props.MessageExpiryInterval = 120
        props.ResponseTopic = "p/reply"
        pub.publish("p/x", b"body", 1, properties=props)
        m = s5.wait_msgs(1)[0]
        assert m.topic == "p/x" and m.payload == b"body"
        p = m.properties
        assert p.ContentType == "text/plain"
        assert p.UserProperty == [("k", "v")]
        assert p.ResponseTopic == "p/reply"
        assert 118 <= p.MessageExpiryInterval <= 120, p.MessageExpiryInterval
        m3 = s3.wait_msgs(1)[0]
        assert m3.topic == "p/x" and m3.payload == b"body"
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def every_version_and_qos(_):
    # A subscriber of each protocol version (3.1, 3.1.1, 5.0) at each QoS
    # on b; a publisher of each version on a sends 20 messages at each
    # QoS: every subscriber gets each once, in order, at the lower of the
    # two QoS ([MQTT-3.8.4-6] and [MQTT-3.3.5-1]).
    a, b = mesh("a", "b")
    clients = []
    versions = (("31", paho.MQTTv31), ("311", paho.MQTTv311),
                ("5", paho.MQTTv5))
    try:
        subs = {}
        for vn, v in versions:
            for q in (0, 1, 2):
                cl = Client(b, "s%s-%d" % (vn, q), version=v)
                clients.append(cl)
                cl.subscribe("v/#", q)
                subs[(vn, q)] = cl
        wait_routes(a, {"b": 1})
        for vn, v in versions:
            pub = Client(a, "p" + vn, version=v)
            clients.append(pub)
            for pq in (0, 1, 2):
                publish_all(pub, "v/%s/%d" % (vn, pq), 20, pq)
        for (vn, q), cl in subs.items():
            cl.wait_msgs(180)
            for pvn, _ in versions:
                for pq in (0, 1, 2):
                    got = [(m.payload.decode(), m.qos) for m in cl.msgs
                           if m.topic == "v/%s/%d" % (pvn, pq)]
                    want = [(str(i), min(q, pq)) for i in range(20)]
                    assert got == want, (vn, q, pvn, pq, got[:3])
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def wills_and_no_local(_):
    # A will fires on the node its client was on and reaches subscribers
    # on the others.  No Local ([MQTT-3.8.3-3]) keeps a client's own
    # messages from it, not from a client of the same id's messages on
    # another node's subscribers.
    a, b = mesh("a", "b")
    clients = []
    try:
        watcher = Client(b, "watch")
        clients.append(watcher)
        watcher.subscribe("wills/#", 1)
        wait_routes(a, {"b": 1})
        # A mosquitto_sub with a will, killed: no DISCONNECT, so the
        # will goes out [MQTT-3.1.2-8].
        doomed = subprocess.Popen(
            ["mosquitto_sub", "-p", str(a.port), "-i", "doomed", "-t",
             "nothing", "--will-topic", "wills/doomed", "--will-payload",
             "gone", "--will-qos", "1"])
        try:
            end = time.time() + DEADLINE
            while not any("client doomed connected" in l for l in a.log):
                assert time.time() < end, "doomed never connected"
                time.sleep(0.02)
        finally:
            doomed.kill()
            doomed.wait()
        m = watcher.wait_msgs(1)[0]
        assert (m.topic, m.payload) == ("wills/doomed", b"gone")
        from paho.mqtt.subscribeoptions import SubscribeOptions
        me_a = Client(a, "me", version=paho.MQTTv5)
        other_b = Client(b, "other", version=paho.MQTTv5)
        clients += [me_a, other_b]
        me_a.subscribe("nl/x", options=SubscribeOptions(qos=1,
                                                        noLocal=True))
        other_b.subscribe("nl/x", options=SubscribeOptions(qos=1,
                                                           noLocal=True))
        wait_routes(a, {"b": 2})
        me_a.publish("nl/x", "from me", 1)
        other_b.wait_msgs(1)
        assert other_b.msgs[0].payload == b"from me"
        me_a.quiet(0.5)
        assert me_a.msgs == [], "No Local: its own message came back"
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def suback_window_both_modes(_):
    # A subscribe on b, then at once a publish on a, 40 times.  Default:
    # the SUBACK goes at once, and a message published before the route
    # reached a misses the subscription (counted and reported; a marker
    # published once a holds the route tells).  With
    # cluster_subscribe_wait the SUBACK waits until a has the route: none
    # is missed.  And with a's node paused, the SUBACK goes at the bound,
    # counted.
    for wait in (0, 2000):
        a, b = mesh("a", "b", timeout_ms=3000) if wait == 0 else (
            node("a", timeout_ms=3000), None)
        if wait:
            b = node("b", "--cluster-seeds", seed(a),
                     "--cluster-subscribe-wait", str(wait),
                     timeout_ms=3000)
            wait_peers(a, {"b": 1})
            wait_peers(b, {"a": 1})
        clients = []
        try:
            sub = Client(b, "ws")
            pub = Client(a, "wp")
            clients += [sub, pub]
            missed = 0
            for k in range(40):
                t = "win/%d" % k
                sub.subscribe(t, 1)
                pub.publish(t, "first", 1)
                wait_routes(a, {"b": k + 1})
                pub.publish(t, "marker", 1)
                sub.wait(lambda: any(m.topic == t and m.payload == b"marker"
                                     for m in sub.msgs), "the marker")
                got = [m.payload for m in sub.msgs if m.topic == t]
                if got == [b"marker"]:
                    missed += 1
                else:
                    assert got == [b"first", b"marker"], got
            held = b.metric("ringmq_cluster_suback_waits_total")
            expired = b.metric("ringmq_cluster_suback_wait_expired_total")
            print("    cluster_subscribe_wait %d: %d of 40 first messages "
                  "missed; %d SUBACKs held, %d at the bound"
                  % (wait, missed, held, expired))
            if wait:
                assert missed == 0 and held == 40 and expired == 0
                # a paused: the SUBACK goes at the bound, counted.
                os.kill(a.proc.pid, signal.SIGSTOP)
                try:
                    sub.subscribe("paused/x", 1)
                finally:
                    os.kill(a.proc.pid, signal.SIGCONT)
                assert b.metric(
                    "ringmq_cluster_suback_wait_expired_total") == 1
            else:
                assert held == 0
        finally:
            for cl in clients:
                cl.close()
            finish(a, b)


def kill_channel(*nodes):
    """Reset every TCP connection of the nodes' channels and links (both
    ends, both directions): what was in flight is lost.  How many were
    reset."""
    n = 0
    for x in nodes:
        for port in (x.channel_port, x.link_port):
            if not port:
                continue
            r = subprocess.run(
                ["ss", "-K", "-t", "(", "dport", "=", ":%d" % port,
                 "or", "sport", "=", ":%d" % port, ")"],
                capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            n += sum(1 for l in r.stdout.splitlines() if "ESTAB" in l)
    return n


def survives_killed_connections(_):
    # 3,000 QoS 1 and 1,000 QoS 2 messages from a to subscribers on b,
    # while the channel's and the links' connections are reset every
    # 150 ms: NNG reconnects and a dials its links again, a sends again
    # what b did not acknowledge, b drops what it took already.  Each
    # message arrives once, in order.
    a, b = mesh("a", "b")
    clients = []
    try:
        s1 = Client(b, "s1")
        s2 = Client(b, "s2", version=paho.MQTTv5)
        clients += [s1, s2]
        s1.subscribe("k/1", 1)
        s2.subscribe("k/2", 2)
        wait_routes(a, {"b": 2})
        pub = Client(a, "kp")
        clients.append(pub)
        done = threading.Event()
        resets = [0]

        def chaos():
            for _ in range(40):
                if done.is_set():
                    return
                resets[0] += kill_channel(a, b)
                time.sleep(0.15)
        t = threading.Thread(target=chaos)
        t.start()
        try:
            t1 = threading.Thread(target=publish_all,
                                  args=(pub, "k/1", 3000, 1))
            t1.start()
            publish_all(pub, "k/2", 1000, 2)
            t1.join(DEADLINE)
        finally:
            s1.wait_msgs(3000, timeout=60)
            s2.wait_msgs(1000, timeout=60)
            done.set()
            t.join(DEADLINE)
        s1.quiet(0.6)  # past a resend: copies would show now
        assert payloads(s1) == [str(i) for i in range(3000)], \
            "QoS 1: %d messages" % len(s1.msgs)
        assert payloads(s2) == [str(i) for i in range(1000)], \
            "QoS 2: %d messages" % len(s2.msgs)
        resent = by_peer(a, "ringmq_cluster_forward_resent_total")["b"]
        copies = by_peer(b, "ringmq_cluster_received_copies_total")["a"]
        gaps = by_peer(b, "ringmq_cluster_received_gaps_total")["a"]
        print("    %d connections reset; a resent %d batches; b dropped "
              "%d copies and %d after a gap" % (resets[0], resent, copies,
                                                gaps))
        assert resets[0] > 0, "no connection was reset"
        assert by_peer(a, "ringmq_cluster_forward_dropped_total")["b"] == 0
        dials = a.metric("ringmq_cluster_link_dials_total")
        print("    a dialled its links %d times" % dials)
        assert dials > 2, "no link was dialled again"
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def paused_peer_catches_up(_):
    # b stops (SIGSTOP) for 1 s, longer than the resend interval and
    # shorter than the peer timeout (3 s here), while a publishes at QoS
    # 2: a sends its batches again until b takes them; b's subscriber has
    # each once, in order.
    a, b = mesh("a", "b", timeout_ms=3000)
    clients = []
    try:
        sub = Client(b, "ps")
        clients.append(sub)
        sub.subscribe("s/#", 2)
        wait_routes(a, {"b": 1})
        pub = Client(a, "pp")
        clients.append(pub)
        publish_all(pub, "s/1", 100, 2)
        sub.wait_msgs(100)
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            publish_all(pub, "s/1", 300, 2)
            time.sleep(1.0)
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        sub.wait_msgs(400)
        sub.quiet(0.6)
        got = payloads(sub)
        want = [str(i) for i in range(100)] + [str(i) for i in range(300)]
        assert got == want, "%d messages" % len(got)
        resent = by_peer(a, "ringmq_cluster_forward_resent_total")["b"]
        print("    a resent %d batches while b was paused" % resent)
        assert resent > 0, "nothing was sent again"
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def node_killed_under_load(_):
    # kill -9 of c while a publishes 3,000 QoS 1 messages to subscribers
    # on a, b and c: the subscribers of a and b have every message once,
    # in order; c's routes leave a's index; c restarted under its name
    # rejoins, gets the routes back, and its subscriber is served again.
    a, b, c = mesh("a", "b", "c")
    clients, c2 = [], None
    try:
        subs = []
        for x in (a, b, c):
            cl = Client(x, "ks-" + x.name)
            cl.subscribe("load/#", 1)
            subs.append(cl)
        clients += subs
        wait_routes(a, {"b": 1, "c": 1})
        pub = Client(a, "kp")
        clients.append(pub)
        infos = []
        for i in range(3000):
            infos.append(pub.c.publish("load/x", str(i), 1))
            if i == 1000:
                c.proc.kill()
                c.proc.wait()
        for info in infos:
            info.wait_for_publish(DEADLINE)
            assert info.is_published()
        want = [str(i) for i in range(3000)]
        for cl in subs[:2]:
            cl.wait_msgs(3000)
            cl.quiet(0.3)
            assert payloads(cl) == want, (cl.c._client_id,
                                           len(cl.msgs))
        wait_routes(a, {"b": 1, "c": 0})
        wait_routes(b, {"a": 1, "c": 0})
        print("    c's subscriber had %d of 3,000 before the kill" %
              len(subs[2].msgs))
        c2 = node("c", "--cluster-seeds", seed(b))
        wait_peers(a, {"b": 1, "c": 1})
        s2 = Client(c2, "ks-c2")
        clients.append(s2)
        s2.subscribe("load/#", 1)
        wait_routes(a, {"b": 1, "c": 1})
        pub.publish("load/x", "after", 1)
        assert s2.wait_msgs(1)[0].payload == b"after"
    finally:
        for cl in clients:
            try:
                cl.close()
            except Exception:
                pass
        c.stop()
        finish(a, b, *([c2] if c2 else []))


def cluster_ack_waits_for_the_peer(_):
    # cluster_ack: a's PUBACK waits until b has taken the message.  With
    # b paused, none comes; resumed, it comes and b's subscriber has the
    # message.  Paused past the peer timeout, b stops counting and the
    # PUBACK goes.  Without cluster_ack the PUBACK does not wait.
    a, b = pair(("--cluster-ack", "true"))
    clients = []
    try:
        sub = Client(b, "ca-s", version=paho.MQTTv5)
        clients.append(sub)
        sub.subscribe("ca/#", 1)
        wait_routes(a, {"b": 1})
        pub = Client(a, "ca-p", version=paho.MQTTv5)
        clients.append(pub)
        pub.publish("ca/0", "warm", 1)
        sub.wait_msgs(1)
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            info = pub.c.publish("ca/1", "one", 1)
            info.wait_for_publish(0.6)
            # Seen once in CI (uv, beside another test): the PUBACK came
            # within 0.6 s.  What a thought of b then, for the next time.
            assert not info.is_published(), (
                "acknowledged while b paused", a.log[-15:],
                [l for l in a.metrics_text().splitlines() if l.startswith(
                    ("ringmq_cluster_peer_up", "ringmq_cluster_ack_",
                     "ringmq_cluster_forward_"))])
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        info.wait_for_publish(DEADLINE)
        assert info.is_published()
        assert [m.payload for m in sub.wait_msgs(2)] == [b"warm", b"one"]
        # Paused past the timeout (1.5 s): b is down, the PUBACK goes.
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            start = time.time()
            info = pub.c.publish("ca/2", "two", 1)
            info.wait_for_publish(DEADLINE)
            held = time.time() - start
            assert info.is_published()
            wait_peers(a, {"b": 0})
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        assert a.metric("ringmq_cluster_ack_waits_total") >= 3
        print("    with b paused the PUBACK waited %.2f s, until b was "
              "found down" % held)
        promtool_ok(a)
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)
    # Off (b's side): b's PUBACK for a message to a paused a is at once.
    a, b = pair()
    clients = []
    try:
        sub = Client(a, "co-s")
        clients.append(sub)
        sub.subscribe("co/#", 1)
        wait_routes(b, {"a": 1})
        pub = Client(b, "co-p")
        clients.append(pub)
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            info = pub.c.publish("co/1", "x", 1)
            info.wait_for_publish(DEADLINE)
            assert info.is_published()
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        sub.wait_msgs(1)
        assert b.metric("ringmq_cluster_ack_waits_total") == 0
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def acked_and_lost(flag):
    """Two nodes, cluster_ack `flag` on a; a subscriber on b.  300 QoS 1
    messages of 8 KB from a publisher on a, all acknowledged; then b is
    paused, 3,000 more are published, and a is killed (kill -9) a second
    later; b resumes.  Returns (messages the publisher had a PUBACK for,
    those of them b's subscriber never got)."""
    a, b = pair(("--cluster-ack", flag), timeout_ms=5000)
    clients = []
    try:
        sub = Client(b, "cl-s")
        clients.append(sub)
        sub.subscribe("cl/#", 1)
        wait_routes(a, {"b": 1})
        pub = Client(a, "cl-p")
        pub.c.max_inflight_messages_set(100)
        acked = set()
        pub.c.on_publish = lambda c, u, mid: acked.add(mid)
        mids = {}
        pad = "." * 8000

        def send(lo, hi):
            for i in range(lo, hi):
                mids[pub.c.publish("cl/x", "%d:%s" % (i, pad), 1).mid] = i

        send(0, 300)
        end = time.time() + DEADLINE
        while len(acked) < 300:
            assert time.time() < end, len(acked)
            time.sleep(0.01)
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            send(300, 3300)
            time.sleep(1.0)
            a.proc.kill()
            a.proc.wait()
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        time.sleep(0.2)  # what paho read before the kill is in
        pub.c.loop_stop()
        want = set(mids[m] for m in list(acked))
        # Until b's subscriber has them all, or has had nothing new for a
        # second (bounded).
        end, seen, since = time.time() + DEADLINE, -1, time.time()
        while True:
            got = set(int(m.payload.split(b":")[0]) for m in sub.msgs)
            if want <= got or time.time() - since > 1.0 or \
                    time.time() > end:
                return len(want), len(want - got)
            if len(got) != seen:
                seen, since = len(got), time.time()
            time.sleep(0.05)
    finally:
        for cl in clients:
            cl.close()
        finish(b)


def cluster_ack_loses_nothing_acknowledged(_):
    # kill -9 of the publisher's node while the subscriber's node is
    # paused: with cluster_ack every message the publisher had a PUBACK
    # for reaches the subscriber.  Without it, the PUBACKs go for what
    # still sat in the killed node's queue, and those are lost.
    acked, lost = acked_and_lost("true")
    print("    cluster_ack true: %d acknowledged, %d of them lost"
          % (acked, lost))
    assert lost == 0 and acked >= 300, (acked, lost)
    acked, lost = acked_and_lost("false")
    print("    cluster_ack false: %d acknowledged, %d of them lost"
          % (acked, lost))
    assert lost > 0, (acked, lost)


def shared_subscriptions_across_nodes(_):
    # $share/g/sh/# has one member on b and two on c, none on a: each
    # message published on a goes to exactly one member in the cluster,
    # b and c taking turns, c's two members taking c's turns; c's plain
    # subscriber to sh/# has every message.  Published on b, where a
    # member is, every message stays with it [MQTT-4.8.2-*: one session
    # of the group each].  c killed: its members' share goes to b.
    a, b, c = mesh("a", "b", "c")
    clients = []
    try:
        def sub(x, cid, f):
            cl = Client(x, cid, version=paho.MQTTv5)
            clients.append(cl)
            cl.subscribe(f, 1)
            return cl

        b1 = sub(b, "sh-b1", "$share/g/sh/#")
        c1 = sub(c, "sh-c1", "$share/g/sh/#")
        c2 = sub(c, "sh-c2", "$share/g/sh/#")
        plain = sub(c, "sh-plain", "sh/#")
        wait_routes(a, {"b": 1, "c": 2})
        wait_routes(b, {"a": 0, "c": 2})
        pub = Client(a, "sh-pa")
        clients.append(pub)
        publish_all(pub, "sh/x", 300, 1)
        plain.wait_msgs(300)
        members = (b1, c1, c2)
        end = time.time() + DEADLINE
        while sum(len(m.msgs) for m in members) < 300:
            assert time.time() < end, [len(m.msgs) for m in members]
            time.sleep(0.02)
        plain.quiet(0.3)
        got = sorted(int(p) for m in members for p in payloads(m))
        assert got == list(range(300)), "each message once in the group"
        counts = [len(m.msgs) for m in members]
        assert all(n > 0 for n in counts), counts
        print("    published on a (no member): b1 %d, c1 %d, c2 %d of "
              "300" % tuple(counts))
        assert payloads(plain) == [str(i) for i in range(300)]
        # Published on b, which has a member: all of them go to it.
        for m in members:
            m.msgs.clear()
        pub_b = Client(b, "sh-pb")
        clients.append(pub_b)
        publish_all(pub_b, "sh/y", 100, 1)
        b1.wait_msgs(100)
        c1.quiet(0.3)
        assert payloads(b1) == [str(i) for i in range(100)]
        assert len(c1.msgs) == 0 and len(c2.msgs) == 0, \
            (len(c1.msgs), len(c2.msgs))
        # c dies: its routes go, and b1 has the whole share.
        b1.msgs.clear()
        c.proc.kill()
        c.proc.wait()
        wait_routes(a, {"b": 1, "c": 0})
        publish_all(pub, "sh/z", 100, 1)
        b1.wait_msgs(100)
        assert sorted(int(p) for p in payloads(b1)) == list(range(100))
        promtool_ok(a)
    finally:
        for cl in clients:
            try:
                cl.close()
            except Exception:
                pass
        c.stop()
        finish(a, b)


run([once_per_node_in_order, streams_without_links, properties_cross, every_version_and_qos,
     wills_and_no_local, survives_killed_connections,
     paused_peer_catches_up, node_killed_under_load,
     suback_window_both_modes, cluster_ack_waits_for_the_peer,
     cluster_ack_loses_nothing_acknowledged,
     shared_subscriptions_across_nodes], make_broker=None)
