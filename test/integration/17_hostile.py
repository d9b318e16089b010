"""17: hostile input.  Malformed packets of every control packet type, in
MQTT 3.1.1 and 5.0, sent over raw sockets while a canary pair on the same
broker (a QoS 1 publisher every 20 ms, numbered, and its subscriber) keeps
its messages flowing.  Each case checks what comes back, that the canary
received every number in order with no gap, that the broker is alive, and
that it takes a fresh CONNECT.  Then: a huge Remaining Length, a CONNECT a
byte at a time, one too slow, and 200 connections of garbage at once.

What the spec asks of a server (MQTT 5.0, 4.13.1): on a Malformed Packet or
Protocol Error it MUST close the connection [MQTT-4.13.1-1]; for an error
in CONNECT it MAY send a CONNACK with the reason code first, for one in any
other packet it SHOULD send a DISCONNECT with it, 0x81 (Malformed Packet)
or 0x82 (Protocol Error) unless a more specific code of 3.14.2.1 applies.
MQTT 3.1.1 has no DISCONNECT from the server: a violation closes the
connection [MQTT-4.8.0-1], a CONNECT that does not conform is closed
without a CONNACK [MQTT-3.1.4-1] (but for an unsupported level, answered
with return code 1 [MQTT-3.1.2-2]).  1.2 defines the two errors: Malformed,
"cannot be parsed according to this specification"; Protocol Error, found
"after the packet has been parsed" in data the protocol does not allow.
Where the spec names no code for a case, the case takes the codes a
reading of it allows (EITHER) and says so.
"""
import random
import selectors
import socket
import threading
import time

from rmqtest import (DEADLINE, Broker, Client, Raw, connect_packet, packet,
                     paho, rss_kib, run, string, varint)

MALFORMED, PROTOCOL = 0x81, 0x82
# The spec gives no reason code for these; both readings are defensible.
EITHER = (MALFORMED, PROTOCOL)
V311, V5 = 4, 5
FIVE_BYTE_LENGTH = b"\xff\xff\xff\xff\x7f"  # a Remaining Length in 5 bytes
BROKER_ARGS = ("--connect-timeout", "2000", "--packet-timeout", "1000")


def u16(n):
    return n.to_bytes(2, "big")


def pp(v, p=b""):
    """A 5.0 property block (length, then p); nothing for 3.1.1."""
    return varint(len(p)) + p if v == V5 else b""


def vname(v):
    return "5.0" if v == V5 else "3.1.1"


# ---- reading what the broker answers -------------------------------------

def drain(s, timeout=DEADLINE):
    """Every byte until the broker closes: (bytes, closed).  closed is
    False when timeout passed first."""
    end = time.time() + timeout
    data = b""
    while True:
        left = end - time.time()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def parse(data):
    """The packets in data, [(first byte, body)]; raises if one is cut."""
    out, i = [], 0
    while i < len(data):
        first, i = data[i], i + 1
        length, mult = 0, 1
        while True:
            assert i < len(data), "a packet cut in its header"
            b, i = data[i], i + 1
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        assert i + length <= len(data), "a packet cut in its body"
        out.append((first, data[i:i + length]))
        i += length
    return out


def hexs(b):
    return b.hex(" ") if b else "nothing"


class Close:
    """Nothing comes back; the connection closes."""

    def check(self, r, v):
        data, closed = drain(r.s)
        ok = closed and data == b""
        return ok, data, closed, "the close alone"


class Disc:
    """One DISCONNECT whose reason code is one of codes, then the close."""

    def __init__(self, *codes):
        self.codes = codes

    def check(self, r, v):
        data, closed = drain(r.s)
        try:
            pk = parse(data)
        except AssertionError:
            pk = None
        ok = (closed and pk is not None and len(pk) == 1 and
              pk[0][0] == 0xE0 and len(pk[0][1]) >= 1 and
              pk[0][1][0] in self.codes)
        return ok, data, closed, "DISCONNECT " + "/".join(
            "0x%02X" % c for c in self.codes) + " then the close"


class Connack:
    """One CONNACK whose code (second byte) is one of codes, then the
    close; with or_close, the close alone is fine too."""

    def __init__(self, *codes, or_close=False):
        self.codes, self.or_close = codes, or_close

    def check(self, r, v):
        data, closed = drain(r.s)
        try:
            pk = parse(data)
        except AssertionError:
            pk = None
        ok = closed and pk is not None and (
            (self.or_close and pk == []) or
            (len(pk) == 1 and pk[0][0] == 0x20 and len(pk[0][1]) >= 2 and
             pk[0][1][1] in self.codes))
        return ok, data, closed, "CONNACK " + "/".join(
            "0x%02X" % c for c in self.codes) + \
            (" (or none)" if self.or_close else "") + " then the close"


class Stall:
    """A packet whose Remaining Length promises more than comes: the
    broker waits for the rest (no answer, no close), then closes at
    packet_timeout (1 s here), a 5.0 client after a DISCONNECT with an
    error code (the spec has no code for it; ringmq documents 0x8D)."""

    def check(self, r, v):
        r.s.settimeout(0.3)
        try:
            early = r.s.recv(1)
        except socket.timeout:
            early = None
        except ConnectionResetError:
            early = b""
        if early is not None:
            return False, early, not early, "no answer while it waits"
        data, closed = drain(r.s)
        try:
            pk = parse(data)
        except AssertionError:
            pk = None
        if v == V5:
            ok = (closed and pk is not None and len(pk) == 1 and
                  pk[0][0] == 0xE0 and pk[0][1][:1] >= b"\x80")
        else:
            ok = closed and data == b""
        return ok, data, closed, "a wait, then the close at packet_timeout"


def err(v, *codes):
    """A violation after CONNECT: 5.0 DISCONNECT with one of codes, 3.1.1
    the close alone."""
    return Disc(*codes) if v == V5 else Close()


def bad_connect(v, *codes):
    """A CONNECT that does not conform: 5.0 may get a CONNACK with one of
    codes before the close [MQTT-3.1.4-1]; 3.1.1 is closed without one
    [MQTT-3.1.4-1 of 3.1.1]."""
    return Connack(*codes, or_close=True) if v == V5 else Close()


# ---- the canary, the cases, a group of them on one broker -----------------

