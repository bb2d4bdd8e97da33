"""ftpmirror's own FTP engine with pipelined EPSV (`pipelining: true`),
against every server kind: pure-ftpd, vsftpd and proftpd behind
bench/delayproxy.py (5 ms each way, as in test_wan.py), pyftpdlib direct.

For plain ftp:// jobs in passive mode ftpmirror may drive the control
connections itself instead of libcurl: right behind each transfer command
(RETR, MLSD, LIST) it sends the next data connection's EPSV in the same
write ("RETR a\\r\\nEPSV\\r\\n"), so the 229 comes back with the 226 and a
file costs one round trip.  pure-ftpd, vsftpd and proftpd answer the EPSV
after the transfer's final reply; pyftpdlib would act on it during the
transfer (229 before any 226, the transfer killed).  So the first transfers
of a run carry a NOOP instead ("RETR a\\r\\nNOOP\\r\\n"): pyftpdlib answers
it before the transfer's 226, and pipelining stays off for the run, with
nothing broken; the others answer it after, and get EPSV from then on.
With -v a run says which engine it uses (the ENGINE_* lines below).

Every job reaches its server through ControlRecorder, a relay of the control
connection alone (EPSV replies carry only a port, so data connections go
straight to the server or its delay proxy).  It keeps each chunk the client
wrote as one recv() returned it: a chunk holding "RETR ...\\r\\nEPSV\\r\\n" is
proof of pipelining that does not depend on timing.  It also counts
commands, and can run an action just before a command is passed on (a file
removed between listing and download).

One server per class; each test mirrors its own directory of that server's
root (source ftp://.../<test name>/).
"""

import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import helpers
import servers
import test_faults    # run_with(): a sync with a preexec_fn (resource limits)
import test_resume    # ResumeScenarios._rest_offsets(): REST n before a RETR
from helpers import content

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))
import ftpservers  # noqa: E402  (servers bound to 127.0.0.2, as behind the proxy)

# Debug lines of `ftpmirror -v sync` (exact substrings).
ENGINE_ON = "own FTP engine: pipelining EPSV behind each transfer"
ENGINE_OFF = "own FTP engine not used:"
TURNED_OFF = "the server acts on commands sent during a transfer: pipelining off"

# The job keys that ask for the engine with pipelining.
PIPELINED_JOB = {"pipelining": True}

BASE = 1_670_000_000
DELAY_MS = 5
SYNC_TIMEOUT = 30                  # a run takes about a second; a hang fails soon
BIG = "big/image 3M.iso"
BIG_SIZE = 3 * 1024 * 1024 + 5
SIZE_LIMIT = 1024 * 1024           # RLIMIT_FSIZE of the sync killed in a download
TRANSFER_VERBS = ("RETR", "MLSD", "LIST", "NLST")
# One chunk from the client: a transfer command with an EPSV right behind it.
RETR_THEN_EPSV = re.compile(rb"(?:^|\n)RETR [^\r\n]*\r?\nEPSV\r?\n")
TRANSFER_THEN_EPSV = re.compile(rb"(?:^|\n)(?:RETR|MLSD|LIST|NLST)(?: [^\r\n]*)?\r?\nEPSV\r?\n")
# The probe: a transfer command with a NOOP right behind it.
TRANSFER_THEN_NOOP = re.compile(rb"(?:^|\n)(?:RETR|MLSD|LIST|NLST)(?: [^\r\n]*)?\r?\nNOOP\r?\n")


def mixed_tree():
    """Nested directories, names with blanks and UTF-8 bytes, empty files
    and a 3 MiB one: 30 files.  Old, distinct mtimes (LIST shows days)."""
    files = {"d%d/sub %d/f%02d.bin" % (i % 3, i % 2, i): (content("f%d" % i, 613 * i + 1),
                                                         BASE + 86_413 * i)
             for i in range(24)}
    files["README"] = (content("README", 1500), BASE + 7)
    files["empty"] = (b"", BASE + 11)
    files["d0/also empty"] = (b"", BASE + 13)
    files["caf\u00e9/na\u00efve \u00fc.txt"] = (content("utf8", 321), BASE + 17)
    files["d2/64k"] = (content("64k", 65_536), BASE + 19)
    files[BIG] = (content("big v1", BIG_SIZE), BASE + 23)
    return files


