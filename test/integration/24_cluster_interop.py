#!/usr/bin/python3
"""The client's view of a cluster: the scenarios of the Eclipse Paho
interoperability tests (MQTT 3.1.1 and 5.0), written here for RingMQ, with
their two clients on two different nodes: "aclient" on node a and
"bclient" on node b, real paho clients.  Basic delivery at every QoS,
retained messages, offline queueing of a persistent session, overlapping
subscriptions, the will of a client whose keep alive expires, zero-length
client ids, $ topics, unsubscribe, 5.0 session expiry, subscription
identifiers, shared subscriptions and the Maximum Packet Size.  Both nodes
run with cluster_subscribe_wait, so a SUBACK means the other node has the
route, as on one broker."""
import faulthandler
import socket
import time

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from rmqcluster import finish, node, seed, wait_peers
from rmqtest import DEADLINE, Client, paho, run

faulthandler.dump_traceback_later(300, exit=True)

V5 = paho.MQTTv5
V311 = paho.MQTTv311


class Pair:
    """Two nodes that have met, each a broker for the tests' clients."""

    def __init__(self):
        self.a = node("a", "--cluster-subscribe-wait", "5000")
        self.b = node("b", "--cluster-seeds", seed(self.a),
                      "--cluster-subscribe-wait", "5000")
        wait_peers(self.a, {"b": 1})
        wait_peers(self.b, {"a": 1})

    def alive(self):
        return self.a.alive() and self.b.alive()

    @property
    def log(self):
        return ["a: " + l for l in self.a.log[-10:]] + \
            ["b: " + l for l in self.b.log[-10:]]

    def stop(self):
        finish(self.a, self.b)
        return 0


def closing(*clients):
    for c in clients:
        try:
            c.close()
        except Exception:
            pass


def payloads(cl):
    return [m.payload for m in cl.msgs]


def retained_on(b, topic_filter, cid):
    """(topic, payload, retain) of what a new subscriber to topic_filter
    on node b gets within 0.2 s, sorted."""
    c = Client(b, cid)
    try:
        c.subscribe(topic_filter, 2)
        c.quiet(0.2)
        return sorted((m.topic, m.payload, m.retain) for m in c.msgs)
    finally:
        closing(c)


def basic(p):
    # Three messages at QoS 0, 1 and 2 from a to a subscriber on b, each
    # at its own QoS, in order; for both protocol versions.
    for v in (V311, V5):
        topic = "interop/basic/%d" % v
        b = Client(p.b, "bclient-basic", version=v)
        a = Client(p.a, "aclient-basic", version=v)
        try:
            b.subscribe(topic, 2)
            for q in (0, 1, 2):
                a.publish(topic, "qos %d" % q, q)
            msgs = b.wait_msgs(3)
            b.quiet(0.2)
            assert [(m.payload, m.qos) for m in msgs] == \
                [(b"qos 0", 0), (b"qos 1", 1), (b"qos 2", 2)], \
                [(m.payload, m.qos) for m in msgs]
        finally:
            closing(a, b)


def retained_messages(p):
    # Retained at QoS 0, 1 and 2 on a: a new subscriber on b gets all
    # three, flagged retained; cleared on a, a new one on b gets none.
    topics = ["interop/ret/a", "interop/ret/b", "interop/ret/c/d"]
    a = Client(p.a, "aclient-ret")
    try:
        for q, t in enumerate(topics):
            a.publish(t, "r%d" % q, q, retain=True)
        end = time.time() + DEADLINE
        got = retained_on(p.b, "interop/ret/#", "bclient-ret")
        while len(got) != 3 and time.time() < end:
            got = retained_on(p.b, "interop/ret/#", "bclient-ret")
        assert got == [(t, b"r%d" % q, 1) for q, t in enumerate(topics)], got
        for t in topics:
            a.publish(t, "", 1, retain=True)
        end = time.time() + DEADLINE
        got = retained_on(p.b, "interop/ret/#", "bclient-ret2")
        while got:
            assert time.time() < end, "%d retained left on b" % len(got)
            got = retained_on(p.b, "interop/ret/#", "bclient-ret2")
    finally:
        closing(a)


