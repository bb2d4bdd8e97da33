"""Shared helpers for ftpmirror's integration tests.

* process control: start children in their own process group, stop them
  for sure (PID 1 here does not reap orphans, so "gone" means no live
  process, zombies excepted), and a registry that run.py empties on exit;
* trees: deterministic generation, snapshots, exact comparison;
* Mirror: one job (job file, state DB, target) and ways to run ftpmirror
  against it, with a timeout on every run, and to read its database;
* IntegrationTest: TestCase base with a private temporary directory.
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import time
import unittest
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))

# Every ftpmirror run gets at most this long unless a test says otherwise.
DEFAULT_TIMEOUT = 60


# ---------------------------------------------------------------- processes

def process_state(pid):
    """The state letter of a process (R, S, D, Z, ...), or None if none."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) S ppid pgrp ..." -- comm may contain spaces and parens.
    return data[data.rindex(b")") + 2:].split()[0].decode()


def process_alive(pid):
    """True if pid is a live process (a zombie is not alive)."""
    return process_state(pid) not in (None, "Z", "X")


def group_members(pgid):
    """Live processes whose process group is pgid."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(name))
    return members


_children = set()   # Popen objects started through spawn() and not yet stopped


def become_subreaper():
    """Make this process the "child subreaper" of its descendants (Linux):
    processes orphaned by a server (pure-ftpd's session helpers) are then
    re-parented to us instead of to PID 1 -- which here never reaps them --
    and reap_adopted() collects them.  Harmless where unsupported."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_adopted(pgid):
    """Reap zombies of process group pgid that were re-parented to us (see
    become_subreaper); never touches a Popen object's own child."""
    mine = os.getpid()
    own = {p.pid for p in _children}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in own or int(name) == pgid:
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] == b"Z" and int(fields[1]) == mine and int(fields[2]) == pgid:
            try:
                os.waitpid(int(name), os.WNOHANG)
            except ChildProcessError:
                pass


def spawn(argv, **kwargs):
    """Popen in a new session (so a whole process group can be signalled),
    registered so that kill_all() can stop it whatever happens."""
    proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)
    _children.add(proc)
    return proc


def stop_process(proc, grace=5.0, sig=signal.SIGTERM):
    """Signal proc's process group, escalate to SIGKILL after `grace`
    seconds, reap proc and make sure no member of its group is left alive.
    Raises RuntimeError if something survives SIGKILL."""
    pgid = proc.pid   # spawn() made it a session and group leader
    try:
        if proc.poll() is None or group_members(pgid):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if proc.poll() is not None and not group_members(pgid):
                    break
                time.sleep(0.05)
            else:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            raise RuntimeError("process %d did not die after SIGKILL" % proc.pid)
        deadline = time.monotonic() + 5
        while group_members(pgid):
            for pid in group_members(pgid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError("processes %s of group %d survive SIGKILL"
                                   % (group_members(pgid), pgid))
            time.sleep(0.05)
        reap_adopted(pgid)
    finally:
        _children.discard(proc)


def kill_all():
    """Stop every process spawn() started that is still registered."""
    for proc in list(_children):
        try:
            stop_process(proc, grace=2.0)
        except Exception as exc:   # keep stopping the others
            print("integration: could not stop pid %d: %s" % (proc.pid, exc))


Result = namedtuple("Result", "argv returncode stdout stderr seconds")


def describe(result):
    """Readable summary of a finished command, for assertion messages."""
    return ("command: %s\nexit status: %s after %.1fs\n--- stdout ---\n%s\n--- stderr ---\n%s"
            % (" ".join(result.argv), result.returncode, result.seconds,
               result.stdout.rstrip()[-6000:], result.stderr.rstrip()[-6000:]))


def run_command(argv, timeout, env=None, cwd=None):
    """Run argv to completion, output captured; on timeout the whole process
    group is killed and AssertionError raised (a test failure)."""
    start = time.monotonic()
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc, grace=0.5, sig=signal.SIGKILL)
        out, err = proc.communicate()
        res = Result(argv, "killed", out.decode(errors="replace"), err.decode(errors="replace"),
                     time.monotonic() - start)
        raise AssertionError("timed out after %ss\n%s" % (timeout, describe(res)))
    finally:
        if proc.returncode is not None:
            stop_process(proc, grace=0.5)   # reaps leftovers of its group, if any
    return Result(argv, proc.returncode, out.decode(errors="replace"),
                  err.decode(errors="replace"), time.monotonic() - start)


# -------------------------------------------------------------------- ports

