"""09: configuration: the file format, keys refused with file and line, the
keys whose features are not built yet, the precedence built-in
defaults < file < environment < command line, and Debian's stock
mosquitto.conf with its pid_file, log_dest file, include_dir and user."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from rmqtest import (BROKER, DEADLINE, LOOP, Broker, Client, Port, Raw, Skip,
                     conf_file, connect_packet, free_port, on_cpu, run,
                     worker_of)


conf = conf_file


def check(path, env=None):
    return subprocess.run([BROKER, "check-config", path], capture_output=True,
                          text=True, timeout=10, env=env)


def check_config_accepts_a_mosquitto_style_file(_):
    p = conf("# mosquitto.conf\nlistener 1883 127.0.0.1\n"
             "allow_anonymous true\npersistence false\n"
             "max_queued_messages 100\nmax_inflight_messages 20\n"
             "max_packet_size 0\nretain_available true\nthreads 2\n"
             "log_type error\nlog_type information\nlog_dest stderr\n"
             "connection_messages true\nmax_keepalive 300\n")
    r = check(p)
    assert r.returncode == 0 and "configuration OK" in r.stdout, r


def bad_value_names_file_and_line(_):
    p = conf("listener 1883\n\nmax_queued_messages lots\n")
    r = check(p)
    assert r.returncode == 1
    assert "%s:3: max_queued_messages" % p in r.stderr, r.stderr


def logging_and_drain_keys(_):
    p = conf("log_level debug\nlog_format json\nshutdown_grace 30\n"
             "response_information none\n")
    assert check(p).returncode == 0
    for line, word in (("log_level loud", "log_level"),
                       ("log_format xml", "log_format"),
                       ("log_type chatty", "log_type"),
                       ("shutdown_grace 9999", "shutdown_grace")):
        p = conf("\n" + line + "\n")
        r = check(p)
        assert r.returncode == 1 and "%s:2: %s" % (p, word) in r.stderr, r


def unknown_key(_):
    p = conf("listenr 1883\n")
    r = check(p)
    assert r.returncode == 1 and "%s:1: unknown key 'listenr'" % p in r.stderr


def later_features_refused_not_ignored(_):
    for line in ("auth_plugin /x.so", "tls_engine x",
                 "persistence_file mosquitto.db"):
        p = conf(line + "\n")
        r = check(p)
        assert r.returncode == 1 and "not supported yet" in r.stderr, (line, r)


def missing_file(_):
    r = check("/nonexistent/ringmq.conf")
    assert r.returncode == 1 and "No such file" in r.stderr


def start_refuses_a_bad_file(_):
    p = conf("threads zero\n")
    r = subprocess.run([BROKER, "-c", p], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "%s:1: threads" % p in r.stderr, r.stderr


def precedence_file_env_flags(_):
    # The file sets 3 threads; the environment says 2; the flag says 1.
    p = conf("threads 3\nlistener 0 127.0.0.1\n")
    old = dict(os.environ)
    try:
        b = Broker("-c", p, threads=None)
        assert any("3 worker loops" in l for l in b.log), b.log
        b.stop()
        os.environ["RINGMQ_THREADS"] = "2"
        b = Broker("-c", p, threads=None)
        assert any("2 worker loops" in l for l in b.log), b.log
        b.stop()
        b = Broker("-c", p, threads=1)
        assert any("1 worker loop " in l for l in b.log), b.log
        c = Client(b, "prec")  # and it serves
        c.close()
        b.stop()
        os.environ["RINGMQ_MAX_QUEUED_MESSAGES"] = "many"
        r = subprocess.run([BROKER], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2
        assert "RINGMQ_MAX_QUEUED_MESSAGES" in r.stderr, r.stderr
    finally:
        os.environ.clear()
        os.environ.update(old)


def admin_listener_from_the_file(_):
    # The admin endpoint's address set in the file, with no flag over it.
    port = free_port()
    p = conf("listener 0 127.0.0.1\nadmin_listener 127.0.0.1:%d\n" % port)
    r = check(p)
    assert r.returncode == 0, r
    proc = subprocess.Popen([BROKER, "-c", p, "--threads", "1"],
                            stderr=subprocess.PIPE, text=True)
    try:
        want = "admin on http://127.0.0.1:%d" % port
        for line in proc.stderr:
            if want in line:
                break
        else:
            raise AssertionError("no admin listener on %d" % port)
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port,
                                    timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def cpus_of(text):
    """The CPUs of a list as the kernel writes it ("0-3,8")."""
    out = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def loop_cpus(b, n):
    """Each worker loop thread's allowed CPUs, by its name, once all `n`
    have started and named themselves (the broker reports ready as its
    listeners open, just before; bounded wait)."""
    for _ in range(500):
        got = loop_cpus_now(b)
        if len(got) >= n:
            return got
        time.sleep(0.01)
    return got


def loop_cpus_now(b):
    got = {}
    base = "/proc/%d/task" % b.proc.pid
    for tid in os.listdir(base):
        with open("%s/%s/comm" % (base, tid)) as f:
            name = f.read().strip()
        if not name.startswith("ringmq-loop"):
            continue
        with open("%s/%s/status" % (base, tid)) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    got[name] = cpus_of(line.split(":", 1)[1].strip())
    return got


def cpu_affinity_places_the_loops(_):
    allowed = os.sched_getaffinity(0)
    n = min(len(allowed), 64)
    # auto, one loop per CPU the process may use: each loop on one of
    # them, all of them used, and the broker serves.
    b = Broker(threads=n)
    try:
        got = loop_cpus(b, n)
        assert len(got) == n, got
        assert all(len(c) == 1 for c in got.values()), got
        if n == len(allowed):
            assert set().union(*got.values()) == allowed, (got, allowed)
            assert any("worker loops pinned" in l for l in b.log), b.log
        Client(b, "pinned").close()
    finally:
        b.stop()
    # none: each loop may run wherever the process may.
    b = Broker("--cpu-affinity", "none", threads=2)
    try:
        got = loop_cpus(b, 2)
        assert len(got) == 2 and all(c == allowed for c in got.values()), got
    finally:
        b.stop()
    # Started on one CPU (taskset, a container's cpuset), the default is
    # one loop, pinned there.
    first = min(allowed)
    os.sched_setaffinity(0, {first})
    try:
        b = Broker(threads=None)
    finally:
        os.sched_setaffinity(0, allowed)
    try:
        assert any("1 worker loop " in l for l in b.log), b.log
        got = loop_cpus(b, 1)
        assert list(got.values()) == [{first}], got
    finally:
        b.stop()
    # A list from the environment: every loop on the one CPU it names.
    old = dict(os.environ)
    try:
        os.environ["RINGMQ_CPU_AFFINITY"] = str(first)
        b = Broker(threads=2)
        try:
            got = loop_cpus(b, 2)
            assert len(got) == 2 and all(c == {first}
                                         for c in got.values()), got
        finally:
            b.stop()
    finally:
        os.environ.clear()
        os.environ.update(old)


def cpu_cgroup():
    """A new cgroup that may carry a CPU quota, and the files to set it:
    (directory, write_quota(cpus)); Skip where none can be made."""
    v1 = "/sys/fs/cgroup/cpu"
    try:
        if os.path.exists(v1 + "/cpu.cfs_quota_us"):
            d = tempfile.mkdtemp(prefix="ringmq-test-", dir=v1)

            def quota(cpus):
                with open(d + "/cpu.cfs_period_us", "w") as f:
                    f.write("100000")
                with open(d + "/cpu.cfs_quota_us", "w") as f:
                    f.write(str(int(cpus * 100000)))
            return d, quota
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            if "cpu" not in f.read().split():
                raise Skip("cgroup v2 without the cpu controller here")
        d = tempfile.mkdtemp(prefix="ringmq-test-", dir="/sys/fs/cgroup")

        def quota(cpus):
            with open(d + "/cpu.max", "w") as f:
                f.write("%d 100000" % int(cpus * 100000))
        return d, quota
    except OSError as e:
        raise Skip("no cgroup can be made here (%s)" % e)


def cgroup_cpu_quota_sizes_the_default_loops(_):
    if len(os.sched_getaffinity(0)) < 2:
        raise Skip("one CPU: a quota under it cannot be seen")
    d, quota = cpu_cgroup()
    try:
        quota(0.5)  # half a CPU: one loop, rounded up

        def enter():
            with open(d + "/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
        proc = subprocess.Popen([BROKER, "-p", "127.0.0.1:0",
                                 "--admin-listener", "none"],
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=enter)
        lines = []
        try:
            for line in proc.stderr:
                lines.append(line)
                if "listening on" in line:
                    break
        finally:
            proc.terminate()
            proc.wait(10)
        text = "".join(lines)
        assert "1 worker loop, not %d: the cgroup's CPU quota is 1 CPU" % (
            len(os.sched_getaffinity(0))) in text, text
        assert "worker loops not pinned" in text, text
    finally:
        os.rmdir(d)


def cpu_affinity_refuses_what_it_cannot_do(_):
    p = conf("listener 0 127.0.0.1\ncpu_affinity 0-1,4\n")
    assert check(p).returncode == 0
    for value in ("banana", "3-1", "0,", "1024"):
        p = conf("\ncpu_affinity %s\n" % value)
        r = check(p)
        assert r.returncode == 1, (value, r)
        assert "%s:2: cpu_affinity: '%s' is not auto, none or a CPU list" % (
            p, value) in r.stderr, r.stderr
    r = subprocess.run([BROKER, "--cpu-affinity", "some"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--cpu-affinity takes" in r.stderr, r
    # A CPU the process may not run on: the start is refused, naming it.
    outside = max(set(range(1024)) - os.sched_getaffinity(0))
    r = subprocess.run([BROKER, "-p", "127.0.0.1:0", "--admin-listener",
                        "none", "--threads", "1", "--cpu-affinity",
                        str(outside)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0, r
    assert "cpu_affinity: CPU %d is not one this process may run on" % (
        outside) in r.stderr, r.stderr


def loop_connections(b):
    """{loop: open connections} and {loop: connections passed on}."""
    text = b.metrics_text()
    now = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r'ringmq_loop_connections\{loop="(\d+)"\} (\d+)', text)}
    passed = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r'ringmq_loop_connections_passed_total\{loop="(\d+)"\} (\d+)',
        text)}
    return now, passed


def clients_from(b, cpu, prefix, n):
    """n clients whose connections start on `cpu` (see on_cpu)."""
    allowed = sorted(os.sched_getaffinity(0))
    with on_cpu(allowed.index(cpu)):
        return [Client(b, "%s-%d" % (prefix, i)) for i in range(n)]


def raw_from(b, cpu, prefix, n):
    """n raw MQTT connections started on `cpu`, each past its CONNACK."""
    allowed = sorted(os.sched_getaffinity(0))
    with on_cpu(allowed.index(cpu)):
        raws = [Raw(b) for _ in range(n)]
    for i, r in enumerate(raws):
        r.send(connect_packet("%s-%d" % (prefix, i)))
        assert r.recv_packet()[0] == 0x20, i
    return raws


def settled(b, total):
    """Loop connection counts once all `total` connections are open."""
    end = time.time() + 10
    while True:
        now, passed = loop_connections(b)
        if sum(now.values()) == total or time.time() > end:
            return now, passed
        time.sleep(0.02)


def connection_placement_follows_the_cpu(_):
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise Skip("one CPU: every connection has the same one")
    a, c = allowed[0], allowed[1]
    b = Broker("--cpu-affinity", "%d,%d" % (a, c), threads=2)
    clients, raws = [], []
    try:
        assert any("new connections go to the loop of the CPU" in l
                   for l in b.log), b.log
        # Loop 0 runs on CPU a, loop 1 on CPU c: each client's session is
        # on the loop of the CPU it connected from.
        clients += clients_from(b, a, "on-a", 4)
        clients += clients_from(b, c, "on-c", 4)
        for i in range(4):
            assert worker_of(b, "on-a-%d" % i) == 0
            assert worker_of(b, "on-c-%d" % i) == 1
        assert settled(b, 8) == ({0: 4, 1: 4}, {0: 0, 1: 0})
        # Connections crowding onto one CPU: that loop keeps up to 256
        # (RMQ_PLACEMENT_SLACK_MIN) more than the other and passes the
        # rest on.  Then two more clients from that CPU: one of them is
        # passed, and a passed connection works like any other.
        raws = raw_from(b, c, "crowd", 300)
        now, passed = settled(b, 308)
        assert sum(now.values()) == 308, now
        assert now[1] - now[0] in (255, 256), now
        assert passed[0] == 0 and passed[1] == now[0] - 4, (now, passed)
        clients += clients_from(b, c, "late", 2)
        late = [worker_of(b, "late-%d" % i) for i in range(2)]
        assert sorted(late) == [0, 1], late
        moved = clients[8 + late.index(0)]
        moved.subscribe("placed/t", 1)
        clients[4].publish("placed/t", b"across", qos=1)
        assert [m.payload for m in moved.wait_msgs(1)] == [b"across"]
    finally:
        for cl in clients + raws:
            cl.close()
        b.stop()
    # By the kernel's hash: nothing passed on, whatever the CPU.
    b = Broker("--cpu-affinity", "%d,%d" % (a, c), "--connection-placement",
               "hash", threads=2)
    clients = []
    try:
        assert any("new connections go to loops by the kernel's hash" in l
                   for l in b.log), b.log
        clients += clients_from(b, c, "hashed", 40)
        now, passed = settled(b, 40)
        assert sum(now.values()) == 40 and passed == {0: 0, 1: 0}, (now,
                                                                     passed)
    finally:
        for cl in clients:
            cl.close()
        b.stop()
    # Loops not pinned: there is no CPU to go by.
    b = Broker("--cpu-affinity", "none", threads=2)
    try:
        assert any("worker loops not pinned" in l for l in b.log), b.log
        assert not any("new connections go to" in l for l in b.log), b.log
    finally:
        b.stop()


def connection_placement_refuses_other_values(_):
    assert check(conf("connection_placement hash\n")).returncode == 0
    p = conf("\nconnection_placement round-robin\n")
    r = check(p)
    assert r.returncode == 1, r
    assert ("%s:2: connection_placement: 'round-robin' is not cpu or hash"
            % p) in r.stderr, r.stderr
    r = subprocess.run([BROKER, "--connection-placement", "CPU"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--connection-placement takes" in r.stderr, r



STOCK = "/etc/mosquitto/mosquitto.conf"


def wait_file(path, pattern, proc=None):
    """The first match of pattern in the file at path, waiting for it
    (bounded); fails if proc exits first."""
    end = time.time() + DEADLINE
    while True:
        try:
            with open(path) as f:
                m = re.search(pattern, f.read())
            if m:
                return m
        except FileNotFoundError:
            pass
        assert proc is None or proc.poll() is None, \
            "ringmq exited %s before '%s' in %s" % (proc.returncode,
                                                    pattern, path)
        assert time.time() < end, "no '%s' in %s" % (pattern, path)
        time.sleep(0.02)


def stock_copy(d):
    """Debian's stock mosquitto.conf, copied into d: its pid_file,
    log_dest file, persistence_location and include_dir paths moved under
    d (a test does not write to /run, /var/log or /var/lib), and nothing
    else changed.  Returns the copy's path."""
    if not os.path.exists(STOCK):
        raise Skip("no %s here (Debian's mosquitto package)" % STOCK)
    with open(STOCK) as f:
        lines = f.read().splitlines()
    keys = [l.split()[0] for l in lines if l.strip() and l[0] != "#"]
    assert keys == ["pid_file", "persistence", "persistence_location",
                    "log_dest", "include_dir"], keys
    out = []
    for line in lines:
        word = line.split()[0] if line.strip() else ""
        if word == "pid_file":
            line = "pid_file %s/mosquitto.pid" % d
        elif word == "log_dest":
            assert line.split()[1] == "file", line
            line = "log_dest file %s/mosquitto.log" % d
        elif word == "include_dir":
            line = "include_dir %s/conf.d" % d
        elif word == "persistence_location":
            line = "persistence_location %s/lib/" % d
        out.append(line)
    path = os.path.join(d, "mosquitto.conf")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def debian_stock_mosquitto_conf_starts_ringmq(_):
    # As it is, the stock file is taken: persistence true in
    # /var/lib/mosquitto/ included.
    r = check(STOCK)
    assert r.returncode == 0 and "configuration OK" in r.stdout, r
    d = tempfile.mkdtemp(prefix="ringmq-stock-")
    try:
        path = stock_copy(d)
        # conf.d in Mosquitto's order: 00 A a B b, each overriding the
        # one before (the log's time format says which came last); as
        # root, the last file gives root up for nobody.
        os.mkdir(os.path.join(d, "conf.d"))
        for name in ("b", "B", "a", "A", "00"):
            with open(os.path.join(d, "conf.d", name + ".conf"), "w") as f:
                f.write("log_timestamp_format %s-%%Y\n" % name)
        with open(os.path.join(d, "conf.d", "README"), "w") as f:
            f.write("not a .conf file: not read\n")
        root = os.geteuid() == 0
        if root:
            with open(os.path.join(d, "conf.d", "zz.conf"), "w") as f:
                f.write("user nobody\n")
            # nobody removes the pid file at exit, as Mosquitto's user
            # does in Debian's /run/mosquitto.
            os.chown(d, 65534, 65534)
        r = check(path)
        assert r.returncode == 0 and "configuration OK" in r.stdout, r
        included = re.findall(r"included .*/conf\.d/(\S+)", r.stdout)
        assert included == ["00.conf", "A.conf", "a.conf", "B.conf",
                            "b.conf"] + (["zz.conf"] if root else []), r

        env = dict(os.environ, RINGMQ_LISTENER="0 127.0.0.1",
                   RINGMQ_ADMIN_LISTENER="127.0.0.1:0")
        env.pop("RINGMQ_PERSISTENCE")  # the file's persistence true
        proc = subprocess.Popen([BROKER, "-c", path, "--loop", LOOP,
                                 "--threads", "1"], env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        log = os.path.join(d, "mosquitto.log")
        pid = os.path.join(d, "mosquitto.pid")
        try:
            port = int(wait_file(log, r"listening on 127\.0\.0\.1:(\d+)",
                                 proc).group(1))
            wait_file(log, r"admin on http", proc)
            if root:
                wait_file(log, r"running as user nobody", proc)
            wait_file(log, r"persistence in %s/lib/ \(durability always\)"
                      % re.escape(d), proc)
            with open(pid) as f:
                assert f.read() == "%d\n" % proc.pid
            with open("/proc/%d/status" % proc.pid) as f:
                status = f.read()
            uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M)
            if root:
                assert uid.groups() == ("65534",) * 3, status
                gid = re.search(r"^Gid:\s+(\d+)", status, re.M).group(1)
                assert gid == "65534", status
            c = Client(Port(port), "stock")
            c.subscribe("stock/t", 1)
            c.publish("stock/t", b"works", qos=1)
            assert [m.payload for m in c.wait_msgs(1)] == [b"works"]
            c.close()
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 0, (out, err)
        # The log went to the file, nothing to stderr; every line's time
        # is in b.conf's format, the last file read.
        assert out == "" and err == "", (out, err)
        with open(log) as f:
            lines = f.read().splitlines()
        assert lines and all(l.startswith("b-20") for l in lines), lines
        assert any("included %s/conf.d/b.conf" % d in l for l in lines)
        assert "stopped" in lines[-1], lines[-1]
        assert not os.path.exists(pid), "the pid file stayed after exit"
    finally:
        shutil.rmtree(d)