class Canary:
    """A 3.1.1 publisher sending 1, 2, 3, ... every 20 ms at QoS 1 from a
    thread of its own, and a 5.0 subscriber at QoS 1 that must receive all
    of them in order."""

    def __init__(self, b, name, sub_version=paho.MQTTv5):
        self.topic = "canary/" + name
        self.sub = Client(b, name + "-canary-sub", version=sub_version)
        self.sub.subscribe(self.topic, 1)
        self.pub = Client(b, name + "-canary-pub")
        self.sent = 0
        self.checked = 0  # sent at the last check
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._publish, daemon=True)
        self.thread.start()

    def _publish(self):
        while not self.halt.wait(0.02):
            n = self.sent + 1
            self.pub.c.publish(self.topic, b"%d" % n, qos=1)
            self.sent = n

    def check(self, after, running=True):
        assert not running or self.thread.is_alive(), \
            "the canary publisher stopped"
        if running:
            # At least one message published since the last check, so the
            # canary ran during what came between.
            end = time.time() + DEADLINE
            while self.sent <= self.checked:
                assert time.time() < end, "the canary publishes nothing"
                time.sleep(0.005)
        n = self.checked = self.sent
        self.sub.wait(lambda: len(self.sub.msgs) >= n,
                      "canary message %d after %s (have %d)" % (
                          n, after, len(self.sub.msgs)))
        got = [int(m.payload) for m in list(self.sub.msgs)]
        want = list(range(1, len(got) + 1))
        assert got == want, "canary out of order or with a gap after %s: " \
            "first difference at %s" % (after, next(
                (i, g, w) for i, (g, w) in enumerate(zip(got, want))
                if g != w))
        assert not self.sub.disconnects and not self.pub.disconnects, \
            "a canary client was disconnected after %s: %s %s" % (
                after, self.sub.disconnects, self.pub.disconnects)

    def finish(self):
        """Stop publishing; every message sent must have arrived."""
        self.check("the last case")
        self.halt.set()
        self.thread.join(DEADLINE)
        assert self.sent > 0, "the canary never published"
        self.check("the last case", running=False)

    def close(self):
        self.halt.set()
        self.thread.join(DEADLINE)
        self.sub.close()
        self.pub.close()


class Case:
    """Bytes sent by a raw client (after its CONNECT and CONNACK when
    connect), and what must come back.  will: the client's CONNECT carries
    a will, which must be "published" (a connection closed for an error
    [MQTT-3.1.2-8]) or "discarded" (a normal DISCONNECT [MQTT-3.14.4-3])."""

    def __init__(self, label, v, data, want, connect=True, will=None):
        self.label, self.v, self.data, self.want = label, v, data, want
        self.connect, self.will = connect, will
        self.name = "%s %s" % (vname(v), label)

    def run(self, b, cid, watcher):
        r = Raw(b)
        try:
            if self.connect:
                extra, flags = b"", 0x02
                if self.will:
                    flags = 0x06
                    extra = pp(self.v) + string("hostile-will/" + cid) + \
                        string("gone")
                r.send(connect_packet(cid, version=self.v, flags=flags,
                                      payload_extra=extra))
                p = r.recv_packet()
                assert p and p[0] == 0x20 and p[1][1] == 0, \
                    "%s: no CONNACK 0 for the CONNECT before it: %r" % (
                        self.name, p)
            r.send(self.data)
            ok, got, closed, want = self.want.check(r, self.v)
        finally:
            r.close()
        assert ok, "%s: sent %s; want %s; got %s, %s" % (
            self.name, hexs(self.data), want, hexs(got),
            "then the close" if closed else "connection still open")
        if self.will:
            topic = "hostile-will/" + cid
            if self.will == "published":
                watcher.wait(lambda: any(m.topic == topic
                                         for m in watcher.msgs),
                             "%s: the will (closed for an error)" % self.name)
            else:
                watcher.quiet(0.3)
                assert not any(m.topic == topic for m in watcher.msgs), \
                    "%s: the will was published" % self.name


def fresh_connect(b, cid):
    """A new 3.1.1 client is still accepted."""
    r = Raw(b)
    try:
        r.send(connect_packet(cid, version=V311))
        p = r.recv_packet()
        assert p == (0x20, b"\x00\x00"), "fresh CONNECT answered %r" % (p,)
        r.send(b"\xe0\x00")
    finally:
        r.close()


def run_cases(name, cases, *args):
    """The cases one by one on a broker of their own, the canary running;
    the broker must stay up, the canary lose nothing, a fresh CONNECT be
    taken after each; the broker exits 0 at the end.  Every failing case
    is reported, with its bytes, before the test fails."""
    b = Broker(*(BROKER_ARGS + args), verbose=False)
    failures = []
    canary = None
    try:
        canary = Canary(b, name)
        watcher = None
        if any(c.will for c in cases):
            watcher = Client(b, name + "-will-watcher")
            watcher.subscribe("hostile-will/#", 0)
        for i, c in enumerate(cases):
            cid = "%s-%d" % (name, i)
            try:
                c.run(b, cid, watcher)
            except (AssertionError, OSError) as e:
                failures.append("%s: %r" % (c.name, e)
                                if isinstance(e, OSError) else str(e))
            assert b.alive(), "the broker died after %s" % c.name
            canary.check(c.name)
            fresh_connect(b, cid + "-fresh")
        canary.finish()
        if watcher:
            watcher.close()
    except Exception:
        print("\n".join(b.log[-30:]))
        raise
    finally:
        if canary:
            canary.close()
        rc = b.stop()
    assert not failures, "%d of %d cases:\n  %s" % (
        len(failures), len(cases), "\n  ".join(failures))
    assert rc == 0, "exit status %s:\n%s" % (rc, "\n".join(b.log[-30:]))


def five_byte_length(first, v):
    # A Variable Byte Integer has at most four bytes: 5.0 1.5.5 (and
    # [MQTT-1.5.5-1]), 3.1.1 2.2.3.  Malformed.
    return Case("Remaining Length in 5 bytes", v,
                bytes([first]) + FIVE_BYTE_LENGTH, err(v, MALFORMED))


def before_connect(first_bytes, v):
    # [MQTT-3.1.0-1]: the first packet must be CONNECT; the version is not
    # known yet, so there is nothing to answer in: the close alone.
    return Case("before CONNECT [MQTT-3.1.0-1]", v, first_bytes, Close(),
                connect=False)


