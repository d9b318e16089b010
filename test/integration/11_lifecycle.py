"""11: logs and the broker's life: levels and JSON lines, SIGHUP reload of
the log level and the limits (a bad file keeps the running configuration),
and SIGTERM's drain within the configured grace period."""
import json
import os
import signal
import socket
import tempfile
import time

from rmqtest import (DEADLINE, Broker, Client, Raw, conf_file, connect_packet,
                     raw_subscriber, run)


def wait_log(b, text, start=0):
    """The first log line from index start on that holds text."""
    end = time.time() + DEADLINE
    while time.time() < end:
        for line in b.log[start:]:
            if text in line:
                return line
        time.sleep(0.02)
    raise AssertionError("no log line with %r in:\n%s" %
                         (text, "\n".join(b.log[-20:])))


def stopped(b):
    assert b.stop() == 0, "\n".join(b.log[-20:])


def levels_decide_what_is_logged(_):
    # notice: no connection lines; info: connections but not messages;
    # debug: each PUBLISH too.
    for level, conn, msg in (("notice", False, False), ("info", True, False),
                             ("debug", True, True)):
        b = Broker("--log-level", level)
        try:
            c = Client(b, "lv-" + level)
            c.publish("lv/t", b"x", qos=1)
            c.close()
            b.wait_connections(0)
        finally:
            stopped(b)
        # Read once the broker has stopped: every line it wrote is in.
        logs = "\n".join(b.log)
        assert ("client lv-%s connected" % level in logs) == conn, logs
        assert ("PUBLISH lv/t" in logs) == msg, logs


def json_lines(_):
    # --log-format json: every line is one JSON object with time, level
    # and msg, a message with quotes survives escaping.
    b = Broker("--log-format", "json")
    try:
        c = Client(b, 'js"on')
        c.close()
        b.wait_connections(0)
    finally:
        stopped(b)
    assert len(b.log) >= 4
    for line in b.log:
        obj = json.loads(line)
        assert set(obj) == {"time", "level", "msg"}, obj
        assert obj["level"] in ("error", "warning", "notice", "info",
                                "debug")
    assert any('client js"on connected' in json.loads(l)["msg"]
               for l in b.log)


def offline_keeps(b, cid, sent):
    """Messages an offline session of cid keeps out of `sent` QoS 1."""
    s = Client(b, cid, clean=False)
    s.subscribe("hup/" + cid, 1)
    s.close()
    b.wait_connections(0)
    p = Client(b, cid + "-p")
    for i in range(sent):
        p.publish("hup/" + cid, b"%d" % i, qos=1)
    p.close()
    s = Client(b, cid, clean=False)
    s.quiet(0.5)
    n = len(s.msgs)
    s.close()
    b.wait_connections(0)
    return n


def sighup_reloads_limits_and_level(_):
    path = conf_file("max_queued_messages 5\nlog_level notice\n")
    b = Broker("-c", path, "--log-level", "notice", verbose=False)
    try:
        assert offline_keeps(b, "h1", 12) == 5
        # The new file raises the limit and asks for debug logs; the
        # --log-level flag still outranks the file after a reload.
        with open(path, "w") as f:
            f.write("max_queued_messages 10\nlog_level debug\n")
        n = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        wait_log(b, "reloaded", n)
        assert offline_keeps(b, "h2", 12) == 10
        assert not any("PUBLISH hup/" in l for l in b.log), \
            "the --log-level flag lost to the file"
        # A bad file is refused with its line; the running limits stay.
        with open(path, "w") as f:
            f.write("max_queued_messages 3\nmax_queued_messages lots\n")
        n = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        line = wait_log(b, "reload refused", n)
        assert "%s:2: max_queued_messages" % path in line, line
        assert offline_keeps(b, "h3", 12) == 10
    finally:
        stopped(b)


