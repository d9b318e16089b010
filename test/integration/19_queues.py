"""19: the queued messages of persistent sessions on disk (broker/store/).
A session with clean session 0 (3.1.1) or a Session Expiry Interval above
0 (5.0) keeps, as its session state, the QoS 1 and QoS 2 messages pending
for its client and those sent to it and not yet acknowledged
[MQTT-3.1.2-4], [MQTT-3.1.2-5] (3.1.1), [MQTT-3.1.2-23] (5.0).  The
specification leaves it to the server how long that state lasts; RingMQ
keeps it in the data directory, so it outlives a restart and a kill -9:
what a publisher had acknowledged (under `durability always` the PUBACK
comes once the message is on disk for every persistent subscriber) is
delivered after the restart, once, in each publisher's order
[MQTT-4.6.0-6] (3.1.1; 5.0: [MQTT-4.6.0-5], [MQTT-4.6.0-6]), without the
client subscribing again; what the subscriber acknowledged before is not
sent again; what was in flight is sent again with DUP set and its packet
identifier [MQTT-4.4.0-1].  A clean session keeps nothing
[MQTT-3.1.2-6], and a message whose Message Expiry Interval passed while
the broker was down is dropped [MQTT-3.3.2-5].  Clients: paho 3.1.1 and
5.0, mosquitto_sub -c, and a raw socket where the packet identifiers and
the DUP flag are the point."""
import collections
import os
import shutil
import socket
import subprocess
import tempfile
import time

import paho.mqtt.client as paho

from rmqtest import (BROKER, DEADLINE, LOOP, Broker, Client, MosqSub, Raw,
                     connect_packet, offline_session, packet, props,
                     raw_subscriber, run,
                     string)

_tmp = tempfile.mkdtemp(prefix="ringmq-queues-")

N = 200  # messages queued per subscriber in the restart tests
KEPT = dict(SessionExpiryInterval=3600)  # a 5.0 session that outlives


def persistent(d, *args):
    """A broker keeping its state in d; flags beat the test environment's
    RINGMQ_PERSISTENCE=false."""
    return Broker("--persistence", "true", "--data-dir", d, *args)


def kept_v5(b, cid):
    """A paho 5.0 client whose session outlives its connection (Session
    Expiry 3600 s, Clean Start 0)."""
    return Client(b, cid, version=paho.MQTTv5, clean_start=False,
                  properties=props("CONNECT", **KEPT))


def stop(b, kill=False):
    """SIGTERM, after which the broker must exit 0; or SIGKILL."""
    if kill:
        b.proc.kill()
        b.proc.wait()
        b.stop()  # the log reader joined
        return
    rc = b.stop()
    assert rc == 0, "exit status %s:\n%s" % (rc, "\n".join(b.log[-30:]))


def payloads(tag, first, last):
    """The sequenced payloads tag-first .. tag-last, in order."""
    return [("%s-%03d" % (tag, i)).encode() for i in range(first, last + 1)]


def publish_all(b, topic, msgs, qos, version=paho.MQTTv311, **kw):
    """Publish msgs to topic in order over one connection, up to 64 of them
    unacknowledged at once, and wait for every acknowledgement (PUBACK;
    PUBCOMP for QoS 2): under durability always each message is then on
    disk for every persistent subscriber."""
    c = Client(b, version=version)
    try:
        c.c.max_inflight_messages_set(64)
        infos = [c.c.publish(topic, m, qos, **kw) for m in msgs]
        end = time.time() + DEADLINE
        for i, info in enumerate(infos):
            info.wait_for_publish(max(0.01, end - time.time()))
            assert info.is_published(), \
                "%d of %d acknowledged" % (i, len(infos))
    finally:
        c.close()


def dump(d):
    r = subprocess.run([BROKER, "store", "dump", d], capture_output=True,
                       text=True, timeout=DEADLINE)
    assert r.returncode == 0, r
    return r.stdout.splitlines()


def check_ok(d):
    """`ringmq store check` reads every record the queues added."""
    r = subprocess.run([BROKER, "store", "check", d], capture_output=True,
                       text=True, timeout=DEADLINE)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("%s: OK" % d), r


def metric_sum(b, name):
    """A metric summed over its labels (per loop gauges)."""
    total = 0.0
    for line in b.metrics_text().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.split()[-1])
    return total


