#!/usr/bin/python3
"""ftpmirror's benchmark (issue 4): ftpmirror against lftp, rclone and wget
over an emulated WAN on loopback.  See bench/README.md.

    /usr/bin/python3 bench/run.py                 # what `make bench` runs
    /usr/bin/python3 bench/run.py --large         # 100,000 files: ftpmirror's peak RSS
    /usr/bin/python3 bench/run.py --runs 1 --cases a,b --clients ftpmirror,lftp --files 200
"""

import argparse
import datetime
import fcntl
import hashlib
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ftpservers  # noqa: E402
import helpers     # noqa: E402  (tests/integration/helpers.py, put on sys.path by ftpservers)

PEERS = ("lftp", "rclone", "wget")
ALL_CLIENTS = ("ftpmirror",) + PEERS
# Case (d) compares like with like: ftpmirror syncs staged data to disk
# before publishing (fsync: false skips it), curl -o never syncs.
BIG_CLIENTS = ["ftpmirror", "ftpmirror-nofsync", "curl", "curl+sync"]
BIG_LABELS = {"ftpmirror": "ftpmirror (default: synced)",
              "ftpmirror-nofsync": "ftpmirror, fsync: false",
              "curl": "curl -o (1 connection)", "curl+sync": "curl -o, then sync FILE"}
CASE_NAMES = {
    "a": "(a) first full mirror",
    "b": "(b) no-op re-sync",
    "c": "(c) re-sync after 2 % changed",
    "d": "(d) one big file, no delay",
}
MTIME_BASE = 1659312000          # 2022-08-01T00:00:00Z: generated files are "old"
CHANGE_SHIFT = 30 * 86400        # a rewritten file gets an mtime 30 days later
PASSWORD = "bench@example.org"

Sample = namedtuple("Sample", "wall cpu rss rc ok problem retr cmds proxy_cpu")


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- helpers

def parse_size(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGkmg]?)(?:i?[Bb])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError("not a size: %r (e.g. 64K, 4M, 1G)" % text)
    return int(float(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()])


