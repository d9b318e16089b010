"""15: MQTT over WebSocket listeners (broker/io/ws.c), driven by real
clients: paho-mqtt's websockets transport over ws:// and wss://, MQTT.js
under node (test/integration/js/mqttjs_client.js), MQTT.js's browser
bundle in Debian's headless Chromium (js/browser.js, playwright-core), and
a WebSocket client written here byte by byte for what the opening
handshake and the framing must get right.

The listener is Mosquitto's (mosquitto.conf(5)): `listener PORT ADDRESS`,
`protocol websockets`, the TLS keys of 13_tls for wss://, and
`websockets_path` restricting the request path.  WebSocket is RFC 6455;
MQTT over it is MQTT 5.0 and 3.1.1 chapter 6, whose four normative
statements are checked here: binary frames only [MQTT-6.0.0-1], packets
not aligned on frames [MQTT-6.0.0-2], the "mqtt" subprotocol offered
[MQTT-6.0.0-3] and returned [MQTT-6.0.0-4].

RMQTEST_WS_TARGET=mosquitto runs the same tests against Debian's
Mosquitto instead, to check the harness itself; the tests of what
only RingMQ has (websockets_path) are skipped there.  Mosquitto 2.0.11
binds its WebSocket listeners to every address whatever the `listener`
line says, so that run re-executes itself in a network namespace of its
own where only loopback exists.  The node packages are installed by
scripts/deps --test (npm ci in test/integration/js).  Everything talks to
127.0.0.1 only."""
import os
import sys

TARGET = os.environ.get("RMQTEST_WS_TARGET", "ringmq")
if TARGET == "mosquitto" and not os.environ.get("RMQTEST_WS_NETNS"):
    os.environ["RMQTEST_WS_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "-n", "sh", "-c",
                          'ip link set lo up && exec "$0" "$@"',
                          sys.executable] + sys.argv)

import base64
import hashlib
import json
import random
import re
import socket
import ssl
import subprocess
import threading
import time

from rmqtest import (DEADLINE, JS, Client, ConfBroker, ListenersBroker,
                     Port, Raw, Skip, certs, conf_file, connect_packet,
                     free_port, logged, node_json, node_tools, packet, paho,
                     run, string)

V311, V5 = paho.MQTTv311, paho.MQTTv5
CHROMIUM = os.environ.get("RMQTEST_CHROMIUM", "/usr/bin/chromium")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3

# Listener lines.
WS = "protocol websockets\n"


def wss(c, extra=""):
    """A secure WebSocket listener: the TLS keys of 13_tls."""
    return WS + "certfile %s\nkeyfile %s\n%s" % (
        c.path("server.pem"), c.path("server.key"), extra)


# ---- the broker under test: ringmq, or Mosquitto for the harness ----

class MosqBroker:
    """Debian's Mosquitto with the same listeners, what ConfBroker's
    users need of it (ports, log, alive, finish).  Its WebSocket
    listeners need a plain one beside them to start at all (Mosquitto
    issue 2284): every test's first listener is one."""

    def __init__(self, *listeners, head="", threads=None):
        if any("websockets_path" in l for l in listeners):
            raise Skip("Mosquitto has no websockets_path")
        assert listeners[0] == "", "Mosquitto needs a plain listener first"
        for _ in range(5):
            self.ports = []
            while len(self.ports) < len(listeners):
                p = free_port()
                if p not in self.ports:
                    self.ports.append(p)
            self.port = self.ports[0]
            self.conf = conf_file(
                "allow_anonymous true\nlog_dest stderr\nlog_type all\n" +
                # As root Mosquitto would read the keys as user mosquitto.
                ("user root\n" if os.geteuid() == 0 else "") + head +
                "".join("listener %d 127.0.0.1\n%s" % (p, l)
                        for p, l in zip(self.ports, listeners)))
            if self._start():
                ConfBroker.started.append(self)
                return
            os.unlink(self.conf)
        raise RuntimeError("mosquitto did not start: " + "\n".join(self.log))

    def _start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf],
                                     stderr=subprocess.STDOUT,
                                     stdout=subprocess.PIPE, text=True)
        self.log = []

        def reader():
            for line in self.proc.stdout:
                self.log.append(line.rstrip("\n"))

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        end = time.time() + DEADLINE
        waiting = list(self.ports)
        while waiting and self.alive() and time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", waiting[0]),
                                         timeout=1).close()
                waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        if not waiting and self.alive():
            return True
        self.stop()
        return False

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(DEADLINE)
        return self.proc.returncode

    def finish(self):
        rc = self.stop()
        if os.path.exists(self.conf):
            os.unlink(self.conf)
        assert rc == 0, "exit status %s:\n%s" % (rc, "\n".join(self.log[-30:]))


def broker(*listeners, **kw):
    """The broker under test with these listeners (the first plain)."""
    if TARGET == "mosquitto":
        return MosqBroker(*listeners, **kw)
    return ListenersBroker(*listeners, **kw)