def session_present(c):
    return c.connack[0]["session present"]


def queued_qos1_outlives_a_restart(_):
    """paho 3.1.1, clean session 0: N QoS 1 messages published while it
    is offline, the broker stopped (SIGTERM) and started on the same
    directory; at its reconnection it gets all N, in order, without a
    SUBSCRIBE."""
    d = os.path.join(_tmp, "qos1-" + LOOP)
    b = persistent(d)
    try:
        offline_session(b, "q1sub", "q1/t")
        want = payloads("q1", 1, N)
        # After the disconnection the server stores further QoS 1 and 2
        # messages matching its subscriptions [MQTT-3.1.2-5].
        publish_all(b, "q1/t", want, 1)
        stop(b)

        # The directory reads back whole; the session is there with its
        # queue.
        check_ok(d)
        lines = dump(d)
        assert "session q1sub (MQTT 3.1.1, never expires, offline, 1 " \
            "subscription, %d queued)" % N in lines, lines

        b = persistent(d)
        assert int(b.metric("ringmq_store_sessions_loaded")) == 1
        assert int(b.metric("ringmq_store_queued_loaded")) == N
        # Resumed [MQTT-3.1.2-4]: Session Present 1 [MQTT-3.2.2-2], and
        # no SUBSCRIBE: the subscription and the queue are the session's.
        s = Client(b, "q1sub", clean=False)
        assert session_present(s) == 1
        s.wait_msgs(N)
        got = s.quiet(0.5)
        # Nothing of them was ever sent before the restart: each once,
        # in the publisher's order [MQTT-4.6.0-6].
        assert [m.payload for m in got] == want, [m.payload for m in got]
        assert all(m.qos == 1 and m.topic == "q1/t" for m in got)
        s.close()
    finally:
        b.stop()


def queued_qos2_v5_outlives_a_restart(_):
    """paho 5.0 with a Session Expiry Interval of 3600 s, subscribed QoS
    2, N QoS 2 messages queued while offline: after a restart every one
    arrives exactly once, in order."""
    d = os.path.join(_tmp, "qos2-" + LOOP)
    b = persistent(d)
    try:
        # Session Expiry Interval above 0: the session state outlives the
        # connection [MQTT-3.1.2-23].
        s = kept_v5(b, "q2sub")
        s.subscribe("q2/t", 2)
        s.close()
        b.wait_connections(0)
        want = payloads("q2", 1, N)
        publish_all(b, "q2/t", want, 2, version=paho.MQTTv5)
        stop(b)
        check_ok(d)

        b = persistent(d)
        # Clean Start 0 and a session: resumed [MQTT-3.1.2-5], Session
        # Present 1 [MQTT-3.2.2-3] (5.0 numbering).
        s = kept_v5(b, "q2sub")
        assert session_present(s) == 1
        s.wait_msgs(N)
        got = s.quiet(0.5)
        counts = collections.Counter(m.payload for m in got)
        # QoS 2, exactly once delivery (4.3.3): no payload twice, none
        # missing.
        assert sorted(counts) == want, sorted(counts)
        assert set(counts.values()) == {1}, \
            [p for p, n in counts.items() if n != 1]
        # Ordered topic, same QoS [MQTT-4.6.0-5], [MQTT-4.6.0-6].
        assert [m.payload for m in got] == want
        assert all(m.qos == 2 for m in got), [m.qos for m in got]
        s.close()
    finally:
        b.stop()


