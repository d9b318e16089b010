"""01: CONNECT and CONNACK for MQTT 3.1, 3.1.1 and 5.0: return and reason
codes, client identifiers, and the connections the spec says to close."""
import subprocess

from rmqtest import (Broker, Client, Raw, conf_file, connect_packet, packet,
                     paho, props, run, string, varint)


def connect_v311(b):
    c = Client(b, "c311")
    flags, rc, _ = c.connack
    assert rc == 0 and flags["session present"] == 0
    c.close()


def connect_v31_with_mosquitto_clients(b):
    # 3.1 (MQIsdp) publisher and subscriber from Debian's mosquitto
    # clients.  The message is retained, so the subscriber gets it whenever
    # its subscription lands.
    subprocess.run(["mosquitto_pub", "-p", str(b.port), "-V", "mqttv31",
                    "-i", "pub31", "-t", "v31/t", "-m", "hello 3.1", "-r",
                    "-q", "1"], check=True, timeout=10)
    out = subprocess.run(["mosquitto_sub", "-p", str(b.port), "-V",
                          "mqttv31", "-i", "sub31", "-t", "v31/t", "-C", "1",
                          "-W", "10"],
                         capture_output=True, text=True, timeout=15).stdout
    assert out.strip() == "hello 3.1", out
    subprocess.run(["mosquitto_pub", "-p", str(b.port), "-V", "mqttv311",
                    "-t", "v31/t", "-n", "-r"], check=True, timeout=10)


def connect_v5_connack_properties(b):
    c = Client(b, "c5", version=paho.MQTTv5)
    flags, rc, props = c.connack
    assert rc == 0
    # 3.2.2.3: the server tells what it supports.
    assert props.ReceiveMaximum > 0
    assert props.TopicAliasMaximum > 0
    assert props.MaximumPacketSize > 0
    c.close()


def v5_empty_client_id_gets_assigned_one(b):
    # [MQTT-3.1.3-6], [MQTT-3.1.3-7]
    c = Client(b, "", version=paho.MQTTv5)
    _, rc, props = c.connack
    assert rc == 0
    assert props.AssignedClientIdentifier.startswith("ringmq-")
    c.close()


def v311_empty_id_without_clean_session_refused(b):
    # [MQTT-3.1.3-8]: CONNACK 0x02 Identifier rejected, then close.
    r = Raw(b)
    r.send(connect_packet("", version=4, flags=0x00))
    first, body = r.recv_packet()
    assert first == 0x20 and body == bytes([0, 2]), (first, body)
    assert r.closed()


def v31_long_client_id_refused(b):
    # 3.1: identifiers are 1 to 23 characters; longer: return code 2.
    r = Raw(b)
    r.send(connect_packet("x" * 24, version=3))
    first, body = r.recv_packet()
    assert first == 0x20 and body[1] == 2, body
    assert r.closed()


def unsupported_protocol_level(b):
    # [MQTT-3.1.2-2]: CONNACK 0x01 (3.x form) and close.
    r = Raw(b)
    r.send(packet(0x10, string("MQTT") + bytes([6, 2, 0, 60]) + string("x")))
    first, body = r.recv_packet()
    assert first == 0x20 and body == bytes([0, 1]), body
    assert r.closed()


def mqisdp_level_0(b):
    # [MQTT-3.1.2-2]: a level not spoken under a known name, even 0, gets
    # return code 0x01 before the close.
    r = Raw(b)
    r.send(packet(0x10, string("MQIsdp") + bytes([0, 2, 0, 60]) +
                  string("x")))
    first, body = r.recv_packet()
    assert first == 0x20 and body == bytes([0, 1]), body
    assert r.closed()


def connack_larger_than_client_maximum(b):
    # [MQTT-3.1.2-24]: a 5.0 client whose Maximum Packet Size (8) cannot
    # hold the CONNACK gets none; the connection closes.
    r = Raw(b)
    r.send(packet(0x10, string("MQTT") + bytes([5, 2, 0, 60]) +
                  varint(5) + bytes([0x27, 0, 0, 0, 8]) + string("tiny")))
    assert r.recv_packet() is None
    r.close()


def max_qos(_):
    # max_qos 1 (Mosquitto's key): a 5.0 client is told Maximum QoS 1; its
    # QoS 2 PUBLISH gets DISCONNECT 0x9B; a SUBSCRIBE at 2 is granted 1.
    b = Broker("-c", conf_file("max_qos 1\n"))
    try:
        c = Client(b, "mq5", version=paho.MQTTv5)
        _, rc, p = c.connack
        assert rc == 0 and p.MaximumQoS == 1, p
        s = Client(b, "mq3")
        granted = s.subscribe("mq/t", 2)
        assert list(granted) == [1], granted
        c.c.publish("mq/t", b"x", qos=2)
        c.wait(lambda: 0x9B in c.disconnects, "DISCONNECT 0x9B")
        s.close()
    finally:
        assert b.stop() == 0, "\n".join(b.log[-20:])


