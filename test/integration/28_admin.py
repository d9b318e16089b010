#!/usr/bin/env python3
"""test/integration/28_admin.py: the admin API (broker/ops/api.c) and
`ringmq ctl` (broker/ctl_cmd.c) against real brokers and real clients:
sessions listed, shown, kicked and dropped; the token the API needs off
loopback; the cluster as each node sees it, and a node leaving on
purpose."""
import faulthandler
import json
import os
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from http.client import HTTPException, HTTPSConnection

from rmqcluster import finish, node, seed, wait_peers
from rmqtest import (BROKER, DEADLINE, Broker, Client, Properties,
                     PacketTypes, certs, conf_file, paho, run)

faulthandler.dump_traceback_later(300, exit=True)


def ctl(b, *args, token_file=None):
    """`ringmq ctl` against b: (exit status, parsed JSON or the text)."""
    cmd = [BROKER, "ctl", "--admin", "127.0.0.1:%d" % b.admin_port]
    if token_file:
        cmd += ["--token-file", token_file]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True,
                       timeout=DEADLINE)
    out = r.stdout if r.returncode == 0 else r.stderr
    try:
        return r.returncode, json.loads(out)
    except ValueError:
        return r.returncode, out


def http(b, path, token=None, method="GET"):
    """(status, body) of a request to b's admin listener."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (
        b.admin_port, path), method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sessions_kicked_and_dropped(b):
    # A 5.0 client with a session that outlives its connection, and an
    # identifier that needs encoding in a URL; a 3.1.1 one beside it.
    odd = 'dev 1/"x"'
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    c = Client(b, odd, version=paho.MQTTv5, clean_start=False,
               properties=props)
    c.c.subscribe("adm/#", 1)
    c.wait(lambda: c.subacks, "SUBACK")
    other = Client(b, "plain-311", clean=False)
    rc, out = ctl(b, "clients", "list", "--connected")
    assert rc == 0, out
    ids = sorted(x["client_id"] for x in out["clients"])
    assert ids == sorted([odd, "plain-311"]), out
    assert out["count"] == 2
    rc, out = ctl(b, "clients", "list", "--match", "dev ")
    assert rc == 0 and [x["client_id"] for x in out["clients"]] == [odd]
    rc, out = ctl(b, "subscriptions", odd)
    assert rc == 0 and out["client_id"] == odd, out
    assert [(s["filter"], s["qos"]) for s in out["subscriptions"]] == \
        [("adm/#", 1)], out
    assert out["protocol"] == "5.0" and out["session_expiry"] == 600
    # Kick: [MQTT-3.14.2-1] DISCONNECT with 0x98 (Administrative
    # action), the session kept.
    rc, out = ctl(b, "clients", "kick", odd)
    assert rc == 0 and out == {"client_id": odd, "kicked": True,
                               "sessions": 1}, out
    c.wait(lambda: c.disconnects, "the DISCONNECT")
    assert c.disconnects[0] == 0x98, c.disconnects
    c.c.loop_stop()
    rc, out = ctl(b, "sessions", "show", odd)
    assert rc == 0 and out["state"] == "offline" and \
        out["subscriptions"][0]["filter"] == "adm/#", out
    # Drop: the session ends; the client finds none.
    rc, out = ctl(b, "sessions", "drop", odd)
    assert rc == 0 and out["dropped"] is True, out
    rc, out = ctl(b, "sessions", "show", odd)
    assert rc == 1 and "no session" in out["error"], (rc, out)
    again = Client(b, odd, version=paho.MQTTv5, clean_start=False,
                   properties=props)
    assert again.connack[0]["session present"] == 0, again.connack
    again.close()
    rc, out = ctl(b, "clients", "kick", "nobody-here")
    assert rc == 1, (rc, out)
    other.close()
    rc, out = ctl(b, "clients", "list", "--offline")
    kept = {x["client_id"]: x for x in out["clients"]}
    assert sorted(kept) == sorted([odd, "plain-311"]), out
    assert kept[odd]["subscriptions"] == 0, "a new session: %s" % out
    # Bad requests: an unknown path, a method the path does not take,
    # a broken percent-encoding.
    assert http(b, "/api/v1/nothing")[0] == 404
    assert http(b, "/api/v1/cluster", method="DELETE")[0] == 405
    assert http(b, "/api/v1/clients/%zz")[0] == 400
    assert http(b, "/api/v1/clients?connected=maybe")[0] == 400
    rc, _ = ctl(b, "clients", "frobnicate", "x")
    assert rc == 2
    assert b.metric("ringmq_admin_api_requests_total") == 13


def token_needed_off_loopback(_):
    # An admin listener on every address: without admin_token_file the
    # API refuses (403), the probes and /metrics do not; with one, a
    # request needs the token (401 without it or with another).
    b = Broker("--admin-listener", "0.0.0.0:0")
    try:
        status, body = http(b, "/api/v1/clients")
        assert status == 403 and "admin_token_file" in body, body
        assert http(b, "/metrics")[0] == 200
        # /readyz needs no token either: 200 once the broker is ready
        # (it may still say 503 "starting" just after the listeners open).
        end = time.time() + DEADLINE
        while http(b, "/readyz")[0] != 200:
            assert time.time() < end, http(b, "/readyz")
            time.sleep(0.02)
    finally:
        b.stop()
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write("s3cret-token-of-the-test\n")
    short = tempfile.NamedTemporaryFile("w", delete=False)
    short.write("short\n")
    short.close()
    try:
        b = Broker("--admin-listener", "0.0.0.0:0", "--admin-token-file",
                   f.name)
        try:
            assert http(b, "/api/v1/clients")[0] == 401
            assert http(b, "/api/v1/clients", token="wrong")[0] == 401
            status, body = http(b, "/api/v1/clients",
                                token="s3cret-token-of-the-test")
            assert status == 200 and json.loads(body)["count"] == 0
            rc, out = ctl(b, "cluster", "status", token_file=f.name)
            assert rc == 0 and out["cluster"] is False, out
            assert ctl(b, "cluster", "status")[0] == 1
            assert b.metric("ringmq_admin_api_refused_total") == 3
            # health and ready (a container's health check) need no token,
            # nor read its file (the checking user may not): -c naming a
            # file that names a token file not there
            assert ctl(b, "health") == (0, "ok\n")
            assert ctl(b, "ready") == (0, "ready\n")
            conf = conf_file("admin_listener 127.0.0.1:%d\n"
                             "admin_token_file /nonexistent/token\n" %
                             b.admin_port)
            r = subprocess.run([BROKER, "ctl", "-c", conf, "health"],
                               capture_output=True, text=True,
                               timeout=DEADLINE)
            assert (r.returncode, r.stdout) == (0, "ok\n"), r
            assert b.metric("ringmq_admin_api_refused_total") == 3
            assert not any("s3cret" in line for line in b.log)
        finally:
            b.stop()
        # Nothing listening: exit 2, as for any connection error.
        assert ctl(b, "health")[0] == 2
        # A token too short is refused at the start, naming the file.
        r = subprocess.run([BROKER, "-p", "127.0.0.1:0", "--admin-listener",
                            "127.0.0.1:0", "--admin-token-file",
                            short.name], capture_output=True, text=True,
                           timeout=DEADLINE)
        assert r.returncode != 0 and short.name in r.stderr, r.stderr
    finally:
        os.unlink(f.name)
        os.unlink(short.name)


def https(b, path, cert=None, host="127.0.0.1"):
    """(status, body) of a request to b's HTTPS admin listener, the
    node's certificate checked against the test CA, with the client
    certificate `cert` (a name of certs()) if any; raises when the TLS
    handshake or the connection fails.  A persistent connection, as
    Prometheus keeps: NNG 1.5.2's server cuts an answer over TLS that
    it closes the connection after (docs/operations.md)."""
    c = certs()
    ctx = ssl.create_default_context(cafile=c.path("ca.pem"))
    if cert:
        ctx.load_cert_chain(c.path(cert + ".pem"), c.path(cert + ".key"))
    conn = HTTPSConnection(host, b.admin_port, context=ctx,
                                       timeout=DEADLINE)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def refused(b, path, cert=None):
    """Whether the HTTPS request fails without an answer."""
    try:
        https(b, path, cert)
    except (ssl.SSLError, ConnectionError, OSError,
            HTTPException):
        return True
    return False


def api_over_https_with_client_certificates(_):
    # admin_tls_certfile and _keyfile make the admin listener HTTPS; with
    # admin_tls_cafile every connection must present a certificate of
    # that CA, and the API takes it as the credential: no token, on a
    # listener of every address.
    c = certs()
    tls = ["--admin-tls-certfile", c.path("server.pem"),
           "--admin-tls-keyfile", c.path("server.key")]
    b = Broker("--admin-listener", "0.0.0.0:0", *tls,
               "--admin-tls-cafile", c.path("ca.pem"))
    try:
        assert any("admin on https://" in x and "admin_tls_cafile" in x
                   for x in b.log), b.log
        status, body = https(b, "/api/v1/clients", cert="alice")
        assert status == 200 and json.loads(body)["count"] == 0, body
        assert https(b, "/metrics", cert="alice")[0] == 200
        # No certificate, or one of another CA: no answer at all.
        assert refused(b, "/api/v1/clients")
        assert refused(b, "/healthz")
        assert refused(b, "/api/v1/clients", cert="mallory")
        # Plain HTTP gets nothing either.
        assert http_fails(b)
        # ringmq ctl: the node checked against --cafile, its certificate
        # with --cert and --key; without one it cannot connect (2).
        base = [BROKER, "ctl", "--admin", "127.0.0.1:%d" % b.admin_port,
                "--cafile", c.path("ca.pem")]
        mine = ["--cert", c.path("alice.pem"), "--key", c.path("alice.key")]
        r = subprocess.run(base + mine + ["cluster", "status"],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0 and json.loads(r.stdout)["cluster"] is \
            False, r
        r = subprocess.run(base + ["cluster", "status"], capture_output=True,
                           text=True, timeout=DEADLINE)
        assert r.returncode == 2, r
        # -c FILE: HTTPS and the CA from the node's own settings
        conf = conf_file("admin_listener 127.0.0.1:%d\n"
                         "admin_tls_certfile %s\nadmin_tls_keyfile %s\n"
                         "admin_tls_cafile %s\n" % (
                             b.admin_port, c.path("server.pem"),
                             c.path("server.key"), c.path("ca.pem")))
        r = subprocess.run([BROKER, "ctl", "-c", conf] + mine + ["health"],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert (r.returncode, r.stdout) == (0, "ok\n"), r
        text = https(b, "/metrics", cert="alice")[1]
        assert "\nringmq_admin_api_requests_total 2\n" in text, [
            x for x in text.splitlines() if "admin_api" in x]
    finally:
        b.stop()
    # HTTPS without client certificates: anyone may connect; the API
    # keeps its rule (a loopback listener: no token).
    b = Broker("--admin-listener", "127.0.0.1:0", *tls)
    try:
        assert https(b, "/healthz") == (200, "ok\n")
        assert https(b, "/api/v1/clients")[0] == 200
        # The node's certificate is checked for the name asked
        # (localhost, which it carries), or for --servername.
        r = subprocess.run([BROKER, "ctl", "--admin",
                            "localhost:%d" % b.admin_port, "--cafile",
                            c.path("ca.pem"), "ready"],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0, r
        r = subprocess.run([BROKER, "ctl", "--admin",
                            "127.0.0.1:%d" % b.admin_port, "--cafile",
                            c.path("ca.pem"), "--servername",
                            "other.example", "ready"],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 2, r
        # --tls without a CA to check the node against: refused, said why
        r = subprocess.run([BROKER, "ctl", "--admin",
                            "127.0.0.1:%d" % b.admin_port, "--tls",
                            "health"], capture_output=True, text=True,
                           timeout=DEADLINE)
        assert r.returncode == 2 and "--cafile" in r.stderr, r
    finally:
        b.stop()
    # Settings that do not go together, or files that are not there,
    # stop the start with the reason.
    for args, says in (
            (["--admin-tls-keyfile", c.path("server.key")],
             "admin_tls_keyfile is set but admin_tls_certfile is not"),
            (["--admin-tls-certfile", c.path("server.pem")],
             "admin_tls_certfile is set but admin_tls_keyfile is not"),
            (tls[:2] + ["--admin-tls-keyfile", "/nonexistent/key.pem"],
             "admin_tls_keyfile /nonexistent/key.pem"),
            (tls + ["--admin-tls-cafile", c.path("alice.key")],
             "admin_tls_cafile")):
        r = subprocess.run([BROKER, "-p", "127.0.0.1:0", "--admin-listener",
                            "127.0.0.1:0"] + args, capture_output=True,
                           text=True, timeout=DEADLINE)
        assert r.returncode != 0 and says in r.stderr, (args, r.stderr)


def http_fails(b):
    try:
        http(b, "/healthz")
    except (urllib.error.URLError, ConnectionError, OSError):
        return True
    return False


def cluster_seen_from_each_node_and_a_leave(_):
    # Two nodes: each lists the other up, its routes installed; one told
    # to leave by `ringmq ctl node leave` drains and stops, and the other
    # sees it leave at once (it said so), not a peer timeout later.
    a = node("a", timeout_ms=5000)
    b = node("b", "--cluster-seeds", seed(a), timeout_ms=5000)
    try:
        wait_peers(a, {"b": 1})
        wait_peers(b, {"a": 1})
        for x, other in ((a, "b"), (b, "a")):
            end = time.time() + DEADLINE
            while True:
                rc, out = ctl(x, "cluster", "status")
                assert rc == 0, out
                peers = {p["name"]: p for p in out["peers"]}
                if peers.get(other, {}).get("synced"):
                    break
                assert time.time() < end, out
                time.sleep(0.05)
            assert out["node"] == x.name and out["ready"] is True, out
            assert peers[other]["state"] == "up", out
            assert peers[other]["route_changes_unapplied"] == 0, out
        t0 = time.time()
        rc, out = ctl(b, "node", "leave")
        assert rc == 0 and out == {"leaving": True}, out
        assert b.proc.wait(DEADLINE) == 0
        end = time.time() + DEADLINE
        while True:
            rc, out = ctl(a, "cluster", "status")
            p = {p["name"]: p for p in out["peers"]}["b"]
            if p["state"] == "down":
                break
            assert time.time() < end, out
            time.sleep(0.02)
        took = time.time() - t0
        assert p["left"] is True, p
        assert took < 5.0, "down %.2f s after the leave: the peer " \
            "timeout (5 s), not the bye" % took
        print("    b down on a %.2f s after `ringmq ctl node leave`" % took)
    finally:
        finish(a, b)


def sessions_answered_from_any_node(_):
    # Three nodes, a client on each: any node lists them all, each with
    # its node; a client on c is shown from a and kicked from b (5.0:
    # DISCONNECT 0x98); an offline session on b is dropped from a;
    # --local answers for the node asked only.  With c killed (-9), a
    # answers for itself and b, c not waited for past the peer timeout.
    a = node("a")
    b = node("b", "--cluster-seeds", seed(a))
    c = node("c", "--cluster-seeds", seed(a))
    clients = []
    try:
        for x, others in ((a, {"b": 1, "c": 1}), (b, {"a": 1, "c": 1}),
                          (c, {"a": 1, "b": 1})):
            wait_peers(x, others)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        for x in (a, b, c):
            cl = Client(x, "on-" + x.name, version=paho.MQTTv5,
                        clean_start=False, properties=props)
            cl.c.subscribe("%s/#" % x.name, 1)
            cl.wait(lambda: cl.subacks, "SUBACK")
            clients.append(cl)
        away = Client(b, "away-on-b", clean=False)
        away.c.subscribe("away/1", 1)
        away.wait(lambda: away.subacks, "SUBACK")
        away.close()
        rc, out = ctl(a, "clients", "list")
        assert rc == 0, out
        assert (out["nodes_asked"], out["nodes_answered"]) == (3, 3), out
        got = {x["client_id"]: x["node"] for x in out["clients"]}
        assert got == {"on-a": "a", "on-b": "b", "on-c": "c",
                       "away-on-b": "b"}, out
        rc, out = ctl(a, "--local", "clients", "list")
        assert [x["client_id"] for x in out["clients"]] == ["on-a"], out
        assert out["nodes_asked"] == 1, out
        rc, out = ctl(a, "subscriptions", "on-c")
        assert rc == 0 and out["node"] == "c" and \
            out["subscriptions"][0]["filter"] == "c/#", out
        rc, out = ctl(b, "clients", "kick", "on-c")
        assert rc == 0 and out["kicked"] is True, out
        on_c = clients[2]
        on_c.wait(lambda: on_c.disconnects, "the DISCONNECT")
        assert on_c.disconnects[0] == 0x98, on_c.disconnects
        on_c.c.loop_stop()
        rc, out = ctl(a, "sessions", "show", "on-c")
        assert rc == 0 and out["state"] == "offline" and \
            out["node"] == "c", out
        rc, out = ctl(a, "sessions", "drop", "away-on-b")
        assert rc == 0 and out["dropped"] is True, out
        rc, out = ctl(b, "--local", "sessions", "show", "away-on-b")
        assert rc == 1, (rc, out)
        rc, out = ctl(c, "clients", "show", "nobody")
        assert rc == 1 and "in the cluster" in out["error"], out
        c.proc.kill()
        c.proc.wait()
        t0 = time.time()
        rc, out = ctl(a, "clients", "list")
        took = time.time() - t0
        assert rc == 0 and out["nodes_answered"] == 2, out
        assert sorted(x["client_id"] for x in out["clients"]) == \
            ["on-a", "on-b"], out
        assert took < 3.0, "a dead peer held the answer %.1f s" % took
    finally:
        for cl in clients:  # gone before the nodes' drains count them
            cl.c.disconnect()
            cl.c.loop_stop()
        finish(a, b, c)


def retained_listed_and_deleted_everywhere(_):
    # Retained messages set on a are listed from b (every node holds
    # them); one deleted from b is gone on both, and no subscriber is
    # sent anything for the delete; a payload that is not UTF-8 is
    # listed without it; a filter and a limit pick.
    a = node("a")
    b = node("b", "--cluster-seeds", seed(a))
    watcher = None
    try:
        wait_peers(a, {"b": 1})
        wait_peers(b, {"a": 1})
        pub = Client(a, "ret-pub")
        for k in range(3):
            pub.publish("ret/%d" % k, "value %d" % k, 1, retain=True)
        pub.publish("ret/bin", b"\xff\xfe", 1, retain=True)
        pub.close()
        end = time.time() + DEADLINE
        while True:
            rc, out = ctl(b, "retained", "list", "ret/#")
            if rc == 0 and out["count"] == 4:
                break
            assert time.time() < end, out
            time.sleep(0.05)
        got = {x["topic"]: x["payload"] for x in out["retained"]}
        assert got == {"ret/0": "value 0", "ret/1": "value 1",
                       "ret/2": "value 2", "ret/bin": None}, out
        assert {x["topic"]: x["bytes"] for x in out["retained"]}[
            "ret/bin"] == 2
        rc, out = ctl(b, "retained", "list", "ret/+", "--limit", "2")
        assert out["count"] == 4 and out["truncated"] is True and \
            len(out["retained"]) == 2, out
        watcher = Client(a, "ret-watch")
        watcher.c.subscribe("ret/#", 1)
        watcher.wait_msgs(4)
        rc, out = ctl(b, "retained", "delete", "ret/1")
        assert rc == 0 and out == {"topic": "ret/1", "deleted": True}, out
        for x in (a, b):
            end = time.time() + DEADLINE
            while True:
                rc, out = ctl(x, "retained", "list", "ret/#")
                if sorted(r["topic"] for r in out["retained"]) == \
                        ["ret/0", "ret/2", "ret/bin"]:
                    break
                assert time.time() < end, (x.name, out)
                time.sleep(0.05)
        late = Client(a, "ret-late")
        late.c.subscribe("ret/1", 1)
        late.wait(lambda: late.subacks, "SUBACK")
        time.sleep(0.3)
        assert late.msgs == [], late.msgs
        assert len(watcher.msgs) == 4, "the delete told no subscriber: " \
            "%s" % watcher.msgs
        late.close()
        assert ctl(a, "retained", "delete", "ret/1")[0] == 1
        assert http(a, "/api/v1/retained?topic=ret%2F%2B",
                    method="DELETE")[0] == 400
        assert http(a, "/api/v1/retained?limit=0")[0] == 400
    finally:
        if watcher:
            watcher.close()
        finish(a, b)


if __name__ == "__main__":
    run([sessions_kicked_and_dropped, token_needed_off_loopback,
         api_over_https_with_client_certificates,
         cluster_seen_from_each_node_and_a_leave,
         sessions_answered_from_any_node,
         retained_listed_and_deleted_everywhere],
        make_broker=lambda: Broker("--persistence", "false"))