def queued_messages_outlive_kill_9(_):
    """As above with 3.1.1 QoS 1, for paho and mosquitto_sub -c, but the
    broker is killed (SIGKILL) as soon as the publisher has every PUBACK:
    under durability always a PUBACK means on disk, so all N are there
    after the restart, in order."""
    d = os.path.join(_tmp, "kill-" + LOOP)
    b = persistent(d)
    try:
        s = Client(b, "k9sub", clean=False)
        s.subscribe("k9/t", 1)
        s.close()
        # mosquitto_sub -c -i ID: clean session 0 under a fixed id.
        m = MosqSub(b.port, "k9/t", 1, ["-c", "-i", "k9mosq"])
        m.close()
        b.wait_connections(0)
        want = payloads("k9", 1, N)
        publish_all(b, "k9/t", want, 1)
        stop(b, kill=True)  # no chance to write anything more
        check_ok(d)

        b = persistent(d)
        assert int(b.metric("ringmq_store_sessions_loaded")) == 2
        s = Client(b, "k9sub", clean=False)
        assert session_present(s) == 1
        s.wait_msgs(N)
        got = s.quiet(0.5)
        # Never sent before the kill, so nothing is owed twice; each once,
        # in order [MQTT-4.6.0-6].
        assert [m.payload for m in got] == want, [m.payload for m in got]
        s.close()
        # mosquitto_sub subscribes at every connection; its session's
        # queue is delivered whether that SUBSCRIBE comes before or after.
        m = MosqSub(b.port, "k9/t", N, ["-c", "-i", "k9mosq"])
        try:
            lines = m.messages(N)
        finally:
            m.close()
        assert lines == ["k9/t " + p.decode() for p in want], lines
    finally:
        b.stop()


def acknowledged_messages_are_not_delivered_again(_):
    """A persistent 3.1.1 subscriber receives and acknowledges 50 QoS 1
    messages online, leaves, 50 more are queued for it, the broker
    restarts (SIGTERM): exactly the second 50 arrive."""
    d = os.path.join(_tmp, "acked-" + LOOP)
    b = persistent(d)
    try:
        s = Client(b, "ack4", clean=False)
        s.subscribe("ack/t", 1)
        first = payloads("ack", 1, 50)
        publish_all(b, "ack/t", first, 1)
        assert [m.payload for m in s.wait_msgs(50)] == first
        # paho sends each PUBACK as its on_message returns: give them the
        # moment to leave, then wait until the broker has nothing in
        # flight (a gauge sampled every 250 ms, hence the pause first).
        s.quiet(0.5)
        end = time.time() + DEADLINE
        while metric_sum(b, "ringmq_inflight_messages") != 0:
            assert time.time() < end, "the 50 PUBACKs never counted"
            time.sleep(0.05)
        s.close()
        b.wait_connections(0)
        second = payloads("ack", 51, 100)
        publish_all(b, "ack/t", second, 1)
        stop(b)

        b = persistent(d)
        s = Client(b, "ack4", clean=False)
        assert session_present(s) == 1
        s.wait_msgs(50)
        got = [m.payload for m in s.quiet(0.5)]
        # A QoS 1 message is the server's until its PUBACK
        # [MQTT-4.3.2-1]; only unacknowledged ones are sent again
        # [MQTT-4.4.0-1].  Protocol-wise a duplicate would be allowed
        # only for one not acknowledged; these were, before a clean stop.
        assert not set(got) & set(first), [p for p in got if p in first]
        assert got == second, got
        s.close()
    finally:
        b.stop()


def clean_session_messages_are_not_kept(_):
    """A clean session (clean session 1) holding QoS 1 messages in flight
    when the broker is killed, or stopped: nothing of it is in the data
    directory or comes back after the restart, beside a persistent
    session that is."""
    for how in ("kill", "term"):
        d = os.path.join(_tmp, "nokeep-%s-%s" % (how, LOOP))
        b = persistent(d)
        r = None
        try:
            k = Client(b, "keep5", clean=False)
            k.subscribe("keep/t", 1)
            k.close()
            # A raw subscriber with clean session 1 that reads its
            # messages and acknowledges none: they stay in flight.
            r = raw_subscriber(b, "clean5", "cq/t", qos=1)
            want = payloads("cq", 1, 20)
            publish_all(b, "cq/t", want, 1)
            for p in want:
                first, body = r.recv_packet()
                assert first & 0xF6 == 0x32, hex(first)  # QoS 1 PUBLISH
                assert body.endswith(p), (body, p)
            if how == "kill":
                stop(b, kill=True)
                r.close()
            else:
                # SIGTERM while it is connected; it closes during the
                # drain, and the broker must still exit 0.
                b.proc.terminate()
                end = time.time() + DEADLINE
                while not any("SIGTERM, stopping" in l for l in b.log):
                    assert time.time() < end, "no SIGTERM line:\n" + \
                        "\n".join(b.log[-10:])
                    time.sleep(0.02)
                time.sleep(0.1)
                r.close()
                stop(b)
            r = None

            # What store dump prints today: the persistent session, and
            # nothing naming the clean one or its topic.  (The header and
            # the summary name the directory: left out of the search.)
            lines = dump(d)
            body = [l for l in lines if not l.startswith(d + ":")]
            assert any(l.startswith("session keep5 (") for l in body), lines
            assert not any("clean5" in l or "cq/" in l for l in body), lines
            assert lines[-1].startswith(
                "%s: 0 retained messages, 1 session" % d), lines

            b = persistent(d)
            assert int(b.metric("ringmq_store_sessions_loaded")) == 1
            # The clean session ended with its connection and its state is
            # not reused [MQTT-3.1.2-6]: a clean session 0 CONNECT finds
            # nothing, Session Present 0 [MQTT-3.2.2-3], and gets nothing.
            c = Client(b, "clean5", clean=False)
            assert session_present(c) == 0
            assert c.quiet(0.5) == [], [m.payload for m in c.msgs]
            c.close()
            # Clean again, subscribed again: still nothing from before.
            c = Client(b, "clean5", clean=True)
            assert session_present(c) == 0  # [MQTT-3.2.2-1]
            c.subscribe("cq/t", 1)
            assert c.quiet(0.5) == [], [m.payload for m in c.msgs]
            c.close()
        finally:
            if r is not None:
                r.close()
            b.stop()