def ringmq_only(what):
    if TARGET != "ringmq":
        raise Skip(what + " is RingMQ's alone")


# ---- paho over WebSocket ----

class WsClient(Client):
    """rmqtest's paho Client with transport="websockets" (paho 1.6's API):
    ws_set_options for the path, tls_set for wss:// with the CA that
    must vouch for the server's certificate (and its address).  The
    handshake is bounded by the keep alive (paho's socket timeout)."""

    def __init__(self, port, client_id="", version=V311, path="/mqtt",
                 ca=None, keepalive=10):
        def setup(c):
            c.ws_set_options(path=path)
            if ca:
                c.tls_set(ca_certs=ca)
        super().__init__(port, client_id, version, keepalive=keepalive,
                         transport="websockets", setup=setup)
        assert self.connack[1] == 0, self.connack

    def transport(self):
        """The socket under paho's WebSocket layer (an SSLSocket for
        wss://), after checking that there is a WebSocket layer."""
        ws = self.c._sock
        assert isinstance(ws, paho.WebsocketWrapper), ws
        return ws._socket


def ws_refused(port, path="/mqtt", ca=None):
    """paho's connect over WebSocket, expected to fail: the exception."""
    c = paho.Client(client_id="refused", transport="websockets")
    c.ws_set_options(path=path)
    if ca:
        c.tls_set(ca_certs=ca)
    try:
        c.connect("127.0.0.1", port, 5)
    except (paho.WebsocketConnectionError, ssl.SSLError, OSError) as e:
        return e
    finally:
        c.socket() and c.socket().close()
    raise AssertionError("paho connected to :%d%s" % (port, path))


def granted_qos(granted):
    return [int(getattr(g, "value", g)) for g in granted]


# ---- WebSocket by hand (RFC 6455) ----

def accept_for(key):
    """Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2 item 5)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode())
                            .digest()).decode()


def upgrade_request(path="/mqtt", key=None, version="13", protocol="mqtt",
                    method="GET", extra="", host="127.0.0.1"):
    """An opening handshake (RFC 6455 section 4.1); None leaves a header
    out.  The key: 16 random bytes in base64, as a client's must be."""
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + host,
             "Upgrade: websocket", "Connection: Upgrade"]
    if key is not False:
        lines.append("Sec-WebSocket-Key: " + key)
    if version is not None:
        lines.append("Sec-WebSocket-Version: " + version)
    if protocol is not None:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode(), key


def mask_bytes(key, data):
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")) \
        .to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, mask=True):
    """A client's frame (RFC 6455 section 5.2): masked with a random key,
    as "a client MUST mask all frames that it sends to the server"
    (section 5.1), unless mask=False."""
    payload = bytes(payload)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(key, payload)


BINARY, TEXT, CONT, CLOSE, PING, PONG = 0x2, 0x1, 0x0, 0x8, 0x9, 0xA


class WsRaw(Raw):
    """A WebSocket connection by hand: upgrade() sends an opening
    handshake and reads the answer; then send() puts MQTT bytes in one
    binary frame, and rmqtest Raw's recv_packet() reads MQTT packets from
    the payloads of the binary frames that come (control frames are kept
    in self.control)."""

    def __init__(self, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        if tls:
            ctx = ssl.create_default_context(cafile=certs().path("ca.pem"))
            s = ctx.wrap_socket(s, server_hostname="localhost")
        self.s = s
        self.buf = b""          # bytes read, not yet a frame
        self.stream = b""       # MQTT bytes from binary frames
        self.control = []       # (opcode, payload) of control frames
        self.eof = False

    @classmethod
    def connected(cls, port, tls=False, **kw):
        """Upgraded (101), with the subprotocol "mqtt" returned."""
        r = cls(port, tls)
        status, headers, _ = r.upgrade(**kw)
        assert status == 101, (status, headers)
        return r

    def _recv(self):
        try:
            data = self.s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return data

    def upgrade(self, **kw):
        """Send an upgrade request (upgrade_request's arguments) and read
        the answer: (status, {lower-case name: value}, body)."""
        req, self.key = upgrade_request(**kw)
        self.s.sendall(req)
        return self.response()

    def response(self):
        """An HTTP response: (status, headers, body); the body by
        Content-Length.  (None, {}, b"") when the connection closed
        first."""
        while b"\r\n\r\n" not in self.buf:
            assert len(self.buf) < 65536, "no end to the headers"
            if not self._recv():
                return None, {}, b""
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3})( |$)", lines[0])
        assert m, "not an HTTP/1.1 status line: %r" % lines[0]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep, "not a header: %r" % line
            name = name.strip().lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value \
                if name in headers else value
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n and self._recv():
            pass
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(m.group(1)), headers, body

    def send(self, data, opcode=BINARY):
        self.s.sendall(frame(opcode, data))

    def send_frames(self, *frames):
        self.s.sendall(b"".join(frames))

    def read_frame(self):
        """The next frame from the server: (fin, opcode, payload), None at
        the end of the connection.  "A server MUST NOT mask any frames that
        it sends to the client" (RFC 6455 section 5.1)."""
        def need(n):
            while len(self.buf) < n:
                if not self._recv():
                    return False
            return True
        if not need(2):
            assert not self.buf, "the connection ended inside a frame " \
                "header: %r" % self.buf
            return None
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a masked frame from the server"
        assert not b0 & 0x70, "RSV bits set with no extension: %r" % \
            self.buf[:2]
        n, off = b1 & 0x7F, 2
        if n == 126:
            assert need(4), "cut frame header"
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            assert need(10), "cut frame header"
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        assert need(off + n), "the connection ended inside a frame"
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def _read(self, n):
        """n bytes of the MQTT stream (less at the end of the
        connection or a close frame)."""
        while len(self.stream) < n:
            f = self.read_frame()
            if f is None:
                break
            fin, opcode, payload = f
            if opcode in (BINARY, CONT):
                self.stream += payload
            else:
                assert opcode in (CLOSE, PING, PONG), \
                    "a frame of opcode %d from the server" % opcode
                self.control.append((opcode, payload))
                if opcode == CLOSE:
                    break
        out, self.stream = self.stream[:n], self.stream[n:]
        return out

    def frames_to_eof(self):
        """Every frame until the server ends the connection: bounded,
        a server that keeps it open fails the wait."""
        frames = []
        try:
            while True:
                f = self.read_frame()
                if f is None:
                    return frames
                frames.append(f)
        except socket.timeout:
            raise AssertionError("the connection is still open after %s" %
                                 frames)

    def bytes_to_eof(self):
        """Everything the server sends until it closes (not as frames:
        after a refused upgrade)."""
        try:
            while self._recv():
                pass
        except socket.timeout:
            raise AssertionError("the connection is still open after %r"
                                 % self.buf[:200])
        return self.buf


