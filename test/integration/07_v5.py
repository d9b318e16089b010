"""07: MQTT 5.0 properties: topic aliases, message expiry counting down in
queues, request/response properties and user properties passed through,
the client's Maximum Packet Size, and server-side reason codes."""
import time

from rmqtest import (Client, Raw, connect_packet, packet, paho, props, run,
                     string, varint)


def properties_pass_through(b):
    s = Client(b, "pp-s", version=paho.MQTTv5)
    s.subscribe("pp/t", 1)
    p = Client(b, "pp-p", version=paho.MQTTv5)
    pr = props("PUBLISH", ResponseTopic="pp/reply", CorrelationData=b"\x01\x02",
               ContentType="application/json", PayloadFormatIndicator=1,
               UserProperty=[("a", "1"), ("b", "2"), ("a", "3")])
    p.publish("pp/t", b"{}", qos=1, properties=pr)
    m = s.wait_msgs(1)[0]
    q = m.properties
    assert q.ResponseTopic == "pp/reply"
    assert q.CorrelationData == b"\x01\x02"
    assert q.ContentType == "application/json"
    assert q.PayloadFormatIndicator == 1
    # 3.3.2.3.7: user properties in order, duplicates kept.
    assert q.UserProperty == [("a", "1"), ("b", "2"), ("a", "3")], q.UserProperty
    s.close()
    p.close()


def v5_to_v311_drops_properties(b):
    s = Client(b, "old-s", version=paho.MQTTv311)
    s.subscribe("pp2/t", 1)
    p = Client(b, "new-p", version=paho.MQTTv5)
    p.publish("pp2/t", b"x", qos=1,
              properties=props("PUBLISH", UserProperty=[("k", "v")]))
    assert s.wait_msgs(1)[0].payload == b"x"
    s.close()
    p.close()


def inbound_topic_alias(b):
    # 3.3.2.3.4: set an alias with a topic, then use it with an empty one.
    s = Client(b, "al-s")
    s.subscribe("al/long/topic", 1)
    r = Raw(b)
    r.send(connect_packet("al-raw", version=5))
    assert r.recv_packet()[0] == 0x20
    alias = bytes([0x23, 0x00, 0x01])
    r.send(packet(0x30, string("al/long/topic") + varint(3) + alias + b"one"))
    r.send(packet(0x30, string("") + varint(3) + alias + b"two"))
    got = [m.payload for m in s.wait_msgs(2)]
    assert got == [b"one", b"two"], got
    # An alias above the maximum we announced: DISCONNECT 0x94.
    big = bytes([0x23, 0x7F, 0xFF])
    r.send(packet(0x30, string("al/x") + varint(3) + big + b"z"))
    first, body = r.recv_packet()
    assert first == 0xE0 and body[0] == 0x94, (first, body)
    s.close()


def outbound_topic_alias(b):
    # 3.3.2.3.4: a client that allows aliases gets the topic once with an
    # alias, then the alias and an empty topic.
    r = Raw(b)
    r.send(connect_packet("alias-out", version=5,
                          props=bytes([0x22, 0x00, 0x0A])))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x82, b"\x00\x01\x00" + string("ao/t") + b"\x00"))
    assert r.recv_packet()[0] == 0x90
    p = Client(b, "alias-p")
    p.publish("ao/t", b"1", qos=1)
    p.publish("ao/t", b"2", qos=1)
    seen = []
    for _ in range(2):
        first, body = r.recv_packet()
        assert first >> 4 == 3
        tl = body[0] << 8 | body[1]
        topic = body[2:2 + tl]
        plen = body[2 + tl]
        pr = body[3 + tl:3 + tl + plen]
        seen.append((topic, pr, body[3 + tl + plen:]))
    assert seen[0][0] == b"ao/t" and b"\x23\x00\x01" in seen[0][1], seen
    assert seen[1][0] == b"" and b"\x23\x00\x01" in seen[1][1], seen
    assert [x[2] for x in seen] == [b"1", b"2"]
    r.close()
    p.close()


def read_publish(r):
    first, body = r.recv_packet()
    assert first >> 4 == 3, hex(first)
    tl = body[0] << 8 | body[1]
    pos = 2 + tl + (2 if first & 6 else 0)
    plen = body[pos]
    return body[2:2 + tl], body[pos + 1:pos + 1 + plen], \
        body[pos + 1 + plen:], body[2 + tl:4 + tl]


def aliases_are_per_connection(b):
    # [MQTT-3.3.2-7]: a new connection starts without aliases: the first
    # message after reconnecting names its topic again.
    cprops = bytes([0x22, 0x00, 0x0A, 0x11, 0, 0, 0, 30])
    r = Raw(b)
    r.send(connect_packet("alias-pc", version=5, flags=0x00, props=cprops))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x82, b"\x00\x01\x00" + string("apc/t") + b"\x01"))
    assert r.recv_packet()[0] == 0x90
    p = Client(b, "alias-pc-p")
    p.publish("apc/t", b"a", qos=1)
    topic, pr, payload, pid = read_publish(r)
    assert topic == b"apc/t" and b"\x23\x00\x01" in pr
    r.send(bytes([0x40, 0x02]) + pid)
    r.close()
    p.publish("apc/t", b"b", qos=1)
    r2 = Raw(b)
    r2.send(connect_packet("alias-pc", version=5, flags=0x00, props=cprops))
    assert r2.recv_packet()[0] == 0x20
    topic, pr, payload, pid = read_publish(r2)
    assert topic == b"apc/t" and payload == b"b", (topic, payload)
    r2.send(bytes([0x40, 0x02]) + pid)
    r2.close()
    p.close()


