"""test/deploy/test_install.py: what `meson install` puts in place.

The build is installed into a staging directory (DESTDIR), and the tree
checked: the programs, the man pages ringmq(8) and ringmq.conf(5) (which
man renders without a warning, and which name every key of the option
table), the example configuration (which the installed broker accepts),
and the systemd unit, whose paths are the install's and which
`systemd-analyze verify` accepts as systemd would load it once installed
(the staged prefix bound over the real one in a mount namespace of the
test's own, so nothing of the machine changes), and whose hardening
`systemd-analyze security` rates.  That the broker tells systemd it is
ready, reloading and stopping: 11_lifecycle and test_notify.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from rmqtest import Skip, run  # noqa: E402

BUILD = os.environ["RMQTEST_BUILD"]
DEADLINE = 300
TMP = tempfile.mkdtemp(prefix="rmq-install-")
STAGE = os.path.join(TMP, "stage")


def sh(*cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=DEADLINE, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (
            " ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def option(name):
    opts = json.loads(sh("meson", "introspect", "--buildoptions",
                         BUILD).stdout)
    return next(o["value"] for o in opts if o["name"] == name)


PREFIX = option("prefix")
BINDIR = os.path.join(PREFIX, option("bindir"))
SYSCONF = os.path.join(PREFIX, option("sysconfdir"))
MANDIR = os.path.join(PREFIX, option("mandir"))
UNITDIR = option("systemd_unit_dir") or os.path.join(PREFIX, "lib",
                                                     "systemd", "system")


def staged(path):
    return os.path.join(STAGE, path.lstrip("/"))


def the_tree_is_installed(_):
    sh("meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
       "--destdir", STAGE)
    want = {
        os.path.join(BINDIR, "ringmq"): 0o755,
        os.path.join(BINDIR, "ringmq-bench"): 0o755,
        os.path.join(MANDIR, "man8", "ringmq.8"): 0o644,
        os.path.join(MANDIR, "man5", "ringmq.conf.5"): 0o644,
        os.path.join(SYSCONF, "ringmq", "ringmq.conf"): 0o644,
        os.path.join(UNITDIR, "ringmq.service"): 0o644,
    }
    for path, mode in want.items():
        st = os.stat(staged(path))
        assert st.st_size > 0, path
        assert st.st_mode & 0o777 == mode, (path, oct(st.st_mode))
    # the installed broker runs, and takes the installed configuration
    r = sh(staged(os.path.join(BINDIR, "ringmq")), "check-config",
           staged(os.path.join(SYSCONF, "ringmq", "ringmq.conf")))
    assert "configuration OK" in r.stdout + r.stderr, r


def the_man_pages_render_and_name_every_key(_):
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    pages = {}
    for sec, name in (("8", "ringmq.8"), ("5", "ringmq.conf.5")):
        path = staged(os.path.join(MANDIR, "man" + sec, name))
        r = sh("man", "--warnings=w", "-l", path, env=env)
        assert r.stderr == "", (name, r.stderr)
        assert len(r.stdout.splitlines()) > 50, r.stdout
        with open(path) as f:
            pages[sec] = f.read()
    # every key of the table (`ringmq --help-config text`, one a line at
    # column 0), taken or refused, has its entry in ringmq.conf(5)
    text = sh(staged(os.path.join(BINDIR, "ringmq")), "--help-config",
              "text").stdout
    keys = [l.split(":")[0].split(" or ")[0] for l in text.splitlines()
            if l and not l.startswith(" ")]
    assert len(keys) > 100, keys
    for k in keys:
        roff = "\\fB" + k.replace("-", "\\-") + "\\fR"
        assert roff in pages["5"], k
    # and ringmq(8) has a flag for the keys that have one
    for flag in ("\\-\\-listener", "\\-\\-cluster\\-dns",
                 "\\-\\-persistence\\-location", "\\-\\-log\\-level"):
        assert flag in pages["8"], flag
    for part in ("SIGHUP", "NOTIFY_SOCKET", "check\\-config"):
        assert part in pages["8"], part


def the_systemd_unit_is_accepted(_):
    unit = staged(os.path.join(UNITDIR, "ringmq.service"))
    with open(unit) as f:
        text = f.read()
    conf = os.path.join(SYSCONF, "ringmq", "ringmq.conf")
    ringmq = os.path.join(BINDIR, "ringmq")
    assert "\nExecStart=%s -c %s\n" % (ringmq, conf) in text, text
    assert "\nType=notify\n" in text and "\nStateDirectory=ringmq\n" in text
    assert "@" + "BINDIR@" not in text and "@" + "SYSCONFDIR@" not in text
    if os.geteuid() != 0:
        raise Skip("verify needs root (a mount namespace)")
    if shutil.which("systemd-analyze") is None:
        raise Skip("no systemd-analyze")
    # The unit's commands exist where it names them only once installed:
    # the staged prefix over the real one, in a mount namespace.
    bad = os.path.join(TMP, "ringmq-misspelt.service")
    with open(bad, "w") as f:
        f.write(text.replace("\nType=notify\n", "\nTyp=notify\n"))
    script = ('mount --bind "$1" "$2" && '
              'systemd-analyze verify --man=no "$3"; echo "rc=$?"; '
              'systemd-analyze verify --man=no "$4" 2>&1; echo "rc=$?"')
    r = sh("unshare", "--mount", "--propagation", "private", "sh", "-c",
           script, "sh", staged(PREFIX), PREFIX,
           os.path.join(UNITDIR, "ringmq.service"), bad)
    assert r.stderr == "" and r.stdout.startswith("rc=0\n"), r
    assert "Unknown key 'Typ'" in r.stdout, r.stdout
    # hardening: systemd's own rating of what the service may do
    r = sh("systemd-analyze", "security", "--offline=yes", unit)
    m = re.search(r"Overall exposure level for ringmq.service: "
                  r"([0-9.]+) (\w+)", r.stdout)
    assert m, r.stdout[-2000:]
    assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", m.group(0)
    print("systemd-analyze security: %s %s" % (m.group(1), m.group(2)))


try:
    run([the_tree_is_installed, the_man_pages_render_and_name_every_key,
         the_systemd_unit_is_accepted], make_broker=None)
finally:
    shutil.rmtree(TMP, ignore_errors=True)
