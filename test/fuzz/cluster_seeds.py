#!/usr/bin/env python3
"""test/fuzz/cluster_seeds.py: writes fuzz_cluster's seed corpus into
test/fuzz/corpus/cluster (committed; run again after a change of the wire
forms in cluster/forward.h or broker/mqtt/cluster_msg.c).

Each seed is a byte that picks how the rest is cut into reads, then link
frames: a 4-byte length and a batch or an acknowledgement."""
import os
import struct
import sys


def var(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def mqtt_var(v):
    return var(v)  # the same 7 bits a byte, at most 4 of them here


def message(topic, payload, qos=0, retain=False, expiry=None, props=b""):
    flags = qos | (0x04 if retain else 0) | \
        (0x08 if expiry is not None else 0) | (0x10 if props else 0)
    out = bytes([flags])
    if expiry is not None:
        out += struct.pack(">Q", expiry)
    out += mqtt_var(len(topic)) + topic
    if props:
        out += mqtt_var(len(props)) + props
    return out + payload


def head(worker, count, groups=None):
    out = bytes([1 if groups else 0, worker]) + var(count)
    if groups:
        out += struct.pack(">H", len(groups))
        for g in groups:
            out += struct.pack(">H", len(g)) + g
    return out


def batch(name, records, worker=0, seq=1):
    out = b"RF\x04" + bytes([len(name)]) + name
    out += struct.pack(">QQBQI", 7, 9, worker, seq, len(records))
    for r in records:
        out += var(len(r)) + r
    return out


def ack(name, seq):
    return b"RK\x04" + bytes([len(name)]) + name + \
        struct.pack(">QQBQ", 9, 7, 0, seq)


def frame(b):
    return struct.pack(">I", len(b)) + b


def main(d):
    os.makedirs(d, exist_ok=True)
    ctype = b"\x03" + struct.pack(">H", 10) + b"text/plain"
    plain = [head(0, i + 1) + message(b"bench/p2p/%d" % i, b"x" * 64)
             for i in range(3)]
    rich = [head(1, 300) + message(b"a/b", b"payload", qos=2, retain=True,
                                   expiry=100000, props=ctype),
            head(2, 1 << 40, groups=[b"g1/t/#", b"g2/t/+"]) +
            message(b"t/1", b"", qos=1)]
    retained = [b"RT\x01" + bytes([1]) + b"a" + struct.pack(">Q", 5) +
                message(b"status/door", b"open", retain=True)]
    seeds = {
        "plain": frame(batch(b"node-a", plain)),
        "rich": frame(batch(b"node-a", rich, worker=1, seq=4)),
        "retained": frame(batch(b"node-a", retained, worker=255)),
        "ack": frame(ack(b"node-b", 12)),
        "two": frame(batch(b"n", plain[:1])) + frame(ack(b"n", 1)),
    }
    for name, body in seeds.items():
        for cut in (0, 3, 40):
            with open(os.path.join(d, "%s-%d" % (name, cut)), "wb") as f:
                f.write(bytes([cut]) + body)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "corpus", "cluster"))
