#!/usr/bin/python3
"""One client identifier in the whole cluster, with real broker processes on
loopback ports and real clients (paho): a client that connects to another
node takes its session over from the node that held it; the old connection
is told 0x8E [MQTT-3.1.4-3], and a persistent session's subscriptions,
queued and in-flight QoS 1 and 2 messages move with it, so Session Present
is right on the new node and nothing queued is lost; Clean Start ends the
session everywhere; the will of the old connection follows the rules of a
takeover on one node [MQTT-3.1.3-9]; a client that flaps between nodes
while a publisher sends throughout loses no QoS 1 message and gets no QoS 2
message twice."""
import faulthandler
import re
import shutil
import subprocess
import tempfile
import threading
import time

from rmqcluster import (finish, node, promtool_ok, seed, wait_peers,
                        wait_routes)
from rmqtest import (DEADLINE, Client, PacketTypes, Properties, Raw,
                     connect_packet, paho, run)

faulthandler.dump_traceback_later(300, exit=True)


def two(*args):
    a = node("a", *args)
    b = node("b", "--cluster-seeds", seed(a), *args)
    wait_peers(a, {"b": 1})
    wait_peers(b, {"a": 1})
    return a, b


def claims(b):
    """{result: count} of ringmq_cluster_claims_total."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^ringmq_cluster_claims_total\{result="([^"]+)"\} (\d+)$',
        b.metrics_text(), re.M)}


def releases(b):
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^ringmq_cluster_releases_total\{result="([^"]+)"\} (\d+)$',
        b.metrics_text(), re.M)}


def expiry(seconds):
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = seconds
    return p


def payloads(cl):
    return [m.payload.decode() for m in cl.msgs]


def takeover_tells_the_old_connection(_):
    # [MQTT-3.1.4-3]: a 5.0 client connected on a, the same identifier
    # on b: a's connection gets DISCONNECT 0x8E, b's CONNACK says the
    # session is present, and the subscription now lives on b.
    a, b = two()
    clients = []
    try:
        old = Client(a, "x5", version=paho.MQTTv5, properties=expiry(300))
        clients.append(old)
        old.subscribe("t/#", 1)
        wait_routes(b, {"a": 1})
        new = Client(b, "x5", version=paho.MQTTv5, clean_start=False,
                     properties=expiry(300))
        clients.append(new)
        assert new.connack[0]["session present"] == 1, new.connack
        old.wait(lambda: old.disconnect_rc is not None, "DISCONNECT")
        assert old.disconnect_rc == 0x8E, old.disconnect_rc
        # paho would connect again by itself, and take the session back.
        old.c.loop_stop()
        wait_routes(a, {"b": 1})
        wait_routes(b, {"a": 0})
        pub = Client(a, "pub")
        clients.append(pub)
        pub.publish("t/1", "after", 1)
        new.wait_msgs(1)
        assert payloads(new) == ["after"]
        assert claims(b)["moved"] == 1, claims(b)
        assert releases(a)["ended"] == 1, releases(a)
        # A node the identifier was never on answers none.
        assert releases(a)["none"] >= 1 or releases(b)["none"] >= 1
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def assigned_identifiers_stay_apart(_):
    # [MQTT-3.1.3-6]: an identifier the broker assigns is unique, in the
    # cluster too: a 5.0 subscriber without one on b, then publishers
    # without one on a, each a new session on a's loops (whose keys count
    # as b's do).  None takes the subscriber's session over; it gets
    # every message.
    a, b = two()
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(b.port), "-V",
         "mqttv5", "-t", "ids/#", "-q", "1", "-C", "6", "-W", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_routes(a, {"b": 1})
        for i in range(6):
            r = subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(a.port), "-V",
                 "mqttv5", "-q", "1", "-t", "ids/%d" % i, "-m", str(i)],
                capture_output=True, text=True, timeout=DEADLINE)
            assert r.returncode == 0, r
        out, err = sub.communicate(timeout=DEADLINE)
        # Each one once; in any order: MQTT orders a publisher's own
        # messages [MQTT-4.6.0-6], and these are six publishers, whose
        # sessions may forward on different workers' links.
        assert sorted(out.split(), key=int) == [str(i) for i in range(6)], \
            (out, err)
        assert not any("taken over" in l for l in a.log + b.log), \
            [l for l in a.log + b.log if "taken over" in l]
        ids = {m.group(1) for m in re.finditer(
            r"client (ringmq-[0-9a-f]+) connected", "\n".join(a.log + b.log))}
        assert len(ids) == 7, ids
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
        finish(a, b)


def queued_messages_move(_):
    # A 3.1.1 persistent session subscribed on a at QoS 1 and 2 goes
    # offline; 60 messages queue for it on a.  Connecting on b resumes it
    # there (Session Present 1) with all 60, in order, exactly once.
    a, b = two()
    clients = []
    try:
        x = Client(a, "q1", clean=False)
        x.subscribe("q/1", 1)
        x.subscribe("q/2", 2)
        x.close()
        wait_routes(b, {"a": 2})
        pub = Client(b, "pubq")
        clients.append(pub)
        for i in range(30):
            pub.publish("q/1", "one-%d" % i, 1)
            pub.publish("q/2", "two-%d" % i, 2)
        time.sleep(0.3)  # the last ones reach a's queue
        x = Client(b, "q1", clean=False)
        clients.append(x)
        assert x.connack[0]["session present"] == 1, x.connack
        x.wait_msgs(60)
        x.quiet(0.3)
        got = payloads(x)
        assert sorted(got) == sorted(["one-%d" % i for i in range(30)] +
                                     ["two-%d" % i for i in range(30)]), got
        assert [p for p in got if p.startswith("one")] == \
            ["one-%d" % i for i in range(30)]
        assert [p for p in got if p.startswith("two")] == \
            ["two-%d" % i for i in range(30)]
        # Its subscriptions are b's now: a has no route of it left.
        wait_routes(b, {"a": 0})
        wait_routes(a, {"b": 2})
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def clean_start_ends_it_everywhere(_):
    # [MQTT-3.1.2-4]: Clean Start on b discards the session a held; a
    # later resume anywhere finds none.
    a, b = two()
    clients = []
    try:
        x = Client(a, "c1", clean=False)
        x.subscribe("c/#", 1)
        x.close()
        wait_routes(b, {"a": 1})
        y = Client(b, "c1", clean=True)
        assert y.connack[0]["session present"] == 0
        y.close()
        wait_routes(b, {"a": 0})
        z = Client(a, "c1", clean=False)
        clients.append(z)
        assert z.connack[0]["session present"] == 0, z.connack
        assert claims(b)["none"] >= 1, claims(b)
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


def wills_on_takeover(_):
    # [MQTT-3.1.3-9]: a will without a delay goes when the connection
    # taken over closes; a will with a delay, of a session resumed on
    # the other node before the delay passed, never goes; one of a
    # session ended by a clean start goes at once.
    a, b = two()
    clients = []
    try:
        watch = Client(a, "watch")
        clients.append(watch)
        watch.subscribe("w/#", 1)
        wait_routes(b, {"a": 1})

        def will(topic, delay):
            p = Properties(PacketTypes.WILLMESSAGE)
            p.WillDelayInterval = delay
            return {"topic": topic, "payload": topic, "qos": 1,
                    "properties": p}

        w0 = Client(a, "w0", version=paho.MQTTv5, will=will("w/0", 0),
                    properties=expiry(300))
        clients.append(w0)
        n0 = Client(b, "w0", version=paho.MQTTv5, clean_start=False,
                    properties=expiry(300))
        clients.append(n0)
        watch.wait_msgs(1)
        assert payloads(watch) == ["w/0"]

        w1 = Client(a, "w1", version=paho.MQTTv5, will=will("w/1", 30),
                    properties=expiry(300))
        clients.append(w1)
        n1 = Client(b, "w1", version=paho.MQTTv5, clean_start=False,
                    properties=expiry(300))
        clients.append(n1)
        assert n1.connack[0]["session present"] == 1
        w1.wait(lambda: w1.disconnect_rc is not None, "DISCONNECT")

        w2 = Client(a, "w2", version=paho.MQTTv5, will=will("w/2", 30),
                    properties=expiry(300))
        clients.append(w2)
        n2 = Client(b, "w2", version=paho.MQTTv5, clean_start=True)
        clients.append(n2)
        watch.wait_msgs(2)
        watch.quiet(0.5)
        assert payloads(watch) == ["w/0", "w/2"], payloads(watch)
    finally:
        for cl in clients:
            cl.close()
        finish(a, b)


# Messages a publisher keeps published and not yet received, below
# max_queued_messages' default (1,000).
AHEAD = 800


class Flapper:
    """One paho client object (3.1.1, persistent session) that moves
    between nodes: what it holds of its QoS 2 flows goes along, as a real
    client's would."""

    def __init__(self, client_id):
        self.c = paho.Client(client_id=client_id, clean_session=False)
        self.cv = threading.Condition()
        self.msgs = []
        self.seen = set()  # (topic, payload) of every message received
        self.connack = None
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect

    def _on_message(self, c, userdata, msg):
        with self.cv:
            m = (msg.topic, msg.payload.decode())
            self.msgs.append(m)
            self.seen.add(m)
            self.cv.notify_all()

    def _on_connect(self, c, userdata, flags, rc):
        with self.cv:
            self.connack = (flags, rc)
            self.cv.notify_all()

    def wait(self, cond, what):
        end = time.time() + DEADLINE
        with self.cv:
            while not cond():
                assert time.time() < end, "timed out waiting for " + what
                self.cv.wait(end - time.time())

    def connect(self, b):
        self.connack = None
        self.c.connect(b.host, b.port, 60)
        self.c.loop_start()
        self.wait(lambda: self.connack is not None, "CONNACK")
        return self.connack

    def leave(self):
        self.c.disconnect()
        self.c.loop_stop()


