"""16: listeners behind a load balancer speaking HAProxy's PROXY protocol
(broker/io/proxy.c), with Mosquitto 2.1's key `enable_proxy_protocol 1`
(the v1 text header) or `2` (v2, binary), driven through a real HAProxy
run here in the foreground from a file of its own (mode tcp, `send-proxy`
and `send-proxy-v2`) by mosquitto_pub/sub, paho-mqtt and raw sockets: the
address the header carries is the one the broker logs, TLS passes through
HAProxy to a TLS listener, and a connection without a valid header (a
direct one, a header of the other version) is closed unanswered and
counted in /metrics.  Headers made by hand check the addresses the broker
reads (IPv4 in v1, IPv6 in v2).

HAProxy's connections to the broker come from a range of ports below the
kernel's ephemeral ones, where no client's port can be: a broker logging
its socket's peer instead of the header's address cannot pass for right.
Everything talks to 127.0.0.1 only."""
import functools
import os
import random
import re
import socket
import ssl
import subprocess
import threading
import time

from rmqtest import (DEADLINE, Client, ListenersBroker, MosqSub, Port, Raw,
                     Skip, certs, conf_file, connect_packet, free_port, logged,
                     packet, run, string)

HAPROXY = os.environ.get("RMQTEST_HAPROXY", "/usr/sbin/haproxy")
V1_HEADER = b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883\r\n"
# The v2 signature, then version 2 and PROXY (0x21), TCP over IPv6 (0x21),
# 36 bytes of addresses: source, destination, their ports.
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V2_HEADER6 = (V2_SIG + b"\x21\x21" + (36).to_bytes(2, "big") +
              socket.inet_pton(socket.AF_INET6, "2001:db8::7") +
              socket.inet_pton(socket.AF_INET6, "2001:db8::1") +
              (443).to_bytes(2, "big") + (1883).to_bytes(2, "big"))


# ---- the broker ----

def proxy(version):
    return "enable_proxy_protocol %d\n" % version


def server_tls(c):
    return "certfile %s\nkeyfile %s\n" % (c.path("server.pem"),
                                          c.path("server.key"))


def proxy_counts(b):
    """{(family, listener port): value} of the two PROXY counters."""
    out = {}
    for m in re.finditer(r'^ringmq_proxy_(headers|refused)_total'
                         r'\{listener="127\.0\.0\.1:(\d+)"\} (\d+)$',
                         b.metrics_text(), re.M):
        out[(m.group(1), int(m.group(2)))] = int(m.group(3))
    return out


def connected_from(b, client_id, after=0):
    """(address, port) of a client's connection line, as logged."""
    line = b.wait_log(r"worker \d+: client %s connected from " %
                      re.escape(client_id), after)
    m = re.search(r"connected from (\S+):(\d+) \(MQTT 3\.1\.1, new "
                  r"session\)$", line)
    assert m, line
    return m.group(1), int(m.group(2))


def refused_line(port, version):
    return (r"listener 127\.0\.0\.1:%d: connection closed: no valid PROXY "
            r"protocol v%d header" % (port, version))


# ---- sockets, from /proc ----

def tcp_sockets():
    """(local port, remote port, state, inode) of every TCP socket."""
    out = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            col = row.split()
            out.append((int(col[1].rsplit(":", 1)[1], 16),
                        int(col[2].rsplit(":", 1)[1], 16), col[3],
                        int(col[9])))
    return out


def inodes_of(pid):
    found = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            m = re.match(r"socket:\[(\d+)\]$", os.readlink(os.path.join(d,
                                                                        fd)))
        except OSError:
            continue
        if m:
            found.add(int(m.group(1)))
    return found


ESTABLISHED, LISTEN = "01", "0A"


def local_ports(pid, state=ESTABLISHED):
    """The local ports of a process's TCP sockets in that state."""
    mine = inodes_of(pid)
    return {l for l, r, st, ino in tcp_sockets()
            if ino in mine and st == state}


def peers_of(pid, port):
    """The remote ports of a process's connections on its local port."""
    mine = inodes_of(pid)
    return {r for l, r, st, ino in tcp_sockets()
            if ino in mine and st == ESTABLISHED and l == port}


