"""test/integration/rmqtest.py: what the integration tests share.

Starts the real ringmq binary on a free loopback port with the backend
under test, drives it with Debian's paho-mqtt and mosquitto clients and a
raw socket client for bytes no well-behaved client sends, and runs the test
functions of a file, printing one line per test and the closing
"N passed, N failed" line that scripts/test sums.
"""
import atexit
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
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
BROKER_BINARY = BROKER  # the build's file, even when BROKER wraps it
# RMQTEST_SECCOMP=PROFILE.json: every broker a test starts runs under that
# seccomp profile, loaded as a container runtime would (deploy/seccomp/
# seccomp-run), through a wrapper that takes BROKER's place.
SECCOMP = os.environ.get("RMQTEST_SECCOMP")


def _seccomp_wrapper(profile, binary):
    here = os.path.dirname(os.path.abspath(__file__))
    run = os.path.join(here, "..", "..", "deploy", "seccomp", "seccomp-run")
    d = tempfile.mkdtemp(prefix="rmq-seccomp-")
    atexit.register(shutil.rmtree, d, True)
    path = os.path.join(d, "ringmq")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s %s %s -- %s \"$@\"\n" % (
            sys.executable, os.path.abspath(run), os.path.abspath(profile),
            os.path.abspath(binary)))
    os.chmod(path, 0o755)
    return path


if SECCOMP:
    BROKER = _seccomp_wrapper(SECCOMP, BROKER)
# Tests run side by side from one working directory, so their brokers keep
# memory only, unless a test gives one a data directory of its own with
# flags (--persistence true --data-dir DIR), which beat this variable.
os.environ.setdefault("RINGMQ_PERSISTENCE", "false")
LOOP = os.environ.get("RMQTEST_LOOP", "auto")
DEADLINE = 10.0  # seconds any single wait may take before a test fails
# MQTT.js and the browser's tools (scripts/deps --test runs npm ci there).
JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


def stacks_summary(lines):
    """gdb's "thread apply all bt" output, one line per thread: its name
    and its functions, innermost first (a library's for a frame without
    symbols)."""
    out, thread, frames = [], None, []
    for x in list(lines) + ["Thread end"]:
        if x.startswith("Thread "):
            if thread:
                out.append("%s: %s" % (thread, " < ".join(frames)))
            name = re.search(r'"([^"]*)"\):$', x)
            thread = "%s %s" % (x.split("(")[0].strip(),
                                name.group(1) if name else "")
            frames = []
        else:
            m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", x)
            lib = re.search(r" from \S*/([^/.]+)[^/]*$", x)
            if m and m.group(1) == "??" and lib:
                frames.append("(%s)" % lib.group(1))
            elif m and not m.group(1).startswith("__futex"):
                frames.append(m.group(1))
    return out


def stacks(pid):
    """Where a process that does not stop is stuck: its threads' stacks
    (stacks_summary), or nothing without gdb."""
    if not shutil.which("gdb"):
        return []
    try:
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                            "-ex", "thread apply all bt"],
                           capture_output=True, text=True, errors="replace",
                           stdin=subprocess.DEVNULL, timeout=60)
    except subprocess.TimeoutExpired:
        return ["gdb took more than 60 s"]
    return stacks_summary(r.stdout.splitlines())


