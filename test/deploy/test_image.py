"""test/deploy/test_image.py: deploy/container/Dockerfile, built and run.

No image registry is reachable here, so the Dockerfile's base (Debian 12)
is made locally with mmdebstrap and passed as its DEBIAN argument; then
podman builds the image from the tree, as `docker build` would, and runs
it in a network namespace of the test's own.  Checked: the runtime
stage's contents (the two programs and what they link, CA certificates,
no compiler), its user, volume, ports and health check; the broker it
starts is healthy and ready, refuses anonymous clients with the shipped
config, falls back to libuv under podman's default seccomp profile (which
refuses io_uring, as RuntimeDefault does) and says so, runs on io_uring
under deploy/seccomp/ringmq.json, keeps a retained message in its volume
across containers, and runs with a read-only root filesystem, as the
StatefulSet runs it.

Root, podman, runc and mmdebstrap (scripts/deps --test).  runc rather
than crun: crun refuses the hybrid cgroup hierarchy some machines have.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from rmqtest import Skip, run  # noqa: E402

TAG = "localhost/ringmq-test/ringmq:%d" % os.getpid()
BASE = "localhost/ringmq-test/debian:12-%d" % os.getpid()
NETNS = "rmqimg%d" % (os.getpid() % 100000)
VOLUME = "ringmq-test-data-%d" % os.getpid()
DEADLINE = 600

if os.geteuid() != 0:
    print("needs root (podman's storage, a network namespace): skipped")
    sys.exit(77)
for tool in ("podman", "runc", "mmdebstrap", "ip"):
    if shutil.which(tool) is None:
        print("%s is missing (scripts/deps --test): skipped" % tool)
        sys.exit(77)

# podman's own limits are lower than the ones it would give a container
# by default, which a runtime without CAP_SYS_RESOURCE cannot raise:
# ask for this process's own.
LIMITS = []
for res, name in (("RLIMIT_NOFILE", "nofile"), ("RLIMIT_NPROC", "nproc")):
    import resource
    soft, hard = resource.getrlimit(getattr(resource, res))
    hard = min(hard, 32768) if name == "nproc" else hard
    LIMITS += ["--ulimit", "%s=%d:%d" % (name, hard, hard)]


def podman(*args, check=True, timeout=DEADLINE):
    r = subprocess.run(["podman", "--runtime", "runc", *args],
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("podman %s: exit %d\n%s" % (
            " ".join(args[:3]), r.returncode, (r.stdout + r.stderr)[-3000:]))
    return r


def in_netns(*cmd, timeout=30):
    return subprocess.run(["ip", "netns", "exec", NETNS, *cmd],
                          capture_output=True, text=True, timeout=timeout)


def http(path):
    r = in_netns("python3", "-c",
                 "import urllib.request,sys\n"
                 "try:\n"
                 " r=urllib.request.urlopen('http://127.0.0.1:8080%s',"
                 "timeout=5); print(r.status); print(r.read().decode())\n"
                 "except urllib.error.HTTPError as e: print(e.code)\n" % path)
    lines = r.stdout.split("\n", 1)
    return (int(lines[0]) if lines[0].strip().isdigit() else None,
            lines[1] if len(lines) > 1 else r.stderr)


class Container:
    """A container of the image in the test's network namespace."""

    def __init__(self, *args, volume=True):
        opts = ["--network", "ns:/run/netns/" + NETNS, *LIMITS]
        if volume:
            opts += ["-v", VOLUME + ":/var/lib/ringmq"]
        self.id = podman("run", "-d", *opts, *args).stdout.strip()

    def logs(self):
        r = podman("logs", self.id, check=False)
        return r.stdout + r.stderr

    def wait_ready(self):
        end = time.time() + 60
        while time.time() < end:
            if http("/readyz")[0] == 200:
                return
            st = podman("inspect", "--format", "{{.State.Status}}", self.id,
                        check=False).stdout.strip()
            assert st == "running", (st, self.logs())
            time.sleep(0.2)
        raise AssertionError("not ready in 60 s:\n" + self.logs())

    def stop(self):
        podman("stop", "-t", "30", self.id, check=False)
        rc = podman("inspect", "--format", "{{.State.ExitCode}}", self.id,
                    check=False).stdout.strip()
        podman("rm", "-f", self.id, check=False)
        return rc


def setup():
    tmp = tempfile.mkdtemp(prefix="rmq-image-")
    try:
        tar = os.path.join(tmp, "base.tar")
        r = subprocess.run(["mmdebstrap", "--variant=minbase", "--quiet",
                            "bookworm", tar], capture_output=True, text=True,
                           timeout=DEADLINE)
        if r.returncode != 0:
            raise Skip("no Debian 12 base: mmdebstrap failed (%s)" %
                       r.stderr.strip()[-300:])
        podman("import", tar, BASE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["ip", "netns", "add", NETNS], check=True, timeout=30)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"],
                   check=True, timeout=30)
    # Can this machine run a container at all?  If not, say why.
    r = podman("run", "--rm", "--network", "none", *LIMITS, BASE, "true",
               check=False)
    if r.returncode != 0:
        raise Skip("podman cannot run a container here: " +
                   (r.stdout + r.stderr).strip()[-300:])


