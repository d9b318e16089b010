"""05: will messages: published when the connection ends without a normal
DISCONNECT (network error, keep alive, protocol error), not after one,
DISCONNECT 0x04 keeps it, 5.0 will delay and properties."""
import time

from rmqtest import (Client, Raw, connect_packet, packet, paho, props, run,
                     string, varint)


def will_payload(topic, payload, qos=1, props5=b""):
    return props5, string(topic) + string(payload)


def raw_with_will(b, cid, topic, payload, version=4, will_props=b"",
                  keepalive=60):
    r = Raw(b)
    extra = (varint(len(will_props)) + will_props if version == 5 else b"") \
        + string(topic) + string(payload)
    # flags: clean start, will, will QoS 1
    r.send(connect_packet(cid, version=version, flags=0x02 | 0x04 | 0x08,
                          keepalive=keepalive, payload_extra=extra))
    assert r.recv_packet()[0] == 0x20
    return r


def will_on_network_error(b):
    # [MQTT-3.1.2-8]
    s = Client(b, "w-s")
    s.subscribe("will/#", 1)
    r = raw_with_will(b, "w-raw", "will/a", "gone")
    r.close()
    m = s.wait_msgs(1)[0]
    assert (m.topic, m.payload) == ("will/a", b"gone")
    s.close()


def no_will_after_normal_disconnect(b):
    # [MQTT-3.1.2-10]: a normal DISCONNECT deletes the will.
    s = Client(b, "w-s2")
    s.subscribe("will/#", 1)
    r = raw_with_will(b, "w-raw2", "will/b", "nope")
    r.send(bytes([0xE0, 0x00]))
    r.close()
    assert s.quiet(0.5) == []
    s.close()


def will_with_v5_disconnect_0x04(b):
    # 3.14.2.1: Disconnect with Will Message.
    s = Client(b, "w-s3")
    s.subscribe("will/#", 1)
    r = raw_with_will(b, "w-raw3", "will/c", "asked", version=5)
    r.send(bytes([0xE0, 0x01, 0x04]))
    r.close()
    assert s.wait_msgs(1)[0].payload == b"asked"
    s.close()


def will_on_protocol_error(b):
    s = Client(b, "w-s4")
    s.subscribe("will/#", 1)
    r = raw_with_will(b, "w-raw4", "will/d", "broken")
    r.send(packet(0x36, string("t") + b"\x00\x01"))  # QoS 3
    assert r.closed()
    assert s.wait_msgs(1)[0].payload == b"broken"
    s.close()


def will_on_keep_alive_timeout(b):
    s = Client(b, "w-s5")
    s.subscribe("will/#", 1)
    r = raw_with_will(b, "w-raw5", "will/e", "silent", keepalive=1)
    m = s.wait_msgs(1, timeout=5)[0]
    assert m.payload == b"silent"
    r.close()
    s.close()


def will_delay_and_properties(b):
    # 3.1.3.2: Will Delay Interval; will properties reach subscribers.
    s = Client(b, "w-s6", version=paho.MQTTv5)
    s.subscribe("will/#", 1)
    wp = bytes([0x18, 0, 0, 0, 1])  # will delay 1 s
    wp += bytes([0x03]) + string("text/plain")  # content type
    r = Raw(b)
    extra = varint(len(wp)) + wp + string("will/f") + string("late")
    # Session expiry 10 s so the session outlives the delay.
    cprops = bytes([0x11, 0, 0, 0, 10])
    r.send(connect_packet("w-raw6", version=5, flags=0x02 | 0x04 | 0x08,
                          props=cprops, payload_extra=extra))
    assert r.recv_packet()[0] == 0x20
    t0 = time.time()
    r.close()
    m = s.wait_msgs(1, timeout=5)[0]
    waited = time.time() - t0
    assert m.payload == b"late"
    assert m.properties.ContentType == "text/plain"
    assert waited >= 0.9, waited  # not before the delay
    s.close()


def will_cancelled_by_reconnect_before_delay(b):
    # [MQTT-3.1.3-9]: resumed before the delay: no will.
    s = Client(b, "w-s7")
    s.subscribe("will/#", 1)
    wp = bytes([0x18, 0, 0, 0, 2])
    cprops = bytes([0x11, 0, 0, 0, 30])
    extra = varint(len(wp)) + wp + string("will/g") + string("never")
    r = Raw(b)
    r.send(connect_packet("w-raw7", version=5, flags=0x04 | 0x08,
                          props=cprops, payload_extra=extra))
    assert r.recv_packet()[0] == 0x20
    r.close()
    time.sleep(0.3)
    r2 = Raw(b)
    r2.send(connect_packet("w-raw7", version=5, flags=0x00, props=cprops))
    first, body = r2.recv_packet()
    assert first == 0x20 and body[0] == 1, body  # session present
    assert s.quiet(2.5) == []
    r2.close()
    s.close()


run([will_on_network_error, no_will_after_normal_disconnect,
     will_with_v5_disconnect_0x04, will_on_protocol_error,
     will_on_keep_alive_timeout, will_delay_and_properties,
     will_cancelled_by_reconnect_before_delay])