def human(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%.1f %s" % (n / div, unit)
    return "%d B" % n


def log(msg):
    print("bench: %s" % msg, flush=True)


def rmtree(path):
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


def proc_cpu(pid):
    """user+sys seconds of a live process (from /proc), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


RUSAGE = None     # the compiled bench/rusage.c


def build_rusage(workdir):
    """Compile bench/rusage.c (static when the toolchain allows) into workdir."""
    global RUSAGE
    src = os.path.join(HERE, "rusage.c")
    exe = os.path.join(workdir, "rusage")
    if not (os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src)):
        cc = os.environ.get("CC") or "cc"
        base = [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-o", exe + ".tmp", src]
        if subprocess.run(base + ["-static"], capture_output=True).returncode != 0:
            r = subprocess.run(base, capture_output=True, text=True)
            if r.returncode != 0:
                raise BenchError("cannot compile bench/rusage.c:\n" + r.stderr)
        os.rename(exe + ".tmp", exe)
    RUSAGE = exe


def run_measured(argv, logpath, timeout, env=None, cwd=None):
    """Run argv to completion under bench/rusage.c: (wall seconds, CPU
    seconds of the child and its waited-for descendants, peak RSS in bytes,
    exit status).  The process group is killed after `timeout` seconds
    (exit status "timeout")."""
    report = logpath + ".rusage"
    if os.path.exists(report):
        os.unlink(report)
    with open(logpath, "ab") as out:
        out.write(("$ %s\n" % " ".join(shlex.quote(a) for a in argv)).encode())
        out.flush()
        start = time.monotonic()
        proc = ftpservers.spawn([RUSAGE, report] + list(argv), stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        ftpservers.stop(proc, grace=0.5, sig=signal.SIGKILL)
        return time.monotonic() - start, 0.0, 0, "timeout"
    ftpservers.stop(proc, grace=0.5)     # leftovers of its group, if any
    try:
        with open(report) as f:
            wall, cpu, rss_kib, rc = f.read().split()
    except (OSError, ValueError):
        return time.monotonic() - start, 0.0, 0, "rusage failed (%s)" % proc.returncode
    return float(wall), float(cpu), int(rss_kib) * 1024, int(rc)


# ------------------------------------------------------------------ trees

def _sizes_rng(rng, n, lo, hi):
    """n sizes, log-uniform in [lo, hi]."""
    a, b = math.log(max(1, lo)), math.log(max(lo + 1, hi))
    return [int(math.exp(rng.uniform(a, b))) for _ in range(n)]


def tree_layout(dirs):
    """`dirs` directory paths, two levels: about sqrt(dirs) at the top, the
    rest spread below them."""
    top = max(1, int(round(math.sqrt(dirs))))
    top = min(top, dirs)
    paths = ["d%03d" % i for i in range(top)]
    for j in range(dirs - top):
        paths.append("d%03d/s%03d" % (j % top, j // top))
    return paths


def write_file(path, data, mtime):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    os.utime(path, (mtime, mtime))


def generate_tree(root, spec):
    """The generated tree: spec (files, dirs, seed, min_size, max_size,
    big_files, big_min, big_max), deterministic.  Reused when root holds a
    complete tree made from the same spec."""
    stamp = os.path.join(os.path.dirname(root), "." + os.path.basename(root) + ".spec")
    if os.path.isdir(root) and os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == spec:
                return False
    rmtree(root)
    if os.path.exists(stamp):
        os.unlink(stamp)
    rng = random.Random(spec["seed"])
    dirs = tree_layout(spec["dirs"])
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    sizes = _sizes_rng(rng, spec["files"], spec["min_size"], spec["max_size"])
    for i in rng.sample(range(spec["files"]), min(spec["big_files"], spec["files"])):
        sizes[i] = rng.randint(spec["big_min"], spec["big_max"])
    data_rng = random.Random(spec["seed"] * 7919 + 1)
    # One pool of random bytes; each file is a slice at a random offset with
    # its index stamped in (distinct contents, fast to generate).
    pool = data_rng.randbytes(max(sizes) + 4096 if sizes else 1)
    for i, size in enumerate(sizes):
        d = dirs[i % len(dirs)]
        off = data_rng.randrange(0, 4096)
        data = (b"%08d" % i + pool[off:off + size])[:size]
        write_file(os.path.join(root, d, "f%06d.dat" % i), data,
                   MTIME_BASE + rng.randrange(0, 365 * 86400))
    _world_readable(root)
    with open(stamp, "w") as f:
        json.dump(spec, f)
    return True


def copy_real_tree(source, root):
    """A copy of a real tree (regular files and directories only; symlinks,
    special and unreadable files are left out), mtimes in whole seconds."""
    stamp = os.path.join(os.path.dirname(root), "." + os.path.basename(root) + ".spec")
    spec = {"source": os.path.realpath(source)}
    if os.path.isdir(root) and os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == spec:
                return False
    rmtree(root)
    if os.path.exists(stamp):
        os.unlink(stamp)
    for dirpath, dirnames, filenames in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        dest = os.path.normpath(os.path.join(root, rel))
        os.makedirs(dest, exist_ok=True)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            src = os.path.join(dirpath, name)
            try:
                st = os.lstat(src)
                if not os.path.isfile(src) or os.path.islink(src):
                    continue
                shutil.copyfile(src, os.path.join(dest, name))
            except OSError:
                continue
            os.utime(os.path.join(dest, name), (int(st.st_mtime), int(st.st_mtime)))
    _world_readable(root)
    with open(stamp, "w") as f:
        json.dump(spec, f)
    return True


def generate_big(path, size, seed):
    d = os.path.dirname(path)
    stamp = os.path.join(os.path.dirname(d), "." + os.path.basename(d) + ".spec")
    spec = {"size": size, "seed": seed}
    if os.path.exists(path) and os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == spec and os.path.getsize(path) == size:
                return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = random.Random(seed)
    block = rng.randbytes(8 << 20)
    with open(path, "wb") as f:
        left, i = size, 0
        while left > 0:
            chunk = (b"%016d" % i + block[16:])[:min(left, len(block))]
            f.write(chunk)
            left -= len(chunk)
            i += 1
    os.chmod(path, 0o644)
    os.utime(path, (MTIME_BASE, MTIME_BASE))
    _world_readable(os.path.dirname(path))
    with open(stamp, "w") as f:
        json.dump(spec, f)
    return True


def _world_readable(root):
    """pure-ftpd serves as an unprivileged user."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    d = root
    while d not in ("/", ""):
        st = os.stat(d)
        if st.st_mode & 0o005 != 0o005:
            os.chmod(d, st.st_mode | 0o005)
        d = os.path.dirname(d)


def scan(root):
    """{relpath: (size, int mtime)} of the regular files under root, and the
    number of directories (root included) and levels below root."""
    files, ndirs, depth = {}, 0, 0
    for dirpath, dirnames, filenames in os.walk(root):
        ndirs += 1
        rel = os.path.relpath(dirpath, root)
        depth = max(depth, 0 if rel == "." else rel.count("/") + 1)
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if os.path.isfile(p) and not os.path.islink(p):
                files[os.path.relpath(p, root)] = (st.st_size, int(st.st_mtime))
    return files, ndirs, depth


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(1 << 20)
            y = fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def verify(src_root, src_files, dst_root, check_mtime, ignore=(), may_keep=(), own_dirs=()):
    """None if dst_root holds exactly the files of src_root, byte for byte
    (and with the same mtimes when check_mtime), else the first problems.
    ignore: names never compared (wget's .listing); may_keep: paths a client
    is allowed to leave behind (wget never deletes); own_dirs: top-level
    directories the client keeps for itself (ftpmirror's .ftpmirror/trace)."""
    if not os.path.isdir(dst_root):
        return "no mirror at %s" % dst_root
    got, _nd, _dp = scan(dst_root)
    problems = []
    for rel in sorted(set(src_files) - set(got)):
        problems.append("missing %s" % rel)
    for rel in sorted(set(got) - set(src_files)):
        if os.path.basename(rel) in ignore or rel in may_keep or rel.split("/")[0] in own_dirs:
            continue
        problems.append("unexpected %s" % rel)
    for rel in sorted(set(src_files) & set(got)):
        size, mtime = src_files[rel]
        if got[rel][0] != size:
            problems.append("size of %s: %d, expected %d" % (rel, got[rel][0], size))
        elif not same_bytes(os.path.join(src_root, rel), os.path.join(dst_root, rel)):
            problems.append("content of %s differs" % rel)
        elif check_mtime and got[rel][1] != mtime:
            problems.append("mtime of %s: %d, expected %d" % (rel, got[rel][1], mtime))
        if len(problems) > 5:
            break
    if problems:
        return "%d problem(s): %s" % (len(problems), "; ".join(problems[:5]))
    return None


class Change:
    """The 2 % change of case (c), applied to the served tree and undone
    afterwards (the originals are stashed).  Deterministic for a seed."""

    def __init__(self, root, stash, seed, share):
        self.root = root
        self.stash = stash
        self.seed = seed
        self.share = share
        self.dirty = os.path.join(os.path.dirname(root), "." + os.path.basename(root) + ".dirty")
        self.added = []
        self.saved = []
        self.counts = {}

    def apply(self):
        files, _nd, _dp = scan(self.root)
        paths = sorted(files)
        n = max(4, int(round(len(paths) * self.share)))
        n_rewrite = int(round(n * 0.4))
        n_resize = int(round(n * 0.2))
        n_delete = int(round(n * 0.2))
        n_add = n - n_rewrite - n_resize - n_delete
        rng = random.Random(self.seed * 31 + 5)
        chosen = rng.sample(paths, min(len(paths), n_rewrite + n_resize + n_delete))
        rewrite = chosen[:n_rewrite]
        resize = chosen[n_rewrite:n_rewrite + n_resize]
        delete = chosen[n_rewrite + n_resize:]
        with open(self.dirty, "w") as f:
            f.write("tree being changed for case (c)\n")
        rmtree(self.stash)
        os.makedirs(self.stash)
        for i, rel in enumerate(chosen):
            keep = os.path.join(self.stash, "%d" % i)
            shutil.copy2(os.path.join(self.root, rel), keep)
            self.saved.append((rel, keep))
        for rel in rewrite:
            size, mtime = files[rel]
            write_file(os.path.join(self.root, rel), rng.randbytes(size), mtime + CHANGE_SHIFT)
        for rel in resize:
            size, mtime = files[rel]
            new = size + max(1, size // 3) if rng.random() < 0.5 or size < 2 else max(1, size - size // 3)
            write_file(os.path.join(self.root, rel), rng.randbytes(new), mtime + CHANGE_SHIFT)
        for rel in delete:
            os.unlink(os.path.join(self.root, rel))
        for i in range(n_add):
            d = os.path.dirname(rng.choice(paths))
            rel = os.path.join(d, "added-%04d.dat" % i)
            self.added.append(rel)
            write_file(os.path.join(self.root, rel), rng.randbytes(rng.randint(1024, 65536)),
                       MTIME_BASE + 400 * 86400 + i)
        self.counts = {"rewritten": len(rewrite), "resized": len(resize),
                       "added": n_add, "deleted": len(delete)}
        self.deleted = set(delete)
        return self.counts

    def undo(self):
        for rel in self.added:
            try:
                os.unlink(os.path.join(self.root, rel))
            except FileNotFoundError:
                pass
        for rel, keep in self.saved:
            shutil.copy2(keep, os.path.join(self.root, rel))
        self.added, self.saved = [], []
        rmtree(self.stash)
        os.unlink(self.dirty)


# ---------------------------------------------------------------- clients

class Clients:
    """The command lines of ftpmirror and the peers, for a server port."""

    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.home = os.path.join(workdir, "home")     # empty HOME: no user config
        os.makedirs(self.home, exist_ok=True)
        self.rclone_conf = os.path.join(workdir, "rclone.conf")
        open(self.rclone_conf, "a").close()
        self._obscured = None

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FTPMIRROR_", "RCLONE_", "LFTP", "http_proxy", "ftp_proxy",
                                    "https_proxy", "all_proxy", "no_proxy"))}
        env["HOME"] = self.home
        env["XDG_CONFIG_HOME"] = os.path.join(self.home, ".config")
        env["XDG_DATA_HOME"] = os.path.join(self.home, ".local", "share")
        env["XDG_STATE_HOME"] = os.path.join(self.home, ".local", "state")
        env["XDG_CACHE_HOME"] = os.path.join(self.home, ".cache")
        env["LC_ALL"] = "C"
        return env

    def obscured(self):
        if self._obscured is None:
            out = subprocess.run(["rclone", "obscure", PASSWORD], capture_output=True, text=True,
                                 env=self.env(), check=True, timeout=60)
            self._obscured = out.stdout.strip()
        return self._obscured

    def ftpmirror_job(self, name, port, remote_dir, dest, n, fsync=True):
        job = os.path.join(self.workdir, "%s.yaml" % name)
        with open(job, "w") as f:
            f.write("# written by bench/run.py\n"
                    "name: %s\n"
                    "source: ftp://127.0.0.1:%d/%s/\n"
                    "target: %s\n"
                    "connections: %d\n"
                    "max_delete: 100%%\n"
                    "password: %s\n" % (name, port, remote_dir, json.dumps(dest), n, PASSWORD))
            if not fsync:
                f.write("fsync: false\n")
        return job

    def argv(self, client, port, remote_dir, dest, n, db=None, name="bench"):
        """remote_dir: the directory under the server root, without slashes."""
        if client in ("ftpmirror", "ftpmirror-nofsync"):
            job = self.ftpmirror_job(name, port, remote_dir, dest, n,
                                     fsync=client == "ftpmirror")
            wrap = shlex.split(self.args.ftpmirror_wrap) if self.args.ftpmirror_wrap else []
            return wrap + [self.args.binary, "--db", db, "-q", "sync", job]
        if client == "lftp":
            script = ("set cmd:interactive false; set net:max-retries 3; "
                      "set net:reconnect-interval-base 1; "
                      "open -u anonymous,%s ftp://127.0.0.1:%d; "
                      "mirror --parallel=%d --delete /%s %s"
                      % (PASSWORD, port, n, remote_dir, shlex.quote(dest)))
            return ["lftp", "-c", script]
        if client == "rclone":
            return ["rclone", "--config", self.rclone_conf, "sync", ":ftp:%s" % remote_dir, dest,
                    "--ftp-host", "127.0.0.1", "--ftp-port", str(port),
                    "--ftp-user", "anonymous", "--ftp-pass", self.obscured(),
                    "--transfers", str(n), "--checkers", str(n), "-q"]
        if client == "wget":
            # single connection; -m keeps .listing files; never deletes
            return ["wget", "-m", "-nH", "--cut-dirs=1", "-q", "-P", dest,
                    "ftp://127.0.0.1:%d/%s/" % (port, remote_dir)]
        if client == "curl":
            return ["curl", "-sS", "-o", dest, "ftp://127.0.0.1:%d/%s" % (port, remote_dir)]
        if client == "curl+sync":
            # as durable as ftpmirror's default: the file is on disk at exit
            return ["sh", "-c", 'curl -sS -o "$1" "$2" && sync "$1"', "sh", dest,
                    "ftp://127.0.0.1:%d/%s" % (port, remote_dir)]
        raise BenchError("unknown client %s" % client)