def check_flapped(sub, sent, a, b):
    """After twelve moves of the Flapper between a and b: every QoS 1
    message of sent[1] delivered, first copies in order; every QoS 2
    message of sent[2] exactly once, in order; twelve moves counted, each
    ended with its tail on both sides."""
    try:
        sub.wait(lambda: len(set(p for tp, p in sub.msgs
                                 if tp == "f/1")) >= sent[1] and
                 len(set(p for tp, p in sub.msgs if tp == "f/2")) >=
                 sent[2], "every message")
    except AssertionError:
        pass  # which ones are missing is told below
    # Not one dropped at a bound: what the session holds when its client
    # leaves goes wherever it moves, and max_queued_messages (1,000 by
    # default, as here) bounds only what arrives while its client is away
    # (08 tests the bound), fewer here (flapping_client_loses_nothing's
    # publisher keeps at most AHEAD unreceived).
    for x in (a, b):
        assert x.metric('ringmq_messages_dropped_total'
                        '{reason="queue_full"}') == 0, x.name
    time.sleep(0.5)
    one = [int(p) for tp, p in sub.msgs if tp == "f/1"]
    two_ = [int(p) for tp, p in sub.msgs if tp == "f/2"]
    missing = sorted(set(range(sent[1])) - set(one))
    assert not missing, "QoS 1 missing %s" % missing[:20]
    firsts = []
    for x in one:
        if not firsts or x > firsts[-1]:
            firsts.append(x)
        else:
            assert x in set(firsts), "QoS 1 %d out of order" % x
    bad = next((i for i, x in enumerate(two_) if x != i), None)
    assert two_ == list(range(sent[2])), "QoS 2 from %s: %s" % (
        bad, two_[max(0, (bad or 0) - 5):(bad or 0) + 25])
    moved = sum(claims(x).get("moved", 0) for x in (a, b))
    assert moved == 12, moved
    # Every move ended with its tail, on both sides.
    end = time.time() + DEADLINE
    while any(x.metric('ringmq_cluster_moves{side="stub"}') or
              x.metric('ringmq_cluster_moves{side="in"}') for x in (a, b)):
        assert time.time() < end, "moves never ended"
        time.sleep(0.05)
    done = {}
    for x in (a, b):
        for m in re.finditer(r'^ringmq_cluster_moves_total\{side="(\w+)",'
                             r'result="(\w+)"\} (\d+)$',
                             x.metrics_text(), re.M):
            key = (m.group(1), m.group(2))
            done[key] = done.get(key, 0) + int(m.group(3))
    assert done == {("in", "done"): 12, ("in", "given_up"): 0,
                    ("stub", "done"): 12, ("stub", "given_up"): 0}, done
    promtool_ok(a)
    print("    QoS 1: %d published, %d delivered (%d again, with "
          "DUP); QoS 2: %d published and delivered once each" % (
              sent[1], len(one), len(one) - sent[1], sent[2]))


