"""Hostile listings: no listing a server sends may make ftpmirror write
outside the job's target and incoming, crash, or silently lose a change.

The server is hostile_server.py (pyftpdlib) with scripted MLSD and LIST
replies, while RETR serves real files, so legitimate entries still
download.  Every hostile name also exists on the server side with the
bytes PWNED, so an entry that slipped through would be fetched for real.

Each job's target and incoming live inside a sentinel tree

    world/                  snapshot before and after: nothing may change
      escape, x, outside/   decoys for ../../NAME
      sentinel/
        escape, x, outside/ decoys for ../NAME
        target/             the job's target
        incoming/           the job's incoming

and an absolute decoy directory under /tmp is planted for names like
"/tmp/ftpmirror-decoy-XXXX/abs".  After every run the tests check (a) the
exit status, (b) target and incoming hold exactly what they should, (c)
nothing else changed (world, the decoy directory, /etc/passwd), (d) the
events name every refused entry, and that the sanitizer build reported no
memory error.  All problems of a run are collected and reported together.

Scenarios:
  * refused names via MLSD and via LIST: "../x", "a/b", absolute names,
    control characters, a 300-byte name, a NUL byte;
  * "." and ".." given as files or directories (not cdir/pdir);
  * symbolic links out of the mirror (skipped, with a skip event) and
    inside it (made, relative), via MLSD and via LIST;
  * a link made by an earlier run, then a listing that writes "through"
    it, then the link back over a directory; a name listed twice as a
    link and as a directory;
  * an endless tree (every directory has a subdirectory): the run ends;
  * non-UTF-8 names mirrored as the same bytes (MLSD and LIST);
  * an unparsable line: skipped, logged, counted, and no deletion;
  * a RETR longer than the listed size: not published, old version kept;
  * an endless listing line: bounded memory, no crash;
  * MLSD times the local file system cannot keep (1601, 9999): no
    download again by the next run.
"""

import base64
import json
import os
import shutil
import signal
import sqlite3
import stat
import tempfile
import time

import helpers
import servers
from helpers import content

BASE = 1_650_000_000        # 2022-04-15, files' mtimes
PWNED = b"PWNED by a hostile listing\n"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")
RUN_TIMEOUT = 90

# A run that had to refuse part of what the server listed (a hostile name,
# an unparsable line) did not make target match the remote tree: by the
# exit status table of INTERFACE.md that is 1 ("some files failed, named in
# history"), not 0 ("the public tree matches the remote tree as filtered").
EXIT_REFUSED = 1
STATUS_REFUSED = "partial"


# ------------------------------------------------------------- byte helpers

def L(raw):
    """Bytes as the script's latin-1 text."""
    return raw.decode("latin-1")


def esc(raw):
    """A name as ftpmirror prints it in events: bytes below 0x20, 0x7f and
    the backslash become \\xNN, everything else is kept."""
    out = bytearray()
    for c in raw:
        if c < 0x20 or c == 0x7F or c == 0x5C:
            out += b"\\x%02x" % c
        else:
            out.append(c)
    return bytes(out)


def join(d, name):
    return d + b"/" + name if d else name


def mlsd_time(t):
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


def mlsd(kind, name, size=None, mtime=BASE, target=None):
    """One MLSD line (latin-1 text) for name (bytes)."""
    facts = []
    if kind == "file":
        facts.append("type=file")
    elif kind == "dir":
        facts.append("type=dir")
    elif kind == "link":
        facts.append("type=OS.unix=slink" + (":" + L(target) if target is not None else ""))
    else:
        facts.append("type=" + kind)
    if size is not None:
        facts.append("size=%d" % size)
    if mtime is not None:
        facts.append("modify=%s" % mlsd_time(mtime))
    return ";".join(facts) + "; " + L(name)


def ls(kind, name, size=0, mtime=BASE, target=None):
    """One unix LIST line (latin-1 text) for name (bytes); old dates, so
    the listing gives the day and ftpmirror asks MDTM for the second."""
    tm = time.gmtime(mtime)
    date = "%s %2d  %d" % (MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_year)
    mode = {"file": "-rw-r--r--", "dir": "drwxr-xr-x", "link": "lrwxrwxrwx"}[kind]
    line = "%s    1 ftp      ftp      %8d %s %s" % (mode, size, date, L(name))
    if kind == "link":
        line += " -> " + L(target)
    return line


# ----------------------------------------------------------- tree helpers

def write_files(root, files, dirs=()):
    """files: {relpath bytes: (data, mtime)}; dirs: relpaths (bytes)."""
    helpers.write_tree(os.fsencode(root), files, dirs)


def fs_state(root, skip=()):
    """{relpath bytes: description} of everything under root and root
    itself (b"."), compared exactly: type, mode, size, inode, mtime_ns,
    file bytes, link contents.  Paths in skip (bytes, relative) are left
    out with everything below them."""
    broot = os.fsencode(root)
    state = {}

    def describe(path):
        st = os.lstat(path)
        base = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size, st.st_ino,
                st.st_mtime_ns)
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                return base + (f.read(),)
        if stat.S_ISLNK(st.st_mode):
            return base + (os.readlink(path),)
        return base

    if not os.path.lexists(broot):
        return {}
    state[b"."] = describe(broot)
    for dirpath, dirnames, filenames in os.walk(broot):
        for name in list(dirnames) + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, broot)
            if any(rel == s or rel.startswith(s + b"/") for s in skip):
                if name in dirnames:
                    dirnames.remove(name)
                continue
            state[rel] = describe(path)
    return state


def state_differences(before, after):
    problems = []
    for rel in sorted(set(before) | set(after)):
        if rel not in after:
            problems.append("removed: %r" % rel)
        elif rel not in before:
            problems.append("created: %r %r" % (rel, after[rel][:3]))
        elif before[rel] != after[rel]:
            problems.append("changed: %r %r -> %r" % (rel, before[rel][:5], after[rel][:5]))
    return problems


def tree(root):
    """{relpath bytes: ("file", data, mtime) | ("dir",) | ("link", target)
    | ("other",)} of what is below root."""
    broot = os.fsencode(root)
    result = {}
    for dirpath, dirnames, filenames in os.walk(broot):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, broot)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    result[rel] = ("file", f.read(), int(st.st_mtime))
            elif stat.S_ISDIR(st.st_mode):
                result[rel] = ("dir",)
            elif stat.S_ISLNK(st.st_mode):
                result[rel] = ("link", os.readlink(path))
            else:
                result[rel] = ("other",)
    return result