def below_ephemeral(n):
    """n consecutive ports, free now, below the kernel's ephemeral range
    (which no connect() without bind() takes from)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    if low - n < 2048:
        raise Skip("the ephemeral port range starts at %d" % low)
    rnd = random.Random()
    for _ in range(100):
        base = rnd.randrange(max(1024, low - 16000), low - n)
        try:
            for p in range(base, base + n):
                s = socket.socket()
                try:
                    s.bind(("127.0.0.1", p))
                finally:
                    s.close()
        except OSError:
            continue
        return base
    raise RuntimeError("no %d free ports below %d" % (n, low))


# ---- HAProxy ----

class HAProxy:
    """haproxy -f FILE -db (in the foreground), mode tcp: one frontend per
    route on a free port of 127.0.0.1 (ports[i]), whose server is the
    broker port of the route with the route's option (send-proxy or
    send-proxy-v2), its connections bound to source ports sources[i]
    (below the ephemeral range)."""

    PER_SERVER = 32
    started = []

    def __init__(self, *routes):
        if not os.access(HAPROXY, os.X_OK):
            raise Skip("haproxy is not installed (scripts/deps --test)")
        self.proc = None
        self.out = []
        for _ in range(5):
            self.ports = []
            while len(self.ports) < len(routes):
                p = free_port()
                if p not in self.ports:
                    self.ports.append(p)
            base = below_ephemeral(self.PER_SERVER * len(routes))
            self.sources = [range(base + i * self.PER_SERVER,
                                  base + (i + 1) * self.PER_SERVER)
                            for i in range(len(routes))]
            self.text = self._text(routes)
            self.conf = conf_file(self.text)
            ok = self._start()
            os.unlink(self.conf)
            if ok:
                HAProxy.started.append(self)
                return
            if not any("cannot bind" in l.lower() or "address already in use"
                       in l.lower() for l in self.out):
                break
        raise RuntimeError("haproxy did not start:\n%s\n%s" % (
            self.text, "\n".join(self.out)))

    def _text(self, routes):
        t = ("global\n    maxconn 64\n    nbthread 1\n"
             "defaults\n    mode tcp\n    timeout connect 5s\n"
             "    timeout client 60s\n    timeout server 60s\n")
        for i, ((port, option), fe, src) in enumerate(zip(
                routes, self.ports, self.sources)):
            t += ("frontend fe%d\n    bind 127.0.0.1:%d\n"
                  "    default_backend be%d\n"
                  "backend be%d\n    server s%d 127.0.0.1:%d %s "
                  "source 127.0.0.1:%d-%d\n" % (
                      i, fe, i, i, i, port, option, src[0], src[-1]))
        return t

    def _start(self):
        self.out = []
        self.proc = subprocess.Popen([HAPROXY, "-f", self.conf, "-db"],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

        def reader():
            for line in self.proc.stdout:
                self.out.append(line.rstrip("\n"))

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        # Ready when every frontend listens (connecting to see would send
        # a header to the broker, and count in its metrics).
        end = time.time() + DEADLINE
        while self.proc.poll() is None and time.time() < end:
            try:
                if set(self.ports) <= local_ports(self.proc.pid, LISTEN):
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(DEADLINE)

    def alive(self):
        return self.proc.poll() is None


def logged_with_haproxy(test):
    """rmqtest's logged, and HAProxy's file and output when it fails;
    any HAProxy the test left running is stopped."""
    inner = logged(test)

    @functools.wraps(test)
    def wrapper(arg):
        del HAProxy.started[:]
        try:
            return inner(arg)
        except Exception:
            for h in HAProxy.started:
                print("--- haproxy -f FILE -db, FILE:\n%s--- its output:\n%s"
                      % (h.text, "\n".join(h.out[-20:])))
            raise
        finally:
            for h in HAProxy.started:
                h.stop()
    return wrapper


# ---- clients ----

def mosquitto_pub(port, topic, msg, args=()):
    """mosquitto_pub -q 1, bounded; its CompletedProcess."""
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p",
                           str(port), "-t", topic, "-m", msg, "-q", "1"] +
                          list(args), capture_output=True, text=True,
                          timeout=DEADLINE)


def send_and_read_to_eof(port, data):
    """Send data to port; everything that comes back until the connection
    closes (bounded: a connection kept open fails the wait)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    got = b""
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError("the connection was kept open after "
                                     "%r" % data[:60])
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


