#!/usr/bin/env python3
"""test/fuzz/session_seeds.py: writes the session fuzzer's seed corpus.

Each seed is a script for fuzz_session.c: one byte per operation (the
operation in the low four bits, its argument, mostly a client number, in
the high four), so that the fuzzer starts from whole conversations:
connect, subscribe, publish at every QoS, acknowledge, take over, expire,
stall.  Usage: session_seeds.py DIR (the tree keeps them in
test/fuzz/corpus/session).
"""
import os
import sys

(CONNECT, SEND, SEND_LONG, CLOCK, HANGUP, STALL, AUTO_ACK, CHUNKS, AUTH_MODE,
 AUTH_GIVE) = range(10)
SETTLE = 0x0F


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(cid, version=4, clean=True, keepalive=0, will=None, props=b""):
    flags = 0x02 if clean else 0
    payload = string(cid)
    if will:
        topic, msg, qos, wprops = will
        flags |= 0x04 | (qos << 3)
        payload += (varint(len(wprops)) + wprops if version == 5 else b"")
        payload += string(topic) + string(msg)
    name = "MQIsdp" if version == 3 else "MQTT"
    body = string(name) + bytes([version, flags]) + keepalive.to_bytes(2, "big")
    if version == 5:
        body += varint(len(props)) + props
    return packet(0x10, body + payload)


def subscribe(pid, flt, qos, version=4, props=b""):
    body = pid.to_bytes(2, "big")
    if version == 5:
        body += varint(len(props)) + props
    return packet(0x82, body + string(flt) + bytes([qos]))


def unsubscribe(pid, flt, version=4):
    body = pid.to_bytes(2, "big") + (b"\x00" if version == 5 else b"")
    return packet(0xA2, body + string(flt))


def publish(topic, payload, qos=0, pid=0, retain=False, version=4,
            props=b""):
    body = string(topic)
    if qos:
        body += pid.to_bytes(2, "big")
    if version == 5:
        body += varint(len(props)) + props
    return packet(0x30 | (qos << 1) | int(retain), body + payload)


def ack(kind, pid):
    return packet({"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62,
                   "pubcomp": 0x70}[kind], pid.to_bytes(2, "big"))


class Script:
    def __init__(self):
        self.b = bytearray()

    def op(self, op, arg=0, *rest):
        self.b.append(op | (arg << 4))
        self.b.extend(rest)
        return self

    def send(self, client, data):
        while data:
            chunk, data = data[:255], data[255:]
            self.op(SEND, client, len(chunk))
            self.b.extend(chunk)
        return self

    def settle(self):
        return self.op(SETTLE)


