"""test/integration/rmqtest.py: what the integration tests share.

Starts the real ringmq binary on a free loopback port with the backend
under test, drives it with Debian's paho-mqtt and mosquitto clients and a
raw socket client for bytes no well-behaved client sends, and runs the test
functions of a file, printing one line per test and the closing
"N passed, N failed" line that scripts/test sums.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback

try:
    import paho.mqtt.client as paho
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
except ImportError:  # a visible skip, not a pass
    print("python3-paho-mqtt is not installed: skipped")
    sys.exit(77)

BROKER = os.environ.get("RMQTEST_BIN", "build/broker/ringmq")
LOOP = os.environ.get("RMQTEST_LOOP", "auto")
DEADLINE = 10.0  # seconds any single wait may take before a test fails


def free_port():
    """A port nothing listens on now (the admin listener needs a number)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """A ringmq process on 127.0.0.1 and a port of its choosing."""

    def __init__(self, *args, threads=2, verbose=True):
        # Both ports are the kernel's choice, read back from the log, so
        # two picks can never collide.
        self.admin_port = None
        cmd = [BROKER, "-p", "127.0.0.1:0", "--loop", LOOP,
               "--admin-listener", "127.0.0.1:0"]
        if verbose:
            cmd.append("-v")
        cmd += args
        if threads is not None:
            cmd += ["--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = None
        ready = threading.Event()

        def reader():
            for line in self.proc.stderr:
                self.log.append(line.rstrip("\n"))
                m = re.search(r"listening on [^ ]+:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                # Ready when MQTT and the admin endpoint both listen.
                m = re.search(r"admin on http://[^ ]+:(\d+)", line)
                if m and self.admin_port is None:
                    self.admin_port = int(m.group(1))
                if self.port is not None and self.admin_port is not None:
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        if not ready.wait(DEADLINE) or self.port is None:
            self.stop()
            if any("io_uring unavailable" in line for line in self.log):
                print("io_uring is not available here: skipped")
                sys.exit(77)
            raise RuntimeError("broker did not start: " + "\n".join(self.log))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Every line the broker wrote is in self.log once stop returns.
        self._reader.join(DEADLINE)
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None

    def metrics_text(self):
        """The admin endpoint's /metrics."""
        import urllib.request
        url = "http://127.0.0.1:%d/metrics" % self.admin_port
        with urllib.request.urlopen(url, timeout=DEADLINE) as r:
            return r.read().decode()

    def metric(self, name):
        """A metric's value from the admin endpoint."""
        for line in self.metrics_text().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError("no metric " + name)

    def wait_connections(self, n):
        """Wait until the broker has seen all but n connections close, so
        that a session a client just left is offline for what follows."""
        end = time.time() + DEADLINE
        while self.metric("ringmq_connections") > n:
            assert time.time() < end, "connections never dropped to %d" % n
            time.sleep(0.02)


class on_cpu:
    """Run the block on the k-th CPU this process may use (round and
    round).  On loopback a connection's handshake is received on the
    connecting thread's CPU, so with connections placed by CPU, clients
    made on different CPUs land on different loops."""

    def __init__(self, k):
        self.k = k

    def __enter__(self):
        self.allowed = os.sched_getaffinity(0)
        cpus = sorted(self.allowed)
        os.sched_setaffinity(0, {cpus[self.k % len(cpus)]})

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.allowed)


def worker_of(b, client_id):
    """The worker a client's session runs on, from the connection log."""
    pat = re.compile(r"worker (\d+): client %s connected" % re.escape(client_id))
    end = time.time() + DEADLINE
    while time.time() < end:
        for line in list(b.log):
            m = pat.search(line)
            if m:
                return int(m.group(1))
        time.sleep(0.01)
    raise AssertionError("no connection line for " + client_id)


class Client:
    """A paho client whose received messages are kept in order."""

    def __init__(self, broker, client_id="", version=paho.MQTTv311,
                 clean=True, will=None, keepalive=60, properties=None,
                 clean_start=True):
        proto = version
        if version == paho.MQTTv5:
            self.c = paho.Client(client_id=client_id, protocol=proto)
        else:
            self.c = paho.Client(client_id=client_id, protocol=proto,
                                 clean_session=clean)
        self.version = version
        self.msgs = []
        self.cv = threading.Condition()
        self.connack = None
        self.disconnect_rc = None
        self.disconnects = []  # every on_disconnect reason, in order
        self.subacks = []
        self.unsubacks = []
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        if will:
            self.c.will_set(**will)
        kw = {}
        if version == paho.MQTTv5:
            kw["clean_start"] = clean_start
            if properties is not None:
                kw["properties"] = properties
        self.c.connect("127.0.0.1", broker.port, keepalive, **kw)
        self.c.loop_start()
        self.wait(lambda: self.connack is not None, "CONNACK")

    def _on_connect(self, c, userdata, flags, rc, properties=None):
        with self.cv:
            self.connack = (flags, rc, properties)
            self.cv.notify_all()

    def _on_disconnect(self, c, userdata, rc, properties=None):
        with self.cv:
            self.disconnect_rc = rc
            self.disconnects.append(rc)
            self.cv.notify_all()

    def _on_subscribe(self, c, userdata, mid, granted, properties=None):
        with self.cv:
            self.subacks.append((mid, granted))
            self.cv.notify_all()

    def _on_unsubscribe(self, c, userdata, mid, *rest):
        with self.cv:
            self.unsubacks.append(mid)
            self.cv.notify_all()

    def unsubscribe(self, topic):
        n = len(self.unsubacks)
        rc, mid = self.c.unsubscribe(topic)
        assert rc == 0
        self.wait(lambda: len(self.unsubacks) > n, "UNSUBACK")

    def _on_message(self, c, userdata, msg):
        with self.cv:
            self.msgs.append(msg)
            self.cv.notify_all()

    def wait(self, cond, what, timeout=DEADLINE):
        end = time.time() + timeout
        with self.cv:
            while not cond():
                left = end - time.time()
                if left <= 0:
                    raise AssertionError("timed out waiting for " + what)
                self.cv.wait(left)

    def subscribe(self, topic, qos=0, **kw):
        n = len(self.subacks)
        rc, mid = self.c.subscribe(topic, qos, **kw)
        assert rc == 0
        self.wait(lambda: len(self.subacks) > n, "SUBACK")
        return self.subacks[-1][1]

    def publish(self, topic, payload, qos=0, retain=False, **kw):
        info = self.c.publish(topic, payload, qos, retain, **kw)
        if qos:
            info.wait_for_publish(DEADLINE)
            assert info.is_published(), "no acknowledgement"
        return info

    def wait_msgs(self, n, timeout=DEADLINE):
        self.wait(lambda: len(self.msgs) >= n,
                  "%d messages (have %d)" % (n, len(self.msgs)), timeout)
        return self.msgs

    def quiet(self, seconds=0.3):
        """Let messages that should not come have their chance."""
        time.sleep(seconds)
        return self.msgs

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class Raw:
    """A plain TCP client speaking bytes."""

    def __init__(self, broker):
        self.s = socket.create_connection(("127.0.0.1", broker.port),
                                          timeout=DEADLINE)

    def send(self, data):
        self.s.sendall(bytes(data))

    def recv_packet(self):
        """One whole packet (first byte, body), or None at EOF."""
        first = self._read(1)
        if not first:
            return None
        mult, length = 1, 0
        while True:
            b = self._read(1)[0]
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return first[0], self._read(length)

    def closed(self):
        """True when the broker closed the connection (EOF or reset)."""
        try:
            while True:
                data = self.s.recv(4096)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except ConnectionResetError:
                return buf  # a reset is an end, like EOF
            if not chunk:
                return buf
            buf += chunk
        return buf

    def close(self):
        self.s.close()


def raw_subscriber(broker, client_id, topic, qos=0, version=4,
                   rcvbuf=None):
    """A Raw client connected and subscribed to topic, for tests that need
    a subscriber which does not read or does not acknowledge; rcvbuf
    shrinks its socket's receive buffer first."""
    r = Raw(broker)
    if rcvbuf:
        r.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    r.send(connect_packet(client_id, version=version))
    assert r.recv_packet()[0] == 0x20
    props = b"\x00" if version == 5 else b""
    r.send(packet(0x82, b"\x00\x01" + props + string(topic) + bytes([qos])))
    assert r.recv_packet()[0] == 0x90
    return r


def conf_file(text):
    """A configuration file holding text; its path."""
    import tempfile
    f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    f.write(text)
    f.close()
    return f.name


def props(packet_type, **kw):
    """paho Properties for a packet type from keyword arguments."""
    p = Properties(getattr(PacketTypes, packet_type))
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b) >> 8, len(b) & 0xFF]) + b


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_packet(client_id="raw", version=4, flags=0x02, keepalive=60,
                   props=b"", payload_extra=b""):
    name = b"MQIsdp" if version == 3 else b"MQTT"
    body = string(name) + bytes([version, flags]) + \
        keepalive.to_bytes(2, "big")
    if version == 5:
        body += varint(len(props)) + props
    body += string(client_id) + payload_extra
    return packet(0x10, body)


