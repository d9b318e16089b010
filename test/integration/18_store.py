"""18: the data directory on disk (broker/store/) as an operator meets it.
`ringmq store check DIR` reads a directory offline and says what is in it,
or names the path and the problem, changing nothing (`store dump` lists
the retained messages); the directories for
that are written with LMDB's own tool (mdb_load, from Debian's
lmdb-utils), as a broker of this format, or of a newer one, leaves them.
Retained messages outlive a restart and a kill -9 (every one whose PUBACK
came back is there after it), a second broker on the directory and a
damaged directory are refused naming the path, and a full filesystem (a
tmpfs of 2 MiB in a mount namespace of the test's own) gets 0x97 for what
could not be kept while the broker keeps serving, and recovers by itself.
Persistent sessions come back with their subscriptions (their queued
messages are not kept yet)."""
import ctypes
import os
import random
import shutil
import subprocess
import tempfile
import time

import paho.mqtt.client as paho

from rmqtest import (BROKER, DEADLINE, LOOP, Broker, Client, MosqSub, Raw,
                     Skip, connect_packet, packet, props, run, string)

_tmp = tempfile.mkdtemp(prefix="ringmq-store-")


def data_dir(name, format_bytes):
    """A directory whose meta database holds format_bytes as "format"."""
    d = os.path.join(_tmp, name)
    os.mkdir(d, 0o700)
    text = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n format\n " + \
        "".join("\\%02x" % b for b in format_bytes) + "\nDATA=END\n"
    r = subprocess.run(["mdb_load", "-s", "meta", d], input=text,
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    return d


def check(d):
    return subprocess.run([BROKER, "store", "check", d], capture_output=True,
                          text=True, timeout=DEADLINE)


def store_check_reads_a_sound_directory(_):
    d = data_dir("sound", (1).to_bytes(4, "little"))
    r = check(d)
    assert r.returncode == 0, r.stderr
    assert "%s: format 1" % d in r.stdout, r.stdout
    assert "meta" in r.stdout and "1 record" in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith("%s: OK" % d), r.stdout
    assert not os.path.exists(os.path.join(d, "ringmq.lock")), \
        "a check takes no lock and writes nothing"


def store_check_refuses_what_it_cannot_read(_):
    newer = data_dir("newer", (2).to_bytes(4, "little"))
    before = open(os.path.join(newer, "data.mdb"), "rb").read()
    r = check(newer)
    assert r.returncode == 1, r
    assert "%s/data.mdb: format 2, newer than this ringmq's (1)" % newer \
        in r.stderr, r.stderr
    assert open(os.path.join(newer, "data.mdb"), "rb").read() == before

    damaged = os.path.join(_tmp, "damaged")
    os.mkdir(damaged)
    with open(os.path.join(damaged, "data.mdb"), "wb") as f:
        f.write(bytes((i * 37) & 0xFF for i in range(16384)))
    r = check(damaged)
    assert r.returncode == 1 and "%s/data.mdb: not an LMDB environment" % \
        damaged in r.stderr, r.stderr

    empty = os.path.join(_tmp, "empty")
    os.mkdir(empty)
    r = check(empty)
    assert r.returncode == 1 and "%s: no data.mdb: not a RingMQ data " \
        "directory" % empty in r.stderr, r.stderr

    r = check(os.path.join(_tmp, "missing"))
    assert r.returncode == 1 and "No such file or directory" in r.stderr, \
        r.stderr
    r = subprocess.run([BROKER, "store", "dump"], capture_output=True,
                       text=True, timeout=DEADLINE)
    assert r.returncode == 2 and "usage: ringmq store check DIR" in \
        r.stderr, r


def persistent(d, *args):
    """A broker keeping its state in d; flags beat the test environment's
    RINGMQ_PERSISTENCE=false."""
    return Broker("--persistence", "true", "--data-dir", d, *args)


def retained_of(port, topic_filter, n, version=paho.MQTTv5):
    """The retained messages a new subscriber to topic_filter gets, by
    topic, once n came and nothing more does."""
    c = Client(port, version=version)
    c.subscribe(topic_filter, 1)
    if n:
        c.wait_msgs(n)
    msgs = c.quiet(0.3)
    c.close()
    assert len(msgs) == n, [(m.topic, m.payload) for m in msgs]
    assert all(m.retain for m in msgs)
    return {m.topic: m for m in msgs}


def retained_messages_outlive_a_restart(_):
    d = os.path.join(_tmp, "restart-" + LOOP)
    b = persistent(d)
    try:
        # mosquitto_pub (3.1.1), and paho 5.0 with properties and an
        # expiry; one cleared, one replaced, one that expires while the
        # broker is down.
        for topic, text in (("r/a", "alpha"), ("r/b", "beta"),
                            ("r/c", "gamma")):
            r = subprocess.run(["mosquitto_pub", "-p", str(b.port), "-q",
                                "1", "-r", "-t", topic, "-m", text],
                               capture_output=True, timeout=DEADLINE)
            assert r.returncode == 0, r
        c = Client(b, version=paho.MQTTv5)
        c.publish("r/v5", b"five", qos=1, retain=True, properties=props(
            "PUBLISH", ContentType="text/plain", MessageExpiryInterval=3600,
            UserProperty=[("k", "v")]))
        c.publish("r/short", b"s", qos=2, retain=True, properties=props(
            "PUBLISH", MessageExpiryInterval=1))
        c.publish("r/b", b"", qos=1, retain=True)
        c.publish("r/c", b"gamma2", qos=1, retain=True)
        c.close()
        assert int(b.metric("ringmq_store_enabled")) == 1
        assert int(b.metric("ringmq_store_commits_total")) >= 1
        assert int(b.metric("ringmq_store_acks_held_total")) >= 7
        assert b.stop() == 0
        time.sleep(1.1)  # r/short expires while the broker is down

        r = subprocess.run([BROKER, "store", "check", d],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0 and "retained" in r.stdout, r
        r = subprocess.run([BROKER, "store", "dump", d],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0, r
        lines = r.stdout.splitlines()
        assert "retained r/a (QoS 1, 5 bytes)" in lines, lines
        assert "retained r/c (QoS 1, 6 bytes)" in lines, lines
        assert any(l.startswith("retained r/v5 (QoS 1, 4 bytes, expires in ")
                   for l in lines), lines
        assert lines[-1] == "%s: 3 retained messages (and 1 expired, " \
            "removed at the next start), 0 sessions" % d, lines

        b = persistent(d)
        assert any("persistence in %s (durability always): 3 retained "
                   "messages read back, 1 expired" % d in line
                   for line in b.log), b.log
        got = retained_of(b.port, "r/#", 3)
        assert {t: m.payload for t, m in got.items()} == {
            "r/a": b"alpha", "r/c": b"gamma2", "r/v5": b"five"}, got
        p = got["r/v5"].properties
        assert p.ContentType == "text/plain" and \
            p.UserProperty == [("k", "v")], p
        assert 3590 <= p.MessageExpiryInterval <= 3600, p
        # 3.1.1 with mosquitto_sub, too.
        s = MosqSub(b.port, "r/#", 3)
        assert sorted(s.messages(3)) == sorted(
            ["r/a alpha", "r/c gamma2", "r/v5 five"]), s.messages(3)
        s.close()
    finally:
        b.stop()


def persistent_sessions_outlive_a_restart_and_a_kill(_):
    """Sessions of paho 3.1.1 (clean session 0), paho 5.0 (Session Expiry
    Interval) and mosquitto_sub -c come back with their subscriptions:
    what is published to them before they reconnect reaches them, and the
    CONNACK says Session Present.  One whose expiry passed while the
    broker was down is gone.  A SUBACK is on disk when it arrives: a
    subscription made just before a kill -9 is there after it."""
    d = os.path.join(_tmp, "sessions-" + LOOP)
    kept = props("CONNECT", SessionExpiryInterval=3600)
    b = persistent(d)
    try:
        c3 = Client(b, "s3", clean=False)
        c3.subscribe("s/3", 1)
        c3.close()
        c5 = Client(b, "s5", version=paho.MQTTv5, clean_start=False,
                    properties=kept)
        c5.subscribe("s/5", 2)
        c5.close()
        r = subprocess.run(["mosquitto_sub", "-p", str(b.port), "-c", "-i",
                            "msub", "-q", "1", "-t", "s/m", "-W", "1"],
                           capture_output=True, timeout=DEADLINE)
        # "short" must outlive this broker and expire while it is down:
        # its 3 s count from when its connection ended, and the stop
        # follows at once (it used to come after mosquitto_sub's 1 s,
        # which a busy machine could stretch past a 1 s expiry).
        short = Client(b, "short", version=paho.MQTTv5, clean_start=False,
                       properties=props("CONNECT", SessionExpiryInterval=3))
        short.subscribe("s/x", 1)
        short.close()
        ended = time.monotonic()
        assert b.stop() == 0
        time.sleep(max(0.0, ended + 3.3 - time.monotonic()))

        r = subprocess.run([BROKER, "store", "dump", d], capture_output=True,
                           text=True, timeout=DEADLINE)
        assert "session s5 (MQTT 5.0, expires 3600 s after its connection " \
            "ends, offline, 1 subscription, 0 queued)" in r.stdout, r.stdout
        assert "session s3 (MQTT 3.1.1, never expires, offline, 1 " \
            "subscription, 0 queued)" in r.stdout, r.stdout

        b = persistent(d)
        assert any("3 sessions, 1 expired" in line for line in b.log), b.log
        p = Client(b, "p", version=paho.MQTTv5)
        for t in ("s/3", "s/5", "s/m", "s/x"):
            p.publish(t, t.encode(), qos=1)
        c3 = Client(b, "s3", clean=False)
        assert c3.connack[0]["session present"] == 1
        assert [m.payload for m in c3.wait_msgs(1)] == [b"s/3"]
        c3.close()
        c5 = Client(b, "s5", version=paho.MQTTv5, clean_start=False,
                    properties=kept)
        assert c5.connack[0]["session present"] == 1
        assert [(m.payload, m.qos) for m in c5.wait_msgs(1)] == \
            [(b"s/5", 1)]
        c5.close()
        r = subprocess.run(["mosquitto_sub", "-p", str(b.port), "-c", "-i",
                            "msub", "-q", "1", "-t", "s/m", "-C", "1", "-W",
                            "5"], capture_output=True, text=True,
                           timeout=DEADLINE)
        assert r.stdout == "s/m\n", r
        short = Client(b, "short", version=paho.MQTTv5, clean_start=False,
                       properties=kept)
        assert short.connack[0]["session present"] == 0
        short.close()

        # The SUBACK came: the subscription is on disk, kill -9 or not.
        k = Client(b, "k9", clean=False)
        k.subscribe("s/k", 1)
        b.proc.kill()
        b.proc.wait()
        k.c.loop_stop()
        b.stop()
        b = persistent(d)
        p = Client(b, "p2", version=paho.MQTTv5)
        p.publish("s/k", b"after", qos=1)
        k = Client(b, "k9", clean=False)
        assert k.connack[0]["session present"] == 1
        assert [m.payload for m in k.wait_msgs(1)] == [b"after"]
        k.close()
        p.close()
    finally:
        b.stop()


def kill_9_loses_no_acknowledged_retained_message(_):
    """A publisher sends QoS 1 retained messages over 50 topics, each a
    higher number than the one before, as fast as the broker takes them;
    the broker is killed at a random moment.  After the restart each
    topic holds at least the number of its last PUBACK.  RMQTEST_KILLS
    rounds (5 by default; the issue's full run: 20 or more)."""
    d = os.path.join(_tmp, "kill-" + LOOP)
    rounds = int(os.environ.get("RMQTEST_KILLS", "5"))
    acked = {}  # topic -> the highest number acknowledged
    seq = acks = 0
    for rnd in range(rounds):
        b = persistent(d)
        try:
            got = retained_of(b.port, "k/#", len(acked))
            for topic, n in acked.items():
                stored = int(got[topic].payload)
                assert stored >= n, (rnd, topic, stored, n)
                acked[topic] = stored
            c = paho.Client(client_id="pub", protocol=paho.MQTTv5)
            c.max_inflight_messages_set(64)
            c.connect("127.0.0.1", b.port)
            c.loop_start()
            sent = []
            end = time.time() + random.uniform(0.2, 1.0)
            while time.time() < end:
                seq += 1
                topic = "k/%d" % (seq % 50)
                sent.append((c.publish(topic, str(seq), qos=1,
                                       retain=True), topic, seq))
                if len(sent) % 64 == 0:
                    time.sleep(0.001)
            b.proc.kill()
            b.proc.wait()
            c.loop_stop()
            # is_published(): its PUBACK came back.
            for info, topic, n in sent:
                if info.is_published():
                    acked[topic] = max(acked.get(topic, 0), n)
                    acks += 1
        finally:
            b.stop()
    b = persistent(d)
    try:
        got = retained_of(b.port, "k/#", len(acked))
        for topic, n in acked.items():
            assert int(got[topic].payload) >= n, (topic, got[topic].payload, n)
    finally:
        b.stop()
    print("     %d kills, %d messages published, %d acknowledged, %d topics "
          "checked" % (rounds, seq, acks, len(acked)))


def a_second_broker_on_the_directory_is_refused(_):
    d = os.path.join(_tmp, "second-" + LOOP)
    b = persistent(d)
    try:
        r = subprocess.run([BROKER, "-p", "127.0.0.1:0", "--admin-listener",
                            "127.0.0.1:0", "--persistence", "true",
                            "--data-dir", d], capture_output=True, text=True,
                           timeout=DEADLINE)
        assert r.returncode == 1, r
        assert "persistence: %s: the data directory is in use by another " \
            "broker (pid %d)" % (d, b.proc.pid) in r.stderr, r.stderr
        assert b.alive()
    finally:
        b.stop()
    damaged = os.path.join(_tmp, "damaged-start-" + LOOP)
    os.mkdir(damaged)
    junk = bytes((i * 37) & 0xFF for i in range(16384))
    with open(os.path.join(damaged, "data.mdb"), "wb") as f:
        f.write(junk)
    r = subprocess.run([BROKER, "-p", "127.0.0.1:0", "--admin-listener",
                        "127.0.0.1:0", "--persistence", "true", "--data-dir",
                        damaged], capture_output=True, text=True,
                       timeout=DEADLINE)
    assert r.returncode == 1, r
    assert "persistence: %s/data.mdb: not an LMDB environment" % damaged \
        in r.stderr, r.stderr
    with open(os.path.join(damaged, "data.mdb"), "rb") as f:
        assert f.read() == junk, "a damaged file was changed"


def _tmpfs_in_own_namespace(d, size):
    """For preexec: the child gets a mount namespace of its own with a
    tmpfs of `size` on d (nothing outside it sees the mount)."""
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x00020000, 0x4000, 1 << 18

    def setup():
        if libc.unshare(CLONE_NEWNS) != 0 or \
                libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE,
                           None) != 0 or \
                libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0,
                           ("size=%d,mode=0700" % size).encode()) != 0:
            os._exit(99)
    return setup


def a_full_filesystem_gets_0x97_and_recovers(_):
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs in a mount namespace needs root")
    d = os.path.join(_tmp, "full-" + LOOP)
    os.mkdir(d)
    b = Broker("--persistence", "true", "--data-dir", d,
               preexec=_tmpfs_in_own_namespace(d, 2 << 20))
    try:
        assert not os.listdir(d), "the tmpfs is the broker's alone"
        r = Raw(b)
        r.send(connect_packet("full", version=5))
        assert r.recv_packet()[0] == 0x20
        big = b"b" * (200 << 10)

        def publish(topic, payload, pid):
            r.send(packet(0x33, string(topic) + pid.to_bytes(2, "big") +
                          b"\x00" + payload))
            first, body = r.recv_packet()
            assert first == 0x40 and body[:2] == pid.to_bytes(2, "big")
            return body[2] if len(body) > 2 else 0

        codes = []
        for i in range(30):
            codes.append(publish("big/%d" % i, big, i + 1))
            if codes[-1] == 0x97:
                break
        assert codes[-1] == 0x97 and codes[0] == 0x10, codes
        assert int(b.metric("ringmq_store_failing")) == 1
        assert int(b.metric("ringmq_store_commit_failures_total")) >= 1
        assert any("changes not written, retried every 1000 ms" in line
                   for line in b.log), b.log[-5:]
        # Served from memory meanwhile.
        got = retained_of(b.port, "big/#", len(codes))
        assert all(m.payload == big for m in got.values())
        # Cleared, they make room; the writer gets through by itself.
        for i in range(len(codes)):
            publish("big/%d" % i, b"", 100 + i)
        end = time.time() + DEADLINE
        while int(b.metric("ringmq_store_failing")) and time.time() < end:
            time.sleep(0.1)
        assert int(b.metric("ringmq_store_failing")) == 0
        assert publish("small", b"s", 200) == 0x10
        assert any("changes written again" in line for line in b.log)
        r.close()
    finally:
        b.stop()


try:
    run([store_check_reads_a_sound_directory,
         store_check_refuses_what_it_cannot_read,
         retained_messages_outlive_a_restart,
         persistent_sessions_outlive_a_restart_and_a_kill,
         kill_9_loses_no_acknowledged_retained_message,
         a_second_broker_on_the_directory_is_refused,
         a_full_filesystem_gets_0x97_and_recovers], make_broker=None)
finally:
    shutil.rmtree(_tmp, ignore_errors=True)
