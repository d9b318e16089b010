"""13: TLS listeners (broker/io/tls.c), with certificates made here by the
openssl command line: mosquitto_pub/sub, paho-mqtt and openssl s_client
over TLS beside a plain listener of the same broker, the TLS versions a
listener takes, client certificates (require_certificate), what is not
TLS sent to a TLS port, certificates read again at SIGHUP, the start
refused for TLS files it cannot use, the handshake counters of
/metrics, and TLS with pre-shared keys (psk_hint, psk_file).

The keys are Mosquitto's, per listener (mosquitto.conf(5), "Certificate
based SSL/TLS Support"); TLS is MQTT's own transport for a secure
connection (MQTT 5.0 section 4.2 and 5.4.9; 3.1.1 section 4.2 and 5.4.9).
Everything talks to 127.0.0.1 only."""
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from rmqtest import (BROKER, BROKER_BINARY, DEADLINE, LOOP, Client, ListenersBroker,
                     MosqSub, certs,
                     Port, Raw, Skip, logged,
                     conf_file, connect_packet, free_port, on_cpu, packet,
                     paho, run, string, worker_of)


def server_tls(c, cert="server", extra=""):
    """The lines that make a listener TLS with certificate `cert`."""
    return "certfile %s\nkeyfile %s\n%s" % (c.path(cert + ".pem"),
                                            c.path(cert + ".key"), extra)


def failed_line(port):
    return r"info ringmq: listener 127\.0\.0\.1:%d: TLS handshake failed: " \
        % port


# ---- clients ----

class TlsClient(Client):
    """rmqtest's paho Client over TLS: tls_set (paho 1.6's API) before the
    connect; the CA checks the server's certificate and its name."""

    def __init__(self, port, client_id="", version=paho.MQTTv311, ca=None,
                 cert=None, key=None):
        super().__init__(port, client_id, version, setup=lambda c: c.tls_set(
            ca_certs=ca, certfile=cert, keyfile=key))
        assert self.connack[1] == 0, self.connack

    def tls(self):
        """The client's TLS socket."""
        s = self.c.socket()
        assert isinstance(s, ssl.SSLSocket), s
        return s


def mosq_args(port, tls=()):
    return ["-h", "127.0.0.1", "-p", str(port)] + list(tls)


def mosquitto_pub(port, topic, msg, tls=(), qos=1):
    """mosquitto_pub, bounded; its CompletedProcess."""
    return subprocess.run(["mosquitto_pub"] + mosq_args(port, tls) +
                          ["-t", topic, "-m", msg, "-q", str(qos)],
                          capture_output=True, text=True, timeout=DEADLINE)


def s_client(port, *args, ca=None):
    """openssl s_client -brief to port checking the server's certificate
    against `ca` (and its IP address); stdin empty, so it ends after the
    handshake.  (returncode, output)."""
    cmd = ["openssl", "s_client", "-brief", "-connect",
           "127.0.0.1:%d" % port, "-CAfile", ca or certs().path("ca.pem"),
           "-verify_return_error", "-verify_ip", "127.0.0.1"] + list(args)
    r = subprocess.run(cmd, input="", capture_output=True, text=True,
                       timeout=DEADLINE)
    return r.returncode, r.stdout + r.stderr


def protocol_of(out):
    """The version s_client -brief says it negotiated, None without a
    handshake.  (Its long form prints the SSL-Session block's Protocol
    line only once a TLS 1.3 session ticket came, which races stdin's
    end.)"""
    if "CONNECTION ESTABLISHED" not in out:
        return None
    m = re.search(r"^Protocol version: (\S+)$", out, re.M)
    return m.group(1) if m else None


def handshake(port, cert=None, key=None):
    """A TLS handshake from Python's ssl checking the server's certificate
    (CA and the name localhost): (DER certificate sent, TLS version)."""
    c = certs()
    ctx = ssl.create_default_context(cafile=c.path("ca.pem"))
    if cert:
        ctx.load_cert_chain(c.path(cert + ".pem"), c.path(key + ".key"))
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=DEADLINE) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True), s.version()