def a_service_manager_is_told(_):
    # systemd's Type=notify: NOTIFY_SOCKET names a datagram socket; the
    # broker says READY=1 once it listens, RELOADING=1 (with the
    # monotonic time) then READY=1 around a SIGHUP, STOPPING=1 at
    # SIGTERM, before its drain.
    d = tempfile.mkdtemp(prefix="rmq-notify-")
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(DEADLINE)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        b = Broker()
    finally:
        del os.environ["NOTIFY_SOCKET"]
    try:
        said = s.recv(4096).decode()
        assert said.split("\n")[0] == "READY=1", said
        # it listens by then: a client gets in
        c = Client(b.port, "notified")
        c.close()
        before = time.monotonic_ns() // 1000
        b.proc.send_signal(signal.SIGHUP)
        said = s.recv(4096).decode().split("\n")
        assert said[0] == "RELOADING=1", said
        usec = int(said[1].removeprefix("MONOTONIC_USEC="))
        assert before <= usec <= time.monotonic_ns() // 1000, (before, usec)
        said = s.recv(4096).decode()
        assert said.split("\n")[0] == "READY=1", said
        wait_log(b, "reloaded")
        b.proc.send_signal(signal.SIGTERM)
        said = s.recv(4096).decode()
        assert said.split("\n")[0] == "STOPPING=1", said
        assert b.proc.wait(DEADLINE) == 0
    finally:
        stopped(b)
        s.close()
        os.unlink(path)
        os.rmdir(d)


def sighup_changes_the_log_level(_):
    path = conf_file("log_level notice\n")
    b = Broker("-c", path, verbose=False)
    try:
        c = Client(b, "quiet")
        c.close()
        b.wait_connections(0)
        assert not any("client quiet connected" in l for l in b.log)
        with open(path, "w") as f:
            f.write("log_level debug\ntopic_alias_maximum 9\n")
        n = len(b.log)
        b.proc.send_signal(signal.SIGHUP)
        wait_log(b, "reloaded (log level debug)", n)
        # Alias tables are sized at connection: said, not done.
        assert any("'topic_alias_maximum' changed" in l for l in b.log[n:]), b.log[n:]
        c = Client(b, "loud")
        c.publish("ll/t", b"x", qos=1)
        c.close()
        wait_log(b, "client loud connected", n)
        wait_log(b, "PUBLISH ll/t", n)
    finally:
        stopped(b)


def stuck_client(b, cid="stuck", messages=500):
    """A 5.0 client that subscribes and then never reads, with a backlog
    that cannot all be written."""
    r = raw_subscriber(b, cid, cid + "/t", version=5, rcvbuf=4096)
    p = Client(b, cid + "-p")
    # More than the socket buffers hold (tcp_wmem grows to 4 MiB).
    for _ in range(messages):
        p.c.publish(cid + "/t", b"x" * 20000, 0)
    p.close()
    b.wait_connections(1)
    return r


def sigterm_drains_within_the_grace_period(_):
    # shutdown_grace 1: a client that never reads does not hold the stop
    # past the grace period; the broker exits 0.
    b = Broker("--shutdown-grace", "1")
    r = stuck_client(b)
    b.proc.terminate()
    assert b.proc.wait(DEADLINE) == 0
    wait_log(b, "up to 1000 ms to drain")
    r.close()


def sigterm_waits_for_the_grace_period(_):
    # shutdown_grace 60: the same stuck client keeps the broker draining
    # (it is still running a second later); SIGKILL ends the test.
    b = Broker("--shutdown-grace", "60")
    r = stuck_client(b)
    b.proc.terminate()
    time.sleep(1.0)
    assert b.proc.poll() is None, "stopped before the grace period"
    b.proc.kill()
    b.proc.wait()
    r.close()


def sigterm_during_a_takeover(_):
    # A 5.0 client whose output is stalled (it never reads) is taken over
    # by a second connection with its id, which waits for the first one's
    # DISCONNECT 0x8E to be written; SIGTERM then closes both.  The
    # waiting newcomer may go first: the broker must neither touch it
    # afterwards nor hang, and exits 0.
    b = Broker("--shutdown-grace", "1", threads=1)
    stuck = stuck_client(b, "tk", 300)
    newcomer = Raw(b)
    newcomer.send(connect_packet("tk", version=5))
    time.sleep(0.3)
    b.proc.terminate()
    assert b.proc.wait(DEADLINE) == 0, "\n".join(b.log[-20:])
    stuck.close()
    newcomer.close()


run([levels_decide_what_is_logged, json_lines,
     sighup_reloads_limits_and_level, a_service_manager_is_told,
     sighup_changes_the_log_level,
     sigterm_drains_within_the_grace_period,
     sigterm_waits_for_the_grace_period, sigterm_during_a_takeover],
    make_broker=None)