# ---- CONNECT and CONNACK ----------------------------------------------------

def connect(_):
    cases = []
    for v in (V311, V5):
        good = connect_packet("cbad", version=v)
        body = good[2:]  # Remaining Length < 128: one byte
        will = pp(v) + string("w/t") + string("w")
        cases += [
            # 5.0 [MQTT-2.1.3-1]: invalid flags are a Malformed Packet;
            # 3.1.1 [MQTT-2.2.2-2]: close.
            Case("fixed header flags 0x12", v, b"\x12" + good[1:],
                 bad_connect(v, MALFORMED), connect=False),
            # [MQTT-3.1.2-3]: reserved Connect flag set: malformed.
            Case("reserved Connect flag [MQTT-3.1.2-3]", v,
                 connect_packet("cbad", version=v, flags=0x03),
                 bad_connect(v, MALFORMED), connect=False),
            # Remaining Length lies short: ends before the keep alive.
            Case("Remaining Length too short", v, packet(0x10, body[:8]),
                 bad_connect(v, MALFORMED), connect=False),
            # Remaining Length lies long: a byte after the payload.
            Case("Remaining Length too long", v,
                 packet(0x10, body + b"\x00"),
                 bad_connect(v, MALFORMED), connect=False),
            # 5.0 [MQTT-1.5.4-1] / 3.1.1 [MQTT-1.5.3-1]: ill-formed UTF-8.
            Case("client id not UTF-8 (C3 28)", v,
                 connect_packet(b"\xc3\x28", version=v),
                 bad_connect(v, MALFORMED), connect=False),
            Case("client id with a surrogate (ED A0 80)", v,
                 connect_packet(b"\xed\xa0\x80", version=v),
                 bad_connect(v, MALFORMED), connect=False),
            # 5.0 [MQTT-1.5.4-2] / 3.1.1 [MQTT-1.5.3-2]: U+0000.
            Case("client id with U+0000", v,
                 connect_packet(b"a\x00b", version=v),
                 bad_connect(v, MALFORMED), connect=False),
            # 5.0 [MQTT-3.1.2-12] (3 is a Malformed Packet) / 3.1.1
            # [MQTT-3.1.2-14].
            Case("Will QoS 3", v,
                 connect_packet("cbad", version=v, flags=0x1E,
                                payload_extra=will),
                 bad_connect(v, MALFORMED), connect=False),
            # 5.0 [MQTT-3.1.2-17]: User Name flag set, no User Name: the
            # payload cannot be parsed.
            Case("User Name flag without a User Name", v,
                 connect_packet("cbad", version=v, flags=0x82),
                 bad_connect(v, MALFORMED), connect=False),
            # [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error.
            Case("second CONNECT [MQTT-3.1.0-2]", v,
                 connect_packet("cbad-2", version=v), err(v, PROTOCOL)),
        ]
    cases += [
        # A Remaining Length in 5 bytes before CONNECT: no version is known,
        # so nothing is owed; 5.0 allows a CONNACK 0x81.
        Case("Remaining Length in 5 bytes", V311, b"\x10" + FIVE_BYTE_LENGTH,
             Close(), connect=False),
        Case("Remaining Length in 5 bytes", V5, b"\x10" + FIVE_BYTE_LENGTH,
             Connack(MALFORMED, or_close=True), connect=False),
    ]

    def c5(props, tail=None):
        body = string("MQTT") + bytes([5, 0x02, 0, 60]) + props
        return packet(0x10, body + (string("cbad") if tail is None
                                    else tail))
    cases += [
        # Property Length 5, one property byte, then the packet ends.
        Case("Property Length past the end", V5,
             c5(b"\x05\x11", tail=b""), bad_connect(V5, MALFORMED),
             connect=False),
        # Session Expiry Interval cut to 2 of its 4 bytes.
        Case("property value cut short", V5, c5(b"\x03\x11\x00\x00"),
             bad_connect(V5, MALFORMED), connect=False),
        # 2.2.2.2: an identifier not valid for the packet (Payload Format
        # Indicator belongs to the will) is a Malformed Packet.
        Case("property not valid for CONNECT", V5, c5(b"\x02\x01\x00"),
             bad_connect(V5, MALFORMED), connect=False),
        # 3.1.2.11.2: Session Expiry Interval twice is a Protocol Error.
        Case("Session Expiry Interval twice", V5,
             c5(b"\x0a" + b"\x11\x00\x00\x00\x0a" * 2),
             bad_connect(V5, PROTOCOL), connect=False),
        # 3.1.2.11.3: Receive Maximum 0 is a Protocol Error.
        Case("Receive Maximum 0", V5, c5(b"\x03\x21\x00\x00"),
             bad_connect(V5, PROTOCOL), connect=False),
        # 3.1.2.11.4: Maximum Packet Size 0 is a Protocol Error.
        Case("Maximum Packet Size 0", V5, c5(b"\x05\x27\x00\x00\x00\x00"),
             bad_connect(V5, PROTOCOL), connect=False),
        # 3.1.2.11.7: Request Problem Information other than 0 or 1.
        Case("Request Problem Information 2", V5, c5(b"\x02\x17\x02"),
             bad_connect(V5, PROTOCOL), connect=False),
        # 3.1.2.11.10: Authentication Data without a Method.
        Case("Authentication Data without Authentication Method", V5,
             c5(b"\x04\x16\x00\x01x"), bad_connect(V5, PROTOCOL),
             connect=False),
        # 3.1.1 [MQTT-3.1.2-22]: a password without a user name.
        Case("password without user name [MQTT-3.1.2-22]", V311,
             connect_packet("cbad", version=4, flags=0x42,
                            payload_extra=string("pw")),
             Close(), connect=False),
        # Protocol level 6 under "MQTT": 3.1.1 [MQTT-3.1.2-2] wants CONNACK
        # return code 1 then the close; 5.0 [MQTT-3.1.2-2] allows CONNACK
        # 0x84 then the close.  Either form.
        Case("protocol level 6, either CONNACK form [MQTT-3.1.2-2]", V5,
             packet(0x10, string("MQTT") + bytes([6, 2, 0, 60]) +
                    string("x")),
             Connack(0x01, 0x84), connect=False),
    ]
    run_cases("connect", cases)