def refused_after_handshake(port, cert=None):
    """A TLS 1.3 client finishes its side of the handshake before the
    server has checked its certificate: the server's refusal comes as an
    alert (or a close) on the first read.  True when it came."""
    c = certs()
    ctx = ssl.create_default_context(cafile=c.path("ca.pem"))
    if cert:
        ctx.load_cert_chain(c.path(cert + ".pem"), c.path(cert + ".key"))
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=DEADLINE) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(connect_packet("refused"))
                return s.recv(16) == b""
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def send_and_read_to_eof(port, data):
    """Send data to port; everything the broker answers until it closes
    (bounded: a broker that keeps the connection fails the wait)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    got = b""
    try:
        if data:
            s.sendall(data)
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError("the broker kept the connection open "
                                     "after %r" % data[:16])
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


# ---- the tests ----

def mosquitto_clients_across_tls_and_plain(_):
    # mosquitto_sub/pub --cafile over TLS (mosquitto_pub(1), "--cafile");
    # one broker, so a message crosses from one transport to the other.
    c = certs()
    b = ListenersBroker("", server_tls(c))
    plain, tls = b.ports
    ca = ["--cafile", c.path("ca.pem")]
    subs = []
    try:
        subs.append(MosqSub(tls, "x/#", 2, list(ca) + ["-i", "sub-tls"]))
        subs.append(MosqSub(plain, "x/#", 2, ["-i", "sub-plain"]))
        r = mosquitto_pub(tls, "x/from-tls", "over-tls", ca)
        assert r.returncode == 0, r
        r = mosquitto_pub(plain, "x/from-tcp", "over-tcp")
        assert r.returncode == 0, r
        for s in subs:
            # Two publishers: MQTT orders each one's messages, not both.
            assert sorted(s.messages(2)) == ["x/from-tcp over-tcp",
                                            "x/from-tls over-tls"], s.lines
        # The listener really is TLS with the CA's certificate: a client
        # trusting another CA refuses it (its alert is in the log).
        r = mosquitto_pub(tls, "x/no", "wrong-ca",
                          ["--cafile", c.path("rogue.pem")])
        assert r.returncode != 0, r
        b.wait_log(failed_line(tls) + ".*unknown ca")
        assert b.alive()
    finally:
        for s in subs:
            s.close()
        b.finish()


def paho_qos1_over_tls_v5_and_v311(_):
    c = certs()
    b = ListenersBroker("", server_tls(c))
    plain, tls = b.ports
    ca = c.path("ca.pem")
    clients = []
    try:
        for version, name in ((paho.MQTTv5, "v5"), (paho.MQTTv311, "v311")):
            s = TlsClient(tls, "ps-" + name, version, ca=ca)
            p = TlsClient(tls, "pp-" + name, version, ca=ca)
            watch = Client(Port(plain), "pw-" + name, version=version)
            clients += [s, p, watch]
            # paho and the broker's OpenSSL agree on TLS 1.3 by default.
            assert s.tls().version() == "TLSv1.3", s.tls().version()
            assert s.tls().getpeercert(binary_form=True) == \
                c.der("server.pem")
            topic = "paho/%s" % name
            for cl in (s, watch):
                granted = cl.subscribe(topic, 1)
                assert [int(getattr(g, "value", g)) for g in granted] == \
                    [1], granted
            # Small messages and one of 100 kB (several TLS records of
            # 16 kB each way), QoS 1: each acknowledged, all in order.
            big = bytes(random.Random(13).getrandbits(8)
                        for _ in range(100000))
            payloads = [b"m%d" % i for i in range(20)] + [big, b"last"]
            for pl in payloads:
                p.publish(topic, pl, qos=1)
            for cl in (s, watch):
                msgs = cl.wait_msgs(len(payloads))
                assert [m.payload for m in msgs] == payloads, \
                    [len(m.payload) for m in msgs]
                assert all(m.qos == 1 for m in msgs)
            # And the other way: from the plain listener to the TLS one.
            s.subscribe(topic + "/back", 1)
            watch.publish(topic + "/back", big, qos=1)
            msgs = s.wait_msgs(len(payloads) + 1)
            assert msgs[-1].payload == big and msgs[-1].qos == 1
            assert s.disconnects == [] and p.disconnects == []
    finally:
        for cl in clients:
            cl.close()
        b.finish()


def s_client_versions_and_tls_version(_):
    # tls_version is the oldest version a listener takes; the default
    # takes TLS 1.2 and 1.3 (mosquitto.conf(5), "tls_version").  Two TLS
    # listeners in one file: the key applies to the listener above it.
    c = certs()
    b = ListenersBroker(server_tls(c),
                        server_tls(c, extra="tls_version tlsv1.3\n"))
    both, only13 = b.ports
    try:
        for flag, want in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            rc, out = s_client(both, flag)
            assert rc == 0 and protocol_of(out) == want, out
            assert "Verification: OK" in out, out
        assert b.count_log(failed_line(both)) == 0, b.log
        rc, out = s_client(only13, "-tls1_3")
        assert rc == 0 and protocol_of(out) == "TLSv1.3", out
        rc, out = s_client(only13, "-tls1_2")
        assert rc != 0, out
        assert protocol_of(out) is None and "alert protocol version" in out, \
            out
        b.wait_log(failed_line(only13) + ".*(unsupported protocol|version)")
        # The refusal is that listener's alone.
        assert b.count_log(failed_line(both)) == 0, b.log
        rc, out = s_client(both, "-tls1_2")
        assert rc == 0 and protocol_of(out) == "TLSv1.2", out
    finally:
        b.finish()


def client_certificates_required(_):
    # require_certificate true: "a client connecting to this listener must
    # provide a valid certificate in order for the network connection to
    # proceed" (mosquitto.conf(5)); cafile says which CA vouches.
    c = certs()
    b = ListenersBroker("", server_tls(
        c, extra="cafile %s\nrequire_certificate true\n" % c.path("ca.pem")))
    plain, mtls = b.ports
    ca = ["--cafile", c.path("ca.pem")]
    alice = ca + ["--cert", c.path("alice.pem"), "--key", c.path("alice.key")]
    mallory = ca + ["--cert", c.path("mallory.pem"),
                    "--key", c.path("mallory.key")]
    watch = None
    try:
        watch = Client(Port(plain), "mtls-watch")
        watch.subscribe("m/#", 1)
        r = mosquitto_pub(mtls, "m/alice", "from-alice", alice)
        assert r.returncode == 0, r
        assert [m.payload for m in watch.wait_msgs(1)] == [b"from-alice"]
        assert b.count_log(failed_line(mtls)) == 0, b.log
        # No certificate, then one from a CA the listener does not trust:
        # refused in the handshake, and said so in the log.
        r = mosquitto_pub(mtls, "m/anonymous", "no-certificate", ca)
        assert r.returncode != 0, r
        b.wait_log(failed_line(mtls) + ".*peer did not return a certificate")
        r = mosquitto_pub(mtls, "m/mallory", "untrusted-ca", mallory)
        assert r.returncode != 0, r
        b.wait_log(failed_line(mtls) + ".*certificate verify failed")
        assert b.count_log(failed_line(mtls)) == 2, b.log
        # Python's ssl too: without a certificate, refused.
        mark = len(b.log)
        assert refused_after_handshake(mtls)
        b.wait_log(failed_line(mtls) + ".*peer did not return a certificate",
                   mark)
        assert b.count_log(failed_line(mtls)) == 3, b.log
        # Nothing of theirs got through; the broker goes on serving.
        assert [m.payload for m in watch.quiet()] == [b"from-alice"]
        r = mosquitto_pub(plain, "m/plain", "still-serving")
        assert r.returncode == 0, r
        r = mosquitto_pub(mtls, "m/alice", "alice-again", alice)
        assert r.returncode == 0, r
        assert sorted(m.payload for m in watch.wait_msgs(3)) == \
            [b"alice-again", b"from-alice", b"still-serving"]
        # paho with alice's certificate, over TLS 1.3.
        p = TlsClient(mtls, "alice-paho", ca=c.path("ca.pem"),
                      cert=c.path("alice.pem"), key=c.path("alice.key"))
        p.publish("m/paho", b"alice-paho", qos=1)
        p.close()
        assert watch.wait_msgs(4)[-1].payload == b"alice-paho"
    finally:
        if watch:
            watch.close()
        b.finish()


def not_tls_on_the_tls_port(_):
    # What is not TLS on a TLS port fails the handshake: the broker closes
    # the connection and goes on.  A connection that never finishes its
    # handshake is bounded by connect_timeout, as one that never sends
    # CONNECT.
    c = certs()
    b = ListenersBroker("", server_tls(c), head="connect_timeout 1000\n")
    plain, tls = b.ports
    try:
        n = b.count_log(failed_line(tls))
        # A plain MQTT CONNECT: no CONNACK, closed.
        got = send_and_read_to_eof(tls, connect_packet("plain-on-tls"))
        assert not got.startswith(b"\x20"), got
        assert got == b"" or got[0] == 0x15, got  # nothing, or an alert
        b.wait_log(failed_line(tls) + ".*wrong version number")
        # mosquitto_pub without TLS to the TLS port: it fails, bounded.
        r = mosquitto_pub(tls, "n/t", "plain-client")
        assert r.returncode != 0, r
        # Garbage, and a handshake record that is garbage inside.
        junk = bytes(random.Random(5).getrandbits(8) for _ in range(4096))
        junk = b"\x99" + junk[1:]  # not a record type, whatever the seed
        got = send_and_read_to_eof(tls, junk)
        assert not got.startswith(b"\x20"), got
        bad_hello = b"\x16\x03\x01\x00\x30" + b"\xee" * 0x30
        got = send_and_read_to_eof(tls, bad_hello)
        assert got == b"" or got[0] == 0x15, got
        end = time.time() + DEADLINE
        while b.count_log(failed_line(tls)) < n + 4:
            assert time.time() < end, "handshake failures logged: %d of " \
                "4:\n%s" % (b.count_log(failed_line(tls)) - n,
                            "\n".join(b.log))
            time.sleep(0.02)
        # Silent, and half a ClientHello: closed at connect_timeout (1 s),
        # not kept for ever, and counted as failed handshakes.
        unfinished = b.count_log("not finished when the connection closed")
        for data in (b"", b"\x16\x03\x01\x02\x00" + b"\x01" * 10):
            t0 = time.time()
            send_and_read_to_eof(tls, data)
            took = time.time() - t0
            assert 0.8 < took < 5, took
        b.wait_log(failed_line(tls) +
                   ".*not finished when the connection closed")
        end = time.time() + DEADLINE
        while b.count_log("not finished when the connection closed") < \
                unfinished + 2:
            assert time.time() < end, "\n".join(b.log)
            time.sleep(0.02)
        # A TLS client on the plain port is not MQTT either.
        r = mosquitto_pub(plain, "n/t", "tls-on-plain",
                          ["--cafile", c.path("ca.pem")])
        assert r.returncode != 0, r
        # Still serving both.
        assert b.alive()
        s = TlsClient(tls, "after-junk", ca=c.path("ca.pem"))
        s.subscribe("n/after", 1)
        r = mosquitto_pub(plain, "n/after", "still-here")
        assert r.returncode == 0, r
        assert [m.payload for m in s.wait_msgs(1)] == [b"still-here"]
        s.close()
    finally:
        b.finish()


def replace(src_pem, src_key, dst_pem, dst_key):
    """Put a certificate and key in place the way a renewal does: each file
    written aside and renamed over the old one."""
    for src, dst in ((src_pem, dst_pem), (src_key, dst_key)):
        shutil.copyfile(src, dst + ".new")
        os.replace(dst + ".new", dst)


def sighup_reads_the_certificates_again(_):
    # certfile and keyfile are read again at SIGHUP, "to load new
    # certificates prior to the existing ones expiring" (mosquitto.conf(5),
    # "certfile"): new connections get the new one, open ones stay.
    c = certs()
    d = tempfile.mkdtemp(prefix="ringmq-tls-live-")
    pem, key = os.path.join(d, "live.pem"), os.path.join(d, "live.key")
    replace(c.path("server.pem"), c.path("server.key"), pem, key)
    b = ListenersBroker("certfile %s\nkeyfile %s\n" % (pem, key))
    port = b.port
    ca = c.path("ca.pem")
    clients = []
    try:
        assert handshake(port)[0] == c.der("server.pem")
        old = TlsClient(port, "reload-old", ca=ca)
        clients.append(old)
        old.subscribe("r/#", 1)
        assert old.tls().getpeercert(binary_form=True) == c.der("server.pem")

        # Certificate B (another serial and O=) on disk, then SIGHUP.
        replace(c.path("server_b.pem"), c.path("server_b.key"), pem, key)
        mark = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log(r"reload: listener 127\.0\.0\.1:%d: certificates read "
                   r"again" % port, mark)
        der, _ = handshake(port)
        assert der == c.der("server_b.pem"), "a new connection still " \
            "gets the old certificate"
        p = TlsClient(port, "reload-pub", ca=ca)
        clients.append(p)
        assert p.tls().getpeercert()["subject"] == (
            (("organizationName", "Beta"),), (("commonName", "localhost"),))
        p.publish("r/1", b"after-reload", qos=1)
        assert [m.payload for m in old.wait_msgs(1)] == [b"after-reload"]
        # The open connection kept its session and its certificate.
        assert old.disconnects == [], old.disconnects
        assert old.tls().getpeercert(binary_form=True) == c.der("server.pem")

        # A certfile that is garbage: the listener keeps B, says why.
        with open(pem + ".new", "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
        os.replace(pem + ".new", pem)
        mark = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log(r"reload: listener 127\.0\.0\.1:%d keeps its "
                   r"certificates: certfile %s" % (port, re.escape(pem)),
                   mark)
        assert not any("certificates read again" in l
                       for l in b.log[mark:]), b.log[mark:]
        assert handshake(port)[0] == c.der("server_b.pem")
        # A key that is not the certificate's: kept, too.
        replace(c.path("server.pem"), c.path("server_b.key"), pem, key)
        mark = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log(r"reload: listener 127\.0\.0\.1:%d keeps its "
                   r"certificates: keyfile %s(: .*key values mismatch| is "
                   r"not the key of certfile)" % (port, re.escape(key)), mark)
        assert handshake(port)[0] == c.der("server_b.pem")
        p.publish("r/2", b"after-failed-reload", qos=1)
        assert [m.payload for m in old.wait_msgs(2)] == [
            b"after-reload", b"after-failed-reload"]
        assert old.disconnects == [] and p.disconnects == []

        # Good files again (A): read, used.
        replace(c.path("server.pem"), c.path("server.key"), pem, key)
        mark = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log(r"reload: listener 127\.0\.0\.1:%d: certificates read "
                   r"again" % port, mark)
        assert handshake(port)[0] == c.der("server.pem")
    finally:
        for cl in clients:
            cl.close()
        b.finish()
        shutil.rmtree(d, ignore_errors=True)


def start_refused_for_tls_files(_):
    # certfile and keyfile "must be present to enable certificate based
    # TLS encryption" (mosquitto.conf(5)); a file that cannot be used
    # stops the start, naming the key and the path.  The TLS listener is
    # the second one: the message names it.
    c = certs()
    cert, key = c.path("server.pem"), c.path("server.key")
    with open(os.path.join(c.dir, "garbage.pem"), "w") as f:
        f.write("this is not PEM\n")
    e = re.escape
    cases = (  # (the listener's lines, what stderr says: a regex)
        ("certfile /nonexistent/server.pem\nkeyfile %s\n" % key,
         e("certfile /nonexistent/server.pem: No such file or directory")),
        ("certfile %s\nkeyfile /nonexistent/server.key\n" % cert,
         e("keyfile /nonexistent/server.key: No such file or directory")),
        ("certfile %s\n" % cert, e("certfile is set but keyfile is not")),
        ("keyfile %s\n" % key, e("keyfile is set but certfile is not")),
        ("certfile %s\nkeyfile %s\n" % (c.path("garbage.pem"), key),
         e("certfile %s: " % c.path("garbage.pem"))),
        # OpenSSL checks the key against the certificate as it reads it
        # (its words); the broker's own check would say it plainly.
        ("certfile %s\nkeyfile %s\n" % (cert, c.path("server_b.key")),
         e("keyfile %s" % c.path("server_b.key")) +
         "(: .*key values mismatch| is not the key of certfile %s)" % e(cert)),
        ("certfile %s\nkeyfile %s\ncafile /nonexistent/ca.pem\n" % (cert,
                                                                   key),
         e("cafile /nonexistent/ca.pem: No such file or directory")),
        ("certfile %s\nkeyfile %s\nrequire_certificate true\n" % (cert, key),
         e("require_certificate needs cafile or capath")),
        ("certfile %s\nkeyfile %s\ncafile %s\nuse_identity_as_username "
         "true\n" % (cert, key, c.path("ca.pem")),
         e("use_identity_as_username needs require_certificate true")),
        ("psk_hint devices\n", e("psk_hint is set but psk_file is not")),
        ("psk_hint devices\npsk_file /nonexistent/keys\n",
         e("psk_file /nonexistent/keys: No such file or directory")),
        ("psk_hint devices\npsk_file %s\n" % c.path("garbage.pem"),
         e("%s:1: no ':' between the identity and the key"
           % c.path("garbage.pem"))),
    )
    for lines, want in cases:
        port = free_port()
        p = conf_file("listener 0 127.0.0.1\nlistener %d 127.0.0.1\n%s"
                      % (port, lines))
        r = subprocess.run([BROKER, "-c", p, "--loop", LOOP, "--threads",
                            "1", "--admin-listener", "none"],
                           capture_output=True, text=True, timeout=DEADLINE)
        # check-config reads the same files and says the same; with
        # --syntax-only (certificates not mounted where the file is
        # checked) it reads the file alone.
        chk = subprocess.run([BROKER, "check-config", p], capture_output=True,
                             text=True, timeout=DEADLINE)
        syn = subprocess.run([BROKER, "check-config", "--syntax-only", p],
                             capture_output=True, text=True, timeout=DEADLINE)
        os.unlink(p)
        assert r.returncode != 0, (lines, r.stderr)
        assert re.search(r"listener 127\.0\.0\.1:%d: %s" % (port, want),
                         r.stderr), (lines, r.stderr)
        assert chk.returncode == 1, (lines, chk)
        assert re.search(r"%s: listener 127\.0\.0\.1:%d: %s"
                         % (re.escape(p), port, want), chk.stderr), \
            (lines, chk.stderr)
        assert syn.returncode == 0 and "configuration OK" in syn.stdout, \
            (lines, syn)


def listener_keys_above_the_first_listener_line(_):
    # A TLS key before the file's first `listener` line would set the
    # built-in listener that line replaces: refused with the file and
    # line, rather than a TLS listener started in plain text.  Mosquitto's
    # older `port` sets the default listener, so it keeps them.
    c = certs()
    cert, key = c.path("server.pem"), c.path("server.key")
    p = conf_file("certfile %s\nkeyfile %s\nlistener 0 127.0.0.1\n"
                  % (cert, key))
    r = subprocess.run([BROKER, "check-config", p], capture_output=True,
                       text=True, timeout=DEADLINE)
    os.unlink(p)
    assert r.returncode == 1, r
    assert "%s:3: listener: `keyfile` above this line" % p in r.stderr, r
    port = free_port()
    p = conf_file("certfile %s\nkeyfile %s\nport %d\n" % (cert, key, port))
    r = subprocess.run([BROKER, "check-config", p], capture_output=True,
                       text=True, timeout=DEADLINE)
    os.unlink(p)
    assert r.returncode == 0, r


def tls_raw(port):
    """rmqtest's Raw (MQTT bytes by hand) over a TLS connection."""
    ctx = ssl.create_default_context(cafile=certs().path("ca.pem"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    r = Raw.__new__(Raw)
    r.s = ctx.wrap_socket(sock, server_hostname="localhost")
    return r


def read_until(r, want, publishes=0):
    """Packets from r until `want` (a set of packet types, 0x20 CONNACK
    ...) have all come and `publishes` PUBLISHes, QoS 1 ones acknowledged:
    {type: [body]}."""
    got = {}
    while not (want <= set(got) and len(got.get(0x30, [])) >= publishes):
        p = r.recv_packet()
        assert p is not None, "closed; had %s" % got
        first, body = p
        got.setdefault(first & 0xF0, []).append(body)
        if first & 0xF0 == 0x30 and (first >> 1) & 3 == 1:
            tlen = int.from_bytes(body[:2], "big")
            r.send(bytes([0x40, 0x02]) + body[2 + tlen:4 + tlen])
    return got


def payloads(bodies):
    """The payloads of QoS 1 PUBLISH bodies."""
    return [body[4 + int.from_bytes(body[:2], "big"):] for body in bodies]


def tls_connection_handed_to_its_sessions_loop(_):
    # A client whose session lives on the other worker loop: the loop that
    # took the connection hands it over, TLS session and all, with what
    # the client sent after its CONNECT in the same write (decrypted
    # already) going along.  The client sees one connection throughout.
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise Skip("one CPU: every connection lands on the same loop")
    c = certs()
    b = ListenersBroker("", server_tls(c))
    plain, tls = b.ports
    pub = None
    try:
        with on_cpu(0):
            r = tls_raw(tls)
        r.send(connect_packet("tls-mover", flags=0x00))  # a kept session
        assert r.recv_packet() == (0x20, b"\x00\x00")
        r.send(packet(0x82, b"\x00\x01" + string("mv/t") + b"\x01"))
        assert r.recv_packet()[0] == 0x90
        r.send(b"\xe0\x00")
        r.close()
        home = worker_of(b, "tls-mover")
        b.wait_connections(0)
        pub = Client(Port(plain), "mv-pub")
        pub.publish("mv/t", b"queued-0", qos=1)
        moved = "client tls-mover handed to worker %d" % home
        for k in range(1, 9):
            with on_cpu(k):
                r = tls_raw(tls)
            # CONNECT, a PUBLISH and a PINGREQ in one write.
            r.send(connect_packet("tls-mover", flags=0x00) +
                   packet(0x32, string("mv/t") + b"\x00\x07early-%d" % k) +
                   b"\xc0\x00")
            got = read_until(r, {0x20, 0x40, 0xD0}, publishes=2)
            assert got[0x20] == [b"\x01\x00"], got  # session present
            assert got[0x40] == [b"\x00\x07"], got
            # The one queued while it was away, and its own.
            assert sorted(payloads(got[0x30])) == [b"early-%d" % k,
                                                   b"queued-%d" % (k - 1)], \
                got[0x30]
            # One working connection, after the move too.
            pub.publish("mv/t", b"live-%d" % k, qos=1)
            assert payloads(read_until(r, set(), 1)[0x30]) == [
                b"live-%d" % k]
            r.send(b"\xe0\x00")
            r.close()
            b.wait_connections(1)  # mv-pub's
            pub.publish("mv/t", b"queued-%d" % k, qos=1)
            if b.count_log(re.escape(moved)):
                break
        assert b.count_log(re.escape(moved)), "no TLS connection crossed " \
            "loops in 8 tries"
    finally:
        if pub:
            pub.close()
        b.finish()


def tls_ends_with_close_notify(_):
    # The broker's last packet over TLS (a DISCONNECT for a reserved
    # packet type), then a close_notify before the FIN (RFC 8446 6.1): a
    # client tells a complete end from a cut one (Python reports a cut one
    # as SSLEOFError when ragged ends are not suppressed).  A record the
    # client sends after the DISCONNECT is read and thrown away, not
    # answered, and not with a reset.
    c = certs()
    b = ListenersBroker("", server_tls(c))
    plain, tls = b.ports
    try:
        ctx = ssl.create_default_context(cafile=c.path("ca.pem"))
        sock = socket.create_connection(("127.0.0.1", tls), timeout=DEADLINE)
        r = Raw.__new__(Raw)
        r.s = ctx.wrap_socket(sock, server_hostname="localhost",
                              suppress_ragged_eofs=False)
        r.send(connect_packet("tls-end", version=5))
        assert r.recv_packet()[0] == 0x20
        r.send(b"\x00\x00")
        first, body = r.recv_packet()
        assert first == 0xE0 and body[0] in (0x81, 0x82), (first, body)
        r.send(b"\xc0\x00")  # PINGREQ after the end: not answered
        assert r.s.recv(16) == b"", "a close_notify, not more bytes"
        r.s.close()
        end = time.time() + DEADLINE
        while b.metric("ringmq_connections_lingering") != 0:
            assert time.time() < end, "still lingering after the client left"
            time.sleep(0.05)
        assert b.metric("ringmq_linger_total") == 1
        assert b.metric("ringmq_linger_timeouts_total") == 0
    finally:
        b.finish()


def tls_counts(b):
    """{(family, listener): value} of the two handshake counters."""
    out = {}
    for m in re.finditer(r'^(ringmq_tls_handshakes_total|'
                         r'ringmq_tls_handshake_failures_total)'
                         r'\{listener="([^"]+)"\} (\d+)$',
                         b.metrics_text(), re.M):
        out[(m.group(1), m.group(2))] = int(m.group(3))
    return out


def handshake_metrics(_):
    # ringmq_tls_handshakes_total and ringmq_tls_handshake_failures_total,
    # one series per TLS listener, labelled ADDRESS:PORT.
    c = certs()
    b = ListenersBroker("", server_tls(c),
                  server_tls(c, extra="cafile %s\nrequire_certificate true\n"
                             % c.path("ca.pem")))
    plain, tls, mtls = b.ports
    ok = "ringmq_tls_handshakes_total"
    bad = "ringmq_tls_handshake_failures_total"
    name = {p: "127.0.0.1:%d" % p for p in b.ports}
    try:
        before = tls_counts(b)
        want = {(f, name[p]): 0 for f in (ok, bad) for p in (tls, mtls)}
        assert before == want, "expected zeroed series %s, got %s" % (
            sorted(want), before)
        # tls: 3 handshakes (Python's ssl, s_client, paho) and 3 failures
        # (plain CONNECT, garbage, s_client trusting another CA).
        handshake(tls)
        assert s_client(tls, "-tls1_2")[0] == 0
        cl = TlsClient(tls, "metrics-paho", ca=c.path("ca.pem"))
        cl.close()
        send_and_read_to_eof(tls, connect_packet("plain-on-tls"))
        send_and_read_to_eof(tls, b"\x99" * 64)
        assert s_client(tls, ca=c.path("rogue.pem"))[0] != 0
        # mtls: alice's handshake, and 2 failures (no certificate,
        # mallory's).
        handshake(mtls, "alice", "alice")
        assert refused_after_handshake(mtls)
        assert refused_after_handshake(mtls, "mallory")
        expect = {(ok, name[tls]): 3, (bad, name[tls]): 3,
                  (ok, name[mtls]): 1, (bad, name[mtls]): 2}
        # The server counts a handshake when it has read the client's
        # last message, a little after the client is done: wait, bounded.
        end = time.time() + DEADLINE
        while True:
            got = tls_counts(b)
            if all(got.get(k, 0) >= v for k, v in expect.items()):
                break
            assert time.time() < end, "counters %s, want at least %s" % (
                got, expect)
            time.sleep(0.05)
        time.sleep(0.2)
        assert tls_counts(b) == expect, (tls_counts(b), expect)
        # No series for the plain listener; the exposition is still valid.
        text = b.metrics_text()
        assert 'listener="%s"}' % name[plain] not in "\n".join(
            l for l in text.splitlines() if l.startswith("ringmq_tls_")), \
            text
        if shutil.which("promtool") is None:
            raise AssertionError("promtool not installed "
                                 "(scripts/deps --test)")
        r = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        b.finish()


def ringmq_bench_resumes_sessions(_):
    # ringmq-bench --tls-resume: returning clients offer the TLS 1.3
    # session ticket the broker gave before, and the broker takes it; the
    # tool and the broker's counters agree.  Paced, so that tickets come
    # before the next connections start.
    bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        BROKER_BINARY))), "bench", "ringmq-bench")
    if not os.access(bench, os.X_OK):
        raise Skip("no ringmq-bench beside the broker (%s)" % bench)
    c = certs()
    b = ListenersBroker(server_tls(c))
    try:
        r = subprocess.run([bench, "conn", "-p", str(b.port), "--tls-resume",
                            "--cacert", c.path("ca.pem"), "-c", "40",
                            "--connect-rate", "100", "--duration", "0.5",
                            "--json", "-", "--quiet"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout.splitlines()[-1])
        assert res["completed"], res["error"]
        resumed = res["connect"]["tls_resumed"]
        assert resumed >= 20, res["connect"]
        lst = '{listener="127.0.0.1:%d"}' % b.port
        assert b.metric("ringmq_tls_resumed_total" + lst) == resumed
        assert b.metric("ringmq_tls_handshakes_total" + lst) == 40
    finally:
        b.finish()


def psk_with_mosquitto_clients(_):
    # Mosquitto's TLS-PSK: psk_hint on a listener, psk_file with
    # identity:hexkey lines, use_identity_as_username so the ACL knows a
    # device by its identity (mosquitto.conf(5), "Pre-shared-key based
    # SSL/TLS Support").  mosquitto_pub/sub --psk over TLS 1.3 and 1.2,
    # openssl s_client -psk; a wrong key or an unknown identity fails the
    # handshake; SIGHUP reads the keys again.
    d = tempfile.mkdtemp(prefix="ringmq-psk-")
    keys, acl = os.path.join(d, "keys"), os.path.join(d, "acl")
    k1, k2, k3 = "00112233445566778899aabbccddeeff", "deadbeef", "c0ffee"
    with open(keys, "w") as f:
        f.write("# devices\nsensor-1:%s\nsensor-2:%s\n" % (k1, k2))
    with open(acl, "w") as f:
        f.write("pattern readwrite sensors/%u/#\n")
    b = ListenersBroker("psk_hint ringmq-test\nuse_identity_as_username "
                        "true\n",
                        head="psk_file %s\nacl_file %s\nallow_anonymous "
                        "false\n" % (keys, acl))
    port = b.port

    def psk(ident, key, *more):
        return ["--psk", key, "--psk-identity", ident] + list(more)
    try:
        assert any("MQTT over TLS, pre-shared keys only" in line
                   for line in b.log), b.log
        sub = MosqSub(port, "sensors/sensor-1/#", 1, psk("sensor-1", k1))
        # sensor-2 may not write there (dropped, as Mosquitto does);
        # sensor-1 may, over TLS 1.2 too.
        r = mosquitto_pub(port, "sensors/sensor-1/t", "spoof",
                          psk("sensor-2", k2))
        assert r.returncode == 0, r.stderr
        r = mosquitto_pub(port, "sensors/sensor-1/t", "21.5",
                          psk("sensor-1", k1, "--tls-version", "tlsv1.2"))
        assert r.returncode == 0, r.stderr
        assert sub.messages(1) == ["sensors/sensor-1/t 21.5"]
        fails = b.metric('ringmq_tls_handshake_failures_total'
                         '{listener="127.0.0.1:%d"}' % port)
        for ident, key in (("sensor-1", k2), ("sensor-9", k1)):
            r = mosquitto_pub(port, "sensors/%s/t" % ident, "x",
                              psk(ident, key))
            assert r.returncode != 0, "%s with key %s got in" % (ident, key)
        assert b.metric('ringmq_tls_handshake_failures_total'
                        '{listener="127.0.0.1:%d"}' % port) == fails + 2
        r = subprocess.run(["openssl", "s_client", "-brief", "-connect",
                            "127.0.0.1:%d" % port, "-tls1_2",
                            "-psk_identity", "sensor-2", "-psk", k2],
                           input="", capture_output=True, text=True,
                           timeout=DEADLINE)
        out = r.stdout + r.stderr
        assert "CONNECTION ESTABLISHED" in out and "PSK" in out, out

        with open(keys + ".new", "w") as f:
            f.write("sensor-3:%s\n" % k3)
        os.replace(keys + ".new", keys)
        mark = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log(r"reload: listener 127\.0\.0\.1:%d: certificates read "
                   r"again" % port, mark)
        r = mosquitto_pub(port, "sensors/sensor-3/t", "x", psk("sensor-3", k3))
        assert r.returncode == 0, r.stderr
        r = mosquitto_pub(port, "sensors/sensor-2/t", "x", psk("sensor-2", k2))
        assert r.returncode != 0, "a key taken out of the file still works"
    finally:
        b.finish()
        shutil.rmtree(d, ignore_errors=True)


class SClient:
    """openssl s_client -brief as a raw MQTT client: its stdin goes to the
    broker as it is written, what the broker sends comes on its stdout,
    its summary and commands' echoes on stderr."""

    def __init__(self, port, *args):
        self.p = subprocess.Popen(
            ["openssl", "s_client", "-brief", "-connect",
             "127.0.0.1:%d" % port, "-CAfile", certs().path("ca.pem")] +
            list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self.err = b""
        self.end = time.time() + DEADLINE
        self.wait_err(b"CONNECTION ESTABLISHED")

    def wait_err(self, what):
        while what not in self.err:
            assert time.time() < self.end and self.p.poll() is None, self.err
            self.err += os.read(self.p.stderr.fileno(), 4096)

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def recv(self, n):
        got = b""
        while len(got) < n:
            assert time.time() < self.end and self.p.poll() is None, got
            got += os.read(self.p.stdout.fileno(), 4096)
        return got

    def connack(self, client_id):
        self.send(connect_packet(client_id))
        got = self.recv(4)
        assert got[:2] == b"\x20\x02" and got[3] == 0, got

    def close(self):
        self.p.kill()
        self.p.wait()


def key_update_from_openssl_s_client(_):
    # After a TLS 1.3 handshake the broker's record layer carries the
    # connection (ringmq_tls_released_total).  openssl s_client's "K"
    # sends a KeyUpdate asking for ours (RFC 8446 4.6.3): the broker
    # updates both keys, and the CONNACK that follows reads under its new
    # key.  Then each suite the record layer seals, and mosquitto_sub and
    # mosquitto_pub with their defaults.
    c = certs()
    b = ListenersBroker(server_tls(c))
    port = b.port
    name = '{listener="127.0.0.1:%d"}' % port
    try:
        sc = SClient(port)
        try:
            # Apart, so that s_client reads them apart: a read that starts
            # with K is a command, the rest of it dropped.
            sc.send(b"K\n")
            sc.wait_err(b"KEYUPDATE")
            sc.connack("s-client-ku")
            assert b.metric("ringmq_tls_key_updates_total" + name) == 1
        finally:
            sc.close()
        assert b.metric("ringmq_tls_released_total" + name) == 1
        for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                      "TLS_CHACHA20_POLY1305_SHA256"):
            sc = SClient(port, "-ciphersuites", suite)
            try:
                sc.wait_err(b"Ciphersuite: " + suite.encode())
                sc.connack("s-client-" + suite)
            finally:
                sc.close()
        assert b.metric("ringmq_tls_released_total" + name) == 4
        tls = ["--cafile", c.path("ca.pem")]
        sub = MosqSub(port, "released", 1, tls)
        try:
            r = mosquitto_pub(port, "released", "yes", tls)
            assert r.returncode == 0, r.stderr
            assert sub.messages(1) == ["released yes"]
        finally:
            sub.close()
        assert b.metric("ringmq_tls_released_total" + name) == 6
    finally:
        b.finish()


run([logged(t) for t in (
    mosquitto_clients_across_tls_and_plain, paho_qos1_over_tls_v5_and_v311,
    s_client_versions_and_tls_version, client_certificates_required,
    not_tls_on_the_tls_port, sighup_reads_the_certificates_again,
    tls_connection_handed_to_its_sessions_loop, start_refused_for_tls_files,
    listener_keys_above_the_first_listener_line, handshake_metrics,
    tls_ends_with_close_notify, ringmq_bench_resumes_sessions,
    psk_with_mosquitto_clients, key_update_from_openssl_s_client)],
    make_broker=None)