def mqtt_over_ws_works(port, tls=False, tag="canary"):
    """A raw WebSocket client still gets a CONNACK and a PINGRESP."""
    r = WsRaw.connected(port, tls)
    r.send(connect_packet(tag))
    assert r.recv_packet() == (0x20, b"\x00\x00")
    r.send(b"\xc0\x00")
    assert r.recv_packet() == (0xD0, b"")
    r.close()


# ---- node: MQTT.js and the browser ----

class Responder(Client):
    """paho over plain TCP, subscribed to PREFIX/# at QoS 2: keeps what it
    receives and answers each TOPIC/ready with TOPIC/in (QoS 1), for
    exchange.js's `external` step."""

    def __init__(self, port, prefix):
        super().__init__(Port(port), "responder-" + prefix.replace("/", "-"))
        assert granted_qos(self.subscribe(prefix + "/#", 2)) == [2]

    def _on_message(self, c, userdata, msg):
        super()._on_message(c, userdata, msg)
        if msg.topic.endswith("/ready"):
            c.publish(msg.topic[:-len("ready")] + "in", b"from-tcp", 1)

    def seen(self, *topics):
        """The messages of these topics, once each has come."""
        self.wait(lambda: all(any(m.topic == t for m in self.msgs)
                              for t in topics),
                  "%s at the TCP subscriber" % (topics,))
        return sorted((m.topic, m.payload) for m in self.msgs
                      if m.topic in topics)


def check_exchange(res, topic, version, external=True):
    """What exchange.js reports of a completed exchange."""
    assert res["ok"], res
    assert res["connack"]["code"] == 0, res
    assert res["granted"] == [2], res  # QoS 2 granted to TOPIC/#
    got = sorted((m["topic"], m["payload"], m["qos"])
                 for m in res["received"])
    want = [("%s/echo/q%d" % (topic, q), "mqttjs-q%d-v%d" % (q, version), q)
            for q in range(3)]
    if external:
        want += [(topic + "/in", "from-tcp", 1),
                 (topic + "/ready", "ready", 1)]
    assert got == sorted(want), (got, want)


def spki_pin(pem):
    """base64(SHA-256(SubjectPublicKeyInfo)) of a certificate, Chromium's
    --ignore-certificate-errors-spki-list form, by the openssl command."""
    pub = subprocess.run(["openssl", "x509", "-in", pem, "-pubkey",
                          "-noout"], capture_output=True, check=True,
                         timeout=DEADLINE).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"],
                         input=pub, capture_output=True, check=True,
                         timeout=DEADLINE).stdout
    assert der.startswith(b"\x30"), der[:8]  # a DER SEQUENCE
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


# ---- paho ----