def expired_messages_are_dropped_across_a_restart(_):
    """Two QoS 1 messages queued for an offline 5.0 session, one with a
    Message Expiry Interval of 2 s and one of 3600 s; the broker is down
    for 3 s: only the second is delivered, its interval less the time it
    waited, the time the broker was down included."""
    d = os.path.join(_tmp, "expiry-" + LOOP)
    b = persistent(d)
    try:
        s = kept_v5(b, "exp6")
        s.subscribe("exp/t", 1)
        s.close()
        b.wait_connections(0)
        p = Client(b, version=paho.MQTTv5)
        p.publish("exp/t", b"short", qos=1, properties=props(
            "PUBLISH", MessageExpiryInterval=2))
        p.publish("exp/t", b"long", qos=1, properties=props(
            "PUBLISH", MessageExpiryInterval=3600))
        p.close()
        b.wait_connections(0)
        stop(b)
        time.sleep(3)  # "short" expires while the broker is down

        b = persistent(d)
        s = kept_v5(b, "exp6")
        assert session_present(s) == 1
        s.wait_msgs(1)
        got = s.quiet(0.5)
        # Expired before onward delivery started: deleted for this
        # subscriber [MQTT-3.3.2-5]; the other is delivered.
        assert [m.payload for m in got] == [b"long"], \
            [m.payload for m in got]
        # Sent with the received interval less the time it waited in the
        # server [MQTT-3.3.2-6]: at least the 3 s the broker was down
        # (3598: a second either side for clocks read in whole seconds).
        left = getattr(got[0].properties, "MessageExpiryInterval", None)
        assert left is not None and 3500 <= left <= 3598, left
        s.close()
    finally:
        b.stop()