def tree_problems(expected, actual, where):
    problems = []
    for rel in sorted(set(expected) | set(actual)):
        e, a = expected.get(rel), actual.get(rel)
        if a is None:
            problems.append("%s: missing %r %s" % (where, rel, e[0]))
        elif e is None:
            problems.append("%s: unexpected %r %s%s" % (where, rel, a[0], "" if a[0] != "file"
                                                         else " (%d bytes: %r)" % (len(a[1]), a[1][:40])))
        elif e[0] != a[0]:
            problems.append("%s: %r is a %s, expected a %s" % (where, rel, a[0], e[0]))
        elif e[0] == "file" and e[1] != a[1]:
            problems.append("%s: %r holds %d bytes %r, expected %d bytes %r"
                            % (where, rel, len(a[1]), a[1][:40], len(e[1]), e[1][:40]))
        elif e[0] == "file" and e[2] is not None and e[2] != a[2]:
            problems.append("%s: %r has mtime %d, expected %d" % (where, rel, a[2], e[2]))
        elif e[0] == "link" and e[1] != a[1]:
            problems.append("%s: link %r -> %r, expected -> %r" % (where, rel, a[1], e[1]))
    return problems


# ---------------------------------------------------------------- server

class HostileServer(servers.FtpServer):
    """hostile_server.py as a servers.FtpServer (start, stop, registry)."""

    kind = "hostile"

    @classmethod
    def unavailable(cls):
        return servers.PyftpdlibServer.unavailable()

    def __init__(self, root, workdir):
        super().__init__(root, workdir)
        self.script = os.path.join(workdir, "hostile-%d.json" % id(self))
        self.command_log = os.path.join(workdir, "hostile-%d.log" % id(self))
        self.ready_file = os.path.join(workdir, "hostile-%d.port" % id(self))
        self.set_script({})

    def set_script(self, script):
        tmp = self.script + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(script, f)
        os.replace(tmp, self.script)

    def _argv(self):
        return [servers.PYTHON, os.path.join(helpers.HERE, "hostile_server.py"),
                "--root", self.root, "--script", self.script,
                "--port", str(helpers.ports.port()),
                "--passive", "%d-%d" % (self.passive[0], self.passive[-1]),
                "--command-log", self.command_log, "--ready-file", self.ready_file]

    def _discover_port(self):
        try:
            with open(self.ready_file) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _transfer_log_lines(self):
        """Complete lines of the command log (a partial last one is left)."""
        try:
            with open(self.command_log, "r", encoding="ascii") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        return text.split("\n")[:-1]

    def records(self, since=0):
        return [json.loads(line) for line in self._transfer_log_lines()[since:]]

    def commands(self, since=0):
        """[(cmd, arg bytes)] received after position since."""
        return [(r["cmd"], r["arg"].encode("latin-1")) for r in self.records(since) if "cmd" in r]

    def listings_sent(self, since=0):
        """{(cmd, path): bytes} of scripted listings sent in full."""
        return {(r["listing"], r["path"]): r["bytes"] for r in self.records(since) if "listing" in r}

    def transfers(self, since=0):
        return [servers.Transfer(r["path"].lstrip("/"), r["bytes"], r["completed"])
                for r in self.records(since) if "xfer" in r]


# ------------------------------------------------------------------ base

class Outcome:
    """One finished ftpmirror run."""

    def __init__(self, result, maxrss_kb):
        self.result = result
        self.maxrss_kb = maxrss_kb