def raw_connack(port, client_id, first=b""):
    """A Raw client to port sending `first` (a header), then CONNECT; it
    must get a CONNACK accepting it.  (Raw, its local port)."""
    r = Raw(Port(port))
    r.send(first + connect_packet(client_id))
    got = r.recv_packet()
    assert got == (0x20, b"\x00\x00"), (client_id, got)
    return r, r.s.getsockname()[1]


def subscribed(r, topic):
    """SUBSCRIBE at QoS 0 from a Raw client; its SUBACK granting it."""
    r.send(packet(0x82, b"\x00\x01" + string(topic) + b"\x00"))
    assert r.recv_packet() == (0x90, b"\x00\x01\x00")


def publish_of(r):
    """(topic, payload) of the QoS 0 PUBLISH a Raw client receives next."""
    first, body = r.recv_packet()
    assert first == 0x30, (first, body)
    n = int.from_bytes(body[:2], "big")
    return body[2:2 + n].decode(), body[2 + n:]


# ---- the tests ----

def through_haproxy(version):
    """mosquitto_sub, mosquitto_pub, paho and a raw client, all through
    HAProxy with send-proxy (v1) or send-proxy-v2, to a listener taking
    that version beside a plain one."""
    option = "send-proxy" if version == 1 else "send-proxy-v2"
    b = ListenersBroker("", proxy(version))
    plain, pp = b.ports
    sub = watch = p = r = h = None
    try:
        want = "listening on 127.0.0.1:%d (MQTT, behind PROXY protocol v%d)" \
            % (pp, version)
        assert any(l.endswith(want) for l in b.log), b.log
        h = HAProxy((pp, option))
        fe = h.ports[0]
        watch = Client(Port(plain), "watch-v%d" % version)
        watch.subscribe("pp/#", 1)

        # mosquitto_sub through HAProxy: logged with its own port.
        sub = MosqSub(fe, "pp/#", 3, ["-i", "sub-v%d" % version])
        addr, port = connected_from(b, "sub-v%d" % version)
        assert addr == "127.0.0.1", addr
        assert local_ports(sub.proc.pid) == {port}, (
            port, local_ports(sub.proc.pid))
        # The broker's socket peer was HAProxy's port, from its range.
        peers = peers_of(b.proc.pid, pp)
        assert peers and all(q in h.sources[0] for q in peers), (
            peers, h.sources[0])

        # paho through HAProxy: its socket's port.
        p = Client(Port(fe), "paho-v%d" % version)
        assert p.connack[1] == 0, p.connack
        assert connected_from(b, "paho-v%d" % version) == (
            "127.0.0.1", p.c.socket().getsockname()[1])

        # Messages from paho, mosquitto_pub (both through HAProxy) and
        # from the plain listener reach both subscribers.
        p.publish("pp/paho", b"from-paho", qos=1)
        res = mosquitto_pub(fe, "pp/mosquitto", "from-mosquitto_pub",
                            ["-i", "pub-v%d" % version])
        assert res.returncode == 0, res
        addr, port = connected_from(b, "pub-v%d" % version)
        assert addr == "127.0.0.1" and port not in h.sources[0], (addr, port)
        pl = Client(Port(plain), "plain-pub-v%d" % version)
        pl.publish("pp/plain", b"from-plain", qos=1)
        pl.close()
        want = ["pp/mosquitto from-mosquitto_pub", "pp/paho from-paho",
                "pp/plain from-plain"]
        assert sorted(sub.messages(3)) == want, sub.lines
        assert sorted("%s %s" % (m.topic, m.payload.decode())
                      for m in watch.wait_msgs(3)) == want

        # A raw client: CONNECT, CONNACK, its port logged.
        r, rport = raw_connack(fe, "raw-v%d" % version)
        assert connected_from(b, "raw-v%d" % version) == ("127.0.0.1", rport)
        subscribed(r, "pp/raw")
        watch.publish("pp/raw", b"to-raw", qos=1)
        assert publish_of(r) == ("pp/raw", b"to-raw")

        # Four connections through HAProxy, four headers; none refused,
        # and no series for the plain listener.
        assert proxy_counts(b) == {("headers", pp): 4, ("refused", pp): 0}, \
            proxy_counts(b)
        assert b.count_log(r"no valid PROXY protocol") == 0, b.log
    finally:
        for c in (p, watch):
            if c:
                c.close()
        if r:
            r.close()
        if sub:
            sub.close()
        if h:
            h.stop()
        b.finish()