def free_port():
    """A port nothing listens on now (the admin listener needs a number)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """A ringmq process on 127.0.0.1 (or `host`) and a port of its
    choosing; `prefix` goes before the command (`ip netns exec NS` runs it
    in a network namespace, where `host` is its address)."""

    host = "127.0.0.1"  # what subclasses with a start of their own use

    def __init__(self, *args, threads=2, verbose=True, preexec=None,
                 host="127.0.0.1", prefix=()):
        # Both ports are the kernel's choice, read back from the log, so
        # two picks can never collide.
        self.admin_port = None
        self.host = host
        cmd = [*prefix, BROKER, "-p", host + ":0", "--loop", LOOP,
               "--admin-listener", host + ":0"]
        if verbose:
            cmd.append("-v")
        cmd += args
        if threads is not None:
            cmd += ["--threads", str(threads)]
        # errors="replace": a byte that is not UTF-8 must not end the
        # reader (the pipe would fill and the broker's logging block).
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                                     errors="replace", preexec_fn=preexec)
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
                m = re.search(r"admin on https?://[^ ]+:(\d+)", line)
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
                # Where it is stuck, in its log (printed when a test
                # fails), then it goes.
                where = stacks(self.proc.pid)
                self.proc.kill()
                self.proc.wait()
                self._reader.join(DEADLINE)
                self.log.append("--- did not stop within %.0f s; its "
                                "threads then:" % DEADLINE)
                self.log.extend(where)
        # Every line the broker wrote is in self.log once stop returns.
        self._reader.join(DEADLINE)
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None

    def metrics_text(self):
        """The admin endpoint's /metrics."""
        import urllib.request
        url = "http://%s:%d/metrics" % (self.host, self.admin_port)
        with urllib.request.urlopen(url, timeout=DEADLINE) as r:
            return r.read().decode()

    def metric(self, name):
        """A metric's value from the admin endpoint."""
        for line in self.metrics_text().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError("no metric " + name)

    def wait_metric(self, name, want):
        """A metric's value once it has reached want (bounded): what a
        publish causes on another loop (a message handed to a session
        there, dropped at its bound) may come after the publish's
        PUBACK.  The caller checks the value returned: more than want
        is a failure too."""
        end = time.time() + DEADLINE
        while True:
            v = self.metric(name)
            if v >= want:
                return v
            assert time.time() < end, "%s stayed at %s, not %s" % (
                name, v, want)
            time.sleep(0.02)

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
    """A paho client whose received messages are kept in order.  `broker`
    is a broker (its port) or a port; `transport` is paho's ("tcp" or
    "websockets"), and `setup(paho_client)`, when given, runs before the
    connect (TLS, a user name, a WebSocket path)."""

    def __init__(self, broker, client_id="", version=paho.MQTTv311,
                 clean=True, will=None, keepalive=60, properties=None,
                 clean_start=True, transport="tcp", setup=None):
        proto = version
        if version == paho.MQTTv5:
            self.c = paho.Client(client_id=client_id, protocol=proto,
                                 transport=transport)
        else:
            self.c = paho.Client(client_id=client_id, protocol=proto,
                                 clean_session=clean, transport=transport)
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
        if setup:
            setup(self.c)
        kw = {}
        if version == paho.MQTTv5:
            kw["clean_start"] = clean_start
            if properties is not None:
                kw["properties"] = properties
        port = broker if isinstance(broker, int) else broker.port
        host = getattr(broker, "host", "127.0.0.1")
        self.c.connect(host, port, keepalive, **kw)
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


def offline_session(broker, client_id, topic, qos=1):
    """A persistent 3.1.1 session subscribed to topic at qos, its client
    gone (and the broker holding no connection): what is published to
    topic from now on is queued for it."""
    s = Client(broker, client_id, clean=False)
    s.subscribe(topic, qos)
    s.close()
    broker.wait_connections(0)


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


class ConfBroker(Broker):
    """ringmq -c FILE, for tests whose broker needs a file of its own
    (several listeners, TLS, users).  A subclass writes the file for a set
    of free ports (text) and says which log lines make the broker ready
    (ready_lines); the admin endpoint is on a port of the kernel's choice.
    A port taken meanwhile by someone else: picked again.  ports[i] is the
    i-th port of the file.  Brokers started by the running test are in
    ConfBroker.started, for logged()."""

    started = []

    def __init__(self, nports, threads=2, verbose=True):
        for _ in range(5):
            ports = []
            while len(ports) < nports:
                p = free_port()
                if p not in ports:
                    ports.append(p)
            self.ports = ports
            self.conf = conf_file(self.text(ports))
            if self._start(threads, verbose):
                ConfBroker.started.append(self)
                return
            os.unlink(self.conf)
            if not any("Address already in use" in l for l in self.log):
                break
        raise RuntimeError("broker did not start: " + "\n".join(self.log))

    def text(self, ports):
        raise NotImplementedError

    def ready_lines(self, ports):
        raise NotImplementedError

    def _start(self, threads, verbose):
        self.port = self.ports[0]
        self.admin_port = None
        cmd = [BROKER, "-c", self.conf, "--loop", LOOP,
               "--admin-listener", "127.0.0.1:0", "--threads", str(threads)]
        if verbose:
            cmd.append("-v")
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                                     errors="replace")
        self.log = []
        ready = threading.Event()
        want = set(self.ready_lines(self.ports))

        def reader():
            seen = set()
            for line in self.proc.stderr:
                self.log.append(line.rstrip("\n"))
                for w in want:
                    if w in line:
                        seen.add(w)
                m = re.search(r"admin on https?://[^ ]+:(\d+)", line)
                if m and self.admin_port is None:
                    self.admin_port = int(m.group(1))
                if seen == want and self.admin_port is not None:
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        if ready.wait(DEADLINE) and self.alive() and \
                self.admin_port is not None:
            return True
        self.stop()
        if any("io_uring unavailable" in line for line in self.log):
            raise Skip("io_uring is not available here")
        return False

    def wait_log(self, pattern, after=0, timeout=DEADLINE):
        """The first log line from index `after` on that matches (a
        regular expression); fails after timeout."""
        rx = re.compile(pattern)
        end = time.time() + timeout
        while True:
            for line in list(self.log[after:]):
                if rx.search(line):
                    return line
            assert self.alive(), "the broker died:\n" + "\n".join(self.log)
            assert time.time() < end, "no log line like %r in:\n%s" % (
                pattern, "\n".join(self.log[after:]))
            time.sleep(0.02)

    def count_log(self, pattern):
        rx = re.compile(pattern)
        return sum(1 for line in list(self.log) if rx.search(line))

    def finish(self):
        """Stop; the broker must exit cleanly (0: nothing leaked either in
        the sanitizer builds)."""
        rc = self.stop()
        if os.path.exists(self.conf):
            os.unlink(self.conf)
        assert rc == 0, "exit status %s:\n%s" % (rc, "\n".join(self.log[-30:]))