def paho_qos012_over_ws(_):
    # QoS 0, 1 and 2 both ways between WebSocket clients and a plain TCP
    # one of the same broker, MQTT 3.1.1 and 5.0.
    b = broker("", WS)
    plain, ws = b.ports
    clients = []
    try:
        for version, name in ((V311, "v311"), (V5, "v5")):
            sub = WsClient(ws, "ws-sub-" + name, version)
            pub = WsClient(ws, "ws-pub-" + name, version)
            tcp = Client(Port(plain), "tcp-" + name, version=version)
            clients += [sub, pub, tcp]
            sub.transport()
            topic = "ws/" + name
            for cl in (sub, tcp):
                assert granted_qos(cl.subscribe(topic + "/#", 2)) == [2]
            for q in range(3):
                pub.publish("%s/q%d" % (topic, q), b"ws-%d" % q, qos=q)
            for cl in (sub, tcp):
                got = sorted((m.topic, m.payload, m.qos)
                             for m in cl.wait_msgs(3))
                assert got == [("%s/q%d" % (topic, q), b"ws-%d" % q, q)
                               for q in range(3)], got
            # From TCP to WebSocket.
            for q in range(3):
                tcp.publish("%s/back%d" % (topic, q), b"tcp-%d" % q, qos=q)
            got = sorted((m.topic, m.payload, m.qos)
                         for m in sub.wait_msgs(6)[3:])
            assert got == [("%s/back%d" % (topic, q), b"tcp-%d" % q, q)
                           for q in range(3)], got
            assert sub.disconnects == [] and pub.disconnects == []
    finally:
        for cl in clients:
            cl.close()
        b.finish()


def paho_over_wss(_):
    # wss://: TLS under the WebSocket (MQTT 5.0 and 3.1.1 section 6,
    # RFC 6455 section 3): paho checks the server's certificate against
    # the test CA and its address, QoS 0/1/2 both ways; a client
    # trusting another CA is refused in the handshake.
    c = certs()
    b = broker("", wss(c))
    plain, port = b.ports
    ca = c.path("ca.pem")
    clients = []
    try:
        for version, name in ((V311, "v311"), (V5, "v5")):
            sub = WsClient(port, "wss-sub-" + name, version, ca=ca)
            pub = WsClient(port, "wss-pub-" + name, version, ca=ca)
            tcp = Client(Port(plain), "wss-tcp-" + name, version=version)
            clients += [sub, pub, tcp]
            t = sub.transport()
            assert isinstance(t, ssl.SSLSocket), t
            assert t.getpeercert(binary_form=True) == c.der("server.pem")
            topic = "wss/" + name
            for cl in (sub, tcp):
                assert granted_qos(cl.subscribe(topic + "/#", 2)) == [2]
            for q in range(3):
                pub.publish("%s/q%d" % (topic, q), b"wss-%d" % q, qos=q)
                tcp.publish("%s/t%d" % (topic, q), b"tcp-%d" % q, qos=q)
            want = sorted([("%s/q%d" % (topic, q), b"wss-%d" % q, q)
                           for q in range(3)] +
                          [("%s/t%d" % (topic, q), b"tcp-%d" % q, q)
                           for q in range(3)])
            for cl in (sub, tcp):
                got = sorted((m.topic, m.payload, m.qos)
                             for m in cl.wait_msgs(6))
                assert got == want, got
        e = ws_refused(port, ca=c.path("rogue.pem"))
        assert isinstance(e, ssl.SSLError) and \
            "certificate verify failed" in str(e), repr(e)
        # ws:// to the wss:// port is not TLS: refused, bounded.
        ws_refused(port)
        mqtt_over_ws_works(port, tls=True)
    finally:
        for cl in clients:
            cl.close()
        b.finish()


def paho_one_megabyte_over_ws(_):
    # A 1 MB PUBLISH is one frame of 1 MB (64-bit length, RFC 6455
    # section 5.2), many reads for the broker; and 1 MB from the broker to
    # a WebSocket subscriber.  QoS 1, every byte compared.  (Mosquitto
    # 2.0.11 writes WebSocket data at some 40 kB/s here, and paho 1.6
    # drops a connection whose PINGRESP waits behind a message longer
    # than its keep alive: for the harness's run, longer bounds.)
    wait, keepalive = (150, 300) if TARGET == "mosquitto" else (DEADLINE, 10)
    b = broker("", WS)
    plain, ws = b.ports
    clients = []
    try:
        sub = WsClient(ws, "big-sub", keepalive=keepalive)
        pub = WsClient(ws, "big-pub", keepalive=keepalive)
        tcp = Client(Port(plain), "big-tcp")
        clients += [sub, pub, tcp]
        for cl in (sub, tcp):
            cl.subscribe("big/#", 1)
        big = random.Random(15).randbytes(1 << 20)
        pub.publish("big/ws", big, qos=1)
        tcp.publish("big/tcp", big[::-1], qos=1)
        pub.publish("big/after", b"after", qos=1)
        for cl in (sub, tcp):
            got = {m.topic: m.payload for m in cl.wait_msgs(3, wait)}
            assert got.keys() == {"big/ws", "big/tcp", "big/after"}, got.keys()
            assert got["big/ws"] == big, len(got["big/ws"])
            assert got["big/tcp"] == big[::-1], len(got["big/tcp"])
        assert sub.disconnects == [] and pub.disconnects == []
    finally:
        for cl in clients:
            cl.close()
        b.finish()


