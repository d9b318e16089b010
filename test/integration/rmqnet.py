"""Hosts of the integration tests' own, in network namespaces.

Net(n) makes n network namespaces, each with one address on a bridge of
the test's own (10.213.X.0/24, X free on this machine); the test process
is .1 on that bridge, node i is .(i + 2).  A broker started with
`prefix=net.exec(i)` and `host=net.addr(i)` runs in namespace i, and the
test reaches its ports as it reaches any address.  Each namespace has an
nftables table whose input chain the test fills (lossy(), heal()):
packets from the test's own address are never touched, so only what the
nodes send each other is lost.  Everything is removed at close() or at
exit, and what a test killed before its cleanup left behind is removed
by the next one.

Needs root (CAP_NET_ADMIN), iproute2 and nftables; without them the test
is skipped, visibly.
"""
import atexit
import fcntl
import os
import re
import subprocess

from rmqtest import Skip

LOCK = "/tmp/rmqnet.lock"


def sh(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _sweep():
    """Remove the namespaces and bridges of test processes gone."""
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        m = re.match(r"rmqn(\d+)-\d+", ns)
        if m and not _alive(int(m.group(1))):
            sh("ip", "netns", "del", m.group(0), check=False)
    for m in re.finditer(r"^\d+: (rmqb(\d+)):",
                         sh("ip", "-o", "link", "show", check=False).stdout,
                         re.M):
        if not _alive(int(m.group(2))):
            sh("ip", "link", "del", m.group(1), check=False)


class Net:
    def __init__(self, n):
        if os.geteuid() != 0:
            raise Skip("network namespaces need root")
        for tool in ("/usr/sbin/ip", "/usr/sbin/nft"):
            if not os.path.exists(tool):
                raise Skip("%s is missing (scripts/deps --test)" % tool)
        self.n = n
        self.pid = os.getpid()
        self.bridge = "rmqb%d" % self.pid
        self.names = ["rmqn%d-%d" % (self.pid, i) for i in range(n)]
        self.made = []
        self.lost = [0] * n  # packets the rules took, rules gone included
        atexit.register(self.close)
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _sweep()
            used = set(re.findall(r"inet 10\.213\.(\d+)\.",
                                  sh("ip", "-o", "-4", "addr").stdout))
            free = [x for x in range(1, 255) if str(x) not in used]
            if not free:
                raise Skip("no free 10.213.X.0/24 subnet")
            self.prefix = "10.213.%d." % free[self.pid % len(free)]
            try:
                self._make()
            except RuntimeError as e:
                self.close()
                raise Skip("network namespaces: %s" % e)

    def _make(self):
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        sh("ip", "addr", "add", self.host + "/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i, ns in enumerate(self.names):
            sh("ip", "netns", "add", ns)
            self.made.append(("netns", ns))
            veth = "rmqv%d-%d" % (self.pid, i)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name",
               "eth0", "netns", ns)
            # Deleted first: a namespace can outlive its deletion a while.
            self.made.append(("link", veth))
            sh("ip", "link", "set", veth, "master", self.bridge, "up")
            sh("ip", "-n", ns, "addr", "add", self.addr(i) + "/24", "dev",
               "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.nft(i, "add table inet rmqnet")
            self.nft(i, "add chain inet rmqnet input { type filter hook "
                        "input priority 0; policy accept; }")

    @property
    def host(self):
        """The test process's address on the bridge."""
        return self.prefix + "1"

    def addr(self, i):
        return self.prefix + str(i + 2)

    def exec(self, i):
        """The prefix that runs a command in namespace i."""
        return ("ip", "netns", "exec", self.names[i])

    def nft(self, i, rule):
        sh("ip", "netns", "exec", self.names[i], "nft", rule)

    def lossy(self, i, percent, resets_per_mille=0):
        """Namespace i drops `percent` % of the packets other nodes send
        it, and answers `resets_per_mille` of their TCP segments with a
        reset (the connection is lost, with what it carried)."""
        self.heal(i)
        peers = "ip saddr != %s" % self.host
        if resets_per_mille:
            self.nft(i, "add rule inet rmqnet input %s meta l4proto tcp "
                        "numgen random mod 1000 < %d counter reject with "
                        "tcp reset" % (peers, resets_per_mille))
        if percent >= 100:
            self.nft(i, "add rule inet rmqnet input %s counter drop" % peers)
        elif percent > 0:
            self.nft(i, "add rule inet rmqnet input %s numgen random mod "
                        "100 < %d counter drop" % (peers, percent))

    def cut(self, i):
        """Namespace i and the others hear nothing of each other (heal()
        them all to undo it)."""
        self.lossy(i, 100)
        for j in range(self.n):
            if j != i:
                self.nft(j, "add rule inet rmqnet input ip saddr %s counter "
                            "drop" % self.addr(i))

    def heal(self, i=None):
        """Namespace i's rules gone (all namespaces' when i is None)."""
        for j in range(self.n) if i is None else (i,):
            self.lost[j] = self.dropped(j)
            self.nft(j, "flush chain inet rmqnet input")

    def dropped(self, i):
        """Packets namespace i's rules dropped or reset so far."""
        out = sh("ip", "netns", "exec", self.names[i], "nft", "list",
                 "chain", "inet", "rmqnet", "input").stdout
        return self.lost[i] + sum(
            int(p) for p in re.findall(r"counter packets (\d+)", out))

    def close(self):
        for kind, name in reversed(self.made):
            if kind == "netns":
                sh("ip", "netns", "del", name, check=False)
            else:
                sh("ip", "link", "del", name, check=False)
        self.made = []