def unknown_protocol_name(b):
    # [MQTT-3.1.2-1]: not MQTT: the connection is closed, and not answered
    # as if it were MQTT 5.0 (the level byte says 5).
    r = Raw(b)
    r.send(packet(0x10, string("MQTX") + bytes([5, 2, 0, 60, 0]) +
                  string("x")))
    assert r.recv_packet() is None
    r.close()


def owed_answers_before_disconnect_closes(b):
    # CONNECT, a QoS 1 PUBLISH and DISCONNECT in one write: the CONNACK
    # and the PUBACK are written before the close [MQTT-3.14.4-1].
    r = Raw(b)
    r.send(connect_packet("owed", version=4) +
           packet(0x32, string("owed/t") + b"\x00\x05x") +
           bytes([0xE0, 0x00]))
    assert r.recv_packet() == (0x20, bytes([0, 0]))
    assert r.recv_packet() == (0x40, bytes([0, 5]))
    assert r.closed()


def packet_begun_must_end_in_time(_):
    # packet_timeout 300 ms: a client with keep alive 0 that stops in the
    # middle of a PUBLISH is closed (5.0: DISCONNECT 0x8D), not held.
    b = Broker("--packet-timeout", "300")
    try:
        r = Raw(b)
        r.send(connect_packet("half", version=5, keepalive=0))
        assert r.recv_packet()[0] == 0x20
        r.send(bytes([0x30, 10, 0, 4]))
        first, body = r.recv_packet()
        assert first == 0xE0 and body[0] == 0x8D, (first, body)
        assert r.closed()
    finally:
        assert b.stop() == 0, "\n".join(b.log[-20:])


def first_packet_must_be_connect(b):
    # [MQTT-3.1.0-1]
    r = Raw(b)
    r.send(bytes([0xC0, 0x00]))
    assert r.closed()


def second_connect_is_a_protocol_error(b):
    # [MQTT-3.1.0-2]: 5.0 hears DISCONNECT 0x82, then the close.
    r = Raw(b)
    r.send(connect_packet("twice", version=5))
    first, body = r.recv_packet()
    assert first == 0x20 and body[1] == 0
    r.send(connect_packet("twice", version=5))
    first, body = r.recv_packet()
    assert first == 0xE0 and body[0] == 0x82, (first, body)
    assert r.closed()


def connect_reserved_flag(b):
    # [MQTT-3.1.2-3]: reserved flag set: malformed, closed (5.0 may get
    # CONNACK 0x81 first).
    r = Raw(b)
    r.send(connect_packet("rsv", version=5, flags=0x03))
    p = r.recv_packet()
    if p is not None:
        assert p[0] == 0x20 and p[1][1] == 0x81, p
    assert r.closed()


def malformed_packet_closes_only_that_connection(b):
    ok = Client(b, "bystander")
    ok.subscribe("by/t", 1)
    r = Raw(b)
    r.send(connect_packet("bad", version=5))
    assert r.recv_packet()[0] == 0x20
    # PUBLISH with QoS 3 [MQTT-3.3.1-4]: DISCONNECT 0x81.
    r.send(packet(0x36, string("t") + b"\x00\x01\x00"))
    first, body = r.recv_packet()
    assert first == 0xE0 and body[0] == 0x81, (first, body)
    assert r.closed()
    ok.publish("by/t", b"still here", qos=1)
    assert ok.wait_msgs(1)[0].payload == b"still here"
    ok.close()


def connect_timeout(b):
    # A connection that sends no CONNECT is closed after the timeout.
    r = Raw(b)
    assert r.closed()


def ping(b):
    r = Raw(b)
    r.send(connect_packet("pinger", version=4))
    assert r.recv_packet()[0] == 0x20
    r.send(bytes([0xC0, 0x00]))
    assert r.recv_packet() == (0xD0, b"")
    r.close()


def keep_alive_timeout(b):
    # [MQTT-3.1.2-24]: nothing for 1.5 x keep alive: closed; 5.0 says 0x8D.
    r = Raw(b)
    r.send(connect_packet("ka", version=5, keepalive=1))
    assert r.recv_packet()[0] == 0x20
    first, body = r.recv_packet()
    assert first == 0xE0 and body[0] == 0x8D, (first, body)
    assert r.closed()


