"""18: the data directory on disk (broker/store/disk.c) as an operator
meets it: `ringmq store check DIR` reads a directory offline and says what
is in it, or names the path and the problem, changing nothing.  The
directories are written here with LMDB's own tool (mdb_load, from Debian's
lmdb-utils), as a broker of this format, or of a newer one, leaves them.
(Persistence itself comes next: issue 16.)"""
import os
import shutil
import subprocess
import tempfile

from rmqtest import BROKER, DEADLINE, run

_tmp = tempfile.mkdtemp(prefix="ringmq-store-")


def data_dir(name, format_bytes):
    """A directory whose meta database holds format_bytes as "format"."""
    d = os.path.join(_tmp, name)
    os.mkdir(d, 0o700)
    text = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n format\n " + \
        "".join("\\%02x" % b for b in format_bytes) + "\nDATA=END\n"
    r = subprocess.run(["mdb_load", "-s", "meta", d], input=text,
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    return d


def check(d):
    return subprocess.run([BROKER, "store", "check", d], capture_output=True,
                          text=True, timeout=DEADLINE)


def store_check_reads_a_sound_directory(_):
    d = data_dir("sound", (1).to_bytes(4, "little"))
    r = check(d)
    assert r.returncode == 0, r.stderr
    assert "%s: format 1" % d in r.stdout, r.stdout
    assert "meta" in r.stdout and "1 record" in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith("%s: OK" % d), r.stdout
    assert not os.path.exists(os.path.join(d, "ringmq.lock")), \
        "a check takes no lock and writes nothing"


def store_check_refuses_what_it_cannot_read(_):
    newer = data_dir("newer", (2).to_bytes(4, "little"))
    before = open(os.path.join(newer, "data.mdb"), "rb").read()
    r = check(newer)
    assert r.returncode == 1, r
    assert "%s/data.mdb: format 2, newer than this ringmq's (1)" % newer \
        in r.stderr, r.stderr
    assert open(os.path.join(newer, "data.mdb"), "rb").read() == before

    damaged = os.path.join(_tmp, "damaged")
    os.mkdir(damaged)
    with open(os.path.join(damaged, "data.mdb"), "wb") as f:
        f.write(bytes((i * 37) & 0xFF for i in range(16384)))
    r = check(damaged)
    assert r.returncode == 1 and "%s/data.mdb: not an LMDB environment" % \
        damaged in r.stderr, r.stderr

    empty = os.path.join(_tmp, "empty")
    os.mkdir(empty)
    r = check(empty)
    assert r.returncode == 1 and "%s: no data.mdb: not a RingMQ data " \
        "directory" % empty in r.stderr, r.stderr

    r = check(os.path.join(_tmp, "missing"))
    assert r.returncode == 1 and "No such file or directory" in r.stderr, \
        r.stderr
    r = subprocess.run([BROKER, "store", "dump"], capture_output=True,
                       text=True, timeout=DEADLINE)
    assert r.returncode == 2 and "usage: ringmq store check DIR" in \
        r.stderr, r


try:
    run([store_check_reads_a_sound_directory,
         store_check_refuses_what_it_cannot_read], make_broker=None)
finally:
    shutil.rmtree(_tmp, ignore_errors=True)