def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class PortAllocator:
    """Hands out blocks of consecutive free ports on 127.0.0.1, below the
    kernel's ephemeral range (so outgoing connections never take them) and
    never the same port twice in one run (so servers cannot collide)."""

    LOW = 20000

    def __init__(self):
        self.high = max(self.LOW + 1000, _ephemeral_low()) - 1
        span = self.high - self.LOW
        # Start at a pid-dependent place: two runs at once rarely overlap.
        self.next = self.LOW + (os.getpid() * 97) % span
        self.handed_out = set()

    @staticmethod
    def _free(port):
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def block(self, count):
        """A range of `count` consecutive free ports.  The whole span is
        tried: another program (a benchmark's server with its passive range)
        may hold hundreds of ports in a row."""
        tries = 0
        while tries < self.high - self.LOW:
            tries += 1
            first = self.next
            if first + count - 1 > self.high:
                first = self.LOW
            self.next = first + count
            ports = range(first, first + count)
            if any(p in self.handed_out for p in ports):
                continue
            if all(self._free(p) for p in ports):
                self.handed_out.update(ports)
                return ports
        raise RuntimeError("no block of %d free ports on 127.0.0.1" % count)

    def port(self):
        return self.block(1)[0]


ports = PortAllocator()


# -------------------------------------------------------------------- trees

def content(seed, size):
    """Deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def write_tree(root, files, dirs=()):
    """Create files ({relpath: (bytes, mtime)}) and extra (possibly empty)
    directories under root; files get exactly that mtime (seconds)."""
    os.makedirs(root, exist_ok=True)
    for rel in dirs:
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    for rel, (data, mtime) in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (mtime, mtime))
    # Everything world-readable: pure-ftpd serves it as an unprivileged user.
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


def set_file(root, rel, data, mtime):
    """Create or rewrite one file upstream with this content and mtime."""
    write_tree(root, {rel: (data, mtime)})


Entry = namedtuple("Entry", "type size mtime data ino mtime_ns")


def snapshot(root):
    """{relpath: Entry} for everything under root (root itself excluded).
    type is 'file', 'dir', 'link' or 'other'; data holds a file's bytes."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    data = f.read()
                kind = "file"
            else:
                data = None
                kind = ("dir" if stat.S_ISDIR(st.st_mode)
                        else "link" if stat.S_ISLNK(st.st_mode) else "other")
            snap[rel] = Entry(kind, st.st_size, int(st.st_mtime), data, st.st_ino, st.st_mtime_ns)
    return snap


TRACE_DIR = ".ftpmirror"


def tree_differences(expected, actual):
    """Human-readable differences between two snapshots, compared on the set
    of paths, their types, file contents and file mtimes (whole seconds).
    An empty list means the trees are the same."""
    problems = []
    # The trace file ftpmirror writes after each publish (README, "The
    # publish model") is the mirror's own, not part of the copy.
    expected, actual = ({rel: e for rel, e in snap.items()
                         if rel != TRACE_DIR and not rel.startswith(TRACE_DIR + "/")}
                        for snap in (expected, actual))
    for rel in sorted(set(expected) - set(actual)):
        problems.append("missing: %s (%s)" % (rel, expected[rel].type))
    for rel in sorted(set(actual) - set(expected)):
        problems.append("unexpected: %s (%s, %d bytes)" % (rel, actual[rel].type, actual[rel].size))
    for rel in sorted(set(expected) & set(actual)):
        e, a = expected[rel], actual[rel]
        if e.type != a.type:
            problems.append("type differs: %s is %s, expected %s" % (rel, a.type, e.type))
        elif e.type == "file":
            if e.data != a.data:
                problems.append("content differs: %s (%d bytes, expected %d)" % (rel, a.size, e.size))
            if e.mtime != a.mtime:
                problems.append("mtime differs: %s is %s, expected %s"
                                % (rel, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(a.mtime)),
                                   time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.mtime))))
    return problems


def file_count(snap):
    return sum(1 for e in snap.values() if e.type == "file")


def norm_path(path):
    """An events/files path as a relative path without leading ./ or /."""
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


# --------------------------------------------------------- job and database

def yaml_scalar(value):
    """A YAML value: JSON strings, numbers, lists and booleans are YAML."""
    return json.dumps(value)


