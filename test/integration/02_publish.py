"""02: PUBLISH at QoS 0, 1 and 2 in both directions, between clients of
every protocol version, with order kept and QoS 2 exactly once."""
import subprocess

from rmqtest import Broker, Client, Raw, connect_packet, packet, paho, run, string


def qos_roundtrip_v311_and_v5(b):
    for v in (paho.MQTTv311, paho.MQTTv5):
        sub = Client(b, "s-%d" % v, version=v)
        pub = Client(b, "p-%d" % v, version=v)
        sub.subscribe("q/%d" % v, 2)
        for q in (0, 1, 2):
            pub.publish("q/%d" % v, b"qos%d" % q, qos=q)
        msgs = sub.wait_msgs(3)
        got = sorted((m.payload, m.qos) for m in msgs)
        assert got == [(b"qos0", 0), (b"qos1", 1), (b"qos2", 2)], got
        sub.close()
        pub.close()


def qos_downgraded_to_subscription(b):
    # 4.5: delivered at min(published QoS, granted QoS).
    sub = Client(b, "down")
    sub.subscribe("down/t", 1)
    pub = Client(b, "down-p")
    pub.publish("down/t", b"x", qos=2)
    m = sub.wait_msgs(1)[0]
    assert m.qos == 1, m.qos
    sub.close()
    pub.close()


def versions_talk_to_each_other(b):
    # 3.1 publisher -> 5.0 and 3.1.1 subscribers, and back.
    s5 = Client(b, "x5", version=paho.MQTTv5)
    s4 = Client(b, "x4", version=paho.MQTTv311)
    s5.subscribe("mix/#", 1)
    s4.subscribe("mix/#", 1)
    subprocess.run(["mosquitto_pub", "-p", str(b.port), "-V", "mqttv31",
                    "-q", "1", "-t", "mix/a", "-m", "from 3.1"],
                   check=True, timeout=10)
    subprocess.run(["mosquitto_pub", "-p", str(b.port), "-V", "mqttv5",
                    "-q", "2", "-t", "mix/b", "-m", "from 5"],
                   check=True, timeout=10)
    for c in (s5, s4):
        got = sorted(m.payload for m in c.wait_msgs(2))
        assert got == [b"from 3.1", b"from 5"], got
    s5.close()
    s4.close()


def order_kept_per_publisher(b):
    # 4.6: messages from one publisher on one topic arrive in order.
    sub = Client(b, "ord-s")
    sub.subscribe("ord/t", 1)
    pub = Client(b, "ord-p")
    n = 2000
    for i in range(n):
        pub.c.publish("ord/t", str(i).encode(), 1)
    msgs = sub.wait_msgs(n, timeout=30)
    assert [int(m.payload) for m in msgs] == list(range(n))
    sub.close()
    pub.close()


def qos0_order_and_count_across_workers(b):
    # Publishers and subscribers on every worker: each subscriber gets
    # each publisher's messages once and in order.
    subs = [Client(b, "xs%d" % i) for i in range(4)]
    for s in subs:
        s.subscribe("x/+", 0)
    pubs = [Client(b, "xp%d" % i) for i in range(4)]
    for i in range(300):
        for j, p in enumerate(pubs):
            p.c.publish("x/%d" % j, b"%d" % i, 0)
    for p in pubs:  # a QoS 1 marker after the QoS 0 stream
        p.publish("x/end", b"end", qos=1)
    for s in subs:
        s.wait_msgs(4 * 300 + 4, timeout=30)
        for j in range(4):
            seq = [int(m.payload) for m in s.msgs if m.topic == "x/%d" % j]
            assert seq == list(range(300)), (j, len(seq))
    for c in subs + pubs:
        c.close()


def qos2_duplicate_is_delivered_once(b):
    # [MQTT-4.3.3-10]: a resent QoS 2 PUBLISH before PUBREL is not
    # delivered again.
    sub = Client(b, "dup-s")
    sub.subscribe("dup/t", 2)
    r = Raw(b)
    r.send(connect_packet("dup-raw", version=4))
    assert r.recv_packet()[0] == 0x20
    pub = packet(0x34, string("dup/t") + b"\x00\x07" + b"once")
    r.send(pub)
    assert r.recv_packet() == (0x50, b"\x00\x07")  # PUBREC
    r.send(bytes([0x3C]) + pub[1:])  # DUP set, same packet id
    assert r.recv_packet() == (0x50, b"\x00\x07")
    r.send(bytes([0x62, 0x02, 0x00, 0x07]))  # PUBREL
    assert r.recv_packet() == (0x70, b"\x00\x07")  # PUBCOMP
    sub.quiet(0.5)
    assert [m.payload for m in sub.msgs] == [b"once"]
    r.close()
    sub.close()


def large_payload(b):
    sub = Client(b, "big-s")
    sub.subscribe("big/t", 1)
    pub = Client(b, "big-p")
    data = bytes(range(256)) * 4096  # 1 MiB
    pub.publish("big/t", data, qos=1)
    assert sub.wait_msgs(1)[0].payload == data
    sub.close()
    pub.close()


def many_subscribers_one_copy_each(b):
    subs = [Client(b, "fan%d" % i) for i in range(20)]
    for s in subs:
        s.subscribe("fan/t", 1)
    pub = Client(b, "fan-p")
    for i in range(50):
        pub.publish("fan/t", b"%d" % i, qos=1)
    for s in subs:
        assert [int(m.payload) for m in s.wait_msgs(50)] == list(range(50))
        s.quiet(0.05)
        assert len(s.msgs) == 50
    for c in subs + [pub]:
        c.close()


def sys_topics_not_published_by_clients(b):
    sub = Client(b, "sys-s")
    sub.subscribe("$SYS/broker/fake", 0)  # the broker's own $SYS aside
    pub = Client(b, "sys-p")
    pub.publish("$SYS/broker/fake", b"x", qos=1)
    assert sub.quiet(0.3) == []
    sub.close()
    pub.close()


run([qos_roundtrip_v311_and_v5, qos_downgraded_to_subscription,
     versions_talk_to_each_other, order_kept_per_publisher,
     qos0_order_and_count_across_workers, qos2_duplicate_is_delivered_once,
     large_payload, many_subscribers_one_copy_each,
     sys_topics_not_published_by_clients],
    # Queues deep enough that nothing here meets the queue bound, which
    # 08_limits tests on its own.
    make_broker=lambda: Broker("--max-queued", "100000"))