class HostileTest(helpers.IntegrationTest):

    job_keys = {}

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        os.makedirs(self.remote)
        self.world = self.path("world")
        self.sentinel = os.path.join(self.world, "sentinel")
        self.target = os.path.join(self.sentinel, "target")
        self.incoming = os.path.join(self.sentinel, "incoming")
        for d in (self.target, self.incoming):
            os.makedirs(d)
        decoys = {b"escape": (b"decoy world/escape\n", BASE),
                  b"x": (b"decoy world/x\n", BASE),
                  b"outside/keep": (b"decoy world/outside/keep\n", BASE),
                  b"etc/passwd": (b"decoy world/etc/passwd\n", BASE),
                  b"sentinel/escape": (b"decoy sentinel/escape\n", BASE),
                  b"sentinel/x": (b"decoy sentinel/x\n", BASE),
                  b"sentinel/abs": (b"decoy sentinel/abs\n", BASE),
                  b"sentinel/outside/keep": (b"decoy sentinel/outside/keep\n", BASE)}
        write_files(self.world, decoys)
        self.decoy = tempfile.mkdtemp(prefix="ftpmirror-decoy-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.decoy, True)
        write_files(self.decoy, {b"abs": (b"decoy absolute\n", BASE)})
        self.bdecoy = os.fsencode(self.decoy)

        self.server = HostileServer(self.remote, self.tmp)
        self.addCleanup(self.server.stop)
        self.server.start()
        keys = dict(connections=2, retries=1, timeout=15, max_delete="100%")
        keys.update(self.job_keys)
        self.mirror = helpers.Mirror(self.tmp, "hostile", self.server.url,
                                     target=self.target, incoming=self.incoming, **keys)
        self.problems = []

    # --- the remote side -------------------------------------------------

    def plant_pwned(self, names, dirs=(b"",)):
        """Make every hostile name resolve, on the server, to a real file
        holding PWNED (as pyftpdlib would map it inside its root)."""
        for d in dirs:
            for name in names:
                rel = os.path.normpath(b"/" + join(d, name)).lstrip(b"/")
                if not rel or rel == b"." or b"\x00" in rel:
                    continue
                if len(os.path.basename(rel)) > 255:
                    continue
                path = os.path.join(os.fsencode(self.remote), rel)
                if os.path.isdir(path):
                    continue
                try:
                    write_files(self.remote, {rel: (PWNED, BASE)})
                except (NotADirectoryError, FileExistsError, IsADirectoryError):
                    pass

    # --- running ---------------------------------------------------------

    def env(self):
        env = self.mirror.env()
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=86"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=87"
        return env

    def sync(self, timeout=RUN_TIMEOUT):
        """Run `ftpmirror -v sync JOB`, measuring its peak memory (its own
        rusage, from wait4).  Outputs go to files, so nothing blocks."""
        argv = self.mirror.argv("-v", "sync", self.mirror.job)
        n = len([f for f in os.listdir(self.tmp) if f.startswith("run-")])
        out_path = self.path("run-%d.stdout" % n)
        err_path = self.path("run-%d.stderr" % n)
        remote_before = fs_state(self.remote)
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = helpers.spawn(argv, stdout=out, stderr=err, env=self.env(), cwd=self.tmp)
        rusage = None
        try:
            deadline = start + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    rusage = usage
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        finally:
            helpers.stop_process(proc, grace=0.5, sig=signal.SIGKILL)
        with open(out_path, "rb") as f:
            stdout = f.read().decode(errors="replace")
        with open(err_path, "rb") as f:
            stderr = f.read().decode(errors="replace")
        result = helpers.Result(argv, proc.returncode if rusage is not None else "killed",
                                stdout, stderr, time.monotonic() - start)
        if rusage is None:
            self.fail("ftpmirror timed out after %ss\n%s" % (timeout, helpers.describe(result)))
        for mark in SANITIZER_MARKS:
            if mark in stderr:
                self.fail("sanitizer report (%s)\n%s" % (mark, helpers.describe(result)))
        if proc.returncode < 0 or proc.returncode > 5:
            self.fail("ftpmirror died (status %s)\n%s" % (proc.returncode, helpers.describe(result)))
        for p in state_differences(remote_before, fs_state(self.remote)):
            self.problems.append("run %d: the served tree changed: %s" % (n, p))
        return Outcome(result, rusage.ru_maxrss)

    # --- outside the trees -----------------------------------------------

    def outside_state(self):
        st = os.stat("/etc/passwd")
        return {"world": fs_state(self.world, skip=(b"sentinel/target", b"sentinel/incoming")),
                "decoy": fs_state(self.decoy),
                "/etc/passwd": (st.st_ino, st.st_size, st.st_mtime_ns)}

    def check_outside(self, before, what):
        after = self.outside_state()
        for key in ("world", "decoy"):
            for p in state_differences(before[key], after[key]):
                self.problems.append("%s: outside the job's trees, %s %s" % (what, key, p))
        if before["/etc/passwd"] != after["/etc/passwd"]:
            self.problems.append("%s: /etc/passwd changed" % what)
        # The target and incoming directories themselves stay real ones.
        for d in (self.target, self.incoming):
            if os.path.islink(d) or not os.path.isdir(d):
                self.problems.append("%s: %s is no longer a real directory" % (what, d))

    # --- database ----------------------------------------------------------

    def query(self, sql, params=()):
        con = sqlite3.connect(self.mirror.db, timeout=10)
        con.text_factory = bytes
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def last_run(self):
        rows = self.query("SELECT id, status, errors, files_deleted, message FROM runs "
                          "WHERE job = ? ORDER BY id DESC LIMIT 1", (self.mirror.name,))
        if not rows:
            return None
        rid, status, errors, deleted, message = rows[0]
        return {"id": rid, "status": status.decode(), "errors": errors,
                "files_deleted": deleted, "message": (message or b"").decode(errors="replace")}

    def events(self, run_id):
        """[(action, path bytes, detail bytes)]"""
        return [(a.decode(), p or b"", d or b"") for a, p, d in
                self.query("SELECT action, path, detail FROM events WHERE run_id = ? ORDER BY rowid",
                           (run_id,))]

    # --- checks ------------------------------------------------------------

    def sync_checked(self, what, outcomes, exit_status, status):
        """Run a sync that must exit exit_status and record a run of status;
        its outcome joins outcomes (for finish).  Returns (outcome, run)."""
        out = self.sync()
        outcomes.append((what, out))
        return out, self.check_run(what, out, exit_status, status)

    def check_run(self, what, outcome, exit_status, status=None):
        run = self.last_run()
        res = outcome.result
        allowed = exit_status if isinstance(exit_status, tuple) else (exit_status,)
        if res.returncode not in allowed:
            self.problems.append("%s: exit status %s, expected %s"
                                 % (what, res.returncode, " or ".join(map(str, allowed))))
        if isinstance(status, tuple):
            if run is None or run["status"] not in status:
                self.problems.append("%s: runs.status %s, expected %s"
                                     % (what, run and run["status"], " or ".join(status)))
        elif status is not None and (run is None or run["status"] != status):
            self.problems.append("%s: runs.status %s, expected %s"
                                 % (what, run and run["status"], status))
        return run

    def check_target(self, what, expected):
        # The trace ftpmirror writes after publishing is its own file.
        actual = {rel: e for rel, e in tree(self.target).items()
                  if rel != b".ftpmirror" and not rel.startswith(b".ftpmirror/")}
        self.problems += tree_problems(expected, actual, what + ": target")

    def check_incoming(self, what, max_sizes=None):
        """incoming holds only the lock and staged files named by number,
        regular files no larger than the largest listed size."""
        limit = max(max_sizes) if max_sizes else 0
        for rel, e in tree(self.incoming).items():
            if rel == b".lock" and e[0] == "file":
                continue
            if e[0] == "file" and rel.isdigit():
                if len(e[1]) > limit:
                    self.problems.append("%s: incoming/%r holds %d bytes, more than listed (%d)"
                                         % (what, rel, len(e[1]), limit))
                continue
            self.problems.append("%s: unexpected %s in incoming: %r" % (what, e[0], rel))

    def error_for(self, events, d, name):
        """Is there an error event naming entry name (bytes) of directory d?"""
        wanted = {join(d, esc(name)), join(d, name)}
        for action, path, detail in events:
            if action != "error":
                continue
            p = helpers.norm_path(path.decode("latin-1")).encode("latin-1")
            if p in wanted or path in wanted:
                return True
            # An unparsable line: the directory, and the line in the detail.
            if p == d and esc(name)[:100] in detail:
                return True
        return False

    def check_errors(self, what, run, d, names):
        events = self.events(run["id"]) if run else []
        for name in names:
            if not self.error_for(events, d, name):
                self.problems.append("%s: no error event names %r in /%s" % (what, name, d.decode("latin-1")))

    def check_no_fetch(self, what, mark, names):
        """The server never got a RETR, CWD or listing for these names."""
        for cmd, arg in self.server.commands(mark):
            if cmd in ("RETR", "SIZE", "MDTM", "MLSD", "LIST", "CWD", "REST"):
                for name in names:
                    if name and name not in (b".", b"..") and name in arg:
                        self.problems.append("%s: ftpmirror sent %s %r for refused %r"
                                             % (what, cmd, arg, name))

    def finish(self, outcomes):
        if self.problems:
            detail = []
            for what, outcome in outcomes:
                detail.append("=== %s (peak RSS %d KiB)\n%s"
                              % (what, outcome.maxrss_kb, helpers.describe(outcome.result)))
            rows = self.query("SELECT run_id, action, path, detail FROM events ORDER BY rowid")
            detail.append("=== events\n" + "\n".join(
                "%s %s %r %r" % (r[0], r[1].decode(), r[2], (r[3] or b"")[:120]) for r in rows))
            detail.append("=== target\n" + "\n".join("%r %s" % (k, v[0] if v[0] != "link" else v)
                                                     for k, v in sorted(tree(self.target).items())))
            self.fail("%d problem(s):\n  %s\n%s" % (len(self.problems), "\n  ".join(self.problems),
                                                    "\n".join(detail)))


# ------------------------------------------------------------- scenarios

GOOD = {b"good.txt": (content("good", 1000), BASE + 10),
        b"sub/inner.txt": (content("inner", 2000), BASE + 20)}


def hostile_names(decoy):
    """Names no mirror may write, as one listing entry each (bytes)."""
    return [b"../escape", b"../../escape", b"../x", b"a/b", b"sub/../../escape",
            b"../outside/keep", decoy + b"/abs", decoy + b"/new", b"/etc/passwd",
            b"bad\x01name", b"tab\tname", b"esc\x1b[31mname", b"del\x7fname",
            b"n" * 300, b"nul\x00name"]


class TestRefusedNames(HostileTest):
    """Hostile names, as files and as directories, in the root and in a
    subdirectory; via MLSD and via LIST (FEAT without MLST)."""

    def scenario(self, fmt):
        names = hostile_names(self.bdecoy)
        dir_names = [b"../newdir", b"../../newdir", self.bdecoy + b"/newdir", b"evil\x1bdir",
                     b"d" * 300]
        self.plant_pwned(names + [b"escape", b"x"], dirs=(b"", b"sub"))
        write_files(self.remote, GOOD)
        line = mlsd if fmt == "MLSD" else ls
        root, sub = [], []
        for listing, d in ((root, b""), (sub, b"sub")):
            if fmt == "LIST":
                listing += [ls("dir", b"."), ls("dir", b"..")]
            for name in names:
                listing.append(line("file", name, len(PWNED), BASE))
            for name in dir_names:
                listing.append(line("dir", name, 0 if fmt == "LIST" else None, BASE))
        root.insert(1, line("file", b"good.txt", 1000, BASE + 10))
        root.append(line("dir", b"sub", 0 if fmt == "LIST" else None, BASE))
        sub.insert(3, line("file", b"inner.txt", 2000, BASE + 20))
        self.server.set_script({"feat_mlst": fmt == "MLSD",
                                "listings": {"/": {fmt: root}, "/sub": {fmt: sub}}})

        before = self.outside_state()
        mark = self.server.mark()
        what = "sync of hostile names via " + fmt
        out = self.sync()
        run = self.check_run(what, out, EXIT_REFUSED, STATUS_REFUSED)
        self.check_target(what, {b"good.txt": ("file",) + GOOD[b"good.txt"],
                                 b"sub": ("dir",),
                                 b"sub/inner.txt": ("file",) + GOOD[b"sub/inner.txt"]})
        self.check_incoming(what)
        self.check_outside(before, what)
        for d in (b"", b"sub"):
            self.check_errors(what, run, d, names + dir_names)
        self.check_no_fetch(what, mark, names + dir_names)
        used = [c for c, _ in self.server.commands(mark)]
        if fmt == "LIST" and "MLSD" in used:
            self.problems.append("%s: MLSD sent although FEAT did not offer MLST" % what)
        self.finish([(what, out)])

    def test_mlsd(self):
        self.scenario("MLSD")

    def test_list(self):
        self.scenario("LIST")


class TestDotNames(HostileTest):
    """"." and ".." given as ordinary entries (type=file / type=dir in MLSD,
    which has cdir and pdir for them; a file line in LIST) are refused and
    logged, never silently taken or silently dropped.  A LIST "d" line for
    "." or ".." is what `ls -la` prints and is simply ignored."""

    def scenario(self, fmt):
        write_files(self.remote, GOOD)
        self.plant_pwned([b"..", b"."])
        if fmt == "MLSD":
            root = [mlsd("cdir", b"/"), mlsd("pdir", b".."),
                    mlsd("file", b"..", len(PWNED)), mlsd("dir", b"."),
                    mlsd("file", b"good.txt", 1000, BASE + 10)]
            logged = [b"..", b"."]
        else:
            root = [ls("dir", b"."), ls("dir", b".."), ls("file", b"..", len(PWNED)),
                    ls("file", b".", len(PWNED)), ls("file", b"good.txt", 1000, BASE + 10)]
            logged = [b"..", b"."]
        self.server.set_script({"feat_mlst": fmt == "MLSD", "listings": {"/": {fmt: root}}})
        before = self.outside_state()
        what = "sync of '.' and '..' entries via " + fmt
        out = self.sync()
        run = self.check_run(what, out, EXIT_REFUSED, STATUS_REFUSED)
        self.check_target(what, {b"good.txt": ("file",) + GOOD[b"good.txt"]})
        self.check_incoming(what)
        self.check_outside(before, what)
        self.check_errors(what, run, b"", logged)
        self.finish([(what, out)])

    def test_mlsd(self):
        self.scenario("MLSD")

    def test_list(self):
        self.scenario("LIST")


class TestCarriageReturnInName(HostileTest):
    """A lone CR inside a name ("cr\\rname", then CRLF) never yields an
    entry "cr": libcurl (`pipelining: false`) reads listings in ASCII mode
    and turns the CR into a line break before ftpmirror sees the bytes, so
    the name arrives as a line ending in "cr" and a stray line "name".
    ftpmirror reports both halves as unreadable (error events holding them),
    mirrors neither, and still publishes the rest of the directory.  Our own
    engine (TestCarriageReturnInNameOwn) passes the bytes as they come: the
    whole name is refused for its control character."""

    job_keys = {"pipelining": False}
    # What the error events end with: both halves of the cut line.
    HALVES = {"MLSD": (b"; cr", b"name"), "LIST": (b" cr", b"name")}

    def scenario(self, fmt):
        write_files(self.remote, GOOD)
        name = b"cr\rname"
        self.plant_pwned([name, b"cr", b"name"])
        line = mlsd if fmt == "MLSD" else ls
        root = [line("file", name, len(PWNED)), line("file", b"good.txt", 1000, BASE + 10)]
        self.server.set_script({"feat_mlst": fmt == "MLSD", "listings": {"/": {fmt: root}}})
        before = self.outside_state()
        mark = self.server.mark()
        what = "sync of a name with a CR via " + fmt
        out = self.sync()
        run = self.check_run(what, out, EXIT_REFUSED, STATUS_REFUSED)
        self.check_target(what, {b"good.txt": ("file",) + GOOD[b"good.txt"]})
        self.check_incoming(what)
        self.check_outside(before, what)
        events = self.events(run["id"]) if run else []
        for half in self.HALVES[fmt]:
            if not any(act == "error" and det and det.endswith(half) for act, _, det in events):
                self.problems.append("%s: no error event holds the line ending %r" % (what, half))
        for cmd, arg in self.server.commands(mark):
            if cmd in ("RETR", "MDTM", "SIZE") and arg.startswith(b"cr"):
                self.problems.append("%s: ftpmirror sent %s %r" % (what, cmd, arg))
        self.finish([(what, out)])

    def test_mlsd(self):
        self.scenario("MLSD")

    def test_list(self):
        self.scenario("LIST")


class TestCarriageReturnInNameOwn(TestCarriageReturnInName):
    """The same with our own engine: one error event, whose path is the
    whole name, CR included (escaped)."""

    job_keys = {"pipelining": True}

    def events(self, run_id):
        # (action, path, detail): the path stands where the detail did.
        return [(act, path, path) for act, path, _det in super().events(run_id)]

    HALVES = {"MLSD": (b"cr\\x0dname",), "LIST": (b"cr\\x0dname",)}


class TestSymlinks(HostileTest):
    """Links out of the mirror are skipped with a skip event and never
    made; links that stay inside are made, as relative links."""

    def scenario(self, fmt):
        files = {b"sub/file": (content("sub/file", 500), BASE + 1),
                 b"good.txt": (content("good", 700), BASE + 2)}
        write_files(self.remote, files)
        outside = {b"l_out": b"../../outside", b"l_up": b"../escape", b"l_etc": b"/etc",
                   b"l_abs": self.bdecoy + b"/abs", b"l_sneaky": b"sub/../../outside",
                   b"l_dotdot": b".."}
        inside = {b"l_in": b"sub/file", b"l_dir": b"sub"}
        sub_outside = {b"esc": b"../../x", b"esc2": b"../../../escape"}
        sub_inside = {b"up": b"../good.txt"}
        line = mlsd if fmt == "MLSD" else ls
        size = 0 if fmt == "LIST" else None
        root = [line("dir", b"sub", size), line("file", b"good.txt", 700, BASE + 2)]
        for name, target in list(outside.items()) + list(inside.items()):
            root.append(line("link", name, 10 if fmt == "LIST" else None, target=target))
        sub = [line("file", b"file", 500, BASE + 1)]
        for name, target in list(sub_outside.items()) + list(sub_inside.items()):
            sub.append(line("link", name, 10 if fmt == "LIST" else None, target=target))
        if fmt == "MLSD":
            root.append(mlsd("link", b"l_unknown"))     # a link whose target is not given
        self.server.set_script({"feat_mlst": fmt == "MLSD",
                                "listings": {"/": {fmt: root}, "/sub": {fmt: sub}}})
        before = self.outside_state()
        what = "sync of symbolic links via " + fmt
        out = self.sync()
        run = self.check_run(what, out, 0, "ok")
        expected = {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                    b"good.txt": ("file",) + files[b"good.txt"],
                    b"l_in": ("link", b"sub/file"), b"l_dir": ("link", b"sub"),
                    b"sub/up": ("link", b"../good.txt")}
        self.check_target(what, expected)
        self.check_incoming(what)
        self.check_outside(before, what)
        events = self.events(run["id"]) if run else []
        skipped = {p for a, p, _ in events if a == "skip"}
        for path in [n for n in outside] + [b"sub/" + n for n in sub_outside] + \
                ([b"l_unknown"] if fmt == "MLSD" else []):
            if path not in skipped:
                self.problems.append("%s: no skip event for link %r" % (what, path))
        for path in [b"l_in", b"l_dir", b"sub/up"]:
            if path in skipped:
                self.problems.append("%s: link %r inside the mirror was skipped" % (what, path))
        self.finish([(what, out)])

    def test_mlsd(self):
        self.scenario("MLSD")

    def test_list(self):
        self.scenario("LIST")


class TestWriteThroughLink(HostileTest):
    """Run 1 makes the link d -> sub (inside the mirror).  Run 2 lists d as
    a directory holding x: x must land in a real directory d, never in sub
    through the link.  Run 3 turns d back into a link while sub gains an
    x of its own: removing the directory d/x must not follow the new link
    and delete sub/x."""

    def test_link_then_directory_then_link(self):
        files = {b"sub/file": (content("sub/file", 300), BASE + 1),
                 b"d/x": (content("d/x", 400), BASE + 2),
                 b"sub/x": (content("sub/x", 500), BASE + 3)}
        write_files(self.remote, files)
        sub_v1 = [mlsd("file", b"file", 300, BASE + 1)]
        outcomes = []

        # Run 1: d is a link to sub.
        self.server.set_script({"listings": {
            "/": {"MLSD": [mlsd("dir", b"sub"), mlsd("link", b"d", target=b"sub")]},
            "/sub": {"MLSD": sub_v1}}})
        before = self.outside_state()
        what = "run 1 (d -> sub)"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                                 b"d": ("link", b"sub")})
        self.check_outside(before, what)
        if self.problems:
            self.finish(outcomes)

        # Run 2: d is a directory holding x.
        self.server.set_script({"listings": {
            "/": {"MLSD": [mlsd("dir", b"sub"), mlsd("dir", b"d")]},
            "/sub": {"MLSD": sub_v1},
            "/d": {"MLSD": [mlsd("file", b"x", 400, BASE + 2)]}}})
        what = "run 2 (d becomes a directory with x)"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                                 b"d": ("dir",), b"d/x": ("file",) + files[b"d/x"]})
        self.check_incoming(what)
        self.check_outside(before, what)

        # Run 3: d is a link again; sub has its own x.
        self.server.set_script({"listings": {
            "/": {"MLSD": [mlsd("dir", b"sub"), mlsd("link", b"d", target=b"sub")]},
            "/sub": {"MLSD": sub_v1 + [mlsd("file", b"x", 500, BASE + 3)]}}})
        what = "run 3 (d is a link to sub again, sub/x added)"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                                 b"sub/x": ("file",) + files[b"sub/x"], b"d": ("link", b"sub")})
        self.check_incoming(what)
        self.check_outside(before, what)

        # Run 4: nothing changed upstream; the mirror stays as it is.
        what = "run 4 (no change)"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                                 b"sub/x": ("file",) + files[b"sub/x"], b"d": ("link", b"sub")})
        self.check_outside(before, what)
        self.finish(outcomes)