def websockets_path(_):
    # websockets_path: the one path a listener upgrades; another gets
    # HTTP 404 (paho cannot connect).  Unset, any path is taken: the
    # WebSocket URI "has no impact on the MQTT protocol" (MQTT 5.0 and
    # 3.1.1 section 6).
    ringmq_only("websockets_path")
    b = broker("", WS + "websockets_path /mqtt\n", WS)
    plain, only, any_ = b.ports
    clients = []
    try:
        cl = WsClient(only, "path-right", path="/mqtt")
        clients.append(cl)
        cl.subscribe("p/#", 1)
        for path in ("/other", "/", "/mqtt/x", "/mqttx"):
            ws_refused(only, path)
            r = WsRaw(only)
            status, headers, _ = r.upgrade(path=path)
            assert status == 404, (path, status, headers)
            r.close()
        for i, path in enumerate(("/", "/any/where", "/mqtt")):
            other = WsClient(any_, "path-any-%d" % i, path=path)
            clients.append(other)
            other.publish("p/%d" % i, path.encode(), qos=1)
        got = sorted(m.payload for m in cl.wait_msgs(3))
        assert got == [b"/", b"/any/where", b"/mqtt"], got
    finally:
        for cl in clients:
            cl.close()
        b.finish()


# ---- MQTT.js ----

def mqttjs_under_node(_):
    # MQTT.js (npm mqtt, its node build with the `ws` package) over ws://
    # with MQTT 3.1 (subprotocol "mqttv3.1"), 3.1.1 and 5.0, and over
    # wss:// with the test CA; `ws` fails the connection unless the
    # server returns the subprotocol offered [MQTT-6.0.0-4].  Its
    # messages cross to a paho client on plain TCP and back.
    c = certs()
    b = broker("", WS, wss(c))
    plain, ws, port = b.ports
    resp = Responder(plain, "js")
    try:
        cases = [("ws://127.0.0.1:%d/mqtt" % ws, None, v) for v in (3, 4, 5)]
        cases += [("wss://127.0.0.1:%d/mqtt" % port, c.path("ca.pem"), v)
                  for v in (4, 5)]
        for i, (url, ca, v) in enumerate(cases):
            topic = "js/%d" % i
            rc, res = node_json("mqttjs_client.js", {
                "url": url, "ca": ca, "protocolVersion": v, "topic": topic,
                "clientId": "mqttjs-%d" % i, "external": True,
                "timeoutMs": 10000}, timeout=40)
            assert rc == 0, res
            check_exchange(res, topic, v)
            echo = ["%s/echo/q%d" % (topic, q) for q in range(3)]
            assert resp.seen(topic + "/ready", *echo) == [
                (t, b"mqttjs-q%d-v%d" % (q, v)) for q, t in enumerate(echo)
            ] + [(topic + "/ready", b"ready")]
        # A CA that did not sign the server's certificate: refused.
        rc, res = node_json("mqttjs_client.js", {
            "url": "wss://127.0.0.1:%d/mqtt" % port,
            "ca": c.path("rogue.pem"), "protocolVersion": 4,
            "topic": "js/rogue", "clientId": "mqttjs-rogue",
            "timeoutMs": 5000}, timeout=30)
        assert rc == 1 and not res["ok"] and res["connack"] is None, res
        assert "certificate" in res["error"], res
    finally:
        resp.close()
        b.finish()


def mqttjs_in_chromium(_):
    # A real browser: Debian's Chromium, headless, driven by
    # playwright-core, runs MQTT.js's browser bundle (dist/mqtt.min.js)
    # over the browser's own WebSocket, wss:// and ws://.  The server's
    # certificate is accepted by its pinned public key alone (no
    # ignoreHTTPSErrors): with the pin of another key the same page
    # fails, so the TLS is real.
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(CHROMIUM + " is not installed (scripts/deps "
                             "--test installs Debian's chromium)")
    c = certs()
    b = broker("", wss(c), WS)
    plain, port, ws = b.ports
    resp = Responder(plain, "web")
    try:
        pin = spki_pin(c.path("server.pem"))
        assert pin != spki_pin(c.path("server_b.pem"))
        cases = [{"url": "wss://127.0.0.1:%d/mqtt" % port, "topic": "web/0",
                  "protocolVersion": 4, "clientId": "chromium-0",
                  "external": True},
                 {"url": "wss://127.0.0.1:%d/mqtt" % port, "topic": "web/1",
                  "protocolVersion": 5, "clientId": "chromium-1",
                  "external": True},
                 {"url": "ws://127.0.0.1:%d/mqtt" % ws, "topic": "web/2",
                  "protocolVersion": 4, "clientId": "chromium-2",
                  "external": True}]
        rc, res = node_json("browser.js", {"spki": pin, "cases": cases,
                                           "timeoutMs": 15000}, timeout=150)
        assert rc == 0 and isinstance(res, list), res
        for case, r in zip(cases, res):
            assert "HeadlessChrome" in r["userAgent"], r
            check_exchange(r, case["topic"], case["protocolVersion"])
            assert resp.seen(case["topic"] + "/ready") == [
                (case["topic"] + "/ready", b"ready")]
        # The pin of another key: the certificate is refused.
        rc, res = node_json("browser.js", {
            "spki": spki_pin(c.path("server_b.pem")), "timeoutMs": 8000,
            "cases": [{"url": "wss://127.0.0.1:%d/mqtt" % port,
                       "topic": "web/bad", "protocolVersion": 4,
                       "clientId": "chromium-bad"}]}, timeout=120)
        assert rc == 0 and isinstance(res, list), res
        assert not res[0]["ok"] and res[0]["connack"] is None, res
        assert any("ERR_CERT" in line for line in res[0]["console"]), res
    finally:
        resp.close()
        b.finish()