def log_dest_file_is_reopened_at_sighup(_):
    # logrotate moves the file and sends SIGHUP: the next lines go to a
    # new file at the path.  Several log_dest lines: stderr as well.
    d = tempfile.mkdtemp(prefix="ringmq-log-")
    try:
        log = os.path.join(d, "ringmq.log")
        p = conf("log_dest file %s\nlog_dest stderr\nlog_timestamp false\n"
                 "listener 0 127.0.0.1\nadmin_listener none\n" % log)
        proc = subprocess.Popen([BROKER, "-c", p, "--loop", LOOP,
                                 "--threads", "1"], stderr=subprocess.PIPE,
                                text=True)
        try:
            wait_file(log, r"listening on", proc)
            os.rename(log, log + ".1")
            proc.send_signal(signal.SIGHUP)
            wait_file(log, r"reloaded", proc)
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 0, err
        with open(log + ".1") as f:
            old = f.read()
        with open(log) as f:
            new = f.read()
        assert "listening on" in old and "SIGHUP: reloading" in old, old
        assert "reloaded" in new and "stopped" in new, new
        # log_timestamp false: lines start with the level.
        assert new.startswith("notice ringmq: "), new
        assert "listening on" in err and "stopped" in err, err
    finally:
        shutil.rmtree(d)