def unknown_alias_is_a_protocol_error(b):
    r = Raw(b)
    r.send(connect_packet("al-raw2", version=5))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x30, string("") + varint(3) + bytes([0x23, 0, 5]) + b"x"))
    first, body = r.recv_packet()
    assert first == 0xE0 and body[0] == 0x82, (first, body)


def message_expiry_counts_down(b):
    # 3.3.2.3.3: the interval sent is what is left; expired: not sent.
    s = Client(b, "mx", version=paho.MQTTv5, clean_start=False,
               properties=props("CONNECT", SessionExpiryInterval=60))
    s.subscribe("mx/t", 1)
    s.close()
    b.wait_connections(0)  # queued offline, where expiry counts down
    p = Client(b, "mx-p", version=paho.MQTTv5)
    p.publish("mx/t", b"long", qos=1,
              properties=props("PUBLISH", MessageExpiryInterval=30))
    p.publish("mx/t", b"short", qos=1,
              properties=props("PUBLISH", MessageExpiryInterval=1))
    time.sleep(2.2)
    s2 = Client(b, "mx", version=paho.MQTTv5, clean_start=False,
                properties=props("CONNECT", SessionExpiryInterval=60))
    m = s2.wait_msgs(1)[0]
    s2.quiet(0.3)
    assert [x.payload for x in s2.msgs] == [b"long"]
    assert 25 <= m.properties.MessageExpiryInterval <= 28, \
        m.properties.MessageExpiryInterval
    s2.close()
    p.close()


def client_maximum_packet_size(b):
    # [MQTT-3.1.2-25]: nothing bigger than the client accepts.
    s = Client(b, "mps", version=paho.MQTTv5,
               properties=props("CONNECT", MaximumPacketSize=100))
    s.subscribe("mps/t", 1)
    p = Client(b, "mps-p")
    p.publish("mps/t", b"x" * 500, qos=1)
    p.publish("mps/t", b"small", qos=1)
    assert [m.payload for m in s.wait_msgs(1)] == [b"small"]
    s.quiet(0.3)
    assert len(s.msgs) == 1
    s.close()
    p.close()


def client_maximum_packet_size_is_exact(b):
    # [MQTT-3.1.2-24]: measured on the packet itself.  To this client a
    # QoS 0 message on "mx" (2 + 4 + 1 bytes of header, topic and
    # properties) with 33 bytes of payload is 40 bytes, its maximum:
    # delivered; with 34 it is discarded [MQTT-3.1.2-25].
    r = Raw(b)
    r.send(packet(0x10, string("MQTT") + bytes([5, 2, 0, 60]) +
                  varint(5) + bytes([0x27, 0, 0, 0, 40]) + string("mx")))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x82, b"\x00\x01\x00" + string("mx") + b"\x00"))
    assert r.recv_packet() == (0x90, b"\x00\x01\x00\x00")
    p = Client(b, "mx-p")
    p.publish("mx", b"y" * 34, qos=1)
    p.publish("mx", b"z" * 33, qos=1)
    first, body = r.recv_packet()
    assert first == 0x30 and body == string("mx") + b"\x00" + b"z" * 33, body
    r.close()
    p.close()


def puback_says_no_matching_subscribers(b):
    # 3.4.2.1: 0x10 when nobody was subscribed.
    r = Raw(b)
    r.send(connect_packet("nms", version=5))
    assert r.recv_packet()[0] == 0x20
    r.send(packet(0x32, string("nobody/here") + b"\x00\x09" + varint(0) +
                  b"x"))
    first, body = r.recv_packet()
    assert first == 0x40 and body[:3] == b"\x00\x09\x10", body
    r.close()


def subscription_identifier(b):
    s = Client(b, "sid", version=paho.MQTTv5)
    s.subscribe("sid/#", 1, properties=props("SUBSCRIBE",
                                             SubscriptionIdentifier=42))
    p = Client(b, "sid-p")
    p.publish("sid/x", b"x", qos=1)
    assert s.wait_msgs(1)[0].properties.SubscriptionIdentifier == [42]
    s.close()
    p.close()


run([properties_pass_through, v5_to_v311_drops_properties,
     inbound_topic_alias, outbound_topic_alias, aliases_are_per_connection,
     unknown_alias_is_a_protocol_error,
     message_expiry_counts_down, client_maximum_packet_size,
     client_maximum_packet_size_is_exact,
     puback_says_no_matching_subscribers, subscription_identifier])