def seeds():
    s = Script()  # every QoS between a 5.0 subscriber and a 3.1.1 publisher
    s.op(CONNECT, 0).op(CONNECT, 1)
    s.send(0, connect("sub", 5)).send(1, connect("pub", 4)).settle()
    s.send(0, subscribe(1, "t/#", 2, 5)).settle()
    for q in range(3):
        s.send(1, publish("t/a", b"m%d" % q, q, 10 + q))
    s.settle().send(1, ack("pubrel", 12)).settle()
    s.send(0, ack("puback", 1)).send(0, ack("pubrec", 2)).settle()
    s.send(0, ack("pubcomp", 2)).settle()
    yield "qos_flows", s

    s = Script()  # the same with acknowledgements answered automatically
    s.op(CONNECT, 0).op(CONNECT, 1).op(AUTO_ACK, 0)
    s.send(0, connect("sub", 4)).send(1, connect("pub", 5)).settle()
    s.send(0, subscribe(1, "t", 2)).settle()
    for i in range(12):
        s.send(1, publish("t", b"x" * i, 1 + i % 2, 1 + i, version=5))
        s.send(1, ack("pubrel", 1 + i))
    s.settle()
    yield "auto_ack", s

    s = Script()  # a persistent session taken over from the other worker
    s.op(CONNECT, 0).op(CONNECT, 1).op(CONNECT, 0)
    s.send(0, connect("same", 4, clean=False)).settle()
    s.send(0, subscribe(1, "t", 1)).settle()
    s.send(2, connect("pub", 4)).settle()
    s.send(2, publish("t", b"a", 1, 1)).settle()
    s.send(1, connect("same", 4, clean=False)).settle()
    s.send(2, publish("t", b"b", 1, 2)).settle()
    s.send(1, ack("puback", 1)).send(1, ack("puback", 2)).settle()
    yield "takeover", s

    s = Script()  # a clean 5.0 session taken over by a persistent one
    s.op(CONNECT, 0).op(CONNECT, 1)
    s.send(0, connect("cs", 5)).settle().send(0, subscribe(1, "t", 0, 5))
    s.settle().send(1, connect("cs", 5, clean=False)).settle()
    yield "takeover_clean", s

    s = Script()  # a subscriber that reads nothing: the queue's bounds
    s.op(CONNECT, 0).op(CONNECT, 1)
    s.send(0, connect("slow", 4)).send(1, connect("fast", 4)).settle()
    s.send(0, subscribe(1, "q", 1)).settle().op(STALL, 0)
    for i in range(20):
        s.send(1, publish("q", b"p" * 200, i % 2, 1 + i))
    s.settle().op(STALL, 0).settle()
    yield "queue_full", s

    s = Script()  # keep alive, will delay and session expiry on the clock
    s.op(CONNECT, 0).op(CONNECT, 1)
    props = bytes([0x11, 0, 0, 0, 5])  # session expiry 5 s
    wprops = bytes([0x18, 0, 0, 0, 2])  # will delay 2 s
    s.send(0, connect("w", 5, clean=False, keepalive=2, props=props,
                      will=("will/t", b"gone", 1, wprops)))
    s.send(1, connect("watch", 4)).settle()
    s.send(1, subscribe(1, "will/#", 1)).settle()
    s.op(CLOCK, 0, 12).op(CLOCK, 0, 12).op(CLOCK, 0, 40)
    yield "expiry", s

    s = Script()  # retained messages and Retain Handling
    s.op(CONNECT, 0).op(CONNECT, 1)
    s.send(0, connect("r", 5)).send(1, connect("s", 5)).settle()
    s.send(0, publish("r/1", b"kept", 1, 1, retain=True, version=5))
    s.send(0, publish("r/2", b"", 0, retain=True, version=5)).settle()
    s.send(1, subscribe(1, "r/+", 1 | (1 << 4), 5)).settle()
    s.send(1, subscribe(2, "r/+", 2, 5)).settle()
    yield "retained", s

    s = Script()  # 5.0 topic aliases both ways
    s.op(CONNECT, 0).op(CONNECT, 1)
    s.send(0, connect("al", 5, props=bytes([0x22, 0, 4])))
    s.send(1, connect("ap", 5)).settle()
    s.send(0, subscribe(1, "al/#", 0, 5)).settle()
    s.send(1, publish("al/x", b"1", 0, version=5,
                      props=bytes([0x23, 0, 1])))
    s.send(1, publish("", b"2", 0, version=5, props=bytes([0x23, 0, 1])))
    s.settle()
    yield "aliases", s

    s = Script()  # shared subscriptions and unsubscribing
    s.op(CONNECT, 0).op(CONNECT, 1).op(CONNECT, 0)
    s.send(0, connect("g1", 4)).send(1, connect("g2", 5))
    s.send(2, connect("gp", 4)).settle()
    s.send(0, subscribe(1, "$share/g/s", 1))
    s.send(1, subscribe(1, "$share/g/s", 1, 5)).settle()
    for i in range(6):
        s.send(2, publish("s", b"%d" % i, 1, 1 + i))
    s.settle().send(1, unsubscribe(2, "$share/g/s", 5)).settle()
    yield "shared", s

    s = Script()  # verdicts later: one allowed with packets kept, one denied
    s.op(AUTH_MODE, 2).op(CONNECT, 0).op(CONNECT, 1).op(CONNECT, 0)
    s.send(0, connect("a1", 4) + subscribe(1, "x", 1)).settle()
    s.send(0, publish("x", b"kept", 1, 3)).settle()
    s.send(1, connect("a2", 5)).settle()
    s.op(AUTH_GIVE, 1).settle().op(AUTH_GIVE, 0).settle()
    s.op(AUTH_MODE, 1).send(2, connect("a3", 4)).settle()
    yield "auth_later", s

    s = Script()  # 3.1, reads cut small, a hang-up
    s.op(CONNECT, 0).op(CHUNKS, 0)
    s.op(CHUNKS, 1)  # client 0 reads 3 bytes at a time
    s.send(0, connect("v31", 3) + subscribe(1, "a/b", 1) +
           publish("a/b", b"self", 1, 7)).settle()
    s.op(HANGUP, 0).settle()
    yield "v31_chunks", s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "session")
    os.makedirs(out, exist_ok=True)
    for name, s in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(s.b))


if __name__ == "__main__":
    main()