# ---------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = os.path.abspath(args.workdir)
        self.srv = os.path.join(self.workdir, "srv")
        self.dst = os.path.join(self.workdir, "dst")
        self.logs = os.path.join(self.workdir, "logs")
        for d in (self.srv, self.dst, self.logs):
            os.makedirs(d, exist_ok=True)
        # One benchmark at a time per work directory (and per machine, in
        # practice: two at once would time each other).
        self.lock = open(os.path.join(self.workdir, ".lock"), "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError("another bench/run.py is using %s; wait for it" % self.workdir)
        # Run a copy of the binary: a rebuild during the benchmark must not
        # change what is measured half-way.
        if not os.access(args.binary, os.X_OK):
            raise BenchError("%s not found: run `make build/ftpmirror`" % args.binary)
        self.binary_origin = args.binary
        self.binary_built = os.path.getmtime(args.binary)
        with open(args.binary, "rb") as f:
            self.binary_sha = hashlib.sha256(f.read()).hexdigest()[:12]
        # The tree the binary was built from: as it is now, not when the
        # report is written (edits during a long run must not show).
        self.tree_state = git_state()
        copy = os.path.join(self.workdir, "ftpmirror")
        shutil.copy2(args.binary, copy + ".tmp")
        os.rename(copy + ".tmp", copy)
        args.binary = copy
        self.clients = Clients(args, self.workdir)
        build_rusage(self.workdir)
        self.delayed = None      # server behind the proxy (binds 127.0.0.2)
        self.direct = None       # server on 127.0.0.1, no proxy
        self.proxy = None
        self.proxy_delay = None
        self.results = {}        # (tree, case, client) -> [Sample]
        self.notes = {}
        self.trees = {}          # name -> {files, dirs, depth, bytes}
        self.changes = {}        # tree -> change counts of case (c)

    # --- servers and proxy -------------------------------------------

    def start_servers(self, delayed=True):
        a = self.args
        self.direct = ftpservers.make_server(a.server, self.srv, self.logs,
                                             bind="127.0.0.1", announce="127.0.0.1").start()
        log("%s direct: 127.0.0.1:%d" % (a.server, self.direct.port))
        if delayed:
            self.delayed = ftpservers.make_server(a.server, self.srv, self.logs,
                                                  bind="127.0.0.2", announce="127.0.0.1").start()
            log("%s behind the proxy: 127.0.0.2:%d (passive %d-%d)"
                % (a.server, self.delayed.port, self.delayed.passive[0], self.delayed.passive[-1]))

    def start_proxy(self, delay_ms):
        self.stop_proxy()
        s = self.delayed
        ready = os.path.join(self.logs, "proxy.ready")
        self.proxy_stats = os.path.join(self.logs, "proxy-%g.stats" % delay_ms)
        if os.path.exists(ready):
            os.unlink(ready)
        argv = ["/usr/bin/python3", os.path.join(HERE, "delayproxy.py"),
                "--listen", "127.0.0.1", "--target", "127.0.0.2",
                "--ports", "%d,%d-%d" % (s.port, s.passive[0], s.passive[-1]),
                "--delay-ms", "%g" % delay_ms, "--ready-file", ready,
                "--stats-file", self.proxy_stats]
        with open(os.path.join(self.logs, "proxy.out"), "ab") as out:
            self.proxy = ftpservers.spawn(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not os.path.exists(ready):
            if self.proxy.poll() is not None or time.monotonic() > deadline:
                raise BenchError("delay proxy did not start; see %s/proxy.out" % self.logs)
            time.sleep(0.02)
        self.proxy_delay = delay_ms

    def stop_proxy(self):
        if self.proxy is not None:
            ftpservers.stop(self.proxy, grace=3.0)
            self.proxy = None
            try:
                with open(self.proxy_stats) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        return None

    def measure_rtt(self, port, samples=40):
        """Median NOOP round trip on a logged-in control connection."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            f = c.makefile("rb")

            def reply():
                line = f.readline()
                code = line[:3]
                if line[3:4] == b"-":
                    while not (line[:3] == code and line[3:4] == b" "):
                        line = f.readline()
                        if not line:
                            break
                return code

            def cmd(text):
                c.sendall(text.encode() + b"\r\n")
                return reply()

            reply()
            cmd("USER anonymous")
            cmd("PASS " + PASSWORD)
            times = []
            for _ in range(samples):
                t = time.monotonic()
                cmd("NOOP")
                times.append(time.monotonic() - t)
            cmd("QUIT")
        return statistics.median(times)

    # --- one measured run -------------------------------------------

    def run_one(self, tree, case, client, run, argv, dest, src_root, src_files,
                check_mtime, server, ignore=(), may_keep=()):
        logpath = os.path.join(self.logs, "%s-%s-%s-%d.log" % (tree, case, client, run))
        # Every run starts with nothing left to write back: a client that
        # does not sync leaves its mirror dirty in the page cache, and the
        # next client would pay for writing it (a syncfs waits for it all).
        os.sync()
        mark = server.mark()
        pcpu0 = proc_cpu(self.proxy.pid) if (self.proxy and server is self.delayed) else None
        wall, cpu, rss, rc = run_measured(argv, logpath, self.args.timeout,
                                          env=self.clients.env(), cwd=self.workdir)
        pcpu1 = proc_cpu(self.proxy.pid) if pcpu0 is not None else None
        time.sleep(0.05)     # let the server log the last transfer
        retr, cmds = server.counts(mark)
        problem = None
        if rc != 0:
            problem = "exit status %s (see %s)" % (rc, logpath)
        check = verify(src_root, src_files, dest, check_mtime, ignore, may_keep,
                       own_dirs=(".ftpmirror",) if client.startswith("ftpmirror") else ())
        if check:
            problem = (problem + "; " if problem else "") + check
        s = Sample(wall, cpu, rss, rc, problem is None, problem, retr, cmds,
                   (pcpu1 - pcpu0) if pcpu0 is not None and pcpu1 is not None else None)
        self.results.setdefault((tree, case, client), []).append(s)
        log("  %-26s %-9s run %d: %7.2fs wall %6.2fs CPU %7s RSS%s%s"
            % (CASE_NAMES[case][:26], client, run + 1, wall, cpu, human(rss),
               "" if retr is None else ", %d RETR" % retr,
               "" if problem is None else "  FAILED: " + problem))
        return s

    # --- cases (a)-(c) on one tree -----------------------------------

    def tree_cases(self, tree, remote_dir, cases, clients, runs, server, tag=""):
        src_root = os.path.join(self.srv, remote_dir)
        files0, ndirs, depth = scan(src_root)
        self.trees[tree] = {"files": len(files0), "dirs": ndirs, "depth": depth,
                            "bytes": sum(s for s, _m in files0.values())}
        n = self.args.connections
        for run in range(runs):
            for client in clients:
                # Each run mirrors into a directory of its own, all removed
                # at exit with the work directory: on this ext4 without a journal, files created
                # within minutes of many deletions in the same block group
                # cost the creator quadratic kernel time (the allocator's
                # recently_deleted scan); see bench/README.md.
                name = "%s-%s%s-run%d" % (tree, client, tag, run + 1)
                dest = os.path.join(self.dst, name)
                db = os.path.join(self.dst, "%s.db" % name)
                for p in (dest, os.path.join(self.dst, ".%s.incoming" % name)):
                    rmtree(p)
                for p in (db, db + "-wal", db + "-shm"):
                    if os.path.exists(p):
                        os.unlink(p)
                os.makedirs(self.dst, exist_ok=True)
                argv = self.clients.argv(client, server.port, remote_dir, dest, n, db=db,
                                         name="bench-%s" % tree)
                ignore = (".listing",) if client == "wget" else ()
                mtimes = client == "ftpmirror"
                if "a" in cases:
                    self.run_one(tree, "a", client, run, argv, dest, src_root, files0, mtimes,
                                 server, ignore)
                else:     # (b) and (c) start from a complete mirror
                    run_measured(argv, os.path.join(self.logs, "prep.log"), self.args.timeout,
                                 env=self.clients.env(), cwd=self.workdir)
                if "b" in cases:
                    self.run_one(tree, "b", client, run, argv, dest, src_root, files0, mtimes,
                                 server, ignore)
                if "c" in cases:
                    change = Change(src_root, os.path.join(self.workdir, "stash"),
                                    self.args.seed, self.args.change_share)
                    try:
                        self.changes[tree] = change.apply()
                        files1, _n, _d = scan(src_root)
                        self.run_one(tree, "c", client, run, argv, dest, src_root, files1, mtimes,
                                     server, ignore,
                                     may_keep=change.deleted if client == "wget" else ())
                    finally:
                        change.undo()

    # --- case (d) -----------------------------------------------------

    def big_case(self, runs):
        a = self.args
        path = os.path.join(self.srv, "big", "big.bin")
        log("big file: %s" % human(a.big_size))
        generate_big(path, a.big_size, a.seed)
        src_files = {"big.bin": (a.big_size, MTIME_BASE)}
        src_root = os.path.join(self.srv, "big")
        clients = BIG_CLIENTS + [p for p in a.big_peers.split(",") if p]
        for run in range(runs):
            for client in clients:
                dest = os.path.join(self.dst, "big-%s" % client)
                db = os.path.join(self.dst, "big-%s.db" % client)
                for p in (dest, os.path.join(self.dst, ".big-%s.incoming" % client)):
                    rmtree(p)
                for p in (db, db + "-wal", db + "-shm"):
                    if os.path.exists(p):
                        os.unlink(p)
                if client.startswith("curl"):
                    os.makedirs(dest)
                    argv = self.clients.argv(client, self.direct.port, "big/big.bin",
                                             os.path.join(dest, "big.bin"), 1)
                else:
                    argv = self.clients.argv(client, self.direct.port, "big", dest,
                                             a.connections, db=db, name="bench-big")
                self.run_one("big", "d", client, run, argv, dest, src_root, src_files,
                             client.startswith("ftpmirror"), self.direct,
                             ignore=(".listing",) if client == "wget" else ())
                rmtree(dest)
                rmtree(os.path.join(self.dst, ".big-%s.incoming" % client))

    # --- proxy overhead -----------------------------------------------

    def calibrate(self, tree, remote_dir, clients):
        """Case (a) once per client: straight to the server, then through
        the proxy with no delay.  The difference is the proxy's cost."""
        log("proxy overhead: case (a) direct vs through the proxy at 0 ms")
        self.start_proxy(0)
        rows = []
        try:
            for client in clients:
                walls = {}
                for how, server in (("direct", self.direct), ("proxy", self.delayed)):
                    log(" %s, %s:" % (client, "straight to the server" if how == "direct"
                                      else "through the proxy at 0 ms"))
                    key = "calib-" + how
                    self.tree_cases(tree, remote_dir, "a", [client], 1, server, tag="-" + key)
                    sample = self.results.pop((tree, "a", client))[-1]
                    walls[how] = sample
                rows.append((client, walls["direct"], walls["proxy"]))
        finally:
            stats = self.stop_proxy()
        self.notes["calibration"] = (rows, stats)

    # --- floor ----------------------------------------------------------

    def floor(self, tree, case, rtt):
        """The round-trip floor in seconds (see bench/README.md)."""
        t = self.trees[tree]
        n = self.args.connections
        d = t["dirs"]
        if case == "a":
            fetched = t["files"]
        elif case == "b":
            fetched = 0
        else:
            c = self.changes.get(tree, {})
            fetched = c.get("rewritten", 0) + c.get("resized", 0) + c.get("added", 0)
        login = 3 + 1                              # greeting, USER, PASS; the first EPSV
        work = d + fetched                         # one transfer command per dir and file,
                                                   # each with the next EPSV behind it
        rounds = max(math.ceil(work / n), t["depth"] + 1)
        return (login + rounds) * rtt, login + rounds

    # --- main ------------------------------------------------------------

    def run(self):
        a = self.args
        cases = [c for c in a.cases.split(",") if c]
        clients = [c for c in a.clients.split(",") if c]
        for c in clients:
            if c not in ALL_CLIENTS:
                raise BenchError("unknown client %r (one of %s)" % (c, ", ".join(ALL_CLIENTS)))
        if "ftpmirror" in clients and clients[0] != "ftpmirror":
            clients.remove("ftpmirror")
            clients.insert(0, "ftpmirror")
        for tool in [c for c in clients if c != "ftpmirror"] + (["curl"] if "d" in cases else []):
            if not shutil.which(tool):
                raise BenchError("%s not found: run `sh bench/deps.sh` (as root)" % tool)
        self.started = datetime.datetime.now(datetime.timezone.utc)

        trees = []
        if a.large:
            spec = dict(files=a.large_files, dirs=a.large_dirs, seed=a.seed, min_size=a.large_min,
                        max_size=a.large_max, big_files=0, big_min=0, big_max=0)
            log("large tree: %d files in %d directories (generating if needed)"
                % (a.large_files, a.large_dirs))
            generate_tree(os.path.join(self.srv, "large"), spec)
            trees.append(("large", "large"))
        else:
            spec = dict(files=a.files, dirs=a.dirs, seed=a.seed, min_size=a.min_size,
                        max_size=a.max_size, big_files=a.big_files, big_min=a.big_min,
                        big_max=a.big_max)
            dirty = os.path.join(self.srv, ".tree.dirty")
            if os.path.exists(dirty):          # an interrupted case (c): start over
                rmtree(os.path.join(self.srv, "tree"))
                os.unlink(dirty)
            log("generated tree: %d files in %d directories (generating if needed)"
                % (a.files, a.dirs))
            generate_tree(os.path.join(self.srv, "tree"), spec)
            trees.append(("generated", "tree"))
            if a.real_tree:
                log("real tree: copy of %s" % a.real_tree)
                if os.path.exists(os.path.join(self.srv, ".real.dirty")):
                    rmtree(os.path.join(self.srv, "real"))
                    os.unlink(os.path.join(self.srv, ".real.dirty"))
                copy_real_tree(a.real_tree, os.path.join(self.srv, "real"))
                trees.append(("real", "real"))

        self.start_servers(delayed=not a.large and any(c in "abc" for c in cases))

        if a.large:
            for tree, remote in trees:
                large_clients = ["ftpmirror"] + [p for p in a.large_peers.split(",") if p]
                self.tree_cases(tree, remote, "a", large_clients, a.runs, self.direct)
            return

        if a.serve:
            return self.serve(trees)

        delayed_cases = [c for c in cases if c in "abc"]
        if delayed_cases and a.calibrate:
            calib = [c for c in a.calibrate.split(",") if c in clients]
            if calib:
                self.calibrate("generated", "tree", calib)
        if delayed_cases:
            self.start_proxy(a.delay_ms)
            self.rtt = self.measure_rtt(self.delayed.port)
            log("RTT through the proxy: %.2f ms (nominal %g ms)" % (self.rtt * 1e3, 2 * a.delay_ms))
            try:
                for tree, remote in trees:
                    log("tree %s: cases %s, clients %s, %d run(s)"
                        % (tree, ",".join(delayed_cases), ",".join(clients), a.runs))
                    self.tree_cases(tree, remote, "".join(delayed_cases), clients, a.runs,
                                    self.delayed)
            finally:
                self.notes["proxy"] = self.stop_proxy()
        if "d" in cases:
            self.big_case(a.runs)

    def serve(self, trees):
        """--serve: servers and proxy up, commands printed, until Ctrl-C."""
        a = self.args
        self.start_proxy(a.delay_ms)
        self.rtt = self.measure_rtt(self.delayed.port)
        print("\nbench: serving until Ctrl-C (RTT %.2f ms through the proxy)" % (self.rtt * 1e3))
        for tree, remote in trees:
            for label, server in (("delayed", self.delayed), ("direct", self.direct)):
                dest = os.path.join(self.dst, "serve-%s-%s" % (tree, label))
                db = os.path.join(self.dst, "serve-%s-%s.db" % (tree, label))
                argv = self.clients.argv("ftpmirror", server.port, remote, dest, a.connections,
                                         db=db, name="serve-%s-%s" % (tree, label))
                print("  %s tree, %s: ftp://127.0.0.1:%d/%s/" % (tree, label, server.port, remote))
                print("    %s" % " ".join(shlex.quote(x) for x in argv))
        print("  (mirrors go to %s; removed on exit unless --keep)" % self.dst)
        sys.stdout.flush()
        while True:
            time.sleep(3600)

    def stop(self):
        self.stop_proxy()
        for s in (self.delayed, self.direct):
            if s is not None:
                try:
                    s.stop()
                except Exception as exc:
                    print("bench: could not stop %s: %s" % (s, exc), file=sys.stderr)
        ftpservers.stop_all()

    # --- report ------------------------------------------------------------

    def med(self, key, field):
        samples = self.results.get(key) or []
        vals = [getattr(s, field) for s in samples if getattr(s, field) is not None]
        return statistics.median(vals) if vals else None

    def report(self, argv_text):
        a = self.args
        lines = []
        when = self.started.strftime("%Y-%m-%d %H:%M UTC")
        built = datetime.datetime.fromtimestamp(self.binary_built, datetime.timezone.utc)
        origin = self.binary_origin
        lines.append("Run %s on %s (%d cores); %s: `%s` built %s (sha256 %s…), work tree at %s"
                     % (when, platform.node() or "?", os.cpu_count() or 0, ftp_version(a.binary),
                        os.path.relpath(origin, REPO) if origin.startswith(REPO) else origin,
                        built.strftime("%Y-%m-%d %H:%M UTC"), self.binary_sha, self.tree_state))
        lines.append("")
        lines.append("Command: `%s`" % argv_text)
        lines.append("")
        peers_v = tool_versions()
        lines.append("Server: %s; peers: %s" % (a.server, peers_v))
        lines.append("")
        if a.large:
            return self.report_large(lines)
        for tree, t in self.trees.items():
            if not any(k[0] == tree for k in self.results):
                continue
            what = ("generated: %d files in %d directories, %s, seed %d" % (
                t["files"], t["dirs"] - 1, human(t["bytes"]), a.seed) if tree == "generated"
                    else "copy of %s: %d files in %d directories, %s" % (
                        a.real_tree, t["files"], t["dirs"] - 1, human(t["bytes"])))
            rtt = getattr(self, "rtt", 2 * a.delay_ms / 1000.0)
            lines.append("### Tree %s (%s)" % (tree, what))
            lines.append("")
            lines.append("N = %d connections; one-way delay %g ms (RTT nominal %g ms, measured %.2f ms); "
                         "medians of %d run(s)." % (a.connections, a.delay_ms, 2 * a.delay_ms,
                                                  rtt * 1e3, a.runs))
            if tree in self.changes:
                c = self.changes[tree]
                lines.append("Case (c) changes: %d same-size rewrites, %d resizes, %d additions, "
                             "%d deletions." % (c["rewritten"], c["resized"], c["added"], c["deleted"]))
            lines.append("")
            lines.append("| case | client | wall s | CPU s | peak RSS | wall ÷ ftpmirror's | RETR "
                         "(commands) | verified |")
            lines.append("|---|---|---:|---:|---:|---:|---:|---|")
            for case in "abc":
                keys = [k for k in self.results if k[0] == tree and k[1] == case]
                if not keys:
                    continue
                base = self.med((tree, case, "ftpmirror"), "wall")
                first = True
                for client in ALL_CLIENTS:
                    key = (tree, case, client)
                    if key not in self.results:
                        continue
                    lines.append(self.row(CASE_NAMES[case] if first else "", client, key, base))
                    first = False
                fl, rounds = self.floor(tree, case, rtt)
                ratio = "%.2f × floor" % (base / fl) if base else ""
                lines.append("| | *round-trip floor* | %.2f | | | ftpmirror = %s | | %d RTT |"
                             % (fl, ratio, rounds))
            lines.append("")
        if ("big", "d", "ftpmirror") in self.results or ("big", "d", "curl") in self.results:
            lines.append("### %s" % CASE_NAMES["d"])
            lines.append("")
            lines.append("One %s file straight from the server on 127.0.0.1 (no proxy); medians of %d run(s)."
                         % (human(a.big_size), a.runs))
            lines.append("")
            lines.append("| client | wall s | MB/s | CPU s | peak RSS | throughput ÷ ftpmirror's | verified |")
            lines.append("|---|---:|---:|---:|---:|---:|---|")
            base = self.med(("big", "d", "ftpmirror"), "wall")
            for client in BIG_CLIENTS + [p for p in a.big_peers.split(",") if p]:
                key = ("big", "d", client)
                if key not in self.results:
                    continue
                w = self.med(key, "wall")
                ok = sum(1 for s in self.results[key] if s.ok)
                lines.append("| %s | %.2f | %.0f | %.2f | %s | %s | %d/%d |" % (
                    BIG_LABELS.get(client, client), w,
                    a.big_size / w / 1e6, self.med(key, "cpu"), human(self.med(key, "rss")),
                    "%.2f" % (base / w) if base and client != "ftpmirror" else "1.00" if base else "",
                    ok, len(self.results[key])))
            lines.append("")
        lines.extend(self.targets())
        lines.extend(self.notes_lines())
        return lines

    def row(self, case_label, client, key, base):
        samples = self.results[key]
        w = self.med(key, "wall")
        ok = sum(1 for s in samples if s.ok)
        label = client
        if client == "wget":
            label = "wget (1 connection)"
        ratio = "1.00" if client == "ftpmirror" else ("%.2f" % (w / base) if base else "")
        retr = self.med(key, "retr")
        cmds = self.med(key, "cmds")
        verified = "%d/%d" % (ok, len(samples))
        if client == "wget" and key[1] == "c":
            verified += " (never deletes)"
        if ok < len(samples):
            verified += " FAIL"
        return "| %s | %s | %.2f | %.2f | %s | %s | %s | %s |" % (
            case_label, label, w, self.med(key, "cpu"), human(self.med(key, "rss")), ratio,
            ("" if retr is None else "%d" % retr) + ("" if cmds is None else " (%d cmds)" % cmds),
            verified)

    def targets(self):
        a = self.args
        out = []
        checks = []
        g = "generated"

        def m(case, client, field="wall"):
            return self.med((g, case, client), field)

        def add(what, target, value, met):
            checks.append("| %s | %s | %s | %s |" % (what, target, value,
                                                    "met" if met else "**MISSED**"))

        rtt = getattr(self, "rtt", None)

        def reference(case, field, peer):
            """What ftpmirror's value is divided by: a peer's median, or the floor."""
            if peer == "floor":
                return self.floor(g, case, rtt)[0] if rtt else None
            return m(case, peer, field)

        # (target, case, field, divided by, at most, as the issue words it)
        for what, case, field, peer, limit, wanted in (
                ("full mirror vs lftp", "a", "wall", "lftp", 0.6, "lftp"),
                ("full mirror vs rclone", "a", "wall", "rclone", 0.7, "rclone"),
                ("full mirror vs floor", "a", "wall", "floor", 1.3, "floor"),
                ("CPU, full mirror", "a", "cpu", "lftp", 0.5, "lftp's"),
                ("no-op re-sync vs lftp", "b", "wall", "lftp", 0.4, "lftp"),
                ("no-op re-sync vs rclone", "b", "wall", "rclone", 0.8, "rclone"),
                ("2 % incremental vs lftp", "c", "wall", "lftp", 0.5, "lftp")):
            mine, ref = m(case, "ftpmirror", field), reference(case, field, peer)
            if mine and ref:
                r = mine / ref
                # Three decimals: a ratio on its limit must not read as met or missed by rounding.
                add(what, "≤ %g × %s" % (limit, wanted), "%.3f ×" % r, r <= limit)
        size = "1 GiB" if a.big_size == 1 << 30 else human(a.big_size)
        for mine, peer, what in (("ftpmirror-nofsync", "curl", "neither syncs"),
                                 ("ftpmirror", "curl+sync", "both sync to disk")):
            bf, bc = self.med(("big", "d", mine), "wall"), self.med(("big", "d", peer), "wall")
            if bf and bc:
                r = bc / bf
                add("%s throughput, %s" % (size, what), "≥ 0.9 × %s's" % BIG_LABELS[peer],
                    "%.2f ×" % r, r >= 0.9)
        for key, samples in self.results.items():
            if key[2].startswith("ftpmirror") and any(not s.ok for s in samples):
                add("ftpmirror correct, %s %s" % (key[0], CASE_NAMES[key[1]]), "every run verified",
                    "%d/%d" % (sum(s.ok for s in samples), len(samples)), False)
        if checks:
            out.append("### Targets of issue 4 (this run)")
            out.append("")
            out.append("| target | wanted | measured | |")
            out.append("|---|---|---|---|")
            out.extend(checks)
            out.append("")
        return out

    def notes_lines(self):
        a = self.args
        out = ["### Notes", ""]
        calib = self.notes.get("calibration")
        if calib:
            rows, stats = calib
            parts = []
            for client, direct, proxied in rows:
                delayed = self.med(("generated", "a", client), "wall")
                share = ""
                if delayed:
                    share = ", i.e. %.1f %% of its delayed (a) time" % (
                        100 * (proxied.wall - direct.wall) / delayed)
                parts.append("%s %.2f s direct, %.2f s through the proxy%s"
                             % (client, direct.wall, proxied.wall, share))
            cpu = ""
            if stats:
                cpu = "; the proxy used %.1f CPU s for it all (%s)" % (stats["cpu_seconds"], stats["loop"])
            out.append("- Proxy overhead, case (a) once without delay: %s%s." % ("; ".join(parts), cpu))
        p = self.notes.get("proxy")
        if p:
            pc = [s.proxy_cpu / s.wall for k, v in self.results.items() for s in v
                  if s.proxy_cpu is not None and s.wall > 0]
            out.append("- Delay proxy during the delayed cases: %d connections, %s down, %.1f CPU s "
                       "(at most %.0f %% of one core in any run); chunks released %.2f ms late on "
                       "average, %d connects refused." % (
                           p["connections"], human(p["down_bytes"]), p["cpu_seconds"],
                           100 * max(pc) if pc else 0, p["mean_late_ms"], p["failed_connects"]))
        out.append("- wall: elapsed time of the client process; CPU: its user+sys time (with its "
                   "children); peak RSS: its ru_maxrss (all three from wait4 in bench/rusage.c).  RETR: "
                   "downloads the server logged (median).  Verified: runs whose result matched the "
                   "source byte for byte (ftpmirror: and mtimes; its `.ftpmirror/trace` is left out).")
        out.append("- wget is single-connection (`wget -m`); it never deletes, so in (c) the files "
                   "deleted upstream are allowed to stay, and its `.listing` files are ignored.")
        for key, samples in sorted(self.results.items()):
            for i, smp in enumerate(samples):
                if not smp.ok:
                    out.append("- FAILED: %s, %s, %s, run %d: %s" % (key[0], CASE_NAMES[key[1]],
                                                                   key[2], i + 1, smp.problem))
        out.append("- Floor: (3 RTT login + 1 for the first EPSV + max(⌈(dirs + files fetched) / N⌉, "
                   "levels + 1)) × measured RTT, for a client that pipelines each next EPSV behind "
                   "the transfer; one that waits for each reply pays 2 RTT per dir and file; see "
                   "bench/README.md.")
        out.append("")
        return out

    def report_large(self, lines):
        a = self.args
        t = self.trees.get("large")
        if not t:
            return lines
        lines.append("### Large mode: %d files in %d directories, %s, no delay (direct), %d run(s)"
                     % (t["files"], t["dirs"] - 1, human(t["bytes"]), a.runs))
        lines.append("")
        lines.append("| client | wall s | CPU s | peak RSS | verified |")
        lines.append("|---|---:|---:|---:|---|")
        for client in ALL_CLIENTS:
            key = ("large", "a", client)
            if key not in self.results:
                continue
            ok = sum(1 for s in self.results[key] if s.ok)
            lines.append("| %s | %.2f | %.2f | %s | %d/%d |" % (
                client, self.med(key, "wall"), self.med(key, "cpu"), human(self.med(key, "rss")),
                ok, len(self.results[key])))
        lines.append("")
        rss = self.med(("large", "a", "ftpmirror"), "rss")
        if rss:
            lines.append("Target: ftpmirror's peak RSS ≤ 20 MiB while mirroring 100,000 files: "
                         "%s (%s)." % (human(rss), "met" if rss <= 20 << 20 else "**MISSED**"))
            lines.append("")
        return lines


def ftp_version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def git_state():
    """The commit of the work tree, and whether src/ or include/ differ from it."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src", "include",
                                "schema", "Makefile"], capture_output=True, text=True,
                               timeout=20).stdout.strip()
        return "commit %s%s" % (head or "?", " with local changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"


def tool_versions():
    parts = []
    for tool, argv, pat in (("lftp", ["lftp", "--version"], r"Version (\S+)"),
                            ("rclone", ["rclone", "version"], r"rclone v?(\S+)"),
                            ("wget", ["wget", "--version"], r"Wget (\S+)"),
                            ("curl", ["curl", "--version"], r"curl (\S+)")):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
            m = re.search(pat, out)
            parts.append("%s %s" % (tool, m.group(1) if m else "?"))
        except (OSError, subprocess.SubprocessError):
            parts.append("%s (missing)" % tool)
    return ", ".join(parts)


def write_results(path, section, lines):
    """Replace this mode's section of results.md (the other one is kept)."""
    begin, end = "<!-- bench:%s -->" % section, "<!-- /bench:%s -->" % section
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    if not text.strip():
        text = ("# ftpmirror benchmark results\n\n"
                "Written by `bench/run.py` (`make bench`, `make bench-large`); see bench/README.md.\n\n"
                "<!-- bench:main -->\n<!-- /bench:main -->\n\n"
                "<!-- bench:large -->\n<!-- /bench:large -->\n")
    title = "## Main benchmark" if section == "main" else "## Large mode (memory)"
    block = "%s\n%s\n\n%s\n%s" % (begin, title, "\n".join(lines).rstrip(), end)
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description="ftpmirror vs lftp, rclone, wget over an emulated WAN",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--binary", default=os.path.join(REPO, "build", "ftpmirror"))
    p.add_argument("--workdir", default=os.path.join(REPO, "build", "bench"),
                   help="trees, mirrors and logs (trees are reused between runs)")
    p.add_argument("--results", default=os.path.join(HERE, "results.md"),
                   help="markdown file to update ('' for none)")
    p.add_argument("--server", default="pure-ftpd", choices=sorted(ftpservers.SERVERS))
    p.add_argument("--clients", default=",".join(ALL_CLIENTS), help="comma-separated")
    p.add_argument("--cases", default="a,b,c,d", help="comma-separated, of a,b,c,d")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--connections", "-N", type=int, default=4)
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay")
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--dirs", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--min-size", type=parse_size, default="1K")
    p.add_argument("--max-size", type=parse_size, default="64K")
    p.add_argument("--big-files", type=int, default=5, help="multi-MiB files in the tree")
    p.add_argument("--big-min", type=parse_size, default="2M")
    p.add_argument("--big-max", type=parse_size, default="8M")
    p.add_argument("--change-share", type=float, default=0.02, help="share of files changed in (c)")
    p.add_argument("--real-tree", default="", help="also run (a)-(c) on a copy of this directory, "
                                                   "e.g. /usr/share/doc")
    p.add_argument("--big-size", type=parse_size, default="1G", help="case (d)")
    p.add_argument("--big-peers", default="", help="peers also run in (d), e.g. lftp,rclone")
    p.add_argument("--calibrate", default="ftpmirror,lftp",
                   help="clients timed direct vs through the proxy at 0 ms ('' to skip)")
    p.add_argument("--large", action="store_true", help="large mode: ftpmirror's peak RSS on a big tree")
    p.add_argument("--large-files", type=int, default=100000)
    p.add_argument("--large-dirs", type=int, default=1000)
    p.add_argument("--large-min", type=parse_size, default="256")
    p.add_argument("--large-max", type=parse_size, default="4K")
    p.add_argument("--large-peers", default="", help="peers also run in large mode")
    p.add_argument("--serve", action="store_true",
                   help="start the server(s) and the proxy on the tree(s), print ftpmirror's "
                        "command lines, and wait for Ctrl-C (for profiling by hand)")
    p.add_argument("--ftpmirror-wrap", default="",
                   help="prefix for every ftpmirror run, e.g. 'perf record -g -o FILE' "
                        "(times and RSS are then the wrapper's)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per client run")
    p.add_argument("--keep", action="store_true", help="keep the work directory's mirrors")
    args = p.parse_args(argv)
    if args.large and args.runs == 3 and "--runs" not in (argv or sys.argv):
        args.runs = 1
    if args.large:
        args.cases = "a"
    args.binary = os.path.abspath(args.binary)
    if os.geteuid() != 0:
        sys.exit("bench: needs root (the FTP servers run in a private mount namespace)")

    def on_signal(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    helpers.become_subreaper()

    argv_text = " ".join(shlex.quote(x) for x in (["bench/run.py"] + (argv or sys.argv[1:])))
    if os.environ.get("BENCH_MAKE_TARGET"):     # set by the Makefile
        argv_text = "make %s`, which ran `%s" % (os.environ["BENCH_MAKE_TARGET"], argv_text)
    status = 0
    try:
        bench = Bench(args)
    except BenchError as exc:
        print("bench: %s" % exc, file=sys.stderr)
        return 1
    try:
        bench.run()
    except KeyboardInterrupt:
        print("\nbench: interrupted; stopping servers and proxy", file=sys.stderr)
        status = 130
    except BenchError as exc:
        print("bench: %s" % exc, file=sys.stderr)
        status = 1
    finally:
        bench.stop()
        if not args.keep:
            rmtree(bench.dst)
    if status:
        return status
    lines = bench.report(argv_text)
    print()
    print("\n".join(lines))
    if args.results:
        write_results(args.results, "large" if args.large else "main", lines)
        log("results written to %s" % os.path.relpath(args.results))
    failed = any(not s.ok for k, v in bench.results.items() if k[2].startswith("ftpmirror") for s in v)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