def connack_from_client(_):
    # 2.1.2: CONNACK flows from server to client only.  5.0: a packet that
    # is unexpected is a Protocol Error (0x82: "An unexpected or out of
    # order packet was received", 3.14.2.1); 3.1.1 [MQTT-4.8.0-1]: close.
    run_cases("connack", [
        Case("CONNACK from a client", V311, b"\x20\x02\x00\x00", Close()),
        Case("CONNACK from a client", V5, b"\x20\x03\x00\x00\x00",
             Disc(PROTOCOL)),
        before_connect(b"\x20\x02\x00\x00", V311),
        before_connect(b"\x20\x03\x00\x00\x00", V5),
    ])


# ---- PUBLISH and its acknowledgements ---------------------------------------

def publish(_):
    cases = []
    t = string("h/t")
    for v in (V311, V5):
        P = pp(v)
        cases += [
            # [MQTT-3.3.1-4]: both QoS bits set is a Malformed Packet.
            Case("QoS 3 [MQTT-3.3.1-4]", v,
                 packet(0x36, t + u16(1) + P + b"x"), err(v, MALFORMED)),
            # [MQTT-3.3.1-2]: DUP must be 0 at QoS 0; no code given.
            Case("DUP on QoS 0 [MQTT-3.3.1-2]", v,
                 packet(0x38, t + P + b"x"), err(v, *EITHER)),
            # Remaining Length 3: the topic says 5 bytes, 1 is there.
            Case("Remaining Length too short for the topic", v,
                 b"\x30\x03\x00\x05h", err(v, MALFORMED)),
            # QoS 1, Remaining Length ends in the Packet Identifier.
            Case("Remaining Length too short for the packet id", v,
                 packet(0x32, t + b"\x00"), err(v, MALFORMED)),
            five_byte_length(0x30, v),
            # Remaining Length 100, 7 bytes sent: the broker waits.
            Case("Remaining Length too long", v,
                 b"\x30\x64" + t + P + b"x", Stall()),
            # 5.0 [MQTT-1.5.4-1], 3.1.1 [MQTT-1.5.3-1].
            Case("topic not UTF-8 (FF)", v,
                 packet(0x30, string(b"h/\xff") + P + b"x"),
                 err(v, MALFORMED)),
            # 5.0 [MQTT-1.5.4-2], 3.1.1 [MQTT-1.5.3-2].
            Case("topic with U+0000", v,
                 packet(0x30, string(b"h/\x00") + P + b"x"),
                 err(v, MALFORMED)),
            # [MQTT-3.3.2-2]: no wildcards in a Topic Name.  5.0 names no
            # code; 0x90 (Topic Name invalid) is described as "correctly
            # formed, but not accepted", which a name with a wildcard is
            # not, so 0x81/0x82 read closer; ringmq answers 0x90.  Unsure:
            # all three are taken.
            Case("topic with + [MQTT-3.3.2-2]", v,
                 packet(0x30, string("h/+") + P + b"x"),
                 err(v, MALFORMED, PROTOCOL, 0x90)),
            Case("topic with # [MQTT-3.3.2-2]", v,
                 packet(0x32, string("h/#") + u16(1) + P + b"x"),
                 err(v, MALFORMED, PROTOCOL, 0x90)),
            # [MQTT-2.2.1-3] (3.1.1 [MQTT-2.3.1-1]): a non-zero Packet
            # Identifier at QoS > 0; no code given.
            Case("QoS 1 with packet id 0 [MQTT-2.2.1-3]", v,
                 packet(0x32, t + u16(0) + P + b"x"), err(v, *EITHER)),
            Case("QoS 2 with packet id 0 [MQTT-2.2.1-3]", v,
                 packet(0x34, t + u16(0) + P + b"x"), err(v, *EITHER)),
            # 3.1.1 [MQTT-4.7.3-1]: a Topic Name has at least one
            # character; 5.0 3.3.2.3.4: a zero length Topic Name without a
            # Topic Alias is a Protocol Error.
            Case("empty topic", v, packet(0x30, string("") + P + b"x"),
                 err(v, PROTOCOL)),
            before_connect(packet(0x30, t + P + b"x"), v),
        ]
    cases += [
        # Property Length 5, one byte, then the packet ends.
        Case("Property Length past the end", V5,
             packet(0x30, t + b"\x05\x01"), Disc(MALFORMED)),
        # Message Expiry Interval with 1 of its 4 bytes.
        Case("property value cut short", V5,
             packet(0x30, t + b"\x02\x02\x00"), Disc(MALFORMED)),
        # 2.2.2.2: Session Expiry Interval is not a PUBLISH property.
        Case("property not valid for PUBLISH", V5,
             packet(0x30, t + b"\x05\x11\x00\x00\x00\x0a" + b"x"),
             Disc(MALFORMED)),
        Case("unknown property identifier 0x7F", V5,
             packet(0x30, t + b"\x02\x7f\x00" + b"x"), Disc(MALFORMED)),
        # 3.3.2.3.2: Payload Format Indicator twice is a Protocol Error.
        Case("Payload Format Indicator twice", V5,
             packet(0x30, t + b"\x04\x01\x00\x01\x00" + b"x"),
             Disc(PROTOCOL)),
        # [MQTT-1.5.5-1]: the Remaining Length 7 in two bytes (87 00).
        Case("Remaining Length not in its shortest form [MQTT-1.5.5-1]",
             V5, b"\x30\x87\x00" + t + b"\x00x", Disc(MALFORMED)),
        # [MQTT-3.3.4-6]: no Subscription Identifier from a client; no
        # code given.
        Case("Subscription Identifier from a client [MQTT-3.3.4-6]", V5,
             packet(0x30, t + b"\x02\x0b\x01" + b"x"), Disc(*EITHER)),
    ]
    run_cases("publish", cases)


