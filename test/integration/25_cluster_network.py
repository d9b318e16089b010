"""test/integration/25_cluster_network.py: nodes of a cluster as hosts of
their own (network namespaces on a bridge, rmqnet.py), on links the test
makes lossy, or cuts, with nftables.

The nodes' route changes, snapshots and forwarded messages cross links that
drop packets and reset connections; TCP hides the drops but not the resets,
which lose what the connection carried.  The channel's acknowledgements and
resends, and snapshots, must repair all of it: once the links heal, every
node holds exactly each peer's routes, and messages follow them.
"""
import random
import time

from rmqcluster import finish, node, routes, seed, wait_peers
from rmqnet import Net
from rmqtest import Client, run

REPAIRS = ("ringmq_cluster_control_resent_total",
           "ringmq_cluster_forward_resent_total",
           "ringmq_cluster_snapshots_installed_total",
           "ringmq_cluster_route_gaps_total")
TOPICS = 16  # per client


def total(b, name):
    """The sum of every series of a metric (all peers)."""
    return sum(float(line.split()[-1]) for line in b.metrics_text()
               .splitlines() if line.startswith((name + " ", name + "{")))


def repairs(nodes):
    """Each repair counter summed over the nodes."""
    return {m.split("cluster_")[1]: int(sum(total(x, m) for x in nodes))
            for m in REPAIRS}


class Cluster:
    """Three nodes, one per namespace, all seeded with the first; four
    clients on each, connected from the test's own address (whose packets
    the rules never touch), and the topics each subscribes to.  The
    listeners are not on loopback, so anonymous clients are let in by
    choice."""

    def __init__(self, net, names=("a", "b", "c")):
        self.net = net
        self.nodes, self.clients, self.held = [], [], {}
        self.rng = random.Random(25)
        anon = ("--allow-anonymous", "true")
        self.nodes.append(node(names[0], *anon, host=net.addr(0),
                               prefix=net.exec(0)))
        for i in range(1, len(names)):
            self.nodes.append(node(names[i], "--cluster-seeds",
                                   seed(self.nodes[0]), *anon,
                                   host=net.addr(i), prefix=net.exec(i)))
        self.all_up()
        for x in self.nodes:
            for k in range(4):
                cl = Client(x, "%s%d" % (x.name, k))
                cl.node, cl.id = x, "%s%d" % (x.name, k)
                self.clients.append(cl)
                self.held[cl] = {}

    def all_up(self):
        for x in self.nodes:
            wait_peers(x, {y.name: 1 for y in self.nodes if y is not x})

    def churn(self, rounds, clients=None, pause=0.06):
        """Each client subscribes to a topic of its own it does not hold
        or unsubscribes from one it does, `rounds` times: the changes
        made."""
        changes = 0
        for _ in range(rounds):
            for cl in clients or self.clients:
                topic = "L/%s/%d" % (cl.id, self.rng.randrange(TOPICS))
                if topic in self.held[cl]:
                    cl.unsubscribe(topic)
                    del self.held[cl][topic]
                else:
                    self.held[cl][topic] = self.rng.randrange(3)
                    cl.subscribe(topic, self.held[cl][topic])
                changes += 1
            time.sleep(pause)
        return changes

    def converge(self, bound=30):
        """Until every node holds, for each peer, as many routes as that
        peer has (bounded): the seconds it took."""
        t0 = time.time()
        want = {x.name: sum(len(self.held[cl]) for cl in self.clients
                            if cl.node is x) for x in self.nodes}
        for x in self.nodes:
            assert x.metric("ringmq_cluster_local_routes") == want[x.name]
        while not all(routes(x) == {n: v for n, v in want.items()
                                    if n != x.name} for x in self.nodes):
            assert time.time() < t0 + bound, (
                want, [routes(x) for x in self.nodes])
            time.sleep(0.05)
        return time.time() - t0

    def delivered(self):
        """The routes are the right ones, not only as many: a message for
        each topic a client may hold, published on each other node,
        reaches exactly the clients that hold it, once per publisher."""
        pubs = {x.name: Client(x, "pub-" + x.name) for x in self.nodes}
        try:
            for cl in self.held:
                cl.msgs.clear()
            for cl in self.held:
                for k in range(TOPICS):
                    for x in self.nodes:
                        if x is not cl.node:
                            pubs[x.name].publish("L/%s/%d" % (cl.id, k),
                                                 x.name.encode(), 1)
            for cl, topics in self.held.items():
                cl.wait_msgs(2 * len(topics))
            time.sleep(0.3)
            for cl, topics in self.held.items():
                got = sorted((m.topic, m.payload.decode()) for m in cl.msgs)
                assert got == sorted((t, x.name) for t in topics
                                     for x in self.nodes
                                     if x is not cl.node), (got, topics)
        finally:
            for p in pubs.values():
                p.close()

    def close(self, failed):
        if failed:
            for x in self.nodes:
                print("node %s:\n  %s" % (x.name, "\n  ".join(x.log[-15:])))
        for cl in self.clients:
            cl.close()
        try:
            finish(*self.nodes)
        finally:
            self.net.close()


def scenario(test):
    """test(cluster) on three nodes in namespaces of their own."""
    def wrapped(_):
        c = Cluster(Net(3))
        failed = True
        try:
            test(c)
            for x in c.nodes:
                assert x.metric("ringmq_cluster_bad_messages_total") == 0
            failed = False
        finally:
            c.close(failed)
    wrapped.__name__ = test.__name__
    return wrapped


@scenario
def lossy_links_converge(c):
    # Each node drops 30% of the packets the others send it and resets 1
    # TCP segment in 200 of theirs, while the twelve clients make about
    # 600 route changes over 3 s.  Then the links heal.
    before = repairs(c.nodes)
    for i in range(3):
        c.net.lossy(i, 30, 5)
    changes = c.churn(50)
    lost = [c.net.dropped(i) for i in range(3)]
    c.net.heal()
    took = c.converge()
    c.all_up()
    after = repairs(c.nodes)
    print("    %d route changes; packets dropped or reset %s; every index "
          "whole %.0f ms after the links healed; repairs %s"
          % (changes, lost, took * 1000,
             {k: after[k] - before[k] for k in after}))
    assert min(lost) > 0, "the links lost nothing"
    assert sum(after.values()) > sum(before.values()), \
        "nothing was repaired: the test lost nothing"
    c.delivered()


@scenario
def cut_node_resynchronised(c):
    # c hears nothing from a and b for longer than the peer timeout, and
    # they nothing from it, while its clients change their routes: a and b
    # find it down and take its routes out; when the link heals it is up
    # again and a snapshot brings its routes back, as they are now.
    c.churn(5)
    c.converge()
    a, b, cn = c.nodes
    snaps = total(a, "ringmq_cluster_snapshots_installed_total")
    c.net.cut(2)
    for x in (a, b):
        wait_peers(x, {y.name: int(y is not cn) for y in c.nodes
                       if y is not x})
        assert routes(x).get("c", 0) == 0, routes(x)
    changes = c.churn(10, [cl for cl in c.clients if cl.node is cn])
    c.net.heal()
    took = c.converge()
    c.all_up()
    assert total(a, "ringmq_cluster_snapshots_installed_total") > snaps
    print("    %d route changes on the cut node; every index whole %.0f ms "
          "after the link healed" % (changes, took * 1000))
    c.delivered()


run([lossy_links_converge, cut_node_resynchronised], make_broker=None)