def offline_message_queueing(p):
    # A persistent session on a, offline, keeps its subscription across
    # the cluster: QoS 1 and 2 messages published on b meanwhile are
    # queued on a and delivered when it comes back (QoS 0 may be too).
    a = Client(p.a, "aclient-offline", clean=False)
    a.subscribe("interop/offline/#", 2)
    closing(a)
    b = Client(p.b, "bclient-offline")
    try:
        for q in (0, 1, 2):
            b.publish("interop/offline/x", "q%d" % q, q)
    finally:
        closing(b)
    a = Client(p.a, "aclient-offline", clean=False)
    try:
        assert a.connack[0]["session present"] == 1, a.connack
        a.wait(lambda: {b"q1", b"q2"} <= set(payloads(a)), "q1 and q2")
        a.quiet(0.2)
        assert len(a.msgs) in (2, 3), payloads(a)
        a.c.unsubscribe("interop/offline/#")
    finally:
        closing(a)
    # Clean up: the session ends.
    closing(Client(p.a, "aclient-offline", clean=True))


def overlapping_subscriptions(p):
    # Two of bclient's subscriptions match: one copy at the higher QoS, or
    # one per subscription (3.1.1 allows either; RingMQ sends one).
    b = Client(p.b, "bclient-overlap")
    a = Client(p.a, "aclient-overlap")
    try:
        rc, _ = b.c.subscribe([("interop/over/#", 2), ("interop/over/+", 1)])
        assert rc == 0
        b.wait(lambda: b.subacks, "SUBACK")
        a.publish("interop/over/x", "overlap", 2)
        b.wait_msgs(1)
        b.quiet(0.3)
        got = sorted(m.qos for m in b.msgs)
        assert got in ([2], [1, 2]), got
    finally:
        closing(a, b)


def keepalive_will(p):
    # aclient on a falls silent past its keep alive (2 s): a closes it and
    # its will reaches bclient on b.
    b = Client(p.b, "bclient-will")
    try:
        b.subscribe("interop/will", 2)
        a = Client(p.a, "aclient-will", keepalive=2,
                   will={"topic": "interop/will", "payload": "gone",
                         "qos": 1})
        a.c.loop_stop()  # no PINGREQ from now on; the socket stays open
        try:
            msgs = b.wait_msgs(1, timeout=10)
            assert msgs[0].payload == b"gone"
        finally:
            a.c.socket().close()
    finally:
        closing(b)


def zero_length_clientid(p):
    # On b: an empty client id with a clean session is given one; with a
    # persistent session it is refused, 0x02 [MQTT-3.1.3-8].
    c = Client(p.b, "", clean=True)
    try:
        assert c.connack[1] == 0, c.connack
    finally:
        closing(c)
    s = socket.create_connection(("127.0.0.1", p.b.port), timeout=DEADLINE)
    try:
        s.sendall(bytes([0x10, 12, 0, 4]) + b"MQTT" +
                  bytes([4, 0x00, 0, 60, 0, 0]))
        ack = s.recv(4)
        assert ack == bytes([0x20, 2, 0, 2]), ack
    finally:
        s.close()


def dollar_topics(p):
    # A subscriber to # or +/+ on b does not get a message published on
    # a to a topic starting with $ [MQTT-4.7.2-1]; one to $interop/+ does.
    b = Client(p.b, "bclient-dollar")
    d = Client(p.b, "bclient-dollar2")
    a = Client(p.a, "aclient-dollar")
    try:
        b.subscribe("#", 1)
        b.subscribe("+/+", 1)
        d.subscribe("$interop/+", 1)
        a.publish("$interop/x", "dollar", 1)
        a.publish("interopd/x", "plain", 1)
        d.wait_msgs(1)
        b.wait(lambda: b"plain" in payloads(b), "the plain message")
        b.quiet(0.3)
        assert b"dollar" not in payloads(b), payloads(b)
        assert payloads(d) == [b"dollar"]
    finally:
        closing(a, b, d)