def ack_cases(first, name):
    """PUBACK, PUBREC, PUBREL or PUBCOMP (first: its right first byte)."""
    bad_flags = [first ^ 0x02, first | 0x01] if first == 0x62 else \
        [first | 0x02, first | 0x08]
    cases = []
    for v in (V311, V5):
        for f in bad_flags:
            # [MQTT-2.1.3-1] (PUBREL [MQTT-3.6.1-1]) / 3.1.1 [MQTT-2.2.2-2]
            cases.append(Case("fixed header flags 0x%02X" % f, v,
                              bytes([f, 2, 0, 1]), err(v, MALFORMED)))
        cases += [
            Case("Remaining Length too short", v, bytes([first, 1, 0]),
                 err(v, MALFORMED)),
            five_byte_length(first, v),
            before_connect(bytes([first, 2, 0, 1]), v),
        ]
    cases += [
        # 3.1.1: the packet is exactly its Packet Identifier.
        Case("Remaining Length too long", V311, bytes([first, 3, 0, 1, 0]),
             Close()),
        # Packet id, reason 0, Property Length 0, and a byte more.
        Case("Remaining Length too long", V5,
             bytes([first, 5, 0, 1, 0, 0, 0]), Disc(MALFORMED)),
        Case("Property Length past the end", V5,
             bytes([first, 5, 0, 1, 0, 5, 0x1F]), Disc(MALFORMED)),
        # 2.2.2.2: Payload Format Indicator is not valid here.
        Case("property not valid for " + name, V5,
             bytes([first, 6, 0, 1, 0, 2, 0x01, 0x00]), Disc(MALFORMED)),
        # [MQTT-3.4.2-1] and its kin: only the defined reason codes; a
        # receiver's answer to another is not given.
        Case("reason code 0x05 (not defined for %s)" % name, V5,
             bytes([first, 3, 0, 1, 0x05]), Disc(*EITHER)),
    ]
    run_cases(name.lower(), cases)


def puback(_):
    ack_cases(0x40, "PUBACK")


def pubrec(_):
    ack_cases(0x50, "PUBREC")


def pubrel(_):
    ack_cases(0x62, "PUBREL")


def pubcomp(_):
    ack_cases(0x70, "PUBCOMP")


# ---- SUBSCRIBE, UNSUBSCRIBE and their acknowledgements ----------------------

def subscribe(_):
    cases = []
    f = string("h/s")
    for v in (V311, V5):
        P = pp(v)
        cases += [
            # [MQTT-3.8.1-1]: 0010 or malformed.
            Case("fixed header flags 0x80 [MQTT-3.8.1-1]", v,
                 packet(0x80, u16(1) + P + f + b"\x00"), err(v, MALFORMED)),
            Case("fixed header flags 0x83 [MQTT-3.8.1-1]", v,
                 packet(0x83, u16(1) + P + f + b"\x00"), err(v, MALFORMED)),
            # 5.0 [MQTT-3.8.3-2]: no payload is a Protocol Error; 3.1.1
            # [MQTT-3.8.3-3].
            Case("no Topic Filter [MQTT-3.8.3-2]", v,
                 packet(0x82, u16(1) + P), err(v, PROTOCOL)),
            Case("packet id 0 [MQTT-2.2.1-3]", v,
                 packet(0x82, u16(0) + P + f + b"\x00"), err(v, *EITHER)),
            # 5.0 3.8.3.1: Maximum QoS 3 is a Protocol Error; 3.1.1
            # [MQTT-3-8.3-4]: malformed, close.
            Case("QoS 3", v, packet(0x82, u16(1) + P + f + b"\x03"),
                 err(v, PROTOCOL)),
            # 5.0 [MQTT-3.8.3-5]: reserved option bits (7, 6) set is
            # malformed; 3.1.1 [MQTT-3-8.3-4]: bits 7-2 of the QoS byte.
            Case("reserved Subscription Options bits [MQTT-3.8.3-5]", v,
                 packet(0x82, u16(1) + P + f +
                        (b"\xc1" if v == V5 else b"\x04")),
                 err(v, MALFORMED)),
            # 5.0 [MQTT-3.8.3-1] and [MQTT-1.5.4-1].
            Case("Topic Filter not UTF-8", v,
                 packet(0x82, u16(1) + P + string(b"h/\xff") + b"\x00"),
                 err(v, MALFORMED)),
            Case("Topic Filter without its options byte", v,
                 packet(0x82, u16(1) + P + f), err(v, MALFORMED)),
            # The filter says 3 bytes, the Remaining Length leaves 1.
            Case("Remaining Length too short", v,
                 packet(0x82, u16(1) + P + b"\x00\x03h"),
                 err(v, MALFORMED)),
            five_byte_length(0x82, v),
            # Remaining Length 100, the broker waits for the rest.
            Case("Remaining Length too long", v,
                 bytes([0x82, 100]) + u16(1) + P + f + b"\x00", Stall()),
            before_connect(packet(0x82, u16(1) + P + f + b"\x00"), v),
        ]
    cases += [
        # 3.8.3.1: Retain Handling 3 is a Protocol Error.
        Case("Retain Handling 3", V5,
             packet(0x82, u16(1) + b"\x00" + f + b"\x30"), Disc(PROTOCOL)),
        # [MQTT-3.8.3-4]: No Local on a shared subscription.
        Case("No Local on a shared subscription [MQTT-3.8.3-4]", V5,
             packet(0x82, u16(1) + b"\x00" + string("$share/g/h/s") +
                    b"\x04"), Disc(PROTOCOL)),
        Case("Property Length past the end", V5,
             packet(0x82, u16(1) + b"\x05\x0b"), Disc(MALFORMED)),
        # 3.8.2.1.2: a Subscription Identifier of 0 is a Protocol Error.
        Case("Subscription Identifier 0", V5,
             packet(0x82, u16(1) + b"\x02\x0b\x00" + f + b"\x00"),
             Disc(PROTOCOL)),
        # 2.2.2.2: Payload Format Indicator is not a SUBSCRIBE property.
        Case("property not valid for SUBSCRIBE", V5,
             packet(0x82, u16(1) + b"\x02\x01\x00" + f + b"\x00"),
             Disc(MALFORMED)),
    ]
    run_cases("subscribe", cases)


