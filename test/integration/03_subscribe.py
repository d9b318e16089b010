"""03: SUBSCRIBE and UNSUBSCRIBE: wildcards, the '$' rule, each filter
answered on its own, overlapping subscriptions merged into one copy, No
Local, shared subscriptions."""
from rmqtest import (Client, Raw, connect_packet, packet, paho, props, run,
                     string)


def wildcards(b):
    s = Client(b, "wild")
    s.subscribe("w/+/x", 0)
    s.subscribe("w/#", 0)
    p = Client(b, "wild-p")
    p.publish("w/a/x", b"1", qos=1)  # both filters: one copy
    p.publish("w/a/y", b"2", qos=1)  # only w/#
    p.publish("w", b"3", qos=1)      # w/# matches its parent [MQTT-4.7.1-2]
    p.publish("v/a/x", b"4", qos=1)  # none
    got = sorted(m.payload for m in s.wait_msgs(3))
    s.quiet(0.2)
    assert got == [b"1", b"2", b"3"] and len(s.msgs) == 3, s.msgs
    s.close()
    p.close()


def dollar_topics_not_matched_by_leading_wildcards(b):
    # [MQTT-4.7.2-1]
    s = Client(b, "dollar")
    s.subscribe("#", 0)
    s.subscribe("+/x", 0)
    d = Client(b, "dollar-d")
    d.subscribe("$app/x", 0)
    p = Client(b, "dollar-p")
    p.publish("$app/x", b"d", qos=1)
    assert d.wait_msgs(1)[0].payload == b"d"
    assert s.quiet(0.3) == []
    for c in (s, d, p):
        c.close()


def unsubscribe_stops_delivery(b):
    s = Client(b, "unsub")
    s.subscribe("u/t", 1)
    p = Client(b, "unsub-p")
    p.publish("u/t", b"before", qos=1)
    s.wait_msgs(1)
    s.unsubscribe("u/t")
    p.publish("u/t", b"after", qos=1)
    s.quiet(0.3)
    assert [m.payload for m in s.msgs] == [b"before"]
    s.close()
    p.close()


def invalid_filter_refused_alone(b):
    # 3.1.1: SUBACK 0x80 for the bad filter, the good one granted.
    r = Raw(b)
    r.send(connect_packet("badf", version=4))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x82, b"\x00\x05" + string("a/#/b") + b"\x01" +
                  string("ok/+") + b"\x01"))
    assert r.recv_packet() == (0x90, b"\x00\x05\x80\x01")
    # 5.0: 0x8F Topic Filter invalid.
    r5 = Raw(b)
    r5.send(connect_packet("badf5", version=5))
    assert r5.recv_packet()[0] == 0x20
    r5.send(packet(0x82, b"\x00\x06\x00" + string("x+") + b"\x00"))
    assert r5.recv_packet() == (0x90, b"\x00\x06\x00\x8f")
    r.close()
    r5.close()


def empty_filter_in_unsubscribe(b):
    # [MQTT-4.7.3-1]: a Topic Filter is at least one character: no
    # UNSUBACK; 3.1.1 closes, 5.0 hears DISCONNECT 0x82 first.
    r = Raw(b)
    r.send(connect_packet("euf", version=4))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0xA2, b"\x00\x01" + string("")))
    assert r.closed()
    r5 = Raw(b)
    r5.send(connect_packet("euf5", version=5))
    assert r5.recv_packet()[0] == 0x20
    r5.send(packet(0xA2, b"\x00\x01\x00" + string("")))
    first, body = r5.recv_packet()
    assert first == 0xE0 and body[0] == 0x82, (first, body)
    assert r5.closed()


def invalid_filter_in_unsubscribe(b):
    # [MQTT-4.7.1-2]: "#/b" is no filter: 5.0 hears 0x8F for it in the
    # UNSUBACK; 3.1.1, which has no code for one filter, is closed.
    r5 = Raw(b)
    r5.send(connect_packet("iuf5", version=5))
    assert r5.recv_packet()[0] == 0x20
    r5.send(packet(0xA2, b"\x00\x02\x00" + string("ok") + string("#/b")))
    assert r5.recv_packet() == (0xB0, b"\x00\x02\x00\x11\x8f")
    r5.close()
    r = Raw(b)
    r.send(connect_packet("iuf", version=4))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0xA2, b"\x00\x02" + string("x/#/y")))
    assert r.closed()