def unsubscribe(p):
    # Three subscriptions on b, two unsubscribed: messages published on a
    # to the three topics reach b on the one left only.
    b = Client(p.b, "bclient-unsub")
    a = Client(p.a, "aclient-unsub")
    try:
        for t in ("interop/u/a", "interop/u/b", "interop/u/c"):
            b.subscribe(t, 1)
        b.unsubscribe("interop/u/a")
        b.unsubscribe("interop/u/b")
        for t in ("interop/u/a", "interop/u/b", "interop/u/c"):
            a.publish(t, t, 1)
        b.wait_msgs(1)
        b.quiet(0.3)
        assert payloads(b) == [b"interop/u/c"], payloads(b)
    finally:
        closing(a, b)


def session_expiry_v5(p):
    # 5.0: a session that expires 30 s after its connection ends keeps
    # its subscription on a while a message comes from b; back, it has
    # the message and Session Present.
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 30
    a = Client(p.a, "aclient-expiry", version=V5, clean_start=False,
               properties=props)
    a.subscribe("interop/expiry/#", 1)
    closing(a)
    b = Client(p.b, "bclient-expiry", version=V5)
    try:
        b.publish("interop/expiry/x", "kept", 1)
    finally:
        closing(b)
    a = Client(p.a, "aclient-expiry", version=V5, clean_start=False,
               properties=props)
    try:
        assert a.connack[0]["session present"] == 1, a.connack
        assert a.wait_msgs(1)[0].payload == b"kept"
    finally:
        closing(a)
    closing(Client(p.a, "aclient-expiry", version=V5, clean_start=True))


def subscription_identifiers_v5(p):
    # 5.0: the identifier bclient gave its subscription on b comes with a
    # message published on a [MQTT-3.3.4-3].
    b = Client(p.b, "bclient-subid", version=V5)
    a = Client(p.a, "aclient-subid", version=V5)
    try:
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = 456
        b.subscribe("interop/subid/#", 1, properties=props)
        a.publish("interop/subid/x", "id", 1)
        m = b.wait_msgs(1)[0]
        assert m.properties.SubscriptionIdentifier == [456], \
            m.properties.SubscriptionIdentifier
    finally:
        closing(a, b)


def shared_subscriptions_v5(p):
    # 5.0: aclient on a and bclient on b in one group; 40 messages from a
    # publisher on b reach the group once each.
    a = Client(p.a, "aclient-shared", version=V5)
    b = Client(p.b, "bclient-shared", version=V5)
    pub = Client(p.b, "pclient-shared", version=V5)
    try:
        a.subscribe("$share/grp/interop/shared/#", 1)
        b.subscribe("$share/grp/interop/shared/#", 1)
        for i in range(40):
            pub.publish("interop/shared/x", str(i), 1)
        end = time.time() + DEADLINE
        while len(a.msgs) + len(b.msgs) < 40:
            assert time.time() < end, (len(a.msgs), len(b.msgs))
            time.sleep(0.02)
        a.quiet(0.3)
        got = sorted(int(m.payload) for m in a.msgs + b.msgs)
        assert got == list(range(40)), got
    finally:
        closing(a, b, pub)


def maximum_packet_size_v5(p):
    # 5.0: bclient on b takes packets of 100 bytes at most: a larger
    # message published on a is not sent to it [MQTT-3.1.2-25], the next
    # small one is.
    props = Properties(PacketTypes.CONNECT)
    props.MaximumPacketSize = 100
    b = Client(p.b, "bclient-maxpkt", version=V5, properties=props)
    a = Client(p.a, "aclient-maxpkt", version=V5)
    try:
        b.subscribe("interop/maxpkt", 1)
        a.publish("interop/maxpkt", "x" * 200, 1)
        a.publish("interop/maxpkt", "small", 1)
        b.wait_msgs(1)
        b.quiet(0.3)
        assert payloads(b) == [b"small"], payloads(b)
    finally:
        closing(a, b)


run([basic, retained_messages, offline_message_queueing,
     overlapping_subscriptions, keepalive_will, zero_length_clientid,
     dollar_topics, unsubscribe, session_expiry_v5,
     subscription_identifiers_v5, shared_subscriptions_v5,
     maximum_packet_size_v5], make_broker=Pair)