def unsubscribe(_):
    cases = []
    f = string("h/s")
    for v in (V311, V5):
        P = pp(v)
        cases += [
            # [MQTT-3.10.1-1]: 0010 or malformed.
            Case("fixed header flags 0xA0 [MQTT-3.10.1-1]", v,
                 packet(0xA0, u16(1) + P + f), err(v, MALFORMED)),
            # [MQTT-3.10.3-2]: no payload is a Protocol Error.
            Case("no Topic Filter [MQTT-3.10.3-2]", v,
                 packet(0xA2, u16(1) + P), err(v, PROTOCOL)),
            Case("packet id 0 [MQTT-2.2.1-3]", v,
                 packet(0xA2, u16(0) + P + f), err(v, *EITHER)),
            # [MQTT-3.10.3-1] and [MQTT-1.5.4-1].
            Case("Topic Filter not UTF-8", v,
                 packet(0xA2, u16(1) + P + string(b"h/\xc0")),
                 err(v, MALFORMED)),
            # [MQTT-4.7.3-1]: a Topic Filter has at least one character;
            # no code given.
            Case("empty Topic Filter [MQTT-4.7.3-1]", v,
                 packet(0xA2, u16(1) + P + string("")), err(v, *EITHER)),
            Case("Remaining Length too short", v,
                 packet(0xA2, u16(1) + P + b"\x00\x03h"),
                 err(v, MALFORMED)),
            five_byte_length(0xA2, v),
            before_connect(packet(0xA2, u16(1) + P + f), v),
        ]
    cases += [
        Case("Property Length past the end", V5,
             packet(0xA2, u16(1) + b"\x05\x26"), Disc(MALFORMED)),
        # 2.2.2.2: Subscription Identifier is not an UNSUBSCRIBE property.
        Case("property not valid for UNSUBSCRIBE", V5,
             packet(0xA2, u16(1) + b"\x02\x0b\x01" + f), Disc(MALFORMED)),
    ]
    run_cases("unsubscribe", cases)


def server_only(name, v311_bytes, v5_bytes):
    # 2.1.2: SUBACK, UNSUBACK and PINGRESP flow from server to client.
    # 5.0: 0x82, "an unexpected or out of order packet" (3.14.2.1);
    # 3.1.1 [MQTT-4.8.0-1]: close.
    run_cases(name.lower(), [
        Case(name + " from a client", V311, v311_bytes, Close()),
        Case(name + " from a client", V5, v5_bytes, Disc(PROTOCOL)),
        before_connect(v311_bytes, V311),
        before_connect(v5_bytes, V5),
    ])


def suback_from_client(_):
    server_only("SUBACK", b"\x90\x03\x00\x01\x00", b"\x90\x04\x00\x01\x00\x00")


def unsuback_from_client(_):
    server_only("UNSUBACK", b"\xb0\x02\x00\x01",
                b"\xb0\x04\x00\x01\x00\x00")


def pingresp_from_client(_):
    server_only("PINGRESP", b"\xd0\x00", b"\xd0\x00")


# ---- PINGREQ, DISCONNECT, AUTH, reserved types ------------------------------

def pingreq(_):
    cases = []
    for v in (V311, V5):
        cases += [
            # [MQTT-2.1.3-1] / 3.1.1 [MQTT-2.2.2-2].
            Case("fixed header flags 0xC1", v, b"\xc1\x00",
                 err(v, MALFORMED)),
            Case("fixed header flags 0xC8", v, b"\xc8\x00",
                 err(v, MALFORMED)),
            # 3.12: no variable header, no payload; Remaining Length 1.
            Case("Remaining Length too long", v, b"\xc0\x01\x00",
                 err(v, MALFORMED)),
            five_byte_length(0xC0, v),
            before_connect(b"\xc0\x00", v),
        ]
    cases.append(Case("Remaining Length 0 in two bytes [MQTT-1.5.5-1]", V5,
                      b"\xc0\x80\x00", Disc(MALFORMED)))
    run_cases("pingreq", cases)


def disconnect(_):
    # Each connected client has a will: a DISCONNECT that is not valid is
    # not a normal disconnection, so the will is published ([MQTT-3.1.2-8]);
    # the valid one discards it [MQTT-3.14.4-3] (the control).
    cases = []
    for v in (V311, V5):
        cases += [
            Case("valid DISCONNECT (control: will discarded)", v,
                 b"\xe0\x00", Close(), will="discarded"),
            # 5.0 [MQTT-3.14.1-1] / 3.1.1 [MQTT-2.2.2-2].
            Case("fixed header flags 0xE1 [MQTT-3.14.1-1]", v,
                 b"\xe1\x00", err(v, MALFORMED), will="published"),
            Case("Remaining Length in 5 bytes", v,
                 b"\xe0" + FIVE_BYTE_LENGTH, err(v, MALFORMED),
                 will="published"),
            before_connect(b"\xe0\x00", v),
        ]
    cases += [
        # 3.1.1 3.14: DISCONNECT has no variable header and no payload.
        Case("Remaining Length too long", V311, b"\xe0\x01\x00", Close(),
             will="published"),
        # Reason 0, Property Length 0, and a byte more.
        Case("Remaining Length too long", V5, b"\xe0\x03\x00\x00\x00",
             Disc(MALFORMED), will="published"),
        Case("Property Length past the end", V5, b"\xe0\x03\x00\x05\x11",
             Disc(MALFORMED), will="published"),
        # 3.14.2.2.2: a Session Expiry Interval set at DISCONNECT after 0
        # at CONNECT: "does not treat it as a valid DISCONNECT packet",
        # DISCONNECT 0x82.
        Case("Session Expiry Interval after 0 at CONNECT", V5,
             b"\xe0\x07\x00\x05\x11\x00\x00\x00\x0a", Disc(PROTOCOL),
             will="published"),
        # 2.2.2.2: Payload Format Indicator is not a DISCONNECT property.
        Case("property not valid for DISCONNECT", V5,
             b"\xe0\x04\x00\x02\x01\x00", Disc(MALFORMED), will="published"),
    ]
    run_cases("disconnect", cases)


def auth(_):
    method = b"\x15" + string("SCRAM-SHA-1")
    run_cases("auth", [
        # 3.1.1 2.2.1: type 15 is reserved ("Forbidden"): close.
        Case("type 15 (reserved in 3.1.1)", V311, b"\xf0\x00", Close()),
        before_connect(b"\xf0\x00", V311),
        # [MQTT-3.15.1-1]: flags other than 0000 are malformed.
        Case("fixed header flags 0xF1 [MQTT-3.15.1-1]", V5, b"\xf1\x00",
             Disc(MALFORMED)),
        # 3.15.2.2.2: without an Authentication Method it is a Protocol
        # Error (and [MQTT-4.12.0-7]: no AUTH without a method at CONNECT).
        Case("AUTH without an Authentication Method", V5, b"\xf0\x00",
             Disc(PROTOCOL)),
        # [MQTT-4.12.0-7]: the CONNECT had no Authentication Method.
        Case("AUTH continue, no method at CONNECT [MQTT-4.12.0-7]", V5,
             packet(0xF0, b"\x18" + varint(len(method)) + method),
             Disc(PROTOCOL)),
        Case("Property Length past the end", V5, b"\xf0\x03\x18\x05\x15",
             Disc(MALFORMED)),
        five_byte_length(0xF0, V5),
        before_connect(packet(0xF0, b"\x18" + varint(len(method)) + method),
                       V5),
    ])