MIXED_DIRS = ["empty dir", "d1/empty sub"]


def flat_tree(count=12):
    return {"f%02d.txt" % i: (content("flat%d" % i, 1000 + 37 * i), BASE + 3600 * i)
            for i in range(count)}


def norm(path):
    return (path or "").strip().strip("/")


# ------------------------------------------------------------ the recorder

class ControlRecorder:
    """A relay of FTP control connections on 127.0.0.1 that records what
    the client sends, chunk by chunk, and the commands in it.

        rec = ControlRecorder(upstream_port).start()
        rec.url                         "ftp://127.0.0.1:PORT/"
        mark = rec.mark()
        rec.chunks(mark)                [(session, bytes of one recv())]
        rec.commands(mark)              [servers.Command(session, VERB, arg)]
        rec.before("RETR", path, fn)    run fn() once, before the chunk with
                                        "RETR <...path>" is passed on
        rec.stop()

    Threads and select(); every socket closed by stop(), which the
    watchdog calls after `lifetime` seconds; at most MAX_RECORDS records."""

    MAX_RECORDS = 200_000
    TICK = 0.2

    def __init__(self, upstream_port, lifetime=600.0):
        self.upstream = ("127.0.0.1", upstream_port)
        self.lifetime = lifetime
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.records = []     # (session, "chunk" | "cmd" | "reply", data)
        self.hooks = []       # [verb, path, action, spent]
        self.socks = set()
        self.threads = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(self.TICK)
        self.port = self.listener.getsockname()[1]
        self.sessions = 0

    @property
    def url(self):
        return "ftp://127.0.0.1:%d/" % self.port

    def start(self):
        self._thread(self._accept_loop)
        self._thread(self._watchdog)
        return self

    def stop(self):
        self.stopping.set()
        with self.lock:
            socks = list(self.socks) + [self.listener]
            threads = list(self.threads)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in threads:
            if t is not threading.current_thread():
                t.join(timeout=2)

    def _thread(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        with self.lock:
            self.threads = [x for x in self.threads if x.is_alive()] + [t]

    def _watchdog(self):
        if not self.stopping.wait(self.lifetime):
            self.stop()

    # --- inspection -------------------------------------------------------

    def mark(self):
        with self.lock:
            return len(self.records)

    def _select(self, kind, since):
        with self.lock:
            return [(s, d) for s, k, d in self.records[since:] if k == kind]

    def chunks(self, since=0):
        return self._select("chunk", since)

    def commands(self, since=0, verb=None):
        return [c for c in (servers.Command(s, d[0], d[1]) for s, d in self._select("cmd", since))
                if verb is None or c.cmd == verb]

    def describe(self, since=0, last=80):
        with self.lock:
            lines = ["  s%d %s %s" % (s, {"cmd": ">", "reply": "<"}[k],
                                      d if k == "reply" else " ".join(d))
                     for s, k, d in self.records[since:] if k != "chunk"]
        return "control transcript (last %d lines):\n%s" % (last, "\n".join(lines[-last:]))

    def before(self, verb, path, action):
        """Run action() once, just before passing on the chunk holding the
        first command `verb` whose argument ends with path."""
        with self.lock:
            self.hooks.append([verb, norm(path), action, False])

    def forget_hooks(self):
        with self.lock:
            self.hooks = []

    # --- relaying ---------------------------------------------------------

    def _record(self, session, kind, data):
        with self.lock:
            if len(self.records) < self.MAX_RECORDS:
                self.records.append((session, kind, data))

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                client, _addr = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.sessions += 1
                number = self.sessions
            self._thread(self._session, client, number)

    def _due_hooks(self, verb, arg):
        due = []
        with self.lock:
            for hook in self.hooks:
                if not hook[3] and hook[0] == verb and (norm(arg) == hook[1]
                                                        or norm(arg).endswith("/" + hook[1])):
                    hook[3] = True
                    due.append(hook[2])
        return due

    def _session(self, client, number):
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        client.settimeout(30)   # sendall() to a client that stopped reading
        for sock in (client, server):
            # No Nagle: a reply held back for an ACK would look late.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.socks.update((client, server))
        peer = {client: server, server: client}
        buffers = {client: b"", server: b""}
        open_ends = {client, server}
        try:
            while open_ends and not self.stopping.is_set():
                readable, _w, _x = select.select(list(open_ends), [], [], self.TICK)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        open_ends.discard(sock)
                        peer[sock].shutdown(socket.SHUT_WR)
                        continue
                    buffers[sock] += data
                    lines = buffers[sock].split(b"\n")
                    buffers[sock] = lines.pop()
                    actions = []
                    if sock is client:
                        self._record(number, "chunk", data[:4096])
                        for line in lines:
                            text = line.rstrip(b"\r").decode("latin-1")
                            verb, _sp, arg = text.partition(" ")
                            verb = verb.upper()
                            self._record(number, "cmd", (verb, "****" if verb == "PASS" else arg))
                            actions += self._due_hooks(verb, arg)
                    else:
                        for line in lines:
                            self._record(number, "reply", line.rstrip(b"\r").decode("latin-1"))
                    for action in actions:
                        try:
                            action()
                        except OSError:
                            pass   # the test fails on what follows, not here
                    peer[sock].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self.lock:
                self.socks.difference_update((client, server))
            client.close()
            server.close()


# ------------------------------------------------------------- the servers

def start_delay_proxy(server, workdir):
    """bench/delayproxy.py before server (bound to 127.0.0.2): DELAY_MS
    each way on 127.0.0.1 for its control port and every passive port.
    Returns the Popen; stop it with helpers.stop_process."""
    ready = os.path.join(workdir, "delayproxy.ready")
    output = os.path.join(workdir, "delayproxy.out")
    ports = "%d,%d-%d" % (server.port, server.passive[0], server.passive[-1])
    with open(output, "wb") as out:
        proc = helpers.spawn(["/usr/bin/python3", os.path.join(REPO, "bench", "delayproxy.py"),
                              "--listen", "127.0.0.1", "--target", "127.0.0.2", "--ports", ports,
                              "--delay-ms", str(DELAY_MS), "--ready-file", ready],
                             stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not os.path.exists(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            helpers.stop_process(proc, 1.0)
            with open(output, errors="replace") as f:
                raise RuntimeError("delay proxy did not start: %s" % f.read())
        time.sleep(0.02)
    return proc


class PipelineServer:
    """Mixed into each TestCase below: one server for the class (behind the
    delay proxy when `delayed`), the recorder before it, and the checks
    every pipelined sync gets."""

    server_kind = None
    delayed = True             # behind bench/delayproxy.py (not pyftpdlib)
    server_options = {}        # more servers.make_server() arguments (not delayed)
    acts_during_transfer = False   # pyftpdlib: pipelining gets turned off
    connections = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reason = servers.SERVERS[cls.server_kind].unavailable()
        if reason:
            raise unittest.SkipTest("%s: %s" % (cls.server_kind, reason))
        cls.workdir = tempfile.mkdtemp(prefix="ftpmirror-pipeline-")
        helpers._tmpdirs.add(cls.workdir)   # removed even if the run is interrupted
        cls.addClassCleanup(helpers._remove_tmpdir, cls.workdir)
        os.chmod(cls.workdir, 0o755)
        cls.root = os.path.join(cls.workdir, "root")
        os.makedirs(cls.root, mode=0o755)
        if cls.delayed:
            cls.server = ftpservers.make_server(cls.server_kind, cls.root, cls.workdir)
        else:
            cls.server = servers.make_server(cls.server_kind, cls.root, cls.workdir,
                                             **cls.server_options)
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        if cls.delayed:
            proxy = start_delay_proxy(cls.server, cls.workdir)
            cls.addClassCleanup(helpers.stop_process, proxy, 3.0)
        cls.recorder = ControlRecorder(cls.server.port).start()
        cls.addClassCleanup(cls.recorder.stop)

    def setUp(self):
        super().setUp()
        self.remote = os.path.join(self.root, self._testMethodName)
        self.addCleanup(self.recorder.forget_hooks)

    def make_mirror(self, files, dirs=(), **keys):
        """The test's remote tree and a pipelined job mirroring it."""
        helpers.write_tree(self.remote, files, dirs)
        job = {"connections": self.connections, "retries": 0, "timeout": 10}
        job.update(PIPELINED_JOB)
        job.update(keys)
        self.mirror = helpers.Mirror(self.tmp, "%s-%s" % (self.server_kind, self._testMethodName),
                                     "%s%s/" % (self.recorder.url, self._testMethodName), **job)
        return self.mirror

    # --- running ----------------------------------------------------------

    def context(self, result, mark=0):
        runs = self.mirror.runs()
        events = ["%s %s %s %s" % (e["action"], e["path"], e["bytes"], e["detail"])
                  for e in (self.mirror.events(runs[-1]["id"]) if runs else [])]
        return "%s\n%s\nruns: %s\nevents of the last run:\n  %s" % (
            helpers.describe(result), self.recorder.describe(mark), runs[-2:],
            "\n  ".join(events[:60]))

    def run_sync(self, what, code=0, engine=True):
        """`ftpmirror -v sync`, which must exit `code`, add one runs row
        and, with code 0, leave an exact copy.  engine: the job is one for
        the own engine (ENGINE_ON logged).  Returns (result, runs row, mark
        of the recorder before the run)."""
        before = len(self.mirror.runs())
        mark = self.recorder.mark()
        result = self.mirror.run("-v", "sync", self.mirror.job, timeout=SYNC_TIMEOUT)
        if result.returncode != code:
            self.fail("%s against %s: expected exit %s, got %s\n%s"
                      % (what, self.server_kind, code, result.returncode,
                         self.context(result, mark)))
        run = self.new_run(self.mirror, before, result)
        if code == 0:
            self.assertEqual(run["status"], "ok", "%s: %s" % (what, self.context(result, mark)))
            self.assertSameTree(self.remote, self.mirror.target, " after " + what)
        if engine:
            self.assertEngine(result, what)
        return result, run, mark

    def assertEngine(self, result, what):
        self.assertIn(ENGINE_ON, result.stderr, "%s: the own engine was not used\n%s"
                      % (what, helpers.describe(result)))
        if not self.acts_during_transfer:
            self.assertNotIn(TURNED_OFF, result.stderr, "%s: pipelining turned off against %s, "
                             "which answers pipelined commands in order\n%s"
                             % (what, self.server_kind, helpers.describe(result)))

    def retrs_of(self, rel, mark):
        """The client's RETR commands of rel (relative to the source) since mark."""
        return [c for c in self.recorder.commands(mark, "RETR")
                if norm(c.arg).endswith("/" + rel) or norm(c.arg) == rel]

    def logins(self, mark):
        return len(self.recorder.commands(mark, "USER"))


class PipelineScenarios(PipelineServer):
    """The scenarios every server kind runs."""

    # 1 ---------------------------------------------------------------------

    def test_1_full_mirror(self):
        self.make_mirror(mixed_tree(), MIXED_DIRS)
        result, run, mark = self.run_sync("first sync, retries 0")
        snap = helpers.snapshot(self.remote)
        self.assertEqual(run["files_added"], helpers.file_count(snap), "runs row %s" % run)
        total = sum(e.size for e in snap.values() if e.type == "file")
        # Nothing broken, nothing fetched twice, against every server.
        self.assertEqual(run["bytes_downloaded"], total, "runs row %s" % run)
        retries = [e for e in self.mirror.events(run["id"]) if e["action"] == "retry"]
        self.assertEqual(retries, [], "retries in a clean run\n" + self.context(result, mark))
        if self.acts_during_transfer:
            # Found out by the probe: turned off.
            self.assertIn(TURNED_OFF, result.stderr, "pipelining not turned off against %s\n%s"
                          % (self.server_kind, self.context(result, mark)))

    # 2 ---------------------------------------------------------------------

    def test_2_commands_are_pipelined(self):
        """One recv() of the relay holds a RETR with the EPSV behind it;
        and no EPSV is wasted: at most one per transfer command plus one
        spare per connection.  A server that acts on commands during a
        transfer gets the NOOP probe, and never an EPSV behind a transfer."""
        self.make_mirror(flat_tree(), ["sub"])
        result, _run, mark = self.run_sync("sync of a flat tree")
        chunks = [data for _s, data in self.recorder.chunks(mark)]
        self.assertTrue(any(TRANSFER_THEN_NOOP.search(c) for c in chunks),
                        "no transfer command with the NOOP probe behind it in one write\n"
                        + self.context(result, mark))
        if self.acts_during_transfer:
            self.assertFalse(any(TRANSFER_THEN_EPSV.search(c) for c in chunks),
                             "an EPSV pipelined to a server that acts on it mid-transfer\n"
                             + self.context(result, mark))
            self.assertIn(TURNED_OFF, result.stderr, self.context(result, mark))
            return
        pipelined = [c for c in chunks if RETR_THEN_EPSV.search(c)]
        self.assertTrue(pipelined, "no chunk from the client holds 'RETR ...\\r\\nEPSV\\r\\n'; "
                        "chunks: %r\n%s" % (chunks[-20:], self.context(result, mark)))
        cmds = self.recorder.commands(mark)
        epsv = sum(1 for c in cmds if c.cmd == "EPSV")
        transfers = sum(1 for c in cmds if c.cmd in TRANSFER_VERBS)
        sessions = len({c.session for c in cmds})
        self.assertLessEqual(epsv, transfers + sessions,
                             "%d EPSV for %d transfer commands on %d connections\n%s"
                             % (epsv, transfers, sessions, self.context(result, mark)))
        self.assertGreaterEqual(transfers, len(flat_tree()), self.context(result, mark))

    # 3 ---------------------------------------------------------------------

    def test_3_resync_after_changes_and_noop(self):
        files = mixed_tree()
        self.make_mirror(files, MIXED_DIRS)
        self.run_sync("first sync")
        old = helpers.snapshot(self.remote)
        rewritten, resized, gone = "d1/sub 1/f07.bin", "README", "d2/sub 0/f02.bin"
        # A new mtime days away: LIST (vsftpd) shows old files to the day.
        helpers.set_file(self.remote, rewritten, content("f7 v2", old[rewritten].size),
                         old[rewritten].mtime + 3 * 86_400)
        helpers.set_file(self.remote, resized, content("README v2", 2500), BASE + 5_000_000)
        helpers.set_file(self.remote, "empty", b"not empty any more\n", BASE + 5_000_001)
        added = {"NEWS": 700, "d0/sub 0/new.bin": 90_000, "new dir/deeper/x y": 10}
        for i, (rel, size) in enumerate(added.items()):
            helpers.set_file(self.remote, rel, content("new " + rel, size), BASE + 5_000_100 + i)
        os.unlink(os.path.join(self.remote, gone))
        shutil.rmtree(os.path.join(self.remote, "d1/empty sub"))
        result, run, mark = self.run_sync("sync after upstream changes")
        self.assertEqual((run["files_added"], run["files_changed"]), (len(added), 3),
                         "runs row %s" % run)
        self.assertGreaterEqual(run["files_deleted"], 1, "runs row %s" % run)
        events = self.mirror.event_paths(run["id"])
        self.assertEqual({rewritten, resized, "empty"} - events.get("change", set()), set(),
                         self.context(result, mark))
        self.assertIn(gone, events.get("delete", set()), self.context(result, mark))

        server_mark = self.server.mark()
        result, run, mark = self.run_sync("no-op sync")
        self.assertEqual(self.recorder.commands(mark, "RETR"), [],
                         "a no-op sync sent RETR\n" + self.context(result, mark))
        self.assertEqual(self.server.transfers(server_mark), [], "transfers in a no-op sync")
        self.assertEqual((run["files_added"], run["files_changed"], run["files_deleted"],
                          run["bytes_downloaded"]), (0, 0, 0, 0), "runs row %s" % run)

    # 4 ---------------------------------------------------------------------

    def test_4_partial_download_is_resumed(self):
        """A sync killed in the middle of the big file (SIGXFSZ at
        SIZE_LIMIT bytes, no timing involved) leaves a partial in incoming;
        the next one fetches the rest after REST."""
        files = {rel: v for rel, v in mixed_tree().items() if not rel.startswith("d")}
        self.make_mirror(files)
        self.run_sync("first sync")
        helpers.set_file(self.remote, BIG, content("big v2", BIG_SIZE), BASE + 6_000_000)
        big = norm(os.path.relpath(os.path.join(self.remote, BIG), self.root))

        def killed_at_the_limit():
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (SIZE_LIMIT, SIZE_LIMIT))

        server_mark = self.server.mark()
        killed = test_faults.run_with(self.mirror, ["-v", "sync", self.mirror.job],
                                      timeout=SYNC_TIMEOUT, preexec_fn=killed_at_the_limit)
        # Killed by SIGXFSZ, or (had it ignored the signal) a write error.
        self.assertIn(killed.returncode, (-signal.SIGXFSZ, 1), helpers.describe(killed))
        partials = test_resume.staged_files(self.mirror.incoming)
        self.assertTrue(any(0 < size <= SIZE_LIMIT for size in partials.values()),
                        "no partial download in %s: %s\n%s"
                        % (self.mirror.incoming, partials, helpers.describe(killed)))
        self.server.wait_for_transfer(big, server_mark, timeout=5)

        server_mark = self.server.mark()
        result, run, mark = self.run_sync("sync after the kill")
        sent = sum(t.bytes for t in self.server.transfers(server_mark) if t.path == big)
        self.assertTrue(0 < sent < BIG_SIZE, "the server sent %d bytes of %s (size %d): not "
                        "resumed\n%s" % (sent, BIG, BIG_SIZE, self.context(result, mark)))
        offsets = test_resume.ResumeScenarios._rest_offsets(self.recorder.commands(mark),
                                                            os.path.basename(BIG))
        self.assertTrue(any(n > 0 for n in offsets), "no 'REST n' (n > 0) before RETR of %s; "
                        "offsets %s\n%s" % (BIG, offsets, self.context(result, mark)))
        resumes = [e for e in self.mirror.events(run["id"]) if e["action"] == "resume"]
        self.assertTrue(resumes, "no `resume` event\n" + self.context(result, mark))

    # 5 ---------------------------------------------------------------------

    unreadable_refused = True   # chmod 000 makes the server answer 550 (not as root)

    def test_5_refused_files_fail_alone(self):
        """A file removed between listing and download, and one the server
        cannot read, are refused with 550: as with libcurl (test_faults.py,
        check_permanent) each is tried once, fails with an `error` event,
        keeps its old public version, and the run is `partial` (exit 1)
        with everything else published.  The connection survives: no new
        logins."""
        files = flat_tree()
        self.make_mirror(files, retries=1)
        self.run_sync("first sync")
        old = helpers.snapshot(self.mirror.target)
        vanishing, unreadable = "f03.txt", "f07.txt"
        changed = {"f01.txt", "f10.txt", vanishing, unreadable}
        for i, rel in enumerate(sorted(changed)):
            helpers.set_file(self.remote, rel, content("v2 " + rel, 1500 + i), BASE + 9_000_000 + i)
        helpers.set_file(self.remote, "added.txt", content("added", 4000), BASE + 9_000_100)
        refused = [vanishing]
        if self.unreadable_refused:
            os.chmod(os.path.join(self.remote, unreadable), 0)
            refused.append(unreadable)
        self.recorder.before("RETR", vanishing,
                             lambda: os.unlink(os.path.join(self.remote, vanishing)))

        result, run, mark = self.run_sync("sync with refused files", code=1)
        self.assertEqual(run["status"], "partial", "runs row %s" % run)
        self.assertIn("refused", run["message"] or "", "runs row %s" % run)
        now = helpers.snapshot(self.mirror.target)
        for rel in refused:
            self.assertEqual(len(self.retrs_of(rel, mark)), 1, "RETRs of %s (a 550 is not "
                             "retried)\n%s" % (rel, self.context(result, mark)))
            self.assertIn(rel, self.mirror.event_paths(run["id"]).get("error", set()),
                          "no `error` event for %s\n%s" % (rel, self.context(result, mark)))
            self.assertEqual(now[rel].data, old[rel].data, "the public %s changed" % rel)
        for rel in changed - set(refused):
            self.assertEqual(now[rel].data, content("v2 " + rel, 1500 + sorted(changed).index(rel)),
                             "%s was not published\n%s" % (rel, self.context(result, mark)))
        self.assertEqual(now["added.txt"].data, content("added", 4000), self.context(result, mark))
        if not self.acts_during_transfer:
            self.assertLessEqual(self.logins(mark), self.connections, "a refused RETR cost a "
                                 "connection\n" + self.context(result, mark))

        os.chmod(os.path.join(self.remote, unreadable), 0o644)
        self.run_sync("sync once the files are readable or gone")


class TestPipelinePureFtpd(PipelineScenarios, helpers.IntegrationTest):
    server_kind = "pure-ftpd"

    # 7 ---------------------------------------------------------------------

    def check_engine_off(self, what, **keys):
        self.make_mirror(flat_tree(4), **keys)
        result, _run, mark = self.run_sync(what, engine=False)
        self.assertNotIn(ENGINE_ON, result.stderr, "%s: the own engine was used\n%s"
                         % (what, helpers.describe(result)))
        self.assertFalse(any(TRANSFER_THEN_EPSV.search(c) for _s, c in self.recorder.chunks(mark)),
                         "%s: commands were pipelined\n%s" % (what, self.context(result, mark)))
        return result

    def test_7_pipelining_false(self):
        self.check_engine_off("sync with pipelining: false", pipelining=False)

    def test_7_bandwidth_cap_keeps_libcurl(self):
        result = self.check_engine_off("sync with bandwidth: 1M", bandwidth="1M")
        self.assertIn(ENGINE_OFF, result.stderr, helpers.describe(result))

    def test_7_active_mode_keeps_libcurl(self):
        result = self.check_engine_off("sync with passive: false", passive=False)
        self.assertIn(ENGINE_OFF, result.stderr, helpers.describe(result))


class TestPipelineVsftpd(PipelineScenarios, helpers.IntegrationTest):
    server_kind = "vsftpd"


class TestPipelineProftpd(PipelineScenarios, helpers.IntegrationTest):
    server_kind = "proftpd"


class TestPipelinePyftpdlib(PipelineScenarios, helpers.IntegrationTest):
    server_kind = "pyftpdlib"
    delayed = False               # pyftpd_server.py listens on 127.0.0.1 only
    acts_during_transfer = True
    unreadable_refused = False    # it runs as root: chmod 000 does not stop it


# 6 -------------------------------------------------------------------------

class TestPipelineConnectionLimit(PipelineServer, helpers.IntegrationTest):
    """pure-ftpd -C 2 answers the third and fourth login with 421: the
    engine goes on with two connections and says so as the libcurl path
    does (test_faults.TestConnectionLimit)."""

    server_kind = "pure-ftpd"
    delayed = False
    server_options = {"options": ["-C", "2"]}

    def test_6_fewer_connections_than_asked(self):
        files = {"d%d/f%02d" % (i % 4, i): (content("f%d" % i, 3000 + i), BASE + i)
                 for i in range(40)}
        self.make_mirror(files, timeout=20)
        for n in (1, 2):
            if n == 2:
                helpers.set_file(self.remote, "d1/f01", content("f1 v2", 3100), BASE + 999)
            result, _run, mark = self.run_sync("sync %d against a server that allows 2 "
                                               "connections" % n)
            self.assertIn("going on with 2", result.stderr, self.context(result, mark))
            self.assertRegex(result.stderr, r"away \(421 [^)]*connections",
                             self.context(result, mark))