class Skip(Exception):
    """Raised by a test that cannot run on this machine, with the reason:
    counted and printed as skipped, never as passed."""


def run(tests, make_broker=lambda: Broker()):
    """Run test functions, each given a broker (None when make_broker is
    None: each test starts its own); print the summary line."""
    passed = failed = skipped = 0
    broker = make_broker() if make_broker else None
    try:
        for t in tests:
            if broker and not broker.alive():
                broker = make_broker()
            try:
                t(broker)
                assert broker is None or broker.alive(), "the broker died"
                passed += 1
                print("ok   %s [%s]" % (t.__name__, LOOP), flush=True)
            except Skip as e:
                skipped += 1
                print("skip %s [%s]: %s" % (t.__name__, LOOP, e), flush=True)
            except Exception:
                failed += 1
                print("FAIL %s [%s]" % (t.__name__, LOOP), flush=True)
                traceback.print_exc()
                if broker:
                    print("\n".join(broker.log[-20:]))
    finally:
        rc = broker.stop() if broker else None
        if rc not in (0, None):
            failed += 1
            print("FAIL broker exit status %s" % rc)
            print("\n".join(broker.log[-30:]))
    print("%d passed, %d failed%s" % (
        passed, failed, ", %d skipped" % skipped if skipped else ""))
    sys.exit(1 if failed or not passed else 0)
