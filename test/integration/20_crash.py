"""20: kill -9 at random moments while QoS 1 and QoS 2 messages flow to
persistent sessions under `durability always` (broker/store/).

Two publishers (QoS 1 and QoS 2, both with sessions of their own, so that
what they had in flight is resumed [MQTT-4.4.0-1]) send numbered messages
as fast as their window of 20 lets them; four persistent subscribers take
them: two online (QoS 1 and QoS 2), two offline the whole time (QoS 1 and
QoS 2), one of each pair 3.1.1 and one 5.0.  The broker is killed with
SIGKILL at a random moment, started again on the same directory, the
clients reconnect to it, and so on RMQTEST_KILLS times (3 in the suite;
20 or more by hand: scripts/crash-loop).  Then the publishers finish what
they have in flight, the offline subscribers connect, and:

- every message whose PUBACK (QoS 1) or PUBCOMP (QoS 2) the publisher got
  is delivered to every subscriber (an acknowledged message is never
  lost: the broker acknowledges what is on disk);
- no QoS 2 message of the QoS 2 publisher reaches a QoS 2 subscriber twice
  [MQTT-4.3.3-*]: exactly once across the crashes;
- each subscriber gets each publisher's messages in the order they were
  published [MQTT-4.6.0-6] (first deliveries; a QoS 1 message may come
  again, as QoS 1 allows).

The counts are printed: kills, messages acknowledged, delivered, and the
duplicates QoS 1 allowed."""
import os
import random
import shutil
import tempfile
import threading
import time

import paho.mqtt.client as paho

from rmqtest import DEADLINE, LOOP, Broker, run

_tmp = tempfile.mkdtemp(prefix="ringmq-crash-")
KILLS = int(os.environ.get("RMQTEST_KILLS", "3"))
WINDOW = 20  # messages a publisher has unacknowledged at most
SEED = int(os.environ.get("RMQTEST_SEED", str(int(time.time()))))
TOPIC = "crash/%s"


def persistent(d):
    # The offline subscribers hold everything published meanwhile: past
    # max_queued (1000 by default) a message would be dropped for them,
    # as documented, not lost.
    return Broker("--persistence", "true", "--data-dir", d,
                  "--durability", "always", "--max-queued", "10000000")


def kill(b):
    b.proc.kill()
    b.proc.wait()
    b.stop()


class Peer:
    """A paho client with a session that outlives its connection, which
    follows the broker to the port of each restart."""

    def __init__(self, port, cid, version):
        kw = dict(client_id=cid, protocol=version)
        if version != paho.MQTTv5:
            kw["clean_session"] = False
        self.c = paho.Client(**kw)
        self.version = version
        # paho 1.6 resets what it has in flight at each attempt to
        # reconnect, and a second reset turns a QoS 2 message whose PUBREL
        # it must resend into a new PUBLISH without DUP, which any broker
        # must take as a new message.  So paho does not retry the killed
        # broker: follow() moves it to the new one, one attempt.
        self.c.reconnect_delay_set(60, 60)
        # No limit of paho's own: past it, paho turns what it has in
        # flight into new messages when it reconnects (a QoS 2 message
        # whose PUBREL was sent goes again as a PUBLISH without DUP, which
        # a broker must take as new); the window is publisher_loop's.
        self.c.max_inflight_messages_set(0)
        self.c.max_queued_messages_set(0)
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.got = []  # payloads, as on_message gave them
        self.sent = []  # (payload, paho's MQTTMessageInfo)
        self.nacked = 0  # PUBACKs and PUBCOMPs received
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: self.connected.clear()
        self.connect(port)
        self.c.loop_start()
        assert self.connected.wait(DEADLINE), "%s did not connect" % cid

    def connect(self, port):
        if self.version == paho.MQTTv5:
            from paho.mqtt.properties import Properties
            from paho.mqtt.packettypes import PacketTypes
            p = Properties(PacketTypes.CONNECT)
            p.SessionExpiryInterval = 3600
            self.c.connect_async("127.0.0.1", port, 30, clean_start=False,
                                 properties=p)
        else:
            self.c.connect_async("127.0.0.1", port, 30)

    def _on_connect(self, c, u, flags, rc, props=None):
        if rc == 0:
            self.connected.set()

    def _on_message(self, c, u, m):
        with self.lock:
            self.got.append(m.payload)

    def _on_publish(self, c, u, mid):
        with self.lock:
            self.nacked += 1

    def unacked(self):
        with self.lock:
            return len(self.sent) - self.nacked

    def acked(self):
        """The payloads whose PUBACK or PUBCOMP came."""
        with self.lock:
            # _published, not is_published(): that raises for a message
            # published while the broker was down, which paho keeps and
            # sends once connected again.
            return [m for m, info in self.sent if info._published]

    def publish(self, payload, qos):
        # Not under self.lock: paho calls on_publish holding its own.
        info = self.c.publish(TOPIC % qos, payload, qos)
        with self.lock:
            self.sent.append((payload, info))

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def follow(peers, port):
    """Move the clients to the broker on `port`: their network threads,
    waiting out paho's reconnect delay, stop (together: each takes up to
    a second), then each reconnects once."""
    stops = [threading.Thread(target=p.c.loop_stop) for p in peers]
    for t in stops:
        t.start()
    for t in stops:
        t.join(DEADLINE)
    for p in peers:
        p.connect(port)
        p.c.loop_start()


def publisher_loop(p, qos, stop):
    """Publish numbered messages while the window has room, through the
    kills (paho keeps them, and sends them when it is connected again)."""
    n = 0
    while not stop.is_set():
        if p.unacked() >= WINDOW:
            time.sleep(0.001)
            continue
        n += 1
        p.publish(("p%d-%07d" % (qos, n)).encode(), qos)
    return n


