#!/usr/bin/env python3
"""test/integration/29_seccomp.py: the broker under seccomp profiles as a
container runtime loads them (deploy/seccomp/seccomp-run, libseccomp).

Under a filter that refuses io_uring with EPERM, as the RuntimeDefault
profiles of containerd and Docker do, the broker left to choose its loop
starts on libuv, says why in its log and in ringmq_build_info, and serves
clients.  Under the Localhost profile deploy/ships (deploy/seccomp/
ringmq.json: RingMQ's own allowlist, io_uring in it) it runs io_uring and
serves clients over TCP and TLS, with persistence and a cluster peer,
while a syscall outside the list is refused.  scripts/test-seccomp runs
the whole integration suite under both profiles."""
import faulthandler
import os
import shutil
import subprocess
import tempfile

from rmqcluster import finish, node, seed, wait_peers
from rmqtest import DEADLINE, LOOP, Broker, Client, MosqSub, Skip, run

faulthandler.dump_traceback_later(300, exit=True)

HERE = os.path.dirname(os.path.abspath(__file__))
SECCOMP = os.path.join(HERE, "..", "..", "deploy", "seccomp")
RUN = os.path.join(SECCOMP, "seccomp-run")
NO_URING = os.path.join(SECCOMP, "no-io-uring.json")
PROFILE = os.path.join(SECCOMP, "ringmq.json")


def under(profile):
    """The prefix that runs a broker under `profile`."""
    r = subprocess.run(["/usr/bin/python3", "-c", "import seccomp"],
                       capture_output=True)
    if r.returncode != 0:
        raise Skip("python3-seccomp is missing (scripts/deps --test)")
    return ("/usr/bin/python3", RUN, profile, "--")


def loop_line(b):
    return [line for line in b.log if "worker loops on" in line][0]


def build_info_loop(b):
    for line in b.metrics_text().splitlines():
        if line.startswith("ringmq_build_info{"):
            return line.split('loop="')[1].split('"')[0]
    raise AssertionError("no ringmq_build_info")


def round_trip(b, topic, **kw):
    sub = MosqSub(b.port, topic, 1, **kw)
    try:
        pub = Client(b, "pub-" + topic)
        pub.publish(topic, b"across", 1)
        pub.close()
        assert sub.messages(1) == ["%s across" % topic], sub.lines
    finally:
        sub.close()


def falls_back_to_libuv_where_io_uring_is_refused(_):
    # The loop left to the broker (--loop auto, the default), in the
    # filter a pod with the RuntimeDefault profile has.  The uring
    # variant checks the profile below instead.
    if LOOP != "uv":
        raise Skip("the libuv variant checks the fallback")
    b = Broker("--loop", "auto", prefix=under(NO_URING))
    try:
        line = loop_line(b)
        assert "on libuv (io_uring unavailable: io_uring_setup: " \
            "Operation not permitted)" in line, line
        assert build_info_loop(b) == "libuv"
        round_trip(b, "sc/fallback")
    finally:
        finish(b)


def io_uring_runs_under_the_shipped_profile(_):
    # deploy/seccomp/ringmq.json: clients, the store on disk read back by
    # a restart, a cluster peer (NNG's threads), the admin endpoint, and
    # the broker's own exit (status 0), all within the list.  TLS and the
    # rest of the suite under it: the *_profile tests (meson.build) and
    # scripts/test-seccomp.
    if LOOP != "uring":
        raise Skip("the io_uring variant checks the profile")
    if os.environ.get("RMQTEST_SANITIZED"):
        raise Skip("a sanitizer's own syscalls are no part of the profile")
    data = tempfile.mkdtemp(prefix="rmq-sc-")
    a = peer = None
    try:
        a = node("sc-a", "--persistence", "true", "--data-dir", data,
                 prefix=under(PROFILE))
        peer = node("sc-b", "--cluster-seeds", seed(a))
        wait_peers(a, {"sc-b": 1})
        line = loop_line(a)
        assert "on io_uring" in line, line
        assert build_info_loop(a) == "io_uring"
        round_trip(a, "sc/tcp")
        pub = Client(a, "sc-retain")
        pub.publish("sc/kept", b"on disk", 1, retain=True)
        pub.close()
        finish(a)
        a = Broker("--persistence", "true", "--data-dir", data,
                   prefix=under(PROFILE))
        sub = MosqSub(a.port, "sc/kept", 1)
        try:
            assert sub.messages(1) == ["sc/kept on disk"], sub.lines
        finally:
            sub.close()
    finally:
        try:
            finish(*[x for x in (a, peer) if x is not None])
        finally:
            shutil.rmtree(data, ignore_errors=True)


def a_syscall_outside_the_profile_is_refused(_):
    # The profile is a list, not everything: unshare(2) is not in it.
    if LOOP != "uring":
        raise Skip("checked once, in the io_uring variant")
    r = subprocess.run([*under(PROFILE), "unshare", "--uts", "true"],
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode != 0, r
    assert "Operation not permitted" in r.stderr, r.stderr
    r = subprocess.run([*under(PROFILE), "true"], capture_output=True,
                       text=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr


run([falls_back_to_libuv_where_io_uring_is_refused,
     io_uring_runs_under_the_shipped_profile,
     a_syscall_outside_the_profile_is_refused], make_broker=None)