# ---- the opening handshake, by hand ----

def ringmq_bench_over_ws_and_wss(_):
    # The load tool's --ws (and with --tls, secure WebSocket), against
    # the broker under test: a short p2p run at QoS 1 completes with
    # nothing lost, duplicated or out of order.
    bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        os.environ.get("RMQTEST_BIN", "build/broker/ringmq")))), "bench",
        "ringmq-bench")
    if not os.access(bench, os.X_OK):
        raise Skip("no ringmq-bench beside the broker (%s)" % bench)
    c = certs()
    b = broker("", WS, wss(c))
    plain, ws, secure = b.ports
    try:
        for port, extra in ((ws, []), (secure, ["--tls", "--cacert",
                                                c.path("ca.pem")])):
            r = subprocess.run(
                [bench, "run", "p2p", "-p", str(port), "--ws", "--clients",
                 "5", "-q", "1", "--duration", "1", "--warmup", "0.2",
                 "--json", "-", "--quiet"] + extra,
                capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            res = json.loads(r.stdout.splitlines()[-1])
            assert res["completed"], res["error"]
            assert res["transport"] == ("wss" if extra else "ws"), res
            assert res["delivered"] > 0 and res["lost"] == 0 and \
                res["duplicated"] == 0 and res["out_of_order"] == 0, res
    finally:
        b.finish()


def handshake_rfc6455_example(_):
    # RFC 6455 section 1.3: the key dGhlIHNhbXBsZSBub25jZQ== is answered
    # with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=; 101, Upgrade and Connection as
    # section 4.2.2 says; the subprotocol returned is "mqtt"
    # [MQTT-6.0.0-4], whichever place it has in the client's list; a
    # 3.1 client's "mqttv3.1" is taken too.  Over ws:// and wss://.
    c = certs()
    b = broker("", WS, wss(c))
    plain, ws, port = b.ports
    try:
        assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == \
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        for p, tls in ((ws, False), (port, True)):
            r = WsRaw(p, tls)
            status, h, _ = r.upgrade(key="dGhlIHNhbXBsZSBub25jZQ==")
            assert status == 101, (status, h)
            assert h.get("sec-websocket-accept") == \
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", h
            assert h.get("upgrade", "").lower() == "websocket", h
            assert "upgrade" in h.get("connection", "").lower(), h
            assert h.get("sec-websocket-protocol") == "mqtt", h
            r.send(connect_packet("rfc-example-%s" % tls))
            assert r.recv_packet() == (0x20, b"\x00\x00")
            r.close()
        for offered, want in (("xmpp, mqtt", "mqtt"),
                              ("mqtt, xmpp", "mqtt")):
            r = WsRaw(ws)
            status, h, _ = r.upgrade(protocol=offered)
            assert status == 101, (offered, status, h)
            assert h.get("sec-websocket-accept") == accept_for(r.key), h
            assert h.get("sec-websocket-protocol") == want, (offered, h)
            r.close()
        # MQTT 3.1 over its subprotocol "mqttv3.1".
        r = WsRaw(ws)
        status, h, _ = r.upgrade(protocol="mqttv3.1")
        assert status == 101 and h.get("sec-websocket-protocol") == \
            "mqttv3.1", (status, h)
        r.send(connect_packet("v31-raw", version=3))
        assert r.recv_packet() == (0x20, b"\x00\x00")
        r.close()
    finally:
        b.finish()


def browser_sized_requests(_):
    # What browsers send is upgraded with the listener's default header
    # bound (websockets_headers_size unset): Chromium 156's request from
    # a page, 513 bytes with its headers as it writes them, and the same
    # with 2,000 bytes of cookies, as a page on a site with a few sends.
    b = broker("", WS)
    plain, ws = b.ports
    try:
        chromium = ("Pragma: no-cache\r\nCache-Control: no-cache\r\n"
                    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) "
                    "AppleWebKit/537.36 (KHTML, like Gecko) "
                    "HeadlessChrome/156.0.0.0 Safari/537.36\r\n"
                    "Origin: null\r\n"
                    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
                    "Accept-Language: en-US,en;q=0.9\r\n"
                    "Sec-WebSocket-Extensions: permessage-deflate; "
                    "client_max_window_bits\r\n")
        for extra in (chromium, chromium + "Cookie: s=" + "c" * 1990 +
                      "\r\n"):
            req, key = upgrade_request(extra=extra,
                                       host="127.0.0.1:%d" % ws)
            assert len(req) >= 513, len(req)  # Chromium's, port of 5 digits
            r = WsRaw(ws)
            r.s.sendall(req)
            status, h, _ = r.response()
            assert status == 101, "HTTP %s to an upgrade request of %d " \
                "bytes" % (status, len(req))
            assert h.get("sec-websocket-accept") == accept_for(key), h
            # An extension in the answer must be one offered (RFC 6455
            # section 9.1); without one, MQTT in plain frames.
            ext = h.get("sec-websocket-extensions")
            if ext is None:
                r.send(connect_packet("browser-sized"))
                assert r.recv_packet() == (0x20, b"\x00\x00")
            else:
                assert ext.startswith("permessage-deflate"), h
            r.close()
    finally:
        b.finish()