class TestDuplicateEntries(HostileTest):
    """A name listed twice with different types: the first entry is kept
    (as crawl.c documents), whichever it is, and a link kept from an earlier
    run is never written through."""

    def test_mlsd(self):
        files = {b"sub/file": (content("sub/file", 300), BASE + 1),
                 b"d/x": (content("d/x", 400), BASE + 2),
                 b"f": (content("f", 10), BASE + 3)}
        write_files(self.remote, files)
        sub = [mlsd("file", b"file", 300, BASE + 1)]
        outcomes = []
        self.server.set_script({"listings": {
            "/": {"MLSD": [mlsd("dir", b"sub"), mlsd("link", b"d", target=b"sub")]},
            "/sub": {"MLSD": sub}}})
        before = self.outside_state()
        what = "run 1 (d -> sub)"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                                 b"d": ("link", b"sub")})

        # d listed as a link first, then as a directory with x: the link stays.
        self.server.set_script({"listings": {
            "/": {"MLSD": [mlsd("dir", b"sub"), mlsd("link", b"d", target=b"sub"), mlsd("dir", b"d"),
                           mlsd("file", b"f", 10, BASE + 3), mlsd("file", b"f", 99, BASE + 4)]},
            "/sub": {"MLSD": sub},
            "/d": {"MLSD": [mlsd("file", b"x", 400, BASE + 2)]}}})
        what = "run 2 (d: link, then directory; f twice)"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                                 b"d": ("link", b"sub"), b"f": ("file",) + files[b"f"]})
        self.check_incoming(what)
        self.check_outside(before, what)

        # d listed as a directory first, then as the link: the directory wins.
        self.server.set_script({"listings": {
            "/": {"MLSD": [mlsd("dir", b"sub"), mlsd("dir", b"d"), mlsd("link", b"d", target=b"sub"),
                           mlsd("file", b"f", 10, BASE + 3)]},
            "/sub": {"MLSD": sub},
            "/d": {"MLSD": [mlsd("file", b"x", 400, BASE + 2)]}}})
        what = "run 3 (d: directory, then link)"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"sub": ("dir",), b"sub/file": ("file",) + files[b"sub/file"],
                                 b"d": ("dir",), b"d/x": ("file",) + files[b"d/x"],
                                 b"f": ("file",) + files[b"f"]})
        self.check_incoming(what)
        self.check_outside(before, what)
        self.finish(outcomes)


