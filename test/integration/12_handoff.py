"""12: messages that cross worker loops.  A batch for a loop that sleeps
is delivered in place by the sending loop (lent, io_uring backend); for a
busy loop it is queued.  Either way each publisher's order holds, a write
the subscriber's socket cannot take at once is finished by its own loop,
and a subscriber that vanishes meanwhile is closed cleanly."""
import re
import socket
import struct
import time

from rmqtest import (DEADLINE, Broker, Client, connect_packet, packet, paho,
                     on_cpu, raw_subscriber, run, string, worker_of)


def one_per_worker(b, make, prefix):
    """Connect clients named prefix-N until each of the two workers has
    one; returns {worker: client} and closes the spares."""
    got, spare = {}, []
    for k in range(64):
        cid = "%s-%d" % (prefix, k)
        with on_cpu(k):
            c = make(cid)
        w = worker_of(b, cid)
        if w in got:
            spare.append(c)
        else:
            got[w] = (cid, c)
        if len(got) == 2:
            break
    for c in spare:
        c.close()
    assert len(got) == 2, "connections all landed on one worker"
    return got


def handoffs(b):
    """{(loop, path): count} from /metrics."""
    text = b.metrics_text()
    out = {}
    for m in re.finditer(r'ringmq_loop_handoffs_total\{loop="(\d+)",'
                         r'path="(\w+)"\} (\d+)', text):
        out[(int(m.group(1)), m.group(2))] = int(m.group(3))
    return out


def lends(b):
    return any("worker loops on io_uring" in line for line in b.log)


def paced_cross_loop_delivery_keeps_order(b):
    subs = one_per_worker(b, lambda cid: Client(b, cid), "hs")
    pubs = one_per_worker(b, lambda cid: Client(b, cid), "hp")
    for w, (cid, s) in subs.items():
        s.subscribe("hand/%d" % w, 1)
    before = handoffs(b)
    n = 40
    for i in range(n):
        # Each publisher sends to the subscriber on the other loop, slowly
        # enough that the receiving loop is asleep when the batch comes.
        for w, (cid, p) in pubs.items():
            p.publish("hand/%d" % (1 - w), b"%d" % i, qos=i % 2)
        time.sleep(0.005)
    for w, (cid, s) in subs.items():
        msgs = s.wait_msgs(n)
        assert [m.payload for m in msgs] == [b"%d" % i for i in range(n)]
        assert [m.qos for m in msgs] == [i % 2 for i in range(n)]
    after = handoffs(b)
    for w in (0, 1):
        lent = after[(w, "lent")] - before.get((w, "lent"), 0)
        queued = after[(w, "queued")] - before.get((w, "queued"), 0)
        # Every message crossed loops: a batch each way, lent or queued.
        assert lent + queued >= n, (w, lent, queued)
        if lends(b):
            assert lent >= 1, (w, lent, queued)
        else:
            assert lent == 0, "libuv cannot lend its loop"
    for group in (subs, pubs):
        for cid, c in group.values():
            c.close()


def big_publish(topic, i, size):
    body = struct.pack(">I", i) + bytes([i % 251]) * (size - 4)
    return packet(0x30, string(topic) + body)


def read_publishes(r, n):
    """n QoS 0 PUBLISH packets from a raw 3.1.1 subscriber: their
    sequence numbers."""
    seq = []
    while len(seq) < n:
        p = r.recv_packet()
        assert p is not None, "closed after %d of %d" % (len(seq), n)
        first, body = p
        assert first & 0xF0 == 0x30, hex(first)
        tlen = struct.unpack(">H", body[:2])[0]
        payload = body[2 + tlen:]
        i = struct.unpack(">I", payload[:4])[0]
        assert payload[4:] == bytes([i % 251]) * (len(payload) - 4), i
        seq.append(i)
    return seq


def raw_on_worker(b, want, prefix, topic):
    """A raw subscriber with a fixed 64 KiB receive window on worker
    `want` (small enough that the broker's sends fill up, not so small
    that TCP crawls)."""
    spare = []
    try:
        for k in range(64):
            cid = "%s-%d" % (prefix, k)
            with on_cpu(k):
                r = raw_subscriber(b, cid, topic, rcvbuf=65536)
            if worker_of(b, cid) == want:
                return r
            spare.append(r)
        raise AssertionError("no connection landed on worker %d" % want)
    finally:
        for r in spare:
            r.close()


def raw_publisher(b, cid):
    r = socket.create_connection(("127.0.0.1", b.port), timeout=DEADLINE)
    r.sendall(connect_packet(cid))
    assert r.recv(4)[0] == 0x20
    return r


def short_writes_finished_by_the_owner(b):
    # A subscriber that does not read while 8 MiB come in messages of
    # 32 KiB, one by one from the other loop: the sockets take a few
    # MiB, the rest of a write is left to the subscriber's own loop.  All
    # arrive, in order, once it reads.
    p = raw_publisher(b, "sw-pub")
    pw = worker_of(b, "sw-pub")
    r = raw_on_worker(b, 1 - pw, "sw-sub", "short/w")
    n, size = 256, 32768
    for i in range(n):
        p.sendall(big_publish("short/w", i, size))
        time.sleep(0.002)
    assert read_publishes(r, n) == list(range(n))
    r.close()
    p.close()
    assert b.alive()


def subscriber_reset_while_sending(b):
    # The subscriber resets its connection while messages keep coming
    # from the other loop: its session ends, nothing else does.
    p = raw_publisher(b, "rs-pub")
    pw = worker_of(b, "rs-pub")
    r = raw_on_worker(b, 1 - pw, "rs-sub", "reset/w")
    for i in range(20):
        p.sendall(big_publish("reset/w", i, 16384))
        time.sleep(0.002)
    r.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                   struct.pack("ii", 1, 0))
    r.close()  # a reset, with bytes unread
    for i in range(20, 60):
        p.sendall(big_publish("reset/w", i, 16384))
        time.sleep(0.002)
    assert b.alive()
    # The publisher's connection is untouched, and a new pair works.
    s = Client(b, "rs-after")
    s.subscribe("reset/after", 1)
    p.sendall(big_publish("reset/after", 7, 64))
    assert s.wait_msgs(1)[0].payload[:4] == struct.pack(">I", 7)
    s.close()
    p.close()


run([paced_cross_loop_delivery_keeps_order, short_writes_finished_by_the_owner,
     subscriber_reset_while_sending],
    make_broker=lambda: Broker("--max-queued", "100000"))