def reserved_type_0(_):
    # 2.1.2: type 0 is "Reserved / Forbidden" in both versions.  5.0 names
    # no code for it: it cannot be parsed (Malformed) or is not allowed
    # (Protocol Error); either.  3.1.1 [MQTT-4.8.0-1]: close.
    cases = []
    for v in (V311, V5):
        cases += [
            Case("type 0", v, b"\x00\x00", err(v, *EITHER)),
            Case("type 0 with flags and a body", v, b"\x0f\x01\x00",
                 err(v, *EITHER)),
            before_connect(b"\x00\x00", v),
        ]
    run_cases("type0", cases)


# ---- sizes and timing -------------------------------------------------------

def huge_remaining_length(_):
    # 268,435,455 announced, nothing after: past max_packet_size (16 MiB
    # by default) the header alone closes it (no waiting: packet_timeout is
    # the default 60 s here, past any wait below).  5.0 3.2.2.3.6: a packet
    # over the Maximum Packet Size the server sent is a Protocol Error, the
    # server uses DISCONNECT 0x95 (4.13).
    huge = b"\xff\xff\xff\x7f"
    run_cases("huge", [
        Case("PUBLISH of 268,435,455 bytes", V5, b"\x30" + huge,
             Disc(0x95)),
        Case("PUBLISH of 268,435,455 bytes", V311, b"\x30" + huge, Close()),
        Case("SUBSCRIBE of 268,435,455 bytes", V5, b"\x82" + huge,
             Disc(0x95)),
        Case("SUBSCRIBE of 268,435,455 bytes", V311, b"\x82" + huge,
             Close()),
        # Before CONNECT there is no version: a CONNACK 0x95 or the close.
        Case("CONNECT of 268,435,455 bytes", V5, b"\x10" + huge,
             Connack(0x95, or_close=True), connect=False),
    ], "--packet-timeout", "60000")


def huge_remaining_length_without_a_limit(_):
    # max_packet_size 0 (no limit): 268,435,455 announced, 64 KiB sent.
    # The broker holds what came, not what was announced, and closes at
    # packet_timeout (5.0 with a DISCONNECT).
    b = Broker(*BROKER_ARGS, "--max-packet-size", "0", verbose=False)
    canary = None
    try:
        # Without a limit the CONNACK has no Maximum Packet Size
        # (3.2.2.3.6: absent means none): paho 1.6 refuses a value over
        # 268,435,455, so a 5.0 canary gets in only because it is absent.
        canary = Canary(b, "nolimit")
        for v in (V311, V5):
            before = rss_kib(b.proc.pid)
            r = Raw(b)
            r.send(connect_packet("nolimit-%d" % v, version=v))
            assert r.recv_packet()[0] == 0x20
            r.send(b"\x30\xff\xff\xff\x7f" + string("h/t") + pp(v) +
                   bytes(65536))
            ok, got, closed, want = Stall().check(r, v)
            grown = rss_kib(b.proc.pid) - before
            r.close()
            assert ok, "%s: want %s; got %s, %s" % (
                vname(v), want, hexs(got), "closed" if closed else "open")
            assert grown < 32 * 1024, "RSS grew by %d KiB" % grown
            canary.check("a huge packet without a limit")
            fresh_connect(b, "nolimit-fresh-%d" % v)
        canary.finish()
    finally:
        if canary:
            canary.close()
        rc = b.stop()
    assert rc == 0, "\n".join(b.log[-30:])