def sigterm_tells_v5_clients_and_exits_0(_):
    # Stop: 5.0 clients get DISCONNECT 0x8B (Server shutting down), 3.x
    # clients see the close, and the broker exits 0.
    b = Broker()
    r5 = Raw(b)
    r5.send(connect_packet("bye5", version=5))
    assert r5.recv_packet()[0] == 0x20
    r4 = Raw(b)
    r4.send(connect_packet("bye4", version=4))
    assert r4.recv_packet()[0] == 0x20
    b.proc.terminate()
    first, body = r5.recv_packet()
    assert first == 0xE0 and body[0] == 0x8B, (first, body)
    assert r4.recv_packet() is None
    assert b.proc.wait(10) == 0


def response_information_only_when_requested(b):
    # 3.1.2.11.7: Request Response Information 1 may get one;
    # [MQTT-3.1.2-28]: with 0 (or absent) the server must not send it.
    c = Client(b, "ri-yes", version=paho.MQTTv5,
               properties=props("CONNECT", RequestResponseInformation=1))
    _, rc, p = c.connack
    assert rc == 0 and p.ResponseInformation == "response/ri-yes", p
    c.close()
    c = Client(b, "ri-no", version=paho.MQTTv5)
    _, rc, p = c.connack
    assert rc == 0 and not hasattr(p, "ResponseInformation"), p
    c.close()


def authentication_method_refused(b):
    # [MQTT-4.12.0-1]: a method the server does not support gets CONNACK
    # 0x8C and a close; it counts as an authentication failure.
    before = b.metric("ringmq_auth_failures_total")
    r = Raw(b)
    method = bytes([0x15]) + string("SCRAM-SHA-1")
    r.send(connect_packet("am", version=5, props=method))
    first, body = r.recv_packet()
    assert first == 0x20 and body[:2] == bytes([0, 0x8C]), (first, body)
    assert r.closed()
    assert b.metric("ringmq_auth_failures_total") == before + 1
    assert b.metric('ringmq_connections_refused_total'
                    '{reason="bad_authentication_method"}') >= 1


def max_keepalive(_):
    # max_keepalive 30: a 5.0 client asking 60, or 0, is told Server Keep
    # Alive 30 (3.2.2.3.14); a 3.1.1 client asking 60 cannot be told and
    # is refused, one asking 0 is let in; one asking 20 keeps its 20.
    b = Broker("-c", conf_file("max_keepalive 30\n"))
    try:
        c = Client(b, "ka5", version=paho.MQTTv5, keepalive=60)
        _, rc, p = c.connack
        assert rc == 0 and p.ServerKeepAlive == 30, p
        c.close()
        r = Raw(b)
        r.send(connect_packet("ka5-0", version=5, keepalive=0))
        first, body = r.recv_packet()
        assert first == 0x20 and body[1] == 0 and \
            bytes([0x13, 0, 30]) in body, body.hex()
        r.close()
        r = Raw(b)
        r.send(connect_packet("ka3", version=4, keepalive=60))
        assert r.recv_packet() == (0x20, bytes([0, 2]))
        assert r.closed()
        r = Raw(b)
        r.send(connect_packet("ka3-0", version=4, keepalive=0))
        assert r.recv_packet() == (0x20, bytes([0, 0]))
        r.close()
        c = Client(b, "ka3-ok", keepalive=20)
        assert c.connack[1] == 0
        c.close()
        c = Client(b, "ka5-ok", version=paho.MQTTv5, keepalive=20)
        assert not hasattr(c.connack[2], "ServerKeepAlive")
        c.close()
    finally:
        assert b.stop() == 0, "\n".join(b.log[-20:])


run([connect_v311, connect_v31_with_mosquitto_clients,
     connect_v5_connack_properties, v5_empty_client_id_gets_assigned_one,
     v311_empty_id_without_clean_session_refused, v31_long_client_id_refused,
     unsupported_protocol_level, mqisdp_level_0,
     connack_larger_than_client_maximum, max_qos, unknown_protocol_name,
     owed_answers_before_disconnect_closes, packet_begun_must_end_in_time,
     first_packet_must_be_connect, second_connect_is_a_protocol_error,
     connect_reserved_flag, malformed_packet_closes_only_that_connection,
     connect_timeout, ping, keep_alive_timeout,
     response_information_only_when_requested,
     authentication_method_refused, max_keepalive,
     sigterm_tells_v5_clients_and_exits_0],
    make_broker=lambda: Broker("--connect-timeout", "1000"))