def flap_start(a, b, c, sub):
    """a, b and c meeting, the Flapper on a subscribed (QoS 1 on f/1, QoS 2
    on f/2) and its routes at c: the publisher's client on c."""
    wait_peers(c, {"a": 1, "b": 1})
    wait_peers(a, {"b": 1, "c": 1})
    wait_peers(b, {"a": 1, "c": 1})
    pub = Client(c, "flap-pub")
    sub.connect(a)
    sub.c.subscribe([("f/1", 1), ("f/2", 2)])
    wait_routes(c, {"a": 2, "b": 0})
    return pub



def flapping_between_bursts(_):
    # [MQTT-4.3.2-*], [MQTT-4.3.3-*], [MQTT-4.6.0-6]: a persistent
    # subscriber (QoS 1 on f/1, QoS 2 on f/2) reconnects to a, b, a, ...
    # twelve times while a publisher on a third node sends 40 messages
    # of each QoS between the moves, some of them in flight or queued
    # when the subscriber leaves.  Every QoS 1 message is delivered, each
    # first time in the order published; every QoS 2 message exactly
    # once, in order.  The publisher's node acknowledges a message once
    # the nodes it went to have it (cluster_ack), and the subscriber has
    # what was sent while it was connected before it leaves: no message
    # is on its way between nodes while the session moves (the race of
    # a move under a publisher is flapping_client_loses_nothing's).
    a, b = two()
    c = node("c", "--cluster-seeds", seed(a), "--cluster-ack", "true")
    nodes = [a, b]
    pub = None
    sent = {1: 0, 2: 0}
    sub = Flapper("flap")
    try:
        pub = flap_start(a, b, c, sub)
        for k in range(12):
            for _ in range(20):
                for q in (1, 2):
                    pub.publish("f/%d" % q, "%d" % sent[q], q)
                    sent[q] += 1
            sub.wait(lambda: len(set(sub.msgs)) >= sent[1] + sent[2],
                     "the burst")
            sub.leave()
            for _ in range(20):
                for q in (1, 2):
                    pub.publish("f/%d" % q, "%d" % sent[q], q)
                    sent[q] += 1
            flags, rc = sub.connect(nodes[(k + 1) % 2])
            assert rc == 0 and flags["session present"] == 1, (k, flags)
        check_flapped(sub, sent, a, b)
    finally:
        sub.leave()
        if pub:
            pub.close()
        finish(a, b, c)