def trickle(r, data, pause):
    """Send data a byte at a time; True if every byte went out before the
    broker closed the connection."""
    for i in range(len(data)):
        try:
            r.s.sendall(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return False
        sel = selectors.DefaultSelector()
        sel.register(r.s, selectors.EVENT_READ)
        ready = sel.select(pause)
        sel.close()
        if ready and i < len(data) - 1:
            return False  # answered (or closed) before the end
    return True


def connect_byte_at_a_time(_):
    # A CONNECT (then a PINGREQ and a QoS 1 PUBLISH) a byte at a time, 40
    # ms apart, all within connect_timeout (3 s): accepted and answered.
    b = Broker(*BROKER_ARGS, "--connect-timeout", "3000", verbose=False)
    canary = None
    try:
        canary = Canary(b, "trickle")
        for v in (V311, V5):
            r = Raw(b)
            cp = connect_packet("trickle-%d" % v, version=v)
            assert trickle(r, cp, 0.04), "closed during the CONNECT"
            p = r.recv_packet()
            assert p and p[0] == 0x20 and p[1][1] == 0, p
            assert trickle(r, b"\xc0\x00", 0.04)
            assert r.recv_packet() == (0xD0, b"")
            assert trickle(r, packet(0x32, string("h/t") + u16(7) + pp(v) +
                                     b"x"), 0.04)
            p = r.recv_packet()
            assert p and p[0] == 0x40 and p[1][:2] == u16(7), p
            r.close()
            canary.check("a trickled CONNECT")
        canary.finish()
    finally:
        if canary:
            canary.close()
        rc = b.stop()
    assert rc == 0, "\n".join(b.log[-30:])


def connect_too_slow(_):
    # connect_timeout 1 s bounds the time to send a CONNECT, not the time
    # between its bytes: one trickled over ~4 s (a byte per 200 ms) is
    # closed before it is complete, with no CONNACK.  (The spec:
    # 3.1.4, a server SHOULD close a connection that sends no CONNECT in
    # a reasonable time.)
    b = Broker(*BROKER_ARGS, "--connect-timeout", "1000", verbose=False)
    canary = None
    try:
        canary = Canary(b, "slow")
        for v in (V311, V5):
            r = Raw(b)
            start = time.time()
            done = trickle(r, connect_packet("slow-%d" % v, version=v), 0.2)
            data, closed = drain(r.s)
            r.close()
            assert not done, "%s: a CONNECT trickled over %.1f s was " \
                "taken with connect_timeout 1 s" % (vname(v),
                                                   time.time() - start)
            assert closed and data == b"", (vname(v), hexs(data), closed)
            canary.check("a CONNECT too slow")
        canary.finish()
    finally:
        if canary:
            canary.close()
        rc = b.stop()
    assert rc == 0, "\n".join(b.log[-30:])


def read_to_the_end(s):
    """Every byte until the broker's end of stream; a reset instead of the
    end fails the test with what had come before it."""
    data = b""
    s.settimeout(DEADLINE)
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            raise AssertionError("reset by the broker after %s" % hexs(data))
        if not chunk:
            return data
        data += chunk


def keeps_sending_after_the_disconnect(v):
    # A client that keeps sending after the broker's DISCONNECT (5.0) or
    # close (3.1.1) still reads what it was sent: the broker shuts the
    # connection down after its last packet, reads and throws away what
    # comes after, and closes at the client's end.  A close with input
    # arriving would answer with a reset (the sends below would fail),
    # which can discard the DISCONNECT before it is read.  Before the bad
    # packet, a QoS 1 PUBLISH in the same write: its PUBACK is owed, and
    # comes first [MQTT-4.13.1-1 closes after the packets before].
    b = Broker(*BROKER_ARGS, verbose=False)
    canary = None
    s = None
    try:
        canary = Canary(b, "linger-%d" % v)
        s = socket.create_connection(("127.0.0.1", b.port),
                                     timeout=DEADLINE)
        s.sendall(connect_packet("linger", version=v))
        first = s.recv(4)
        assert first[:1] == b"\x20", hexs(first)
        if v == V5:  # the CONNACK's properties
            rest = first[1] + 2 - len(first)
            while rest > 0:
                rest -= len(s.recv(rest))
        pub = packet(0x32, string(b"linger/t") + u16(9) +
                     (b"\x00" if v == V5 else b"") + b"owed")
        s.sendall(pub + b"\x00\x00")  # then packet type 0, reserved
        junk = bytes(range(256)) * 256
        sent = 0
        end = time.time() + 1.0
        while time.time() < end:
            try:
                s.sendall(junk)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise AssertionError("sending after the end: %r after %d "
                                     "bytes" % (e, sent))
            sent += len(junk)
            time.sleep(0.01)
        canary.check("1 s of input after the broker's last packet")
        assert b.metric("ringmq_connections_lingering") == 1
        data = read_to_the_end(s)
        pk = parse(data)
        assert pk and pk[0][0] == 0x40 and pk[0][1][:2] == u16(9), \
            "the PUBACK first: %s" % hexs(data)
        if v == V5:
            assert len(pk) == 2 and pk[1][0] == 0xE0 and \
                pk[1][1][0] in EITHER, hexs(data)
        else:
            assert len(pk) == 1, hexs(data)
        discarded = b.metric("ringmq_linger_discarded_bytes_total")
        assert discarded > 0, "nothing read after the end"
        s.close()
        s = None
        end = time.time() + DEADLINE
        while b.metric("ringmq_connections_lingering") != 0:
            assert time.time() < end, "still lingering after the client left"
            time.sleep(0.05)
        assert b.metric("ringmq_linger_timeouts_total") == 0, \
            "closed at the 2 s bound, not at the client's end"
        assert b.alive(), "the broker died"
        canary.check("the lingering connection closed")
        fresh_connect(b, "linger-fresh")
        canary.finish()
    finally:
        if s:
            s.close()
        if canary:
            canary.close()
        rc = b.stop()
    assert rc == 0, "\n".join(b.log[-30:])


def keeps_sending_after_the_disconnect_v5(_):
    keeps_sending_after_the_disconnect(V5)


def keeps_sending_after_the_close_v311(_):
    keeps_sending_after_the_disconnect(V311)


def garbage_from_200_connections(_):
    # 200 connections open, then each sends garbage at once: random bytes,
    # HTTP, TLS and SSH greetings, zeros, 0xFF, a CONNECT header that
    # promises more than comes.  Every one is closed (connect_timeout 2 s
    # bounds the wait for the last), with at most a CONNACK refusing it;
    # the canary keeps flowing and a fresh CONNECT is taken.
    b = Broker(*BROKER_ARGS, verbose=False)
    canary = None
    socks = []
    try:
        canary = Canary(b, "garbage")
        rng = random.Random(1717)
        fixed = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + bytes(40),
                 b"SSH-2.0-OpenSSH_9.2\r\n", bytes(64), b"\xff" * 64,
                 b"\x10\x7f" + bytes(20), b"\x10\xff\xff\xff\x7f",
                 b"\x00", b"\xe0"]
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", b.port),
                                         timeout=DEADLINE)
            socks.append(s)
        for i, s in enumerate(socks):
            data = fixed[i // 2 % len(fixed)] if i % 2 else \
                rng.randbytes(rng.randint(1, 300))
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
        canary.check("200 connections of garbage sent")
        sel = selectors.DefaultSelector()
        got = {}
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            got[s] = b""
        open_ = set(socks)
        end = time.time() + DEADLINE
        while open_ and time.time() < end:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    chunk = b""
                if chunk:
                    got[s] += chunk
                else:
                    sel.unregister(s)
                    open_.discard(s)
        sel.close()
        assert not open_, "%d of 200 garbage connections still open" % \
            len(open_)
        for s, data in got.items():
            pk = parse(data)
            assert pk == [] or (len(pk) == 1 and pk[0][0] == 0x20 and
                                pk[0][1][1] != 0), hexs(data)
        assert b.alive(), "the broker died"
        canary.check("200 connections of garbage closed")
        fresh_connect(b, "garbage-fresh")
        canary.finish()
    finally:
        for s in socks:
            s.close()
        if canary:
            canary.close()
        rc = b.stop()
    assert rc == 0, "\n".join(b.log[-30:])


run([connect, connack_from_client, publish, puback, pubrec, pubrel, pubcomp,
     subscribe, suback_from_client, unsubscribe, unsuback_from_client,
     pingreq, pingresp_from_client, disconnect, auth, reserved_type_0,
     huge_remaining_length, huge_remaining_length_without_a_limit,
     connect_byte_at_a_time, connect_too_slow,
     keeps_sending_after_the_disconnect_v5,
     keeps_sending_after_the_close_v311,
     garbage_from_200_connections],
    make_broker=None)