class TestEndlessTree(HostileTest):
    """Every directory lists a subdirectory "a": an endless tree.  The run
    must end (within its timeout), without a crash, writing nothing
    outside; the exit status is 0 or 1 (INTERFACE.md does not say which)."""

    def test_mlsd(self):
        write_files(self.remote, GOOD)
        self.server.set_script({
            "listings": {"/": {"MLSD": [mlsd("file", b"good.txt", 1000, BASE + 10),
                                        mlsd("dir", b"a")]}},
            "default_listing": {"MLSD": [mlsd("dir", b"a")]}})
        before = self.outside_state()
        what = "sync of an endless tree"
        out = self.sync(timeout=120)
        run = self.check_run(what, out, (0, 1), ("ok", "partial"))
        self.check_outside(before, what)
        self.check_incoming(what)
        got = tree(self.target)
        if got.get(b"good.txt", (None,))[:2] != ("file", GOOD[b"good.txt"][0]):
            self.problems.append("%s: good.txt not mirrored" % what)
        depth = max((rel.count(b"/") + 1 for rel in got if rel.startswith(b"a")), default=0)
        others = [rel for rel, e in got.items()
                  if rel != b"good.txt" and not rel.startswith(b".ftpmirror")
                  and (e[0] != "dir" or set(rel.split(b"/")) != {b"a"})]
        if others:
            self.problems.append("%s: unexpected entries %r" % (what, others[:5]))
        if not 1 <= depth <= 256:
            self.problems.append("%s: the chain a/a/... is %d deep" % (what, depth))
        events = self.events(run["id"]) if run else []
        if not any(a in ("skip", "error") and p.startswith(b"a/a") for a, p, _ in events):
            self.problems.append("%s: no skip or error event says where the walk stopped" % what)
        self.finish([(what, out)])


