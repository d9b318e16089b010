#!/usr/bin/env python3
"""A local stand-in for RingMQ's Kubernetes StatefulSet.

What a cluster gives the StatefulSet's pods, made on one Linux machine
(root: network, mount and UTS namespaces):

- pods ringmq-0 .. ringmq-(N-1), each a broker process in a network
  namespace of its own with an address on a bridge (10.214.K.0/24, the
  machine being .1), its host name the pod's name (the node name), its
  own volume at /var/lib/ringmq (a directory kept when the pod goes, as
  a PersistentVolumeClaim is), and the manifests' configuration file as
  it is (deploy/kubernetes/base/ringmq.conf);
- a DNS server (dnsmasq) answering as the cluster's DNS does:
  ringmq-I.ringmq-headless.NS.svc.cluster.local is pod I, the headless
  Service ringmq-headless.NS.svc.cluster.local every pod that has an
  address (publishNotReadyAddresses), and the client Service
  ringmq.NS.svc.cluster.local every ready pod (no virtual address: the
  client gets the pods' own); each pod's resolv.conf has Kubernetes'
  search path, so the short names work;
- scaling as the StatefulSet controller does it with podManagementPolicy
  Parallel: pods missing below N start together; pods at N and above
  leave the Services' names, get SIGTERM and, after the grace period,
  SIGKILL; a pod made again gets a new address, its volume back.  A pod
  whose process dies is started again in place (same address), as the
  kubelet restarts a container.

Use:
    deploy/standin/standin.py up 3          # network, DNS, pods 0-2
    deploy/standin/standin.py scale 5       # and 5, 1, ...
    deploy/standin/standin.py restart 1     # pod 1 made again (a rollout)
    deploy/standin/standin.py status
    deploy/standin/standin.py down [--purge]

The state (pods, addresses, logs, volumes) is in --state (default
/var/tmp/ringmq-standin); --net K picks the subnet; --bin the broker
(default: build/broker/ringmq of this tree).  Python's standard library
only, so that tests import it (test/integration/27_statefulset.py).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(os.path.dirname(HERE))
CONFIG = os.path.join(TREE, "deploy", "kubernetes", "base", "ringmq.conf")
VOLUME_AT = "/var/lib/ringmq"  # where the config puts the data
ETC_AT = "/etc/ringmq"  # where the pods' projected volume is
ADMIN_PORT = 8080  # the config's admin_listener
MQTT_PORT = 1883


def sh(*cmd, check=True, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       input=input)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child that exited stays a zombie until it is waited for.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class StatefulSet:
    def __init__(self, state=None, net=0, binary=None, config=CONFIG,
                 name="ringmq", namespace="ringmq", grace=30, args=(),
                 etc=None):
        if os.geteuid() != 0:
            raise PermissionError("the stand-in needs root (namespaces)")
        self.state = os.path.abspath(state or "/var/tmp/ringmq-standin")
        self.net = int(net)
        if not 0 <= self.net <= 255:
            raise ValueError("--net is 0-255")
        self.binary = os.path.abspath(
            binary or os.path.join(TREE, "build", "broker", "ringmq"))
        self.config = os.path.abspath(config)
        # what the pod's projected volume shows (the ConfigMap's file and
        # the Secrets'), bound at ETC_AT in each pod; config is then a
        # path under ETC_AT, as the container's -c names it
        self.etc = os.path.abspath(etc) if etc else None
        self.name = name
        self.namespace = namespace
        self.grace = grace
        self.args = list(args)
        self.prefix = "10.214.%d." % self.net
        self.bridge = "rmqss%d" % self.net
        self.domain = "%s.svc.cluster.local" % namespace
        self.headless = "%s-headless" % name
        self.pods = {}  # ordinal -> {"pid", "ip", "ready", "restarts"}
        self.next_ip = 10
        self.procs = {}  # ordinal -> Popen, when this process started it
        self.exits = []  # (pod, exit status) of those, as they ended
        self.on_change = None  # told when the DNS answers change
        self._load()

    # ---- state kept between commands ----

    def _path(self, *p):
        return os.path.join(self.state, *p)

    def _load(self):
        try:
            with open(self._path("state.json")) as f:
                s = json.load(f)
        except (OSError, ValueError):
            return
        if s.get("net") != self.net:
            raise RuntimeError("%s holds the stand-in of --net %s" %
                               (self.state, s.get("net")))
        self.pods = {int(k): v for k, v in s["pods"].items()}
        self.next_ip = s["next_ip"]

    def _save(self):
        os.makedirs(self.state, exist_ok=True)
        tmp = self._path("state.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"net": self.net, "pods": self.pods,
                       "next_ip": self.next_ip}, f)
        os.rename(tmp, self._path("state.json"))

    # ---- names ----

    def pod(self, i):
        return "%s-%d" % (self.name, i)

    def fqdn(self, i):
        return "%s.%s.%s" % (self.pod(i), self.headless, self.domain)

    def netns(self, i):
        return "rmqss%d-%d" % (self.net, i)

    def addr(self, i):
        return self.pods[i]["ip"]

    def ready_pods(self):
        return sorted(i for i, p in self.pods.items() if p.get("ready"))

    # ---- the network and the DNS ----

    def _network(self):
        os.makedirs(self.state, exist_ok=True)
        links = sh("ip", "-o", "link", "show").stdout
        if (" %s:" % self.bridge) not in links:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            # An address of its own: a bridge left to take its ports'
            # lowest one changes it when a pod's link with a lower one
            # joins, and the pods' DNS queries to it then went to the old
            # one until their neighbour entry was probed again (about 5 s
            # of lookups unanswered; no cluster network does that).
            sh("ip", "link", "set", self.bridge, "address",
               "02:72:6d:71:%02x:01" % (self.net & 0xff))
            sh("ip", "addr", "add", self.prefix + "1/24", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
        self._hosts()
        if not alive(self._dns_pid()):
            self._dns_start()

    def _dns_pid(self):
        try:
            with open(self._path("dnsmasq.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _dns_start(self):
        sh("/usr/sbin/dnsmasq", "--conf-file=/dev/null", "--bind-interfaces",
           "--listen-address=" + self.prefix + "1", "--port=53",
           "--no-resolv", "--no-hosts", "--no-negcache",
           "--local=/cluster.local/", "--local-ttl=1",
           "--addn-hosts=" + self._path("hosts"),
           "--pid-file=" + self._path("dnsmasq.pid"),
           "--log-facility=" + self._path("dnsmasq.log"),
           "--user=root", "--group=root")
        end = time.time() + 5
        while not alive(self._dns_pid()):
            if time.time() > end:
                raise RuntimeError("dnsmasq did not start: see " +
                                   self._path("dnsmasq.log"))
            time.sleep(0.05)

    def _hosts(self):
        """The DNS answers from the pods now: each pod's name, the
        headless Service (every pod with an address), the client Service
        (ready pods).  dnsmasq reads the file again at SIGHUP."""
        lines = []
        headless = "%s.%s" % (self.headless, self.domain)
        service = "%s.%s" % (self.name, self.domain)
        for i in sorted(self.pods):
            p = self.pods[i]
            names = [self.fqdn(i), headless]
            if p.get("ready"):
                names.append(service)
            lines.append("%s %s" % (p["ip"], " ".join(names)))
        tmp = self._path("hosts.tmp")
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, self._path("hosts"))
        pid = self._dns_pid()
        if alive(pid):
            os.kill(pid, signal.SIGHUP)
        if self.on_change:
            self.on_change(self)

    # ---- pods ----

    def _join(self, ns, veth, ip, hosts):
        """A network namespace on the bridge at ip, with what the
        kubelet writes into a pod: its resolv.conf (the cluster's DNS,
        Kubernetes' search path) and its hosts file (hosts: its line)."""
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", veth, check=False)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name",
           "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", self.bridge, "up")
        for cmd in (("ip", "addr", "add", ip + "/24", "dev", "eth0"),
                    ("ip", "link", "set", "eth0", "up"),
                    ("ip", "link", "set", "lo", "up"),
                    ("ip", "route", "add", "default", "via",
                     self.prefix + "1")):
            sh("ip", "netns", "exec", ns, *cmd)
        etc = "/etc/netns/%s" % ns
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("search %s svc.cluster.local cluster.local\n"
                    "nameserver %s1\noptions ndots:5\n" %
                    (self.domain, self.prefix))
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n%s\n" % hosts)

    def _unjoin(self, ns, veth):
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", veth, check=False)
        etc = "/etc/netns/%s" % ns
        for f in ("resolv.conf", "hosts"):
            try:
                os.unlink(os.path.join(etc, f))
            except OSError:
                pass
        try:
            os.rmdir(etc)
        except OSError:
            pass

    def _pod_net(self, i, ip):
        self._join(self.netns(i), "rmqss%dh%d" % (self.net, i), ip,
                   "%s %s %s" % (ip, self.fqdn(i), self.pod(i)))

    def _pod_unnet(self, i):
        self._unjoin(self.netns(i), "rmqss%dh%d" % (self.net, i))

    # ---- other workloads of the namespace ----

    def client(self, k):
        """A pod of another workload in the same namespace (k 0-7: a
        Prometheus, load generators): a network namespace on the bridge
        at .2+k, resolving the cluster's names as the pods do.  Its name
        and address; `ip netns exec NAME` runs a command in it."""
        if not 0 <= k <= 7:
            raise ValueError("clients are 0-7")
        self._network()
        ns, ip = "rmqss%d-c%d" % (self.net, k), self.prefix + str(2 + k)
        self._join(ns, "rmqss%dc%d" % (self.net, k), ip,
                   "%s client-%d" % (ip, k))
        return ns, ip

    def client_gone(self, k):
        self._unjoin("rmqss%d-c%d" % (self.net, k),
                     "rmqss%dc%d" % (self.net, k))

    def _spawn(self, i):
        """The pod's container: the broker with the config file, its host
        name the pod's, its volume at VOLUME_AT."""
        vol = self._path("volumes", self.pod(i))
        os.makedirs(vol, exist_ok=True)
        os.makedirs(VOLUME_AT, exist_ok=True)  # the mount points
        if self.etc:
            os.makedirs(ETC_AT, exist_ok=True)
        script = ('hostname "$1" && mount --bind "$2" "$3" && '
                  'if [ -n "$4" ]; then mount --bind "$4" "$5" || exit 1; '
                  'fi && shift 5 && exec "$@"')
        cmd = ["ip", "netns", "exec", self.netns(i), "unshare", "--uts",
               "--mount", "--propagation", "private", "sh", "-c", script,
               "pod", self.pod(i), vol, VOLUME_AT, self.etc or "", ETC_AT,
               self.binary, "-c", self.config] + self.args
        # None of the caller's RINGMQ_* settings (they would override
        # the file).  The manifest's own RINGMQ_THREADS (from the CPU
        # request) is not applied: pods here run a loop per host CPU.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RINGMQ_")}
        log = open(self._path("%s.log" % self.pod(i)), "a")
        p = subprocess.Popen(cmd, stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        log.close()
        self.procs[i] = p
        return p.pid

    def _new_ip(self):
        used = set(p["ip"] for p in self.pods.values())
        for _ in range(241):
            ip = self.prefix + str(self.next_ip)
            self.next_ip = 10 if self.next_ip >= 250 else self.next_ip + 1
            if ip not in used:
                return ip
        raise RuntimeError("no free address in %s0/24" % self.prefix)

    def _create(self, i):
        """Pod i made (anew: a new address), its container started."""
        ip = self._new_ip()
        self._pod_net(i, ip)
        self.pods[i] = {"ip": ip, "pid": 0, "ready": False, "restarts": 0,
                        "created": time.time()}
        self.pods[i]["pid"] = self._spawn(i)
        self._hosts()
        self._save()

    def readyz(self, i, timeout=1.0):
        """The readiness probe: /readyz on the pod's admin port."""
        try:
            with urllib.request.urlopen("http://%s:%d/readyz" % (
                    self.addr(i), ADMIN_PORT), timeout=timeout) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_ready(self, pods, timeout=60):
        """Probe pods until each is ready; each joins the client Service
        then.  Returns {ordinal: seconds from its creation to ready}."""
        took = {}
        end = time.time() + timeout
        left = set(pods)
        while left:
            for i in sorted(left):
                if not alive(self.pods[i]["pid"]):
                    raise RuntimeError("%s exited: see %s" % (
                        self.pod(i), self._path("%s.log" % self.pod(i))))
                if self.readyz(i, 0.5):
                    self.pods[i]["ready"] = True
                    took[i] = time.time() - self.pods[i]["created"]
                    left.discard(i)
            if left:
                if time.time() > end:
                    raise TimeoutError("not ready: %s" % sorted(left))
                time.sleep(0.05)
        self._hosts()
        self._save()
        return took

    def _terminate(self, pods):
        """Pods deleted as the StatefulSet controller deletes them: out of
        the Services' names first, then SIGTERM, SIGKILL after the grace
        period.  Returns {ordinal: seconds from SIGTERM to exit}."""
        for i in pods:
            self.pods[i]["ready"] = False
        gone = {i: self.pods.pop(i) for i in pods}
        self._hosts()
        self._save()
        t0 = {}
        for i, p in gone.items():
            t0[i] = time.time()
            try:
                os.kill(p["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
        took = {}
        end = time.time() + self.grace
        while len(took) < len(gone):
            for i, p in gone.items():
                if i in took:
                    continue
                self._reap(i)
                if not alive(p["pid"]):
                    took[i] = time.time() - t0[i]
                elif time.time() >= end:
                    self._stacks(i, p["pid"])
                    os.kill(p["pid"], signal.SIGKILL)
                    self._reap(i, wait=True)
                    took[i] = time.time() - t0[i]
            time.sleep(0.01)
        for i in gone:
            self._reap(i, wait=True)
            self._pod_unnet(i)
        return took

    def _stacks(self, i, pid):
        """Where a pod that outlived its grace period is stuck: every
        thread's stack appended to its log, when gdb is there."""
        if not shutil.which("gdb"):
            return
        with open(self._path("%s.log" % self.pod(i)), "a") as log:
            log.write("--- stacks of pid %d, past the grace period\n" % pid)
            log.flush()
            try:
                subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                                "-ex", "thread apply all bt"],
                               stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=60,
                               check=False)
            except subprocess.TimeoutExpired:
                log.write("gdb took more than 60 s\n")

    def _reap(self, i, wait=False):
        p = self.procs.get(i)
        if p is None:
            return
        try:
            p.wait(timeout=5 if wait else 0)
            del self.procs[i]
            self.exits.append((self.pod(i), p.returncode))
        except subprocess.TimeoutExpired:
            pass

    # ---- what an operator does ----

    def up(self, n):
        self._network()
        return self.scale(n)

    def scale(self, n):
        """Replicas to n: returns ("up", {pod: seconds to ready}) or
        ("down", {pod: seconds from SIGTERM to exit})."""
        self._network()
        self.heal()
        more = [i for i in range(n) if i not in self.pods]
        fewer = sorted((i for i in self.pods if i >= n), reverse=True)
        if fewer:
            return "down", self._terminate(fewer)
        for i in more:
            self._create(i)
        return "up", self.wait_ready(more)

    def restart(self, i):
        """Pod i deleted and made again (a rolling update's step): returns
        (seconds from SIGTERM to exit, seconds from creation to ready)."""
        gone = self._terminate([i])[i]
        self._create(i)
        return gone, self.wait_ready([i])[i]

    def kill(self, i):
        """The pod's process killed (-9); heal() starts it again in place."""
        os.kill(self.pods[i]["pid"], signal.SIGKILL)
        self._reap(i, wait=True)

    def heal(self):
        """Containers that died started again in place (same address), as
        the kubelet does; they leave the client Service until ready."""
        again = []
        for i, p in sorted(self.pods.items()):
            if not alive(p["pid"]):
                self._reap(i, wait=True)
                p["ready"] = False
                p["restarts"] += 1
                p["created"] = time.time()
                p["pid"] = self._spawn(i)
                again.append(i)
        if again:
            self._hosts()
            self._save()
        return again

    def status(self):
        rows = []
        for i, p in sorted(self.pods.items()):
            rows.append("%-10s %-15s pid %-7d %-9s restarts %d" % (
                self.pod(i), p["ip"], p["pid"],
                "ready" if self.readyz(i, 0.5) else "not ready",
                p["restarts"]))
        return rows

    def down(self, purge=False):
        self._terminate(sorted(self.pods, reverse=True))
        for k in range(8):
            if os.path.exists("/run/netns/rmqss%d-c%d" % (self.net, k)):
                self.client_gone(k)
        pid = self._dns_pid()
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
        sh("ip", "link", "del", self.bridge, check=False)
        for f in ("state.json", "hosts", "dnsmasq.pid"):
            try:
                os.unlink(self._path(f))
            except OSError:
                pass
        if purge:
            subprocess.run(["rm", "-rf", self.state], check=False)


def main(argv):
    ap = argparse.ArgumentParser(
        description="A local stand-in for RingMQ's StatefulSet.")
    ap.add_argument("--state", default="/var/tmp/ringmq-standin")
    ap.add_argument("--net", type=int, default=0,
                    help="the subnet: 10.214.NET.0/24 (default 0)")
    ap.add_argument("--bin", help="the broker (default: this tree's build)")
    ap.add_argument("--config", default=CONFIG)
    ap.add_argument("--etc", help="a directory bound at %s in every pod "
                    "(the projected volume's files; the mount point is "
                    "made on this machine, empty); --config then names a "
                    "file under it" % ETC_AT)
    ap.add_argument("--grace", type=int, default=30,
                    help="terminationGracePeriodSeconds (default 30)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for c in ("up", "scale"):
        sub.add_parser(c).add_argument("replicas", type=int)
    sub.add_parser("restart").add_argument("ordinal", type=int)
    sub.add_parser("kill").add_argument("ordinal", type=int)
    sub.add_parser("status")
    sub.add_parser("down").add_argument("--purge", action="store_true")
    a = ap.parse_args(argv)
    s = StatefulSet(a.state, a.net, a.bin, a.config, grace=a.grace,
                    etc=a.etc)
    if a.cmd in ("up", "scale"):
        how, took = getattr(s, a.cmd)(a.replicas)
        for i, t in sorted(took.items()):
            print("%s %s in %.3f s" % (
                s.pod(i), "ready" if how == "up" else "gone", t))
    elif a.cmd == "restart":
        gone, ready = s.restart(a.ordinal)
        print("%s gone in %.3f s, ready again in %.3f s" % (
            s.pod(a.ordinal), gone, ready))
    elif a.cmd == "kill":
        s.kill(a.ordinal)
    elif a.cmd == "status":
        print("\n".join(s.status()) or "no pods")
    elif a.cmd == "down":
        s.down(a.purge)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
