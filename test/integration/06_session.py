"""06: sessions: clean and persistent, Session Present, messages queued
while offline, in-flight messages resent with DUP, session expiry, and
takeover of a client identifier on any worker."""
import time

from rmqtest import (Client, Raw, connect_packet, offline_session, packet,
                     paho, props, run, string)


def persistent_session_queues_while_offline(b):
    offline_session(b, "pers", "p/t")
    p = Client(b, "pers-p")
    # QoS 0 is not kept offline.  It goes first: the PUBACKs of the QoS 1
    # messages after it prove the broker has routed it before s2 connects.
    p.publish("p/t", b"q0", qos=0)
    for i in range(5):
        p.publish("p/t", b"%d" % i, qos=1)
    s2 = Client(b, "pers", clean=False)
    flags, rc, _ = s2.connack
    assert flags["session present"] == 1
    got = [m.payload for m in s2.wait_msgs(5)]
    assert got == [b"%d" % i for i in range(5)], got
    s2.close()
    # Clean session: the old session is gone [MQTT-3.2.2-1].
    s3 = Client(b, "pers", clean=True)
    assert s3.connack[0]["session present"] == 0
    s3.close()
    p.close()


def clean_session_discards(b):
    s = Client(b, "cln", clean=False)
    s.subscribe("c/t", 1)
    s.close()
    s2 = Client(b, "cln", clean=True)
    p = Client(b, "cln-p")
    p.publish("c/t", b"x", qos=1)
    assert s2.quiet(0.3) == []
    s2.close()
    p.close()


def clean_session_taken_over_is_not_resumed(b):
    # [MQTT-3.1.2-6]: a clean session ends with its connection, also when
    # a persistent connection of the same id takes it over: Session
    # Present 0, and none of its subscriptions.
    a = Client(b, "cto", clean=True)
    a.subscribe("cto/t", 1)
    n = Client(b, "cto", clean=False)
    assert n.connack[0]["session present"] == 0
    a.wait(lambda: a.disconnects, "the old connection closed")
    p = Client(b, "cto-p")
    p.publish("cto/t", b"x", qos=1)
    assert n.quiet(0.3) == []
    n.close()
    p.close()
    a.close()


def wrong_acknowledgement_is_a_protocol_error(b):
    # 5.0 4.13.1: a PUBREC for a QoS 1 message in flight is a Protocol
    # Error: DISCONNECT 0x82, then the close.
    r = Raw(b)
    r.send(connect_packet("wack", version=5))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x82, b"\x00\x01\x00" + string("wack/t") + b"\x01"))
    assert r.recv_packet() == (0x90, b"\x00\x01\x00\x01")
    p = Client(b, "wack-p")
    p.publish("wack/t", b"x", qos=1)
    first, body = r.recv_packet()
    assert first == 0x32, first
    pid = body[2 + len("wack/t"):4 + len("wack/t")]
    r.send(packet(0x50, pid))
    first, body = r.recv_packet()
    assert first == 0xE0 and body[0] == 0x82, (first, body)
    assert r.closed()
    p.close()


def unacknowledged_resent_with_dup(b):
    # [MQTT-4.4.0-1]: a raw subscriber that never acks gets the message
    # again with DUP set and the same packet id after reconnecting.
    r = Raw(b)
    r.send(connect_packet("noack", version=4, flags=0x00))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x82, b"\x00\x01" + string("na/t") + b"\x01"))
    assert r.recv_packet()[0] == 0x90
    p = Client(b, "noack-p")
    p.publish("na/t", b"m", qos=1)
    first, body = r.recv_packet()
    assert first == 0x32, hex(first)
    pid = body[2 + 4:2 + 4 + 2]
    r.close()
    r2 = Raw(b)
    r2.send(connect_packet("noack", version=4, flags=0x00))
    assert r2.recv_packet() == (0x20, b"\x01\x00")
    first, body2 = r2.recv_packet()
    assert first == 0x3A, hex(first)  # DUP + QoS 1
    assert body2[6:8] == pid
    r2.send(bytes([0x40, 0x02]) + pid)
    r2.close()
    p.close()


def v5_session_expiry(b):
    props5 = props("CONNECT", SessionExpiryInterval=1)
    s = Client(b, "expiry", version=paho.MQTTv5, clean_start=False,
               properties=props5)
    s.subscribe("x/t", 1)
    s.close()
    time.sleep(1.8)
    s2 = Client(b, "expiry", version=paho.MQTTv5, clean_start=False,
                properties=props5)
    assert s2.connack[0]["session present"] == 0  # expired
    s2.close()


def takeover_on_every_worker(b):
    # [MQTT-3.1.4-3]: a second connection with the same id takes over;
    # repeat so that the two land on different workers too.
    for i in range(40):
        a = Client(b, "taker", version=paho.MQTTv5, clean_start=False,
                   properties=props("CONNECT", SessionExpiryInterval=60))
        a.subscribe("to/mine", 1)
        c2 = Client(b, "taker", version=paho.MQTTv5, clean_start=False,
                    properties=props("CONNECT", SessionExpiryInterval=60))
        assert c2.connack[0]["session present"] == 1
        a.wait(lambda: 0x8E in a.disconnects, "DISCONNECT 0x8E")
        a.c.loop_stop()
        p = Client(b, "to-p%d" % i)
        p.publish("to/mine", b"%d" % i, qos=1)
        m = c2.wait_msgs(1)[0]
        assert m.payload == b"%d" % i  # the subscription moved with it
        c2.c.disconnect()
        c2.c.loop_stop()
        p.close()
        handoffs = [l for l in b.log if "client taker handed to worker" in l]
        if i >= 3 and handoffs:
            break
    assert handoffs, "no takeover crossed workers in 40 tries"
    c3 = Client(b, "taker", version=paho.MQTTv5, clean_start=True)
    c3.close()


run([persistent_session_queues_while_offline, clean_session_discards,
     clean_session_taken_over_is_not_resumed,
     wrong_acknowledgement_is_a_protocol_error,
     unacknowledged_resent_with_dup, v5_session_expiry,
     takeover_on_every_worker])