class TestNonUtf8Names(HostileTest):
    """Names that are not UTF-8 are mirrored as the very same bytes."""

    def scenario(self, fmt):
        files = {b"caf\xe9.txt": (content("cafe", 123), BASE + 1),
                 b"dir\xff/\xfe\xfd.bin": (content("fefd", 4567), BASE + 2),
                 b"dir\xff/ok \xc3\xa9 utf8.txt": (content("utf8", 89), BASE + 3)}
        write_files(self.remote, files)
        line = mlsd if fmt == "MLSD" else ls
        size = 0 if fmt == "LIST" else None
        self.server.set_script({"feat_mlst": fmt == "MLSD", "listings": {
            "/": {fmt: [line("file", b"caf\xe9.txt", 123, BASE + 1), line("dir", b"dir\xff", size)]},
            L(b"/dir\xff"): {fmt: [line("file", b"\xfe\xfd.bin", 4567, BASE + 2),
                                   line("file", b"ok \xc3\xa9 utf8.txt", 89, BASE + 3)]}}})
        before = self.outside_state()
        what = "sync of non-UTF-8 names via " + fmt
        out = self.sync()
        self.check_run(what, out, 0, "ok")
        expected = {rel: ("file",) + v for rel, v in files.items()}
        expected[b"dir\xff"] = ("dir",)
        self.check_target(what, expected)
        self.check_incoming(what)
        self.check_outside(before, what)
        # A second run has nothing to do.
        what2 = "second sync of non-UTF-8 names via " + fmt
        mark = self.server.mark()
        out2 = self.sync()
        self.check_run(what2, out2, 0, "ok")
        self.check_target(what2, expected)
        retrs = [arg for cmd, arg in self.server.commands(mark) if cmd == "RETR"]
        if retrs:
            self.problems.append("%s: RETR again: %r" % (what2, retrs))
        self.finish([(what, out), (what2, out2)])

    def test_mlsd(self):
        self.scenario("MLSD")

    def test_list(self):
        self.scenario("LIST")