def refused_upgrades(_):
    # Requests that are not a valid opening handshake (RFC 6455 section
    # 4.2.1) get an HTTP error, never 101: no Sec-WebSocket-Key, 400
    # and the connection closed; a version other than 13, 426 with
    # "Sec-WebSocket-Version: 13" (section 4.2.2 and 4.4); a method
    # other than GET, 405 (or 400).  The broker goes on serving.
    b = broker("", WS)
    plain, ws = b.ports
    try:
        r = WsRaw(ws)
        status, h, body = r.upgrade(key=False)
        assert status == 400, (status, h, body)
        rest = r.bytes_to_eof()  # then closed, bounded
        assert not rest.startswith(b"\x82"), rest  # and no frame came
        r.close()

        r = WsRaw(ws)
        status, h, body = r.upgrade(version="12")
        assert status == 426, (status, h, body)
        assert h.get("sec-websocket-version") == "13", h
        r.close()

        r = WsRaw(ws)
        status, h, body = r.upgrade(method="POST")
        assert status in (405, 400), (status, h, body)
        r.close()

        mqtt_over_ws_works(ws)
    finally:
        b.finish()


def oversized_upgrade_request(_):
    # 70,000 bytes of headers, past any sane bound on an upgrade request:
    # HTTP 431 (RFC 6585 section 5) or the connection closed, never an
    # upgrade; the broker goes on serving a WebSocket client and a TCP
    # one.
    b = broker("", WS)
    plain, ws = b.ports
    try:
        pad = "".join("X-Pad-%05d: %s\r\n" % (i, "a" * 60)
                      for i in range(70000 // 74 + 1))
        assert len(pad) >= 70000
        req, _ = upgrade_request(extra=pad)
        r = WsRaw(ws)
        try:
            r.s.sendall(req)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending: fine
        try:
            status, h, body = r.response()
        except socket.timeout:
            raise AssertionError("neither 431 nor closed after %d bytes of "
                                 "headers" % len(req))
        assert status in (431, None), (status, h, body)
        r.close()
        mqtt_over_ws_works(ws)
        tcp = Client(Port(plain), "after-oversized")
        tcp.close()
    finally:
        b.finish()


# ---- frames, by hand ----

def text_frame_closes(_):
    # "MQTT Control Packets MUST be sent in WebSocket binary data frames.
    # If any other type of data frame is received the recipient MUST
    # close the Network Connection" [MQTT-6.0.0-1]: a CONNECT in a text
    # frame gets no CONNACK, and the connection closes; so does a text
    # frame after a CONNECT that was accepted.
    b = broker("", WS)
    plain, ws = b.ports
    try:
        r = WsRaw.connected(ws)
        r.send(connect_packet("text-frame"), opcode=TEXT)
        frames = r.frames_to_eof()
        assert all(op == CLOSE for _, op, _ in frames), frames
        r.close()

        r = WsRaw.connected(ws)
        r.send(connect_packet("text-later"))
        assert r.recv_packet() == (0x20, b"\x00\x00")
        r.send(b"\xc0\x00", opcode=TEXT)  # PINGREQ, in a text frame
        frames = r.frames_to_eof()
        assert all(op == CLOSE for _, op, _ in frames), frames
        r.close()
        mqtt_over_ws_works(ws)
    finally:
        b.finish()


def unmasked_frame_closes(_):
    # "The server MUST close the connection upon receiving a frame that
    # is not masked" (RFC 6455 section 5.1).
    b = broker("", WS)
    plain, ws = b.ports
    try:
        r = WsRaw.connected(ws)
        r.send_frames(frame(BINARY, connect_packet("unmasked"), mask=False))
        frames = r.frames_to_eof()
        assert all(op == CLOSE for _, op, _ in frames), frames
        r.close()
        mqtt_over_ws_works(ws)
    finally:
        b.finish()


def packets_not_aligned_on_frames(_):
    # "A single WebSocket data frame can contain multiple or partial MQTT
    # Control Packets. The receiver MUST NOT assume that MQTT Control
    # Packets are aligned on WebSocket frame boundaries" [MQTT-6.0.0-2].
    b = broker("", WS)
    plain, ws = b.ports
    tcp = None
    try:
        # A CONNECT in three binary frames (cut inside the fixed header
        # and inside the payload), each frame a whole message.
        conn = connect_packet("split-connect")
        r = WsRaw.connected(ws)
        r.send(conn[:1])
        r.send(conn[1:9])
        time.sleep(0.05)
        r.send(conn[9:])
        assert r.recv_packet() == (0x20, b"\x00\x00")
        r.send(b"\xc0\x00")
        assert r.recv_packet() == (0xD0, b"")
        r.close()

        # One message in fragments (RFC 6455 section 5.4): a binary frame
        # without FIN, then continuation frames.
        conn = connect_packet("fragmented")
        r = WsRaw.connected(ws)
        r.send_frames(frame(BINARY, conn[:5], fin=False),
                      frame(CONT, conn[5:12], fin=False),
                      frame(CONT, conn[12:]))
        assert r.recv_packet() == (0x20, b"\x00\x00")
        r.close()

        # CONNECT and SUBSCRIBE in one frame: CONNACK and SUBACK; then a
        # message from a TCP client comes in a binary frame.
        r = WsRaw.connected(ws)
        r.send(connect_packet("two-in-one") +
               packet(0x82, b"\x00\x07" + string("al/t") + b"\x01"))
        assert r.recv_packet() == (0x20, b"\x00\x00")
        assert r.recv_packet() == (0x90, b"\x00\x07\x01")
        tcp = Client(Port(plain), "al-pub")
        tcp.publish("al/t", b"to-the-frame", qos=1)
        first, body = r.recv_packet()
        assert first & 0xF6 == 0x32, hex(first)  # PUBLISH QoS 1
        assert body[:6] == string("al/t") and body[8:] == b"to-the-frame", \
            body
        r.send(b"\x40\x02" + body[6:8])  # PUBACK
        # Two PINGREQs in one frame, two PINGRESPs.
        r.send(b"\xc0\x00\xc0\x00")
        assert r.recv_packet() == (0xD0, b"")
        assert r.recv_packet() == (0xD0, b"")
        r.close()
    finally:
        if tcp:
            tcp.close()
        b.finish()


def ping_and_close_frames(_):
    # "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
    # response ... the same Application data" (RFC 6455 section 5.5.2 and
    # 5.5.3); "If an endpoint receives a Close frame and did not
    # previously send a Close frame, the endpoint MUST send a Close frame
    # in response" (section 5.5.1), and the server then closes the TCP
    # connection (section 7.1.1).
    b = broker("", WS)
    plain, ws = b.ports
    try:
        r = WsRaw.connected(ws)
        r.send(connect_packet("pinger"))
        assert r.recv_packet() == (0x20, b"\x00\x00")
        data = b"rmq-ping-" + os.urandom(8)
        r.send_frames(frame(PING, data))
        f = r.read_frame()
        assert f == (True, PONG, data), f
        # MQTT goes on after it.
        r.send(b"\xc0\x00")
        assert r.recv_packet() == (0xD0, b"")
        # A close frame with status 1000 and a reason.
        r.send_frames(frame(CLOSE, (1000).to_bytes(2, "big") + b"bye"))
        frames = r.frames_to_eof()
        assert frames and frames[0][1] == CLOSE, frames
        assert all(op == CLOSE for _, op, _ in frames), frames
        echo = frames[0][2]
        assert len(echo) == 0 or len(echo) >= 2, echo
        if echo:
            assert int.from_bytes(echo[:2], "big") == 1000, echo
        r.close()

        # Before any CONNECT too: ping, then close.
        r = WsRaw.connected(ws)
        r.send_frames(frame(PING, b""))
        assert r.read_frame() == (True, PONG, b"")
        r.send_frames(frame(CLOSE, b""))
        frames = r.frames_to_eof()
        assert frames and frames[0][1] == CLOSE, frames
        r.close()
    finally:
        b.finish()


run([logged(t) for t in (
    paho_qos012_over_ws, paho_over_wss, paho_one_megabyte_over_ws,
    websockets_path, mqttjs_under_node, mqttjs_in_chromium,
    ringmq_bench_over_ws_and_wss,
    handshake_rfc6455_example, browser_sized_requests, refused_upgrades,
    oversized_upgrade_request,
    text_frame_closes, unmasked_frame_closes, packets_not_aligned_on_frames,
    ping_and_close_frames)],
    make_broker=None)