class ListenersBroker(ConfBroker):
    """ringmq -c FILE with its listeners on 127.0.0.1: `head` (keys above
    them), then one entry per listener, the lines under its `listener PORT
    127.0.0.1` line ("" for plain MQTT).  The ports are written in the
    file, so the log names each listener by them; ready once every one is
    listening."""

    def __init__(self, *listeners, head="", threads=2):
        self.listeners = listeners
        self.head = head
        super().__init__(len(listeners), threads=threads)

    def text(self, ports):
        return self.head + "".join("listener %d 127.0.0.1\n%s" % (p, lines)
                                   for p, lines in zip(ports, self.listeners))

    def ready_lines(self, ports):
        return ["listening on 127.0.0.1:%d " % p for p in ports]


def logged(test):
    """A test that prints the end of its ConfBrokers' logs when it fails
    (run prints a broker's only when it made it)."""
    import functools

    @functools.wraps(test)
    def wrapper(arg):
        del ConfBroker.started[:]
        try:
            return test(arg)
        except Exception:
            for b in ConfBroker.started:
                print("--- ringmq -c %s:\n%s" % (b.conf,
                                                "\n".join(b.log[-25:])))
            raise
    return wrapper


class Port:
    """What Client and Raw need of a broker: a port."""

    def __init__(self, port):
        self.port = port


class MosqSub:
    """mosquitto_sub in the background (more of its flags in args: TLS,
    a user name, -i), subscribed once its SUBACK came (-d says so); it
    exits after `count` messages (-C) or 20 s (-W)."""

    def __init__(self, port, topic, count, args=()):
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
               str(port), "-t", topic, "-q", "1", "-d", "-F", "MSG %t %p",
               "-C", str(count), "-W", "20"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.cv = threading.Condition()

        def reader():
            for line in self.proc.stdout:
                with self.cv:
                    self.lines.append(line.rstrip("\n"))
                    self.cv.notify_all()
            with self.cv:
                self.lines.append(None)  # EOF
                self.cv.notify_all()

        threading.Thread(target=reader, daemon=True).start()
        try:
            # A resumed session's queue can fill -C before the SUBACK
            # comes: that too is subscribed.
            self._wait(lambda: any(l and "received SUBACK" in l
                                   for l in self.lines) or
                       sum(1 for l in self.lines
                           if l and l.startswith("MSG ")) >= count,
                       "SUBACK")
        except AssertionError:
            self.close()
            raise

    def _wait(self, cond, what):
        end = time.time() + DEADLINE
        with self.cv:
            while not cond():
                assert None not in self.lines, "mosquitto_sub ended " \
                    "before %s: %s" % (what, self.lines)
                left = end - time.time()
                assert left > 0, "mosquitto_sub: no %s: %s" % (what,
                                                                self.lines)
                self.cv.wait(left)

    def messages(self, n):
        def got():
            return [l[4:] for l in self.lines if l and l.startswith("MSG ")]
        self._wait(lambda: len(got()) >= n, "%d messages" % n)
        assert self.proc.wait(DEADLINE) == 0, self.lines
        return got()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                # A SIGTERM that lands while mosquitto_sub is still
                # setting up is sometimes not acted on: it only has to go.
                self.proc.kill()
                self.proc.wait(DEADLINE)