def haproxy_send_proxy_v1(_):
    through_haproxy(1)


def haproxy_send_proxy_v2(_):
    through_haproxy(2)


def tls_passed_through_haproxy(_):
    # HAProxy in mode tcp passes the TLS bytes through after its v2
    # header; the broker reads the header, then does TLS itself.
    c = certs()
    b = ListenersBroker("", server_tls(c) + proxy(2))
    plain, tls = b.ports
    sub = s = h = None
    try:
        want = "listening on 127.0.0.1:%d (MQTT over TLS, behind PROXY " \
            "protocol v2)" % tls
        assert any(l.endswith(want) for l in b.log), b.log
        h = HAProxy((tls, "send-proxy-v2"))
        fe = h.ports[0]
        ca = ["--cafile", c.path("ca.pem")]
        sub = MosqSub(fe, "tls/#", 2, ca + ["-i", "sub-tls"])
        addr, port = connected_from(b, "sub-tls")
        assert addr == "127.0.0.1", addr
        assert local_ports(sub.proc.pid) == {port}, (
            port, local_ports(sub.proc.pid))
        res = mosquitto_pub(fe, "tls/through", "through-haproxy",
                            ca + ["-i", "pub-tls"])
        assert res.returncode == 0, res
        res = mosquitto_pub(plain, "tls/plain", "from-plain")
        assert res.returncode == 0, res
        assert sorted(sub.messages(2)) == ["tls/plain from-plain",
                                           "tls/through through-haproxy"], \
            sub.lines
        # Python's ssl through HAProxy: the broker's own certificate
        # (HAProxy does not terminate TLS), a CONNACK, its port logged.
        ctx = ssl.create_default_context(cafile=c.path("ca.pem"))
        raw = socket.create_connection(("127.0.0.1", fe), timeout=DEADLINE)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        assert s.getpeercert(binary_form=True) == c.der("server.pem")
        s.sendall(connect_packet("ssl-tls"))
        assert s.recv(4) == b"\x20\x02\x00\x00"
        assert connected_from(b, "ssl-tls") == ("127.0.0.1",
                                                s.getsockname()[1])
        # Without the header (TLS straight to the listener): refused.
        res = mosquitto_pub(tls, "tls/direct", "direct", ca)
        assert res.returncode != 0, res
        b.wait_log(refused_line(tls, 2))
        assert proxy_counts(b) == {("headers", tls): 3, ("refused", tls): 1}, \
            proxy_counts(b)
    finally:
        if s:
            s.close()
        if sub:
            sub.close()
        if h:
            h.stop()
        b.finish()


def direct_connection_refused(_):
    # Only the load balancer may reach such a listener: a client coming
    # straight to it is closed, unanswered, and counted.
    b = ListenersBroker("", proxy(1), proxy(2))
    plain, v1, v2 = b.ports
    h = None
    try:
        h = HAProxy((v1, "send-proxy"), (v2, "send-proxy-v2"))
        zero = {(f, p): 0 for f in ("headers", "refused") for p in (v1, v2)}
        assert proxy_counts(b) == zero, proxy_counts(b)
        counts = dict(zero)
        for version, port, fe in ((1, v1, h.ports[0]), (2, v2, h.ports[1])):
            mark = len(b.log)
            got = send_and_read_to_eof(port, connect_packet("direct-v%d"
                                                            % version))
            assert got == b"", got  # no CONNACK, nothing
            b.wait_log(refused_line(port, version), mark)
            counts[("refused", port)] += 1
            assert proxy_counts(b) == counts, (proxy_counts(b), counts)
            # mosquitto_pub straight to it fails too.
            res = mosquitto_pub(port, "d/t", "direct",
                                ["-i", "mosq-direct-v%d" % version])
            assert res.returncode != 0, res
            counts[("refused", port)] += 1
            assert proxy_counts(b) == counts, (proxy_counts(b), counts)
            assert b.count_log(r"client (mosq-)?direct-v%d connected"
                               % version) == 0, b.log
            # A canary through HAProxy still gets in.
            r, rport = raw_connack(fe, "canary-v%d" % version)
            assert connected_from(b, "canary-v%d" % version, mark) == (
                "127.0.0.1", rport)
            r.close()
            counts[("headers", port)] += 1
            assert proxy_counts(b) == counts, (proxy_counts(b), counts)
        assert b.count_log(refused_line(v1, 1)) == 2, b.log
        assert b.count_log(refused_line(v2, 2)) == 2, b.log
        # The plain listener takes no header.
        r, rport = raw_connack(plain, "plain-direct")
        assert connected_from(b, "plain-direct") == ("127.0.0.1", rport)
        r.close()
    finally:
        if h:
            h.stop()
        b.finish()