def overlapping_subscriptions_one_copy_highest_qos(b):
    # One copy at the highest granted QoS, with every Subscription
    # Identifier (3.3.4).
    s = Client(b, "over", version=paho.MQTTv5)
    s.subscribe("o/+", 0, properties=props("SUBSCRIBE",
                                           SubscriptionIdentifier=5))
    s.subscribe("o/#", 1, properties=props("SUBSCRIBE",
                                           SubscriptionIdentifier=9))
    p = Client(b, "over-p")
    p.publish("o/t", b"x", qos=2)
    m = s.wait_msgs(1)[0]
    s.quiet(0.3)
    assert len(s.msgs) == 1, len(s.msgs)
    assert m.qos == 1
    assert sorted(m.properties.SubscriptionIdentifier) == [5, 9]
    s.close()
    p.close()


def no_local(b):
    # [MQTT-3.8.3-3]
    from paho.mqtt.subscribeoptions import SubscribeOptions
    c = Client(b, "nolocal", version=paho.MQTTv5)
    c.subscribe("nl/t", options=SubscribeOptions(qos=1, noLocal=True))
    other = Client(b, "nolocal-o", version=paho.MQTTv5)
    other.subscribe("nl/t", 1)
    c.publish("nl/t", b"mine", qos=1)
    assert other.wait_msgs(1)[0].payload == b"mine"
    assert c.quiet(0.3) == []
    c.close()
    other.close()


def shared_subscription_splits_messages(b):
    members = [Client(b, "sh%d" % i, version=paho.MQTTv5) for i in range(3)]
    for m in members:
        m.subscribe("$share/g/sh/t", 1)
    plain = Client(b, "sh-plain")
    plain.subscribe("sh/t", 1)
    p = Client(b, "sh-p")
    n = 90
    for i in range(n):
        p.publish("sh/t", b"%d" % i, qos=1)
    plain.wait_msgs(n)
    for m in members:
        m.quiet(0.3)
    got = sorted(int(x.payload) for m in members for x in m.msgs)
    assert got == list(range(n)), got  # each message to one member
    assert all(len(m.msgs) > 0 for m in members), [len(m.msgs) for m in members]
    for c in members + [plain, p]:
        c.close()


def shared_groups_each_take_turns(b):
    # A publisher alternating between two topics, each with a group of
    # two: every member gets its share (a cursor shared by the groups would
    # send each group's messages to one member only).
    groups = {"ta": [], "tb": []}
    for t, g in (("ta", "ga"), ("tb", "gb")):
        for i in range(2):
            c = Client(b, "turn-%s%d" % (g, i), version=paho.MQTTv5)
            c.subscribe("$share/%s/turn/%s" % (g, t), 1)
            groups[t].append(c)
    p = Client(b, "turn-p")
    n = 40
    for i in range(n):
        p.publish("turn/%s" % ("ta" if i % 2 == 0 else "tb"), b"%d" % i,
                  qos=1)
    for t, members in groups.items():
        want = [i for i in range(n) if (i % 2 == 0) == (t == "ta")]
        for _ in range(50):
            if sum(len(m.msgs) for m in members) >= len(want):
                break
            members[0].quiet(0.1)
        got = sorted(int(x.payload) for m in members for x in m.msgs)
        assert got == want, (t, got)
        counts = [len(m.msgs) for m in members]
        assert counts == [len(want) // 2] * 2, (t, counts)
    for c in groups["ta"] + groups["tb"] + [p]:
        c.close()


run([wildcards, dollar_topics_not_matched_by_leading_wildcards,
     unsubscribe_stops_delivery, invalid_filter_refused_alone,
     empty_filter_in_unsubscribe, invalid_filter_in_unsubscribe,
     overlapping_subscriptions_one_copy_highest_qos, no_local,
     shared_subscription_splits_messages, shared_groups_each_take_turns])
