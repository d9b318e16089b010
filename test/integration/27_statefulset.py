#!/usr/bin/env python3
"""test/integration/27_statefulset.py: the cluster as a Kubernetes
StatefulSet runs it, in the local stand-in (deploy/standin/standin.py):
pods in network namespaces of their own, found through a DNS server that
names them as Kubernetes does, each running the manifests' configuration
file unchanged; scaled 3 -> 5 -> 3 -> 5 -> 1 -> 3 and restarted pod by
pod while clients that reconnect on loss publish and receive QoS 1
messages.  After each step every pod delivers to every other, and no
message a publisher had acknowledged is missing at any subscriber.

The traffic is short in CI (a second of it per step); RMQTEST_FULL=1 runs
the same steps with more clients and longer (docs/development.md).  A DNS
server that stops answering takes no pod down either.  Needs
root, iproute2 and dnsmasq (scripts/deps --test); skipped visibly without.
"""
import faulthandler
import fcntl
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from rmqtest import (BROKER, DEADLINE, LOOP, PacketTypes, Properties, Skip,
                     paho, run, stacks_summary)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "deploy", "standin"))
import standin  # noqa: E402  (deploy/standin, beside the tests)

faulthandler.dump_traceback_later(900, exit=True)

FULL = bool(os.environ.get("RMQTEST_FULL"))
HOLD = 8.0 if FULL else 1.0  # seconds of traffic after each step
SUBSCRIBERS = 12 if FULL else 4
PUBLISHERS = 6 if FULL else 2
RATE = 200 if FULL else 50  # messages a second, each publisher
LATE_MAX = 120.0  # seconds the load's last messages may take to arrive


def free_net():
    """A 10.214.X.0/24 no interface of this machine is on."""
    used = set(re.findall(r"inet 10\.214\.(\d+)\.",
                          subprocess.run(["ip", "-o", "-4", "addr"],
                                         capture_output=True,
                                         text=True).stdout))
    free = [x for x in range(100, 255) if str(x) not in used]
    if not free:
        raise Skip("no free 10.214.X.0/24 subnet")
    return free[os.getpid() % len(free)]