class TestUnparsableLine(HostileTest):
    """A line that cannot be parsed is skipped, logged (an error event that
    shows the line) and counted, and the directory it was in does not
    count as completely listed: what was mirrored before stays."""

    def scenario(self, fmt):
        files = {b"a": (content("a", 100), BASE + 1), b"b": (content("b", 200), BASE + 2),
                 b"c": (content("c", 300), BASE + 3), b"sub/d1": (content("d1", 400), BASE + 4),
                 b"sub/d2": (content("d2", 500), BASE + 5)}
        write_files(self.remote, files)
        line = mlsd if fmt == "MLSD" else ls
        size = 0 if fmt == "LIST" else None
        good_root = [line("file", n, len(files[n][0]), files[n][1]) for n in (b"a", b"b", b"c")]
        good_root.append(line("dir", b"sub", size))
        good_sub = [line("file", n, len(files[b"sub/" + n][0]), files[b"sub/" + n][1])
                    for n in (b"d1", b"d2")]
        self.server.set_script({"feat_mlst": fmt == "MLSD", "listings": {
            "/": {fmt: good_root}, "/sub": {fmt: good_sub}}})
        before = self.outside_state()
        outcomes = []
        what = "first sync via " + fmt
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        expected = {rel: ("file",) + v for rel, v in files.items()}
        expected[b"sub"] = ("dir",)
        self.check_target(what, expected)
        if self.problems:
            self.finish(outcomes)

        # b's line and d1's line become garbage.
        if fmt == "MLSD":
            bad_b = "type=file;size=2x0;modify=%s; b" % mlsd_time(BASE + 2)
            bad_d1 = "this is not an MLSD line d1"
        else:
            bad_b = "-rw-r--r--    1 ftp      ftp           200 Foo 42  2022 b"
            bad_d1 = "?rw-r--r--    1 ftp      ftp           400 Apr 15  2022 d1"
        root = [good_root[0], bad_b, good_root[2], good_root[3]]
        sub = [bad_d1, good_sub[1]]
        self.server.set_script({"feat_mlst": fmt == "MLSD", "listings": {
            "/": {fmt: root}, "/sub": {fmt: sub}}})
        what = "sync with unparsable lines via " + fmt
        out, run = self.sync_checked(what, outcomes, EXIT_REFUSED, STATUS_REFUSED)
        self.check_target(what, expected)
        self.check_incoming(what)
        self.check_outside(before, what)
        events = self.events(run["id"]) if run else []
        for d, bad in ((b"", bad_b), (b"sub", bad_d1)):
            if not any(a == "error" and helpers.norm_path(p.decode("latin-1")).encode("latin-1") == d
                       and bad.encode("latin-1")[:60] in det for a, p, det in events):
                self.problems.append("%s: no error event for /%s showing the line %r"
                                     % (what, d.decode(), bad))
        deletes = [p for a, p, _ in events if a == "delete"]
        if deletes:
            self.problems.append("%s: delete events %r" % (what, deletes))
        if run and run["errors"] < 2:
            self.problems.append("%s: runs.errors is %s, expected at least 2" % (what, run["errors"]))
        if run and run["files_deleted"]:
            self.problems.append("%s: runs.files_deleted is %s" % (what, run["files_deleted"]))
        self.finish(outcomes)

    def test_mlsd(self):
        self.scenario("MLSD")

    def test_list(self):
        self.scenario("LIST")


class TestRetrLongerThanListed(HostileTest):
    """A RETR that sends more bytes than the listing gave never reaches
    target: exit 1, an error event, and the version published before stays."""

    def test_mlsd(self):
        old = content("f v1", 100)
        new = content("f v2", 120)
        write_files(self.remote, {b"f.bin": (old, BASE + 1), b"ok.txt": (b"fine\n", BASE + 2)})
        root_v1 = [mlsd("file", b"f.bin", 100, BASE + 1), mlsd("file", b"ok.txt", 5, BASE + 2)]
        self.server.set_script({"listings": {"/": {"MLSD": root_v1}}})
        before = self.outside_state()
        outcomes = []
        what = "first sync"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        expected = {b"f.bin": ("file", old, BASE + 1), b"ok.txt": ("file", b"fine\n", BASE + 2)}
        self.check_target(what, expected)
        if self.problems:
            self.finish(outcomes)

        # f.bin changes upstream, but its RETR sends 50 bytes too many; a
        # new file g.bin sends far more than its 10 listed bytes.
        write_files(self.remote, {b"f.bin": (new, BASE + 100),
                                  b"g.bin": (content("g", 10), BASE + 3)})
        extra = content("extra", 50)
        self.server.set_script({
            "listings": {"/": {"MLSD": [mlsd("file", b"f.bin", 120, BASE + 100),
                                        mlsd("file", b"ok.txt", 5, BASE + 2),
                                        mlsd("file", b"g.bin", 10, BASE + 3)]}},
            "retr": {"/f.bin": {"append": {"b64": base64.b64encode(extra).decode()}},
                     "/g.bin": {"data": {"b64": base64.b64encode(content("g", 100_000)).decode()}}}})
        mark = self.server.mark()
        what = "sync where RETR sends more than listed"
        out, run = self.sync_checked(what, outcomes, 1, "partial")
        self.check_target(what, expected)
        self.check_incoming(what, max_sizes=[120, 10])
        self.check_outside(before, what)
        self.check_errors(what, run, b"", [b"f.bin", b"g.bin"])
        retrs = [arg for cmd, arg in self.server.commands(mark) if cmd == "RETR"]
        if not any(b"f.bin" in a for a in retrs):
            self.problems.append("%s: f.bin was never requested (RETR: %r)" % (what, retrs))

        # The server behaves again: the new version arrives.
        self.server.set_script({"listings": {"/": {"MLSD": [
            mlsd("file", b"f.bin", 120, BASE + 100), mlsd("file", b"ok.txt", 5, BASE + 2),
            mlsd("file", b"g.bin", 10, BASE + 3)]}}})
        what = "sync once the server behaves"
        out, run = self.sync_checked(what, outcomes, 0, "ok")
        self.check_target(what, {b"f.bin": ("file", new, BASE + 100),
                                 b"ok.txt": ("file", b"fine\n", BASE + 2),
                                 b"g.bin": ("file", content("g", 10), BASE + 3)})
        self.check_incoming(what)
        self.check_outside(before, what)
        self.finish(outcomes)