def query_db(db, sql, params=()):
    """The rows of sql on the database file db, as dicts; none while the
    file does not exist yet."""
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(db, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


RUN_COLUMNS = ("id", "job", "started_at", "finished_at", "status", "files_added",
               "files_changed", "files_deleted", "bytes_downloaded", "errors", "message")


def binary():
    path = os.environ.get("FTPMIRROR_BIN")
    if not path:
        raise RuntimeError("FTPMIRROR_BIN is not set (run the tests through run.py --binary)")
    return path


class Mirror:
    """One ftpmirror job in a test's directory: job file, state DB, target."""

    def __init__(self, workdir, name, source, target=None, incoming=None, **keys):
        self.workdir = workdir
        self.name = name
        self.source = source
        self.target = target or os.path.join(workdir, "mirror")
        self.explicit_incoming = incoming
        self.db = os.path.join(workdir, "state.db")
        self.job = os.path.join(workdir, "%s.yaml" % name)
        self.keys = keys
        self.write_job()

    @property
    def incoming(self):
        """Where files are staged: the job's `incoming`, else the documented
        default, a hidden sibling `.<basename>.incoming` of the target."""
        if self.explicit_incoming:
            return self.explicit_incoming
        parent, base = os.path.split(self.target.rstrip("/"))
        return os.path.join(parent, ".%s.incoming" % base)

    def write_job(self, **overrides):
        """(Re)write the job file with absolute paths."""
        self.keys.update(overrides)
        lines = ["# written by ftpmirror's integration tests",
                 "name: %s" % yaml_scalar(self.name),
                 "source: %s" % yaml_scalar(self.source),
                 "target: %s" % yaml_scalar(self.target)]
        if self.explicit_incoming:
            lines.append("incoming: %s" % yaml_scalar(self.explicit_incoming))
        for key, value in self.keys.items():
            lines.append("%s: %s" % (key, yaml_scalar(value)))
        with open(self.job, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def env(self):
        env = dict(os.environ)
        env["HOME"] = self.workdir
        env["FTPMIRROR_DB"] = self.db
        env["FTPMIRROR_JOBS_DIR"] = os.path.join(self.workdir, "jobs.d")
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        return env

    def argv(self, *args):
        return [binary(), "--db", self.db] + list(args)

    def run(self, *args, timeout=DEFAULT_TIMEOUT):
        """Run `ftpmirror --db DB ARGS...`; returns a Result."""
        return run_command(self.argv(*args), timeout=timeout, env=self.env(), cwd=self.workdir)

    def sync(self, timeout=DEFAULT_TIMEOUT):
        return self.run("sync", self.job, timeout=timeout)

    def start_sync(self, tag="bg"):
        """Start a sync in the background (output to files); returns
        (Popen, stdout path, stderr path).  Stop it with stop_process()."""
        out = os.path.join(self.workdir, "%s.stdout" % tag)
        err = os.path.join(self.workdir, "%s.stderr" % tag)
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = spawn(self.argv("sync", self.job), stdout=o, stderr=e,
                         env=self.env(), cwd=self.workdir)
        return proc, out, err

    # --- database ---------------------------------------------------------

    def _query(self, sql, params=()):
        return query_db(self.db, sql, params)

    def runs(self):
        """This job's runs rows, oldest first."""
        return self._query("SELECT * FROM runs WHERE job = ? ORDER BY id", (self.name,))

    def events(self, run_id):
        return self._query("SELECT * FROM events WHERE run_id = ?", (run_id,))

    def event_paths(self, run_id):
        """{action: set of normalised paths} for one run."""
        result = {}
        for ev in self.events(run_id):
            result.setdefault(ev["action"], set()).add(norm_path(ev["path"] or ""))
        return result


# ------------------------------------------------------------ test base

_tmpdirs = set()   # test directories not yet removed


def remove_tmpdirs():
    """Remove test directories left by interrupted tests (run.py, last)."""
    for path in list(_tmpdirs):
        _remove_tmpdir(path)


def _remove_tmpdir(path):
    if os.environ.get("FTPMIRROR_IT_KEEP"):
        print("\n  kept %s" % path)
    else:
        shutil.rmtree(path, ignore_errors=True)
    _tmpdirs.discard(path)


class IntegrationTest(unittest.TestCase):
    """A TestCase with a private temporary directory, removed afterwards
    unless FTPMIRROR_IT_KEEP is set (then its path is printed)."""

    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ftpmirror-it-")
        _tmpdirs.add(self.tmp)
        # Readable by the unprivileged user pure-ftpd serves files as.
        os.chmod(self.tmp, 0o755)
        self.addCleanup(_remove_tmpdir, self.tmp)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # --- assertions -------------------------------------------------------

    def assertExit(self, result, code, what="ftpmirror"):
        if result.returncode != code:
            self.fail("%s: expected exit status %s, got %s\n%s"
                      % (what, code, result.returncode, describe(result)))

    def assertSameTree(self, expected_root, actual_root, context=""):
        problems = tree_differences(snapshot(expected_root), snapshot(actual_root))
        if problems:
            self.fail("%s is not an exact copy of %s%s:\n  %s"
                      % (actual_root, expected_root, context, "\n  ".join(problems[:40])))

    def new_run(self, mirror, runs_before, result):
        """The single runs row a sync added; fails unless exactly one."""
        runs = mirror.runs()
        if len(runs) != runs_before + 1:
            self.fail("expected exactly one new runs row for job %s, have %d (had %d)\nrows: %s\n%s"
                      % (mirror.name, len(runs), runs_before, runs[-3:], describe(result)))
        return runs[-1]