def statefulset():
    if os.geteuid() != 0:
        raise Skip("the stand-in's namespaces need root")
    for tool in ("/usr/sbin/ip", "/usr/sbin/dnsmasq", "/usr/bin/unshare"):
        if not os.path.exists(tool):
            raise Skip("%s is missing (scripts/deps --test)" % tool)
    state = tempfile.mkdtemp(prefix="rmq-standin-")
    # Its bridge made while no other test picks a subnet (both loop
    # backends' runs may go at once).
    with open("/tmp/rmq-standin.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # The manifests' configuration, but for the loop.  The load's
        # subscribers (paho, in Python) lag by up to seconds, so a
        # session told to go holds a backlog of hundreds of messages; the
        # default max_queued_messages (1000) bounds only what arrives
        # while its client is away, not that backlog (when it did, 9 of
        # 24 long rolling restarts dropped messages: queue_full).
        ss = standin.StatefulSet(state, free_net(), BROKER,
                                 args=("--loop", LOOP))
        ss.up(0)
    return ss


def print_stacks(name, lines):
    """The stacks the stand-in logged for a pod past its grace period."""
    try:
        at = max(i for i, x in enumerate(lines)
                 if x.startswith("--- stacks of pid"))
    except ValueError:
        return
    print("--- %s: %s" % (name, lines[at][4:]))
    print("\n".join(stacks_summary(lines[at + 1:])))


def close(ss, failed):
    ss.down()
    # Every pod stopped by SIGTERM exits 0 (under the sanitizers, a leak
    # or an error would not).
    bad = [e for e in ss.exits if e[1] != 0]
    logs = {}
    for f in sorted(os.listdir(ss.state)):
        if f.endswith(".log"):
            with open(os.path.join(ss.state, f)) as fh:
                logs[f] = fh.read().splitlines()
    # A pod whose NNG sockets did not close (its reaper wedged, NNG
    # 1.5.2) exits 0 without them: told, not failed.
    wedged = [f[:-4] for f, lines in logs.items()
              if any("NNG's threads left behind" in x for x in lines)]
    for pod in wedged:
        print("note: %s stopped with NNG's threads left behind" % pod)
    # What each pod dropped for its sessions, told as it stopped (its
    # counters leave with it).  A copy of a message a moving session
    # brought along (moved_twice) is no loss; any other reason is: a
    # bound of the configuration hit under the test's load.
    dropped = []
    for f, lines in logs.items():
        for x in lines:
            if "messages not delivered to a session" in x:
                said = x.split("by reason: ", 1)[-1]
                print("note: %s: %s" % (f[:-4], said))
                dropped += ["%s: %s" % (f[:-4], r)
                            for r in said.split(", ")
                            if not r.startswith("moved_twice ")]
    if failed or bad or dropped:
        for f, lines in logs.items():
            print("--- %s (last 30 lines)" % f)
            print("\n".join(lines[-30:]))
            print_stacks(f, lines)
    if failed or bad or wedged or dropped:
        print("the pods' whole logs are kept in %s" % ss.state)
    else:
        shutil.rmtree(ss.state, ignore_errors=True)
    if not failed:  # else the test's own failure is the one told
        assert not bad, "pods that did not exit 0: %s" % bad
        assert not dropped, "messages dropped at a bound: %s" % dropped


def metric(ss, i, name):
    with standin.urllib.request.urlopen("http://%s:%d/metrics" % (
            ss.addr(i), standin.ADMIN_PORT), timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


class Service:
    """The client Service as the clients see it: the ready pods'
    addresses, as the stand-in's DNS gives them (told at each change: a
    pod deleted leaves it before its SIGTERM)."""

    def __init__(self, ss):
        self.lock = threading.Lock()
        self.addrs = []
        self.update(ss)
        ss.on_change = self.update

    def update(self, ss):
        with self.lock:
            self.addrs = [ss.addr(i) for i in ss.ready_pods()]

    def pick(self, rng, avoid=None):
        with self.lock:
            choice = [a for a in self.addrs if a != avoid] or self.addrs
            return rng.choice(choice) if choice else None


class Reconnecting:
    """A paho client with a thread of its own that, once its connection is
    lost (a pod told it to go, or went), connects again at once through
    the Service to another pod (paho's own loop would wait a second, and
    try the same address)."""

    def __init__(self, svc, client_id, version, rng):
        self.svc, self.rng, self.version = svc, rng, version
        self.id = client_id
        if version == paho.MQTTv5:
            self.c = paho.Client(client_id=client_id, protocol=version)
        else:
            self.c = paho.Client(client_id=client_id, protocol=version,
                                 clean_session=False)
        self.c.max_inflight_messages_set(20)
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.reconnects = 0
        self.host = None
        self.thread = threading.Thread(target=self._run)

    def _connect(self, first):
        host = self.svc.pick(self.rng, None if first else self.host)
        kw = {}
        if self.version == paho.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            kw = {"clean_start": first, "properties": props}
        self.host = host
        try:
            self.c.connect(host, standin.MQTT_PORT, 30, **kw)
            return True
        except OSError:
            return False

    def _run(self):
        up = self._connect(True)
        while not self.stop.is_set():
            if not up:
                time.sleep(0.05)
                up = self._connect(False)
                self.reconnects += up
                continue
            if self.c.loop(0.05) != paho.MQTT_ERR_SUCCESS:
                self.connected.clear()
                up = False

    def start(self):
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.c.disconnect()


class Load:
    """PUBLISHERS publishers of QoS 1 messages at RATE a second each, and
    SUBSCRIBERS persistent subscribers of all of them at QoS 1 (3.1.1 and
    5.0 in turn), spread over the pods, every one reconnecting on loss."""

    def __init__(self, svc):
        self.rng = random.Random(27)
        self.stop = threading.Event()
        self.lk = threading.Lock()
        self.subs, self.pubs = [], []
        self.got = []  # per subscriber: set of (publisher, seq)
        self.dups = []
        self.acked = set()
        self.sent = 0
        versions = (paho.MQTTv311, paho.MQTTv5)
        for k in range(SUBSCRIBERS):
            s = Reconnecting(svc, "load-sub-%d" % k, versions[k % 2],
                             self.rng)
            self.got.append(set())
            self.dups.append(0)
            s.c.on_message = self._on_message(k)
            s.c.on_connect = self._subscribe(s)
            self.subs.append(s)
            s.start()
        for s in self.subs:
            assert s.connected.wait(DEADLINE), "subscriber not connected"
        for p in range(PUBLISHERS):
            c = Reconnecting(svc, "load-pub-%d" % p, paho.MQTTv311,
                             self.rng)
            c.pending, c.early = {}, set()
            c.c.on_publish = self._on_publish(c, p)
            c.c.on_connect = self._connected(c)
            self.pubs.append(c)
            c.start()
        self.threads = [threading.Thread(target=self._publish, args=(p,))
                        for p in range(PUBLISHERS)]
        for t in self.threads:
            t.start()

    def _subscribe(self, s):
        def on_connect(c, userdata, flags, rc, properties=None):
            if rc == 0:
                # Once, or again where the session was not kept (it is:
                # the subscription is in it, and this changes nothing).
                c.subscribe("load/#", 1)

        def on_subscribe(c, userdata, mid, *granted):
            # Subscribed once the SUBACK is here: the publishers start
            # after, or their first messages could come before the
            # SUBSCRIBE and be acknowledged with no one to get them.
            s.connected.set()
        s.c.on_subscribe = on_subscribe
        return on_connect

    def _connected(self, c):
        def on_connect(client, userdata, flags, rc, properties=None):
            if rc == 0:
                c.connected.set()
        return on_connect

    def _on_message(self, k):
        def on_message(c, userdata, msg):
            p, seq = msg.payload.decode().split(":")
            key = (int(p), int(seq))
            with self.lk:
                if key in self.got[k]:
                    self.dups[k] += 1
                self.got[k].add(key)
        return on_message

    def _on_publish(self, c, p):
        def on_publish(client, userdata, mid):
            with self.lk:
                seq = c.pending.pop(mid, None)
                if seq is None:
                    c.early.add(mid)
                else:
                    self.acked.add((p, seq))
        return on_publish

    def _publish(self, p):
        c = self.pubs[p]
        seq = 0
        while not self.stop.is_set():
            if not c.connected.wait(0.1):
                continue
            info = c.c.publish("load/%d" % p, "%d:%d" % (p, seq), 1)
            with self.lk:
                if info.mid in c.early:
                    c.early.discard(info.mid)
                    self.acked.add((p, seq))
                else:
                    c.pending[info.mid] = seq
                self.sent += 1
            seq += 1
            time.sleep(1.0 / RATE)

    def finish(self):
        """Publishing stops; once every acknowledged message is at every
        subscriber (or DEADLINE): {published, acknowledged, lost,
        duplicates, reconnects}."""
        self.stop.set()
        for t in self.threads:
            t.join()
        # The subscribers (paho, in Python, one process) lag behind the
        # pods by seconds on a busy host: what is still coming is late,
        # not lost.  So the wait goes on while the count of missing
        # messages falls, and ends DEADLINE after it last fell (or after
        # LATE_MAX in all).
        start = time.time()
        end = start + DEADLINE
        before = None
        while time.time() < end:
            with self.lk:
                lost = sum(len(self.acked - g) for g in self.got)
            if lost == 0:
                break
            if before is not None and lost < before:
                end = min(time.time() + DEADLINE, start + LATE_MAX)
            before = lost
            time.sleep(0.2)
        with self.lk:
            missing = [sorted(self.acked - g)[:10] for g in self.got]
            out = {"published": self.sent, "acknowledged": len(self.acked),
                   "lost": sum(len(self.acked - g) for g in self.got),
                   "missing": missing,
                   "duplicates": sum(self.dups),
                   "late": time.time() - start,
                   "reconnects": sum(c.reconnects
                                     for c in self.subs + self.pubs)}
        for c in self.subs + self.pubs:
            c.close()
        return out


def every_pod_reaches_every_other(ss, step):
    """A subscriber on each ready pod, a publisher on each: every pod's
    message reaches every other pod's subscriber (sent again every 100 ms
    until it has, while the new routes spread)."""
    pods = ss.ready_pods()
    subs, pubs, got = {}, {}, {}
    lk = threading.Lock()
    try:
        for i in pods:
            got[i] = set()
            s = paho.Client(client_id="mesh-s-%s-%d" % (step, i))

            def on_message(c, userdata, msg, i=i):
                with lk:
                    got[i].add(msg.payload.decode())
            s.on_message = on_message
            s.connect(ss.addr(i), standin.MQTT_PORT, 30)
            s.loop_start()
            s.subscribe("mesh/%s/%d" % (step, i), 1)
            subs[i] = s
            p = paho.Client(client_id="mesh-p-%s-%d" % (step, i))
            p.connect(ss.addr(i), standin.MQTT_PORT, 30)
            p.loop_start()
            pubs[i] = p
        want = {i: set(str(j) for j in pods if j != i) for i in pods}
        end = time.time() + DEADLINE
        while True:
            with lk:
                short = {i: want[i] - got[i] for i in pods
                         if want[i] - got[i]}
            if not short:
                return
            assert time.time() < end, "%s: not delivered across pods " \
                "(subscriber's pod: publishers' pods): %s" % (step, short)
            for i, need in short.items():
                for j in need:
                    pubs[int(j)].publish("mesh/%s/%d" % (step, i), j, 1)
            time.sleep(0.1)
    finally:
        for c in list(subs.values()) + list(pubs.values()):
            c.disconnect()
            c.loop_stop()


def names_as_kubernetes_gives_them(_):
    # The stand-in's DNS, seen from inside a pod: each pod's name under
    # the headless Service, the Service itself listing every pod, the
    # short names completed by the search path; each pod's node name is
    # its host name, and all run the manifests' file as it is.
    ss = statefulset()
    failed = True
    try:
        r = subprocess.run([BROKER, "check-config", standin.CONFIG],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0, r.stderr
        _, took = ss.up(3)
        assert sorted(took) == [0, 1, 2], took
        addrs = {i: ss.addr(i) for i in range(3)}

        def resolve(i, name):
            r = subprocess.run(["ip", "netns", "exec", ss.netns(i),
                                "getent", "ahostsv4", name],
                               capture_output=True, text=True, timeout=10)
            return set(line.split()[0] for line in r.stdout.splitlines())
        for name in ("ringmq-headless", "ringmq-headless.ringmq.svc",
                     "ringmq-headless.ringmq.svc.cluster.local", "ringmq"):
            assert resolve(0, name) == set(addrs.values()), name
        for i in range(3):
            assert resolve((i + 1) % 3, "ringmq-%d.ringmq-headless" % i) == \
                {addrs[i]}, i
        for i in range(3):
            assert metric(ss, i, 'ringmq_cluster_peers{state="up"}') == 2
            with standin.urllib.request.urlopen("http://%s:%d/metrics" % (
                    addrs[i], standin.ADMIN_PORT), timeout=5) as r:
                text = r.read().decode()
            peers = set(re.findall(r'ringmq_cluster_peer_up\{peer="([^"]+)"'
                                   r'\} 1', text))
            assert peers == {"ringmq-%d" % j for j in range(3) if j != i}, \
                (i, peers)
        every_pod_reaches_every_other(ss, "names")
        failed = False
    finally:
        close(ss, failed)


def a_dns_outage_takes_no_pod_down(_):
    # The DNS server stops answering (dnsmasq stopped): each pod's next
    # lookup of the headless name waits out the C library's timeouts
    # (5 s, two tries).  The lookups run on a thread of their own, so the
    # hellos go on: no pod finds another silent, none withdraws another's
    # routes, and messages keep crossing between pods meanwhile.  (Made
    # on the hellos' thread, such a lookup took the pod for dead within
    # the 1.5 s peer timeout: 127-241 of 2,400 acknowledged messages were
    # not delivered in the bench Job's test.)
    ss = statefulset()
    failed = True
    dns = 0
    try:
        ss.up(3)
        dns = ss._dns_pid()
        assert dns > 0
        os.kill(dns, signal.SIGSTOP)
        # Every pod in a lookup that has waited past the peer timeout.
        end = time.time() + DEADLINE
        stalled = set()
        while len(stalled) < 3:
            assert time.time() < end, "lookups did not wait: %s" % stalled
            for i in range(3):
                if metric(ss, i, "ringmq_cluster_dns_lookup_seconds") > 2:
                    stalled.add(i)
            time.sleep(0.2)
        every_pod_reaches_every_other(ss, "dnsout")
        ended = [metric(ss, i, "ringmq_cluster_dns_lookups_total")
                 for i in range(3)]
        for i in range(3):
            assert metric(ss, i, 'ringmq_cluster_peers{state="up"}') == 2, i
            assert metric(ss, i, "ringmq_cluster_departures_total") == 0, i
        os.kill(dns, signal.SIGCONT)
        dns = 0
        # The lookups under way end (answered, or failed).
        end = time.time() + DEADLINE
        while not all(metric(ss, i, "ringmq_cluster_dns_lookups_total") >
                      ended[i] for i in range(3)):
            assert time.time() < end, "the stalled lookups did not end"
            time.sleep(0.2)
        for i in range(3):
            assert metric(ss, i, "ringmq_cluster_departures_total") == 0, i
        failed = False
    finally:
        if dns:
            os.kill(dns, signal.SIGCONT)
        close(ss, failed)


def under_load(steps):
    """Three pods, then Load's clients; steps(ss) changes the set (each
    step followed by HOLD seconds of traffic) and returns lines of
    figures.  Then every acknowledged message must be at every
    subscriber."""
    ss = statefulset()
    failed = True
    load = None
    try:
        ss.up(3)
        load = Load(Service(ss))
        time.sleep(HOLD)
        figures = steps(ss)
        out = load.finish()
        load = None
        print("    " + "\n    ".join(figures))
        print("    %(published)d published, %(acknowledged)d acknowledged,"
              " %(lost)d lost, %(duplicates)d duplicates, %(reconnects)d "
              "reconnections; the last in %(late).1f s after publishing "
              "stopped" % out)
        assert out["acknowledged"] > 0
        assert out["lost"] == 0, out["missing"]
        failed = False
    finally:
        if load:
            load.finish()
        close(ss, failed)


def scaling_sequence_loses_nothing(_):
    # Scaled 3 -> 5 -> 3 -> 5 -> 1 -> 3 under QoS 1 traffic: pods that go
    # get SIGTERM (their clients are told to go, and their sessions
    # follow them to the pods they reconnect to); pods that come back
    # have their volumes.  After each step every pod reaches every other;
    # at the end every acknowledged message is at every subscriber.
    def steps(ss):
        figures = []
        for n in (5, 3, 5, 1, 3):
            how, took = ss.scale(n)
            every_pod_reaches_every_other(ss, "to%d" % n)
            figures.append("to %d: %s" % (n, ", ".join(
                "%s %s %.2f s" % (ss.pod(i), "ready" if how == "up"
                                  else "gone", t)
                for i, t in sorted(took.items()))))
            time.sleep(HOLD)
        return figures
    under_load(steps)


def rolling_restart_loses_nothing(_):
    # Each of three pods deleted and made again in turn (a rolling
    # update: SIGTERM, then the pod anew with a new address and its
    # volume) under QoS 1 traffic; after each, every pod reaches every
    # other, and at the end every acknowledged message is at every
    # subscriber.
    def steps(ss):
        figures = []
        for i in (2, 1, 0):  # as the StatefulSet controller goes
            gone, ready = ss.restart(i)
            every_pod_reaches_every_other(ss, "restart%d" % i)
            figures.append("%s: gone %.2f s after SIGTERM, ready %.2f s "
                           "after made again" % (ss.pod(i), gone, ready))
            time.sleep(HOLD)
        return figures
    under_load(steps)


if __name__ == "__main__":
    run([names_as_kubernetes_gives_them, a_dns_outage_takes_no_pod_down,
         scaling_sequence_loses_nothing,
         rolling_restart_loses_nothing], make_broker=None)