def flapping_client_loses_nothing(_):
    # [MQTT-4.3.2-*], [MQTT-4.3.3-*], [MQTT-4.6.0-6]: a persistent
    # subscriber (QoS 1 on f/1, QoS 2 on f/2) reconnects to a, b, a, ...
    # twelve times while a publisher on a third node sends throughout:
    # messages c routed on an index without the new node's routes reach
    # the old node while the session moves, and are in the stub's tail
    # (its fence, docs/clustering.md).  Every QoS 1 message is delivered,
    # each first time in the order published; every QoS 2 message
    # exactly once, in order.  A client that leaves before its session's
    # tail came has its claim wait for the tail (docs/clustering.md, "A
    # claim that waits for a tail"): Session Present is 1 every time.
    a, b = two()
    c = node("c", "--cluster-seeds", seed(a))
    nodes = [a, b]
    pub = None
    stop = threading.Event()
    sent = {1: 0, 2: 0}
    sub = Flapper("flap")
    try:
        pub = flap_start(a, b, c, sub)

        def publish():
            # At most AHEAD messages published and not yet received, so
            # that fewer than max_queued_messages (1,000 by default, as
            # here) arrive while the subscriber is away however slowly
            # this machine runs it: the bound is 08's to test, the moves
            # are this test's.
            end = time.time() + 60
            while not stop.is_set() and time.time() < end and \
                    sent[1] < 4000:
                if sent[1] + sent[2] - len(sub.seen) >= AHEAD:
                    time.sleep(0.002)
                    continue
                for q in (1, 2):
                    pub.publish("f/%d" % q, "%d" % sent[q], q)
                    sent[q] += 1

        t = threading.Thread(target=publish)
        t.start()
        for k in range(12):
            time.sleep(0.1)
            sub.leave()
            flags, rc = sub.connect(nodes[(k + 1) % 2])
            assert rc == 0 and flags["session present"] == 1, (k, flags)
        stop.set()
        t.join()
        check_flapped(sub, sent, a, b)
    finally:
        stop.set()
        sub.leave()
        if pub:
            pub.close()
        finish(a, b, c)


def disk_pair(prefix):
    """Nodes a and b (b seeded with a), each with a data directory of its
    own, seeing each other up: (a, b, the directories, each node's
    flags)."""
    dirs = [tempfile.mkdtemp(prefix=prefix) for _ in range(2)]
    disk = [("--persistence", "true", "--data-dir", d) for d in dirs]
    a = node("a", *disk[0])
    b = node("b", "--cluster-seeds", seed(a), *disk[1])
    wait_peers(a, {"b": 1})
    wait_peers(b, {"a": 1})
    return a, b, dirs, disk