def inflight_messages_are_resent_after_a_restart(_):
    """A persistent 3.1.1 subscriber (a raw socket) is sent 10 QoS 1
    messages and acknowledges none; it leaves, 5 more are queued, the
    broker restarts (SIGTERM).  At its reconnection the 10 come again
    first, DUP set, with their packet identifiers, then the 5; once all
    are acknowledged nothing more comes."""
    d = os.path.join(_tmp, "inflight-" + LOOP)
    b = persistent(d)
    r = None

    def publish_of(pkt):
        assert pkt is not None, "the broker closed the connection"
        first, body = pkt
        assert first & 0xF0 == 0x30 and first & 0x06 == 0x02, hex(first)
        n = (body[0] << 8) | body[1]
        assert body[2:2 + n] == b"if/t", body
        return first, body[2 + n:4 + n], body[4 + n:]

    def connect_kept():
        c = Raw(b)
        c.send(connect_packet("if7", version=4, flags=0x00))  # clean 0
        return c

    try:
        r = connect_kept()
        assert r.recv_packet() == (0x20, b"\x00\x00")
        r.send(packet(0x82, b"\x00\x01" + string("if/t") + b"\x01"))
        assert r.recv_packet() == (0x90, b"\x00\x01\x01")
        sent = payloads("if", 1, 10)
        publish_all(b, "if/t", sent, 1)
        inflight = []  # (packet id, payload), in the order sent
        for p in sent:
            first, pid, payload = publish_of(r.recv_packet())
            assert payload == p and not first & 0x08, (payload, hex(first))
            inflight.append((pid, payload))
        r.close()  # none acknowledged
        r = None
        b.wait_connections(0)
        queued = payloads("if", 11, 15)
        publish_all(b, "if/t", queued, 1)
        stop(b)

        b = persistent(d)
        r = connect_kept()
        assert r.recv_packet() == (0x20, b"\x01\x00")  # Session Present
        # [MQTT-4.4.0-1]: the unacknowledged PUBLISHes again, with their
        # original packet identifiers, DUP set [MQTT-3.3.1-1], in the
        # order first sent [MQTT-4.6.0-1]; the queued ones after them.
        again = []
        for _pid, _p in inflight:
            first, pid, payload = publish_of(r.recv_packet())
            again.append((pid, payload, bool(first & 0x08)))
        assert again == [(pid, p, True) for pid, p in inflight], again
        fresh = []
        for p in queued:
            first, pid, payload = publish_of(r.recv_packet())
            assert payload == p, (payload, p)
            # A new PUBLISH gets an identifier not in use (2.3.1).
            assert pid not in [i for i, _ in inflight], pid
            fresh.append(pid)
        for pid in [i for i, _ in inflight] + fresh:
            r.send(b"\x40\x02" + pid)  # PUBACK
        r.s.settimeout(0.5)
        try:
            extra = r.recv_packet()
        except socket.timeout:
            extra = "nothing"
        assert extra == "nothing", extra
        r.close()
        r = None

        # Acknowledged now: a reconnection finds the session and no
        # message.
        b.wait_connections(0)
        r = connect_kept()
        assert r.recv_packet() == (0x20, b"\x01\x00")
        r.s.settimeout(0.5)
        try:
            extra = r.recv_packet()
        except socket.timeout:
            extra = "nothing"
        assert extra == "nothing", extra
    finally:
        if r is not None:
            r.close()
        b.stop()


def a_delayed_will_outlives_a_restart(_):
    """A 5.0 session (expiry 3600 s) whose connection drops without
    DISCONNECT holds its will for its Will Delay Interval (5 s)
    [MQTT-3.1.3-9]; the broker restarts (SIGTERM) meanwhile, and the will
    still goes out once the delay is over, once."""
    d = os.path.join(_tmp, "will-" + LOOP)
    b = persistent(d)
    try:
        r = Raw(b)
        # Will flag, QoS 0, Clean Start 0; Session Expiry 3600; Will Delay
        # 5 s on "will/t" with "bye".
        r.send(connect_packet("willer", version=5, flags=0x04,
                              props=b"\x11\x00\x00\x0e\x10",
                              payload_extra=b"\x05\x18\x00\x00\x00\x05" +
                              string("will/t") + string("bye")))
        assert r.recv_packet()[0] == 0x20
        r.s.close()  # no DISCONNECT: the will is due in 5 s
        b.wait_connections(0)
        stop(b)
        b = persistent(d)
        s = Client(b, "watcher")
        s.subscribe("will/t", 0)
        got = s.wait_msgs(1)
        assert [m.payload for m in got] == [b"bye"], got
        # Sent: not again after another restart.
        s.close()
        stop(b)
        b = persistent(d)
        s = Client(b, "watcher")
        s.subscribe("will/t", 0)
        assert s.quiet(3) == [], "the will went twice"
        s.close()
    finally:
        b.stop()


try:
    run([queued_qos1_outlives_a_restart, a_delayed_will_outlives_a_restart,
         queued_qos2_v5_outlives_a_restart,
         queued_messages_outlive_kill_9,
         acknowledged_messages_are_not_delivered_again,
         clean_session_messages_are_not_kept,
         expired_messages_are_dropped_across_a_restart,
         inflight_messages_are_resent_after_a_restart], make_broker=None)
finally:
    shutil.rmtree(_tmp, ignore_errors=True)