class TestEndlessLine(HostileTest):
    """A listing line without end: skipped and logged, the lines around it
    still mirrored, memory bounded (a 64 MiB line costs no more peak memory
    than a 100 KB one), no crash."""

    def scenario(self, fmt):
        files = {b"a.txt": (content("a", 100), BASE + 1), b"b.txt": (content("b", 200), BASE + 2),
                 b"z.txt": (content("z", 300), BASE + 3)}
        write_files(self.remote, files)
        line = mlsd if fmt == "MLSD" else ls
        prefix = "type=file;size=1;modify=20220101000000; " if fmt == "MLSD" else \
            "-rw-r--r--    1 ftp      ftp             1 Jan  1  2022 "

        def listing(total):
            return [line("file", b"a.txt", 100, BASE + 1),
                    {"latin1": prefix, "eol": False},
                    {"latin1": "A", "repeat": total, "eol": True},
                    line("file", b"b.txt", 200, BASE + 2),
                    {"latin1": "B" * 1000, "repeat": total // 1000, "eol": True},
                    line("file", b"z.txt", 300, BASE + 3),
                    # the last line never ends at all
                    {"latin1": "C" * 1000, "repeat": total // 1000, "eol": False}]

        expected = {rel: ("file",) + v for rel, v in files.items()}
        before = self.outside_state()
        outcomes = []
        rss = {}
        for total in (100_000, 64 * 1024 * 1024):
            # A fresh target each time, so both runs do the same work.
            shutil.rmtree(self.target)
            os.makedirs(self.target)
            before = self.outside_state()
            self.server.set_script({"feat_mlst": fmt == "MLSD",
                                    "listings": {"/": {fmt: listing(total)}}})
            what = "sync with %d-byte lines via %s" % (total, fmt)
            mark = self.server.mark()
            out = self.sync(timeout=180)
            sent = self.server.listings_sent(mark).get((fmt, "/"), 0)
            if sent < total + 2 * (total // 1000 * 1000):
                self.problems.append("%s: the server sent only %d bytes of the listing" % (what, sent))
            outcomes.append((what, out))
            rss[total] = out.maxrss_kb
            run = self.check_run(what, out, EXIT_REFUSED, STATUS_REFUSED)
            self.check_target(what, expected)
            self.check_incoming(what)
            self.check_outside(before, what)
            events = self.events(run["id"]) if run else []
            for mark in (prefix.encode() + b"AAAA", b"BBBB", b"CCCC"):
                if not any(a == "error" and mark in det for a, _, det in events):
                    self.problems.append("%s: no error event showing the line starting %r"
                                         % (what, mark))
            if run and run["errors"] < 3:
                self.problems.append("%s: runs.errors is %s, expected at least 3" % (what, run["errors"]))
        growth = rss[64 * 1024 * 1024] - rss[100_000]
        if growth > 24 * 1024:
            self.problems.append("peak memory grew by %d KiB (%d -> %d KiB) with a 64 MiB line"
                                 % (growth, rss[100_000], rss[64 * 1024 * 1024]))
        self.finish(outcomes)

    def test_mlsd(self):
        self.scenario("MLSD")

    def test_list(self):
        self.scenario("LIST")


class TestTimesOutOfRange(HostileTest):
    """MLSD times the local file system can't keep: 1601 (Windows' zero
    time) and 9999 on ext4, which keeps 1901 to 2446.  Such files are
    mirrored with the nearest time it keeps, and a second sync must not
    take them for changed: it downloads nothing."""

    def kept(self, t):
        """The time the target's file system keeps for t."""
        probe = os.path.join(self.target, ".probe")
        with open(probe, "wb"):
            pass
        os.utime(probe, (t, t))
        kept = os.stat(probe).st_mtime
        os.unlink(probe)
        return int(kept)

    def test_mlsd(self):
        times = {b"y1601": -11_644_473_600, b"y9999": 253_402_300_799, b"now": BASE + 7}
        files = {name: (content(name.decode(), 10 + i), BASE) for i, name in enumerate(times)}
        write_files(self.remote, files)
        self.server.set_script({"feat_mlst": True, "listings": {"/": {"MLSD": [
            mlsd("file", name, len(files[name][0]), t) for name, t in times.items()]}}})
        outcomes = []
        self.sync_checked("first sync", outcomes, 0, "ok")
        for name, t in times.items():
            path = os.path.join(self.target, name.decode())
            if not os.path.isfile(path) or int(os.stat(path).st_mtime) != self.kept(t):
                self.problems.append("%s: not mirrored with the time %d" % (name, self.kept(t)))
        mark = len(self.server.records())
        out, run = self.sync_checked("second sync", outcomes, 0, "ok")
        if run:
            changed = self.query("SELECT files_changed, bytes_downloaded FROM runs WHERE id = ?",
                                 (run["id"],))[0]
            if tuple(changed) != (0, 0):
                self.problems.append("the second sync fetched again: %s" % (changed,))
        retrs = [arg for cmd, arg in self.server.commands(mark) if cmd == "RETR"]
        if retrs:
            self.problems.append("RETR in the second sync: %r" % retrs)
        self.finish(outcomes)