def queued_offline(at, client_id, topic, publish_on, n, prefix):
    """A 3.1.1 persistent session of client_id on node `at`, subscribed to
    topic at QoS 1 and offline, with n messages "prefix0".. queued for it
    (published on node publish_on, each acknowledged)."""
    x = Client(at, client_id, clean=False)
    x.subscribe(topic, 1)
    x.close()
    if publish_on is not at:
        wait_routes(publish_on, {at.name: 1})
    pub = Client(publish_on, client_id + "-pub")
    for i in range(n):
        pub.publish(topic, "%s%d" % (prefix, i), 1)
    pub.close()


def persistent_state_moves_to_the_new_disk(_):
    # With persistence on both nodes: a session with 10 QoS 1 messages
    # queued on a's disk is claimed on b by a client that reads them and
    # acknowledges none; b is killed (-9) and restarted on its data
    # directory: the session and the 10 messages are there, sent again
    # with DUP.  a, restarted alone on its own directory, has nothing of
    # the session left.
    a, b, dirs, disk = disk_pair("rmq-move-")
    nodes = [a, b]
    clients = []
    try:
        queued_offline(a, "disk1", "d/1", a, 10, "m")
        raw = Raw(b)
        raw.send(connect_packet("disk1", flags=0x00))
        first, body = raw.recv_packet()
        assert first == 0x20 and body[0] == 1, (first, body)
        got = [raw.recv_packet() for _ in range(10)]
        assert all(p[0] == 0x32 for p in got), [hex(p[0]) for p in got]
        raw.close()
        time.sleep(0.3)  # what b took is committed (durability always)
        b.proc.kill()
        b.proc.wait()
        b2 = node("b", *disk[1])
        nodes.append(b2)
        again = Raw(b2)
        again.send(connect_packet("disk1", flags=0x00))
        first, body = again.recv_packet()
        assert first == 0x20 and body[0] == 1, "no session on b's disk"
        dup = [again.recv_packet() for _ in range(10)]
        assert all(p[0] == 0x3A for p in dup), [hex(p[0]) for p in dup]
        assert [p[1][7:].decode() for p in dup] == \
            ["m%d" % i for i in range(10)], [p[1] for p in dup]
        again.close()
        b2.stop()
        a.stop()
        a2 = node("a", *disk[0])
        nodes.append(a2)
        assert any(re.search(r"persistence in .*; 0 sessions", line)
                   for line in a2.log), "\n".join(a2.log[-10:])
    finally:
        for cl in clients:
            cl.close()
        finish(*nodes)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def restarted_node_hands_its_sessions_over(_):
    # A persistent session with 5 QoS 1 messages queued on a's disk; a is
    # killed (-9) and its client reconnects on b (no session there: a
    # cannot be asked).  a restarts on its data directory and meets b
    # again: its session, older than b's connection, ends, and the 5
    # messages it kept are queued for the client on b.
    a, b, dirs, disk = disk_pair("rmq-back-")
    nodes = [a, b]
    clients = []
    try:
        queued_offline(a, "back1", "k/1", b, 5, "kept-")
        time.sleep(0.3)  # queued on a's disk (durability always)
        a.proc.kill()
        a.proc.wait()
        wait_peers(b, {"a": 0})
        y = Client(b, "back1", clean=False)
        clients.append(y)
        assert y.connack[0]["session present"] == 0
        y.subscribe("k/1", 1)
        a2 = node("a", "--cluster-seeds", seed(b), *disk[0])
        nodes.append(a2)
        y.wait_msgs(5)
        y.quiet(0.3)
        assert [m.payload.decode() for m in y.msgs] == \
            ["kept-%d" % i for i in range(5)], y.msgs
        assert a2.metric("ringmq_cluster_duplicates_ended_total") == 1
        # Gone from a: it holds no session of it.
        assert a2.metric("ringmq_sessions") == 0
    finally:
        for cl in clients:
            cl.close()
        finish(*nodes)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def sigterm_hands_sessions_to_peers(_):
    # A node told to stop (SIGTERM, as a StatefulSet's scale-down or a
    # rolling restart does) tells its 5.0 clients 0x8B with the Server
    # Reference it is given, says "stopping" on /readyz, and stays in
    # the cluster until their sessions have moved: a subscriber
    # reconnecting to the node named resumes its session there (Session
    # Present 1) and misses none of the QoS 1 messages a publisher sends
    # throughout; the node exits 0 once it has moved, well within the
    # grace.
    import signal
    import urllib.error
    import urllib.request
    b = node("b")
    a = node("a", "--cluster-seeds", seed(b), "--server-reference",
             "127.0.0.1:%d" % b.port, "--shutdown-grace", "10")
    clients = []
    stop = threading.Event()
    sent = [0]
    try:
        wait_peers(a, {"b": 1})
        wait_peers(b, {"a": 1})
        x = Client(a, "leaver", version=paho.MQTTv5, properties=expiry(300))
        props = {}

        def on_disconnect(c, userdata, rc, properties=None):
            props["ref"] = getattr(properties, "ServerReference", None)
            x._on_disconnect(c, userdata, rc, properties)
        x.c.on_disconnect = on_disconnect
        x.subscribe("s/1", 1)
        wait_routes(b, {"a": 1})
        pub = Client(b, "spub")
        clients.append(pub)

        readers = [x]

        def publish():
            # At most AHEAD unreceived: what x has to read before the
            # DISCONNECT stays small, so that a client this machine runs
            # slowly still reads it before its connection's linger ends
            # (2 s, broker/mqtt/linger.h).
            end = time.time() + 30
            while not stop.is_set() and time.time() < end:
                if sent[0] - sum(len(r.msgs) for r in readers) >= AHEAD:
                    time.sleep(0.002)
                    continue
                pub.publish("s/1", str(sent[0]), 1)
                sent[0] += 1

        t = threading.Thread(target=publish)
        t.start()
        time.sleep(0.3)
        t0 = time.time()
        a.proc.send_signal(signal.SIGTERM)
        x.wait(lambda: x.disconnect_rc is not None, "DISCONNECT")
        assert x.disconnect_rc == 0x8B, x.disconnect_rc
        assert props.get("ref") == "127.0.0.1:%d" % b.port, props
        got = [m.payload.decode() for m in x.msgs]
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/readyz" %
                                   a.admin_port, timeout=DEADLINE)
            raise AssertionError("/readyz ready while draining")
        except urllib.error.HTTPError as e:
            assert e.code == 503 and e.read() == b"stopping\n"
        host, port = props["ref"].rsplit(":", 1)
        y = Client(int(port), "leaver", version=paho.MQTTv5,
                   clean_start=False, properties=expiry(300))
        clients.append(y)
        readers.append(y)
        moved = time.time() - t0
        x.c.loop_stop()
        assert y.connack[0]["session present"] == 1, y.connack
        rc = a.proc.wait(timeout=DEADLINE)
        assert rc == 0, rc
        time.sleep(0.1)  # its last lines read

        def at(pattern):
            import datetime
            line = next(x for x in a.log if re.search(pattern, x))
            return datetime.datetime.strptime(
                line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        gone = at(r"notice ringmq: stopped$") - at(r"SIGTERM, stopping")
        drained = [re.search(r"drained in (\d+) ms: 0 persistent sessions.*"
                             r" 0 moves", line) for line in a.log]
        drained = [m for m in drained if m]
        assert drained, "\n".join(a.log[-8:])
        time.sleep(0.3)
        stop.set()
        t.join()
        y.wait(lambda: len(set(got) | set(m.payload.decode()
                                          for m in y.msgs)) >= sent[0],
               "%d messages" % sent[0])
        missing = set(range(sent[0])) - set(int(p) for p in got) - \
            set(int(m.payload.decode()) for m in y.msgs)
        assert not missing, sorted(missing)[:20]
        print("    SIGTERM to the session resumed on b %.0f ms, a drained in "
              "%s ms and stopped %.0f ms after SIGTERM; %d messages published "
              "throughout, none missed" % (moved * 1000,
                                          drained[0].group(1), gone * 1000,
                                          sent[0]))
    finally:
        stop.set()
        for cl in clients:
            cl.close()
        finish(a, b)


run([takeover_tells_the_old_connection, assigned_identifiers_stay_apart,
     queued_messages_move,
     clean_start_ends_it_everywhere, wills_on_takeover,
     flapping_between_bursts, flapping_client_loses_nothing,
     persistent_state_moves_to_the_new_disk,
     restarted_node_hands_its_sessions_over,
     sigterm_hands_sessions_to_peers], make_broker=None)