def seq(payload):
    tag, n = payload.decode().split("-")
    return tag, int(n)


def killed_at_random_moments_nothing_acknowledged_is_lost(_):
    rnd = random.Random(SEED)
    d = os.path.join(_tmp, "kill-" + LOOP)
    b = persistent(d)
    subs = {}
    # (id, version, QoS, online)
    plan = [("on1", paho.MQTTv311, 1, True), ("on2", paho.MQTTv5, 2, True),
            ("off1", paho.MQTTv5, 1, False),
            ("off2", paho.MQTTv311, 2, False)]
    try:
        for cid, ver, q, online in plan:
            s = Peer(b.port, cid, ver)
            r = s.c.subscribe("crash/+", q)
            assert r[0] == 0
            end = time.time() + DEADLINE
            # The SUBACK waits for the commit: seen once the session has
            # its subscription on disk.
            while int(b.metric("ringmq_store_acks_held_total")) < len(subs) + 1:
                assert time.time() < end, "no SUBACK for " + cid
                time.sleep(0.01)
            if not online:
                s.close()
                s = None
            subs[cid] = s
        pubs = {1: Peer(b.port, "pub1", paho.MQTTv311),
                2: Peer(b.port, "pub2", paho.MQTTv5)}
        stop = threading.Event()
        threads = [threading.Thread(target=publisher_loop,
                                    args=(pubs[q], q, stop), daemon=True)
                   for q in pubs]
        for t in threads:
            t.start()
        marks = {}  # subscriber -> how many it had at each kill
        history = []  # messages kept before each kill, read back after
        for k in range(KILLS):
            time.sleep(rnd.uniform(0.2, 1.2))
            try:
                kept = b.metric("ringmq_store_kept_total")
            except Exception:
                kept = "?"
            kill(b)
            history.append("kept %s" % kept)
            for cid, s in subs.items():
                if s:
                    with s.lock:
                        marks.setdefault(cid, []).append(len(s.got))
            b = persistent(d)
            history.append("loaded %s" % b.metric("ringmq_store_queued_loaded"))
            follow(list(pubs.values()) + [s for s in subs.values() if s],
                   b.port)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(DEADLINE)
        # What the publishers have in flight is finished.
        end = time.time() + 3 * DEADLINE
        while any(p.unacked() for p in pubs.values()):
            assert time.time() < end, "publishers never got their acks: %s" \
                % {q: p.unacked() for q, p in pubs.items()}
            time.sleep(0.05)
        acked = {q: sorted(seq(m)[1] for m in p.acked())
                 for q, p in pubs.items()}
        for cid, ver, q, online in plan:
            if not online:
                subs[cid] = Peer(b.port, cid, ver)
        # Every acknowledged message reaches every subscriber.
        # Bounded by progress: a subscriber may have tens of thousands of
        # messages queued, but it must not go DEADLINE seconds without one
        # more arriving.
        for cid, s in sorted(subs.items(), key=lambda kv: kv[0][1:]):
            end, seen = time.time() + DEADLINE, 0
            missing = {q: set(acked[q]) for q in acked}
            while True:
                with s.lock:
                    new = s.got[seen:]
                if new:
                    seen += len(new)
                    end = time.time() + DEADLINE
                    for m in new:
                        tag, n = seq(m)
                        missing[int(tag[1:])].discard(n)
                if not any(missing.values()):
                    break
                if time.time() >= end:
                    info = [l for l in b.metrics_text().splitlines()
                            if l.startswith(("ringmq_inflight", "ringmq_queued",
                                             "ringmq_store_", "ringmq_conn"))]
                    raise AssertionError("%s (connected %s, %d got) never "
                                         "got %s of %s\n%s\n%s" % (
                        cid, s.connected.is_set(), len(s.got),
                        {q: (len(v), sorted(v)[:5], sorted(v)[-5:])
                         for q, v in missing.items() if v},
                        {q: len(v) for q, v in acked.items()},
                        "\n".join(info), history))
                time.sleep(0.05)
        time.sleep(0.5)  # duplicates, if any, have time to come
        dups = 0
        for cid, ver, q, online in plan:
            s = subs[cid]
            with s.lock:
                got = [seq(m) for m in s.got]
            for tag in ("p1", "p2"):
                nums = [n for t, n in got if t == tag]
                first = []
                seen = set()
                for n in nums:
                    if n not in seen:
                        seen.add(n)
                        first.append(n)
                assert first == sorted(first), "%s: %s out of order: %s" % (
                    cid, tag, first[:50])
                extra = len(nums) - len(first)
                if tag == "p2" and q == 2 and extra:
                    where = {}
                    for i, (t, n) in enumerate(got):
                        if t == tag:
                            where.setdefault(n, []).append(i)
                    twice = sorted((n, w) for n, w in where.items()
                                   if len(w) > 1)
                    raise AssertionError(
                        "%s got %d QoS 2 messages twice: %s; kills after "
                        "message %s" % (cid, extra, twice[:10],
                                        marks.get(cid)))
                dups += extra
        print("kills %d (seed %d); acknowledged: QoS 1 %d, QoS 2 %d; "
              "delivered %d; QoS 1 duplicates %d" % (
                  KILLS, SEED, len(acked[1]), len(acked[2]),
                  sum(len(s.got) for s in subs.values()), dups))
        assert len(acked[1]) > 0 and len(acked[2]) > 0
        for s in list(subs.values()) + list(pubs.values()):
            s.close()
    finally:
        b.stop()


try:
    run([killed_at_random_moments_nothing_acknowledged_is_lost],
        make_broker=None)
finally:
    shutil.rmtree(_tmp, ignore_errors=True)