class Certs:
    """A CA, a server certificate for localhost (and a second one, B, for
    the reload), a client certificate from that CA (alice), and a client
    certificate from a CA the broker does not trust (mallory); a cluster
    node's (node, named ringmq-cluster) from each CA; EC P-256 keys,
    quick to make.  Paths by name: certs.path("server.pem")."""

    def __init__(self):
        if shutil.which("openssl") is None:
            raise Skip("the openssl command is not installed (Debian's "
                       "openssl package)")
        self.dir = tempfile.mkdtemp(prefix="ringmq-tls-")
        atexit.register(shutil.rmtree, self.dir, True)
        self._ca("ca", "/O=RingMQ tests/CN=RingMQ Test CA")
        self._ca("rogue", "/O=Elsewhere/CN=Rogue CA")
        server = ("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                  "extendedKeyUsage=serverAuth\n")
        client = "extendedKeyUsage=clientAuth\n"
        self._leaf("server", "ca", "/O=Alpha/CN=localhost", 1001, server)
        self._leaf("server_b", "ca", "/O=Beta/CN=localhost", 1002, server)
        # Subject "CN=alice,O=Example" as RFC 2253 writes it.
        self._leaf("alice", "ca", "/O=Example/CN=alice", 2001, client)
        self._leaf("mallory", "rogue", "/O=Example/CN=mallory", 2002,
                   client)
        # Cluster nodes: both ends of a connection, one name they share.
        node = ("subjectAltName=DNS:ringmq-cluster\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
        self._leaf("node", "ca", "/O=RingMQ/CN=ringmq-node", 3001, node)
        self._leaf("node_rogue", "rogue", "/O=Elsewhere/CN=ringmq-node",
                   3002, node)

    def path(self, name):
        return os.path.join(self.dir, name)

    def der(self, name):
        """A certificate's DER bytes, to compare with what a server sent."""
        with open(self.path(name)) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def _openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0, (args, r.stdout, r.stderr)

    def _ca(self, name, subj):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                      "-keyout", name + ".key", "-out", name + ".pem",
                      "-subj", subj,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _leaf(self, name, ca, subj, serial, ext):
        with open(self.path(name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "authorityKeyIdentifier=keyid\n" + ext)
        self._openssl("req", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", name + ".key", "-out", name + ".csr",
                      "-subj", subj)
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA",
                      ca + ".pem", "-CAkey", ca + ".key", "-set_serial",
                      str(serial), "-days", "2", "-extfile", name + ".ext",
                      "-out", name + ".pem")


_certs = []


def certs():
    """The test certificates (Certs), made once per test file."""
    if not _certs:
        _certs.append(Certs())
    return _certs[0]


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


def rss_kib(pid):
    """A process's resident memory, KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def node_tools():
    """node and the packages of js/ (scripts/deps --test runs npm ci)."""
    node = shutil.which("node")
    assert node, "node is not installed (scripts/deps --test)"
    for pkg in ("mqtt/dist/mqtt.min.js", "playwright-core/package.json"):
        assert os.path.exists(os.path.join(JS, "node_modules", pkg)), \
            "%s missing: scripts/deps --test runs npm ci in %s" % (pkg, JS)
    return node


def node_json(script, arg, timeout):
    """node js/SCRIPT ARG-as-JSON, bounded: (exit status, its JSON)."""
    r = subprocess.run([node_tools(), os.path.join(JS, script),
                        json.dumps(arg)], capture_output=True, text=True,
                       timeout=timeout, cwd=JS)
    lines = r.stdout.strip().splitlines()
    assert lines, "no output from %s: %s" % (script, r.stderr)
    try:
        return r.returncode, json.loads(lines[-1])
    except ValueError:
        raise AssertionError("%s printed %r; stderr %s" % (script, r.stdout,
                                                           r.stderr))


def dashboard_metrics(row):
    """The metric names the Grafana dashboard (deploy/kubernetes/
    components/monitoring) charts in its row
    titled `row` (None: the panels before the first row)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "deploy", "kubernetes",
                        "components", "monitoring", "ringmq-dashboard.json")
    with open(path) as f:
        dash = json.load(f)
    used, current = set(), None
    for p in dash["panels"]:
        if p["type"] == "row":
            current = p["title"]
            continue
        if current != row:
            continue
        for t in p["targets"]:
            used |= set(re.findall(r"\b((?:ringmq|process)_[a-z_]+)\b",
                                   t["expr"]))
    return used


def served_metrics(text):
    """The metric families a /metrics text declares."""
    return {line.split()[2] for line in text.splitlines()
            if line.startswith("# TYPE ")}


def unserved(used, served):
    """What of used is not served (a histogram's series carry suffixes
    its family name does not)."""
    return {u for u in used
            if u not in served
            and re.sub(r"_(bucket|sum|count)$", "", u) not in served}


class Skip(Exception):
    """Raised by a test that cannot run on this machine, with the reason:
    counted and printed as skipped, never as passed."""


def run(tests, make_broker=lambda: Broker()):
    """Run test functions, each given a broker (None when make_broker is
    None: each test starts its own); print the summary line."""
    only = os.environ.get("RMQTEST_ONLY")  # names, for a run by hand
    if only:
        tests = [t for t in tests if t.__name__ in only.split(",")]
    passed = failed = skipped = 0
    broker = make_broker() if make_broker else None
    try:
        for t in tests:
            if broker and not broker.alive():
                broker = make_broker()
            start = time.monotonic()
            try:
                t(broker)
                assert broker is None or broker.alive(), "the broker died"
                passed += 1
                print("ok   %s [%s] %.1f s" % (
                    t.__name__, LOOP, time.monotonic() - start), flush=True)
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