def handmade_headers(_):
    # Addresses no load balancer here has: the broker logs what the
    # header says.  The v2 one comes in two pieces.
    b = ListenersBroker("", proxy(1), proxy(2))
    plain, v1, v2 = b.ports
    pub = r1 = r2 = None
    try:
        r1, _ = raw_connack(v1, "hand-v1", V1_HEADER)
        assert connected_from(b, "hand-v1") == ("203.0.113.7", 4242)

        r2 = Raw(Port(v2))
        r2.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r2.send(V2_HEADER6[:9])
        time.sleep(0.1)
        r2.send(V2_HEADER6[9:] + connect_packet("hand-v2"))
        assert r2.recv_packet() == (0x20, b"\x00\x00")
        assert connected_from(b, "hand-v2") == ("[2001:db8::7]", 443)

        # Both are ordinary sessions after it.
        subscribed(r1, "hand/1")
        subscribed(r2, "hand/2")
        pub = Client(Port(plain), "hand-pub")
        pub.publish("hand/1", b"one", qos=1)
        pub.publish("hand/2", b"two", qos=1)
        assert publish_of(r1) == ("hand/1", b"one")
        assert publish_of(r2) == ("hand/2", b"two")
        assert proxy_counts(b) == {("headers", v1): 1, ("refused", v1): 0,
                                   ("headers", v2): 1, ("refused", v2): 0}, \
            proxy_counts(b)
    finally:
        if pub:
            pub.close()
        for r in (r1, r2):
            if r:
                r.close()
        b.finish()


def header_of_the_other_version_refused(_):
    # A v1 header on a v2 listener (and a v2 one on a v1 listener) is not
    # a valid header of the listener's version: closed, counted.
    b = ListenersBroker("", proxy(2), proxy(1))
    plain, v2, v1 = b.ports
    h = None
    try:
        mark = len(b.log)
        got = send_and_read_to_eof(v2, V1_HEADER + connect_packet("v1-on-v2"))
        assert got == b"", got
        b.wait_log(refused_line(v2, 2), mark)
        got = send_and_read_to_eof(v1, V2_HEADER6 + connect_packet("v2-on-v1"))
        assert got == b"", got
        b.wait_log(refused_line(v1, 1), mark)
        assert proxy_counts(b) == {("headers", v2): 0, ("refused", v2): 1,
                                   ("headers", v1): 0, ("refused", v1): 1}, \
            proxy_counts(b)
        # HAProxy configured with the wrong version: its clients get no
        # CONNACK either.
        h = HAProxy((v2, "send-proxy"), (v1, "send-proxy-v2"))
        for fe, port, version in ((h.ports[0], v2, 2), (h.ports[1], v1, 1)):
            mark = len(b.log)
            got = send_and_read_to_eof(fe, connect_packet("wrong-%d" % fe))
            assert got == b"", got
            b.wait_log(refused_line(port, version), mark)
        assert proxy_counts(b) == {("headers", v2): 0, ("refused", v2): 2,
                                   ("headers", v1): 0, ("refused", v1): 2}, \
            proxy_counts(b)
        assert b.count_log(r"client (v1-on-v2|v2-on-v1|wrong-\d+) "
                           r"connected") == 0, b.log
        # The right header on the same listeners still works.
        r, _ = raw_connack(v2, "right-v2", V2_HEADER6)
        r.close()
        r, _ = raw_connack(v1, "right-v1", V1_HEADER)
        r.close()
        assert proxy_counts(b)[("headers", v2)] == 1
        assert proxy_counts(b)[("headers", v1)] == 1
    finally:
        if h:
            h.stop()
        b.finish()


run([logged_with_haproxy(t) for t in (
    haproxy_send_proxy_v1, haproxy_send_proxy_v2, tls_passed_through_haproxy,
    direct_connection_refused, handmade_headers,
    header_of_the_other_version_refused)],
    make_broker=None)