def teardown():
    for c in podman("ps", "-aq", "--filter", "ancestor=" + TAG,
                    check=False).stdout.split():
        podman("rm", "-f", c, check=False)
    podman("volume", "rm", "-f", VOLUME, check=False)
    podman("rmi", "-f", TAG, BASE, check=False)
    podman("image", "prune", "-f", check=False)
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True,
                   timeout=30)


BUILT = []


def built():
    if not BUILT:
        raise Skip("no image: the build did not run")


def the_image_builds(_):
    setup()
    # --format docker: the OCI format has no HEALTHCHECK
    podman("build", "--format", "docker", "--network", "host", *LIMITS,
           "--pull=never", "--build-arg", "DEBIAN=" + BASE,
           "-f", os.path.join(TREE, "deploy", "container", "Dockerfile"),
           "-t", TAG, TREE)
    BUILT.append(TAG)
    img = json.loads(podman("image", "inspect", TAG).stdout)[0]
    conf = img["Config"]
    assert conf["User"] == "10001:10001", conf["User"]
    assert "/var/lib/ringmq" in conf["Volumes"], conf
    assert set(conf["ExposedPorts"]) == {"1883/tcp", "8080/tcp",
                                         "7000/tcp", "7001/tcp",
                                         "7002/tcp"}, conf
    assert conf["Entrypoint"] == ["/usr/bin/ringmq"], conf
    assert img["Healthcheck"]["Test"][1:] == [
        "/usr/bin/ringmq", "ctl", "-c", "/etc/ringmq/ringmq.conf",
        "health"], img.get("Healthcheck")


def the_runtime_stage_holds_what_it_needs(_):
    built()
    script = (
        "set -e; id -u; id -g; "
        "for b in /usr/bin/ringmq /usr/bin/ringmq-bench; do "
        "  ldd $b | grep 'not found' && exit 3; done; "
        "test -s /etc/ssl/certs/ca-certificates.crt; "
        "for t in gcc cc meson ninja; do "
        "  command -v $t && exit 4; done; "
        "/usr/bin/ringmq check-config /etc/ringmq/ringmq.conf; "
        "stat -c '%u:%g %a' /var/lib/ringmq")
    r = podman("run", "--rm", "--network", "none", *LIMITS,
               "--entrypoint", "/bin/sh", TAG, "-c", script, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    lines = r.stdout.split("\n")
    assert lines[0] == "10001" and lines[1] == "10001", out
    assert "configuration OK" in out, out
    assert "10001:10001 750" in out, out
    r = podman("run", "--rm", "--network", "none", *LIMITS,
               "--entrypoint", "/usr/bin/ringmq-bench", TAG, "--help",
               check=False)
    assert "usage" in (r.stdout + r.stderr).lower(), r


def it_serves_falls_back_and_keeps_data(_):
    built()
    # As shipped: anonymous clients refused on a network listener.
    c = Container(TAG)
    try:
        c.wait_ready()
        r = podman("exec", c.id, "/usr/bin/ringmq", "ctl", "-c",
                   "/etc/ringmq/ringmq.conf", "health")
        assert r.stdout == "ok\n", r
        r = podman("healthcheck", "run", c.id, check=False)
        assert r.returncode == 0, r
        r = in_netns("mosquitto_pub", "-h", "127.0.0.1", "-t", "t", "-m",
                     "x", "-V", "mqttv311")
        assert r.returncode != 0 and "not authori" in r.stderr.lower(), r
        # podman's default seccomp profile refuses io_uring: libuv, said
        # in the log and the metrics
        log = c.logs()
        assert "worker loops on libuv (io_uring unavailable" in log, log
        status, body = http("/metrics")
        assert status == 200 and 'loop="libuv"' in body, body[:500]
    finally:
        assert c.stop() == "0", c.logs()
    # Anonymous let in by a flag (flags outrank the file): a retained
    # message, then a new container on the same volume reads it back.
    c = Container(TAG, "-c", "/etc/ringmq/ringmq.conf",
                  "--allow-anonymous", "true")
    try:
        c.wait_ready()
        r = in_netns("mosquitto_pub", "-h", "127.0.0.1", "-q", "1", "-r",
                     "-t", "img/kept", "-m", "on the volume")
        assert r.returncode == 0, r
    finally:
        assert c.stop() == "0", c.logs()
    # read-only root filesystem, as in the StatefulSet
    c = Container("--read-only", TAG, "-c", "/etc/ringmq/ringmq.conf",
                  "--allow-anonymous", "true")
    try:
        c.wait_ready()
        r = in_netns("mosquitto_sub", "-h", "127.0.0.1", "-t", "img/kept",
                     "-C", "1", "-W", "10")
        assert r.stdout == "on the volume\n", (r, c.logs())
    finally:
        assert c.stop() == "0", c.logs()


def io_uring_under_the_shipped_profile(_):
    built()
    profile = os.path.join(TREE, "deploy", "seccomp", "ringmq.json")
    c = Container("--security-opt", "seccomp=" + profile, TAG,
                  volume=False)
    try:
        c.wait_ready()
        log = c.logs()
        assert "worker loops on io_uring" in log, log
        status, body = http("/metrics")
        assert status == 200 and 'loop="io_uring"' in body, body[:500]
    finally:
        assert c.stop() == "0", c.logs()


try:
    run([the_image_builds, the_runtime_stage_holds_what_it_needs,
         it_serves_falls_back_and_keeps_data,
         io_uring_under_the_shipped_profile], make_broker=None)
finally:
    teardown()