def pid_file_and_user_refuse_what_they_cannot_do(_):
    # A pid file that cannot be written stops the start, as Mosquitto's.
    r = subprocess.run([BROKER, "-p", "127.0.0.1:0", "--admin-listener",
                        "none", "--threads", "1", "--loop", LOOP,
                        "--pid-file", "/nonexistent/dir/ringmq.pid"],
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 1, r
    assert "pid_file /nonexistent/dir/ringmq.pid: No such file or directory" \
        in r.stderr, r.stderr
    # A user that does not exist stops the start when there is root to
    # give up; otherwise `user` is not used, as in Mosquitto.
    if os.geteuid() == 0:
        r = subprocess.run([BROKER, "--user", "no-such-user-rmq"],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 1, r
        assert "user no-such-user-rmq: no such user" in r.stderr, r.stderr
    else:
        b = Broker("--user", "no-such-user-rmq")
        try:
            assert any("not started as root" in l for l in b.log), b.log
        finally:
            b.stop()
    # per_listener_settings true, log_dest topic: refused, not ignored.
    for line, want in (("per_listener_settings true", "not supported yet"),
                       ("log_dest topic", "not supported yet"),
                       ("set_tcp_nodelay false", "only true"),
                       ("include_dir /nonexistent/conf.d",
                        "No such file or directory")):
        p = conf("\n" + line + "\n")
        r = check(p)
        assert r.returncode == 1 and "%s:2: %s" % (p, line.split()[0]) \
            in r.stderr and want in r.stderr, (line, r.stderr)


def flags_keep_their_spellings(_):
    # Every flag main_usage listed keeps working; --key for every key.
    b = Broker("--max-packet-size", "4096", "--max-queued", "10",
               "--max-inflight", "5", "--max-connections", "0",
               "--connect-timeout", "1000", "--shutdown-grace", "1",
               "--log-format", "text", "--log-level", "debug",
               "--cpu-affinity", "none", "--connection-placement", "hash",
               "--max-topic-alias", "3", "--sys-interval=0")
    try:
        Client(b, "spelled").close()
    finally:
        assert b.stop() == 0
    r = subprocess.run([BROKER, "--help"], capture_output=True, text=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r
    for flag in ("-p, --port", "--threads", "--cpu-affinity",
                 "--connection-placement", "--loop", "--max-packet-size",
                 "--max-queued", "--max-inflight", "--max-connections",
                 "--connect-timeout", "--admin-listener", "--shutdown-grace",
                 "--log-level", "--log-format", "-v, --verbose",
                 "-c, --config", "--version", "-h, --help", "--pid-file",
                 "--log-dest", "--user", "--include-dir"):
        assert flag in r.stdout, (flag, r.stdout)
    # One bound for the flag and the key.
    r = subprocess.run([BROKER, "--max-packet-size", "19"],
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 2 and "--max-packet-size takes a whole number " \
        "from 20 to 268435460" in r.stderr, r
    p = conf("max_packet_size 19\n")
    r = check(p)
    assert r.returncode == 1 and "%s:1: max_packet_size: '19' is not a " \
        "whole number from 20 to 268435460" % p in r.stderr, r

run([cpu_affinity_places_the_loops, connection_placement_follows_the_cpu,
     connection_placement_refuses_other_values, cpu_affinity_refuses_what_it_cannot_do,
     cgroup_cpu_quota_sizes_the_default_loops,
     admin_listener_from_the_file, check_config_accepts_a_mosquitto_style_file,
     bad_value_names_file_and_line, logging_and_drain_keys, unknown_key,
     later_features_refused_not_ignored, missing_file,
     start_refuses_a_bad_file, precedence_file_env_flags,
     debian_stock_mosquitto_conf_starts_ringmq,
     log_dest_file_is_reopened_at_sighup,
     pid_file_and_user_refuse_what_they_cannot_do,
     flags_keep_their_spellings])
