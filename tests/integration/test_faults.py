"""Faults (issue 5): one test per row of the fault table.

Most tests put tests/integration/faultproxy.py between ftpmirror and a real
server (pyftpdlib; pure-ftpd where a second server is useful) and inject the
fault there; the others kill ftpmirror, limit its file sizes, fill a small
file system, hold its lock, or damage its database.  After each fault the
same run (retrying) or the next one must leave `target` byte-identical to
the server's tree, and the runs/events tables must tell what happened.

Every job uses short timeouts and few retries (timeout: 3, retries: 3) so
that each test ends in seconds.
"""

import hashlib
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

import faultproxy
import helpers
import servers
from helpers import content

BASE = 1_660_000_000
BIG = "pool/big.bin"
BIG_SIZE = 3 * 1024 * 1024
FAST_JOB = {"timeout": 3, "retries": 3, "connections": 2}
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer")


# ftpmirror's own trace file in target (README, "The publish model") is
# not part of the copy.
TRACE_DIR = getattr(helpers, "TRACE_DIR", ".ftpmirror")


def is_trace(rel):
    return rel == TRACE_DIR or rel.startswith(TRACE_DIR + "/")


def public_snapshot(root):
    """helpers.snapshot(root) without ftpmirror's trace directory."""
    return {rel: e for rel, e in helpers.snapshot(root).items() if not is_trace(rel)}


def base_tree(big_size=BIG_SIZE, extra=0):
    files = {"README": (content("README", 1500), BASE + 1),
             "pool/a.deb": (content("a.deb", 40_000), BASE + 2),
             "pool/empty": (b"", BASE + 3),
             "docs/x y.txt": (content("x y", 300), BASE + 4),
             BIG: (content("big v1", big_size), BASE + 5)}
    for i in range(extra):
        files["many/f%03d.dat" % i] = (content("many%d" % i, 20_000 + i), BASE + 100 + i)
    return files


def outputs(out, err):
    text = []
    for label, path in (("stdout", out), ("stderr", err)):
        try:
            with open(path, errors="replace") as f:
                text.append("--- %s ---\n%s" % (label, f.read()[-4000:]))
        except FileNotFoundError:
            pass
    return "\n".join(text)


def staged_files(incoming):
    """{path: size} of the regular files under incoming, the lock excluded."""
    found = {}
    for dirpath, _dirs, names in os.walk(incoming):
        for name in names:
            path = os.path.join(dirpath, name)
            if name == ".lock" or os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                found[path] = os.path.getsize(path)
            except FileNotFoundError:
                pass
    return found


def wait_for_staging(test, proc, incoming, min_bytes, out, err, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            test.fail("sync ended (status %s) before staging %d bytes\n%s"
                      % (proc.returncode, min_bytes, outputs(out, err)))
        big = [p for p, size in staged_files(incoming).items() if size >= min_bytes]
        if big:
            return big[0]
        time.sleep(0.02)
    test.fail("nothing in %s reached %d bytes within %ss\n%s"
              % (incoming, min_bytes, timeout, outputs(out, err)))


def run_with(mirror, args, timeout=60, preexec_fn=None, env=None):
    """Like Mirror.run(), with a preexec_fn (rlimits, umask, uid)."""
    argv = mirror.argv(*args)
    start = time.monotonic()
    proc = helpers.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env or mirror.env(), cwd=mirror.workdir, preexec_fn=preexec_fn)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        helpers.stop_process(proc, grace=0.5, sig=signal.SIGKILL)
        out, err = proc.communicate()
        res = helpers.Result(argv, "killed", out.decode(errors="replace"),
                             err.decode(errors="replace"), time.monotonic() - start)
        raise AssertionError("timed out after %ss\n%s" % (timeout, helpers.describe(res)))
    finally:
        if proc.returncode is not None:
            helpers.stop_process(proc, grace=0.5)
    return helpers.Result(argv, proc.returncode, out.decode(errors="replace"),
                          err.decode(errors="replace"), time.monotonic() - start)


class FaultTest(helpers.IntegrationTest):
    """Base: a server on a tree, a proxy before it, a job through it."""

    def setup_mirror(self, files, kind="pyftpdlib", throttle=0, proxy=True, name=None, **keys):
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, files)
        self.server = servers.start_for(self, kind, self.remote, throttle=throttle)
        self.proxy = None
        url = self.server.url
        if proxy:
            self.proxy = faultproxy.FaultProxy(self.server.port, port=helpers.ports.port(),
                                               lifetime=240).start()
            self.addCleanup(self.proxy.stop)
            url = self.proxy.url
        job = dict(FAST_JOB)
        job.update(keys)
        self.mirror = helpers.Mirror(self.tmp, name or self.id().rsplit(".", 1)[-1].replace("_", "-"),
                                     url, **job)
        return self.mirror

    # --- diagnostics ------------------------------------------------------

    def context(self, result=None, run_id=None):
        parts = []
        if result is not None:
            parts.append(helpers.describe(result))
        if self.proxy is not None:
            parts.append(self.proxy.describe())
        runs = self.mirror.runs()
        parts.append("runs: %s" % runs[-3:])
        if run_id is None and runs:
            run_id = runs[-1]["id"]
        if run_id is not None:
            parts.append("events of run %s:\n  %s" % (run_id, "\n  ".join(
                "%s %s %s %s" % (e["action"], e["path"], e["bytes"], e["detail"])
                for e in self.mirror.events(run_id))))
        return "\n".join(parts)

    def events(self, run_id, action=None, path=None):
        return [e for e in self.mirror.events(run_id)
                if (action is None or e["action"] == action)
                and (path is None or helpers.norm_path(e["path"] or "") == path)]

    def assertNoCrash(self, result):
        text = result.stderr + result.stdout
        crashed = (not isinstance(result.returncode, int) or result.returncode < 0
                   or any(mark in text for mark in SANITIZER_MARKS))
        if crashed:
            self.fail("ftpmirror crashed or a sanitizer complained\n%s" % helpers.describe(result))

    def assertExact(self, result=None, where=""):
        problems = helpers.tree_differences(helpers.snapshot(self.remote),
                                            public_snapshot(self.mirror.target))
        if problems:
            self.fail("target is not an exact copy of the server's tree%s:\n  %s\n%s"
                      % (where, "\n  ".join(problems[:30]), self.context(result)))

    def sync_ok(self, where="", timeout=60, verbose=False):
        before = len(self.mirror.runs())
        if verbose:
            result = self.mirror.run("-v", "sync", self.mirror.job, timeout=timeout)
        else:
            result = self.mirror.sync(timeout=timeout)
        if result.returncode != 0:
            self.fail("sync%s: expected exit 0, got %s\n%s"
                      % (where, result.returncode, self.context(result)))
        run = self.new_run(self.mirror, before, result)
        self.assertEqual(run["status"], "ok", "runs row%s: %s\n%s" % (where, run, self.context(result)))
        self.assertExact(result, where)
        return result, run


# ======================================================================
# data connection cut after N bytes, several times
# ======================================================================

class TestCutData(FaultTest):

    def check_cut(self, kind, reset):
        self.setup_mirror(base_tree(), kind=kind)
        cut_at = 300_000
        self.proxy.cut_data(after=cut_at, times=3, path=BIG, reset=reset)
        result, run = self.sync_ok(" with the data connection cut 3 times")
        cuts = self.proxy.faults("cut")
        self.assertEqual(len(cuts), 3, "the proxy did not cut 3 times\n" + self.context(result))
        resumes = self.events(run["id"], "resume", BIG)
        offsets = [e["bytes"] for e in resumes]
        self.assertGreaterEqual(len(resumes), 3, "expected a `resume` event (offset > 0) per cut for "
                                "%s, found offsets %s\n%s" % (BIG, offsets, self.context(result)))
        self.assertTrue(all(o and o > 0 for o in offsets), "resume offsets %s" % offsets)
        self.assertEqual(offsets, sorted(offsets), "resume offsets do not grow: %s" % offsets)
        # REST from the partial's size: the RETRs after the first carry REST n > 0.
        rests = [int(a) for _t, _s, v, a in self.proxy.commands("REST") if a.strip().isdigit()]
        self.assertTrue(len([n for n in rests if n > 0]) >= 3,
                        "expected 3 'REST n' (n > 0), saw %s\n%s" % (rests, self.context(result)))
        # Bytes fetched in all: the file once, plus at most what the cuts lost.
        retrs = self.proxy.commands("RETR")
        self.assertLessEqual(len([c for c in retrs if faultproxy.norm(c[3]) == BIG]), 4 + 1,
                             "too many RETRs of %s\n%s" % (BIG, self.context(result)))

    def test_cut_with_reset_resumes_pyftpdlib(self):
        self.check_cut("pyftpdlib", reset=True)

    def test_cut_with_fin_resumes_pyftpdlib(self):
        # A clean end of the data connection before the file is complete.
        self.check_cut("pyftpdlib", reset=False)

    def test_cut_with_reset_resumes_pure_ftpd(self):
        self.check_cut("pure-ftpd", reset=True)

    def test_short_transfer_with_226_resumes(self):
        # The data connection ends early but cleanly and the server still
        # says 226 (what a FIN cut looks like when the server had already
        # handed everything to its kernel): the file is short, not done.
        self.setup_mirror(base_tree())
        self.proxy.truncate_data(after=300_000, times=2, verbs=("RETR",), path=BIG)
        result, run = self.sync_ok(" with 2 transfers of %s ending early with 226" % BIG)
        self.assertEqual(len(self.proxy.faults("truncate")), 2, self.context(result))
        resumes = [e["bytes"] for e in self.events(run["id"], "resume", BIG)]
        self.assertGreaterEqual(len(resumes), 2, "expected a `resume` per short transfer, got %s\n%s"
                                % (resumes, self.context(result)))


# ======================================================================
# data connection stalls
# ======================================================================

class TestStall(FaultTest):

    def test_stalled_transfer_times_out_and_resumes(self):
        self.setup_mirror(base_tree())
        self.proxy.stall_data(times=1, after=250_000, path=BIG)
        start = time.monotonic()
        result, run = self.sync_ok(" with a stalled data connection")
        elapsed = time.monotonic() - start
        self.assertEqual(len(self.proxy.faults("stall")), 1, self.context(result))
        self.assertTrue(self.events(run["id"], "retry", BIG),
                        "no `retry` event for the stalled %s\n%s" % (BIG, self.context(result)))
        resumes = [e["bytes"] for e in self.events(run["id"], "resume", BIG)]
        self.assertTrue(resumes and all(b and b > 0 for b in resumes),
                        "the stalled download was not resumed (resume events %s)\n%s"
                        % (resumes, self.context(result)))
        # timeout: 3 -> about 3 s of stall, 1 s back-off; far less than 20.
        self.assertLess(elapsed, 20, "the stall took %.1fs to be noticed\n%s"
                        % (elapsed, self.context(result)))

    def test_stalled_listing_times_out_and_is_retried(self):
        self.setup_mirror(base_tree(extra=5))
        self.proxy.stall_data(times=1, after=0, verbs=("MLSD", "LIST"), path="many")
        result, run = self.sync_ok(" with a stalled listing")
        self.assertEqual(len(self.proxy.faults("stall")), 1, self.context(result))
        self.assertTrue(self.events(run["id"], "retry"),
                        "no `retry` event after the stalled listing\n" + self.context(result))


# ======================================================================
# data connections half-closed early (servers that wait for our close)
# ======================================================================

class TestEarlyHalfClose(FaultTest):
    """Against a server whose 226 comes late after the data (one waiting for
    the client's close, as proftpd and vsftpd do), libcurl's engine
    (`pipelining: false`) half-closes each data connection as soon as it is
    connected; our own engine half-closes after the last byte only."""

    SWITCHED = "closing it as soon as it is connected"
    FELL_BACK = "a download failed after an early half-close"
    FILES = {"f%02d.bin" % i: (content("f%d" % i, 5000 + 97 * i), BASE + i) for i in range(24)}

    def test_early_close_taken_for_abort_falls_back(self):
        """Something on the way that takes the early half-close for the end
        of the transfer (the fault proxy tears the data connection down)
        makes downloads fail: ftpmirror goes back to closing after the last
        byte, and the retries leave an exact mirror."""
        self.setup_mirror(self.FILES, connections=2, retries=3, pipelining=False)
        self.proxy.delay_reply("RETR", 0.03, times=1000, final=True)
        result, _run = self.sync_ok(" with late 226s and early closes cut", verbose=True)
        self.assertIn(self.SWITCHED, result.stderr,
                      "no switch to early half-closes after late replies\n" + self.context(result))
        self.assertIn(self.FELL_BACK, result.stderr,
                      "no fallback after downloads failed\n" + self.context(result))

    def test_own_engine_closes_after_the_last_byte(self):
        """The same late 226s and the same proxy cut nothing of our own
        engine's downloads: an exact mirror without a retry."""
        self.setup_mirror(self.FILES, connections=2, retries=0)
        self.proxy.delay_reply("RETR", 0.03, times=1000, final=True)
        result, _run = self.sync_ok(" with late 226s, own engine", verbose=True)
        self.assertIn("own FTP engine: pipelining", result.stderr, self.context(result))
        self.assertNotIn("retrying", result.stderr, self.context(result))


# ======================================================================
# pipelined commands split apart on the way
# ======================================================================

class TestSplitCommands(FaultTest):
    """Something on the way forwards each command in a segment of its own:
    the EPSV that our own engine sends behind a RETR then reaches the server
    during the transfer.  pure-ftpd refuses it there (500) and finishes the
    transfer; pyftpdlib, whose NOOP probe was answered after the transfer
    (the NOOP came late too), acts on it and cuts the transfer.  Either way
    pipelining goes off, no try is spent (retries: 0) and the mirror is
    exact."""

    def check_split(self, kind):
        # big.bin outgrows what the sockets on the way hold (4 MiB send
        # buffers here): the server is still sending it when the command
        # behind its RETR arrives.
        files = base_tree(big_size=10_000_000, extra=12)
        self.setup_mirror(files, kind=kind, retries=0)
        self.proxy.split_lines = True
        result, _run = self.sync_ok(" with each command in a segment of its own", verbose=True)
        self.assertIn("own FTP engine: pipelining", result.stderr, self.context(result))
        self.assertIn("pipelining off", result.stderr, self.context(result))

    def test_pure_ftpd_refuses_the_epsv_mid_transfer(self):
        self.check_split("pure-ftpd")

    def test_pyftpdlib_acts_on_the_epsv_mid_transfer(self):
        self.check_split("pyftpdlib")


# ======================================================================
# first K data connections refused / 425
# ======================================================================

class TestRefusedData(FaultTest):

    def test_first_data_connections_refused(self):
        self.setup_mirror(base_tree(extra=4))
        self.proxy.refuse_data(times=3)
        result, run = self.sync_ok(" with the first 3 data connections refused")
        self.assertEqual(len(self.proxy.faults("refuse")), 3, self.context(result))
        # EPSV -> PASV fallback: libcurl sends PASV after a refused EPSV port.
        verbs = [c[2] for c in self.proxy.commands()]
        self.assertIn("PASV", verbs, "no PASV fallback after refused EPSV data connections\n"
                      + self.context(result))

    def test_first_retr_and_listing_answered_425(self):
        self.setup_mirror(base_tree(extra=4))
        self.proxy.inject_reply("MLSD", 425, times=1)
        self.proxy.inject_reply("RETR", 425, times=2)
        result, run = self.sync_ok(" with 425 replies to the first MLSD and 2 RETRs")
        self.assertEqual(len(self.proxy.faults("inject")), 3, self.context(result))
        self.assertGreaterEqual(len(self.events(run["id"], "retry")), 3,
                                "expected a `retry` event per 425\n" + self.context(result))


# ======================================================================
# control connection dropped; server restarted
# ======================================================================

class TestControlConnection(FaultTest):

    def test_control_connection_dropped_mid_run(self):
        self.setup_mirror(base_tree(big_size=200_000, extra=24))
        self.proxy.drop_control(after=6, verb="RETR", times=2)
        result, run = self.sync_ok(" with the control connection dropped twice")
        self.assertEqual(len(self.proxy.faults("drop")), 2, self.context(result))
        logins = len(self.proxy.commands("USER"))
        self.assertGreater(logins, FAST_JOB["connections"],
                           "no new login after the drops\n" + self.context(result))
        self.assertTrue(self.events(run["id"], "retry"),
                        "no `retry` event tells of the dropped connections\n" + self.context(result))

    def test_connections_log_out_together(self):
        """At the end every connection is sent its QUIT at once, not after
        the previous one's reply: with each reply held back a second, all
        QUITs reach the server before the first reply could have come."""
        files = {"f%02d.txt" % i: (content("f%d" % i, 3000 + i), BASE + i) for i in range(12)}
        self.setup_mirror(files, connections=3)
        self.proxy.delay_reply("QUIT", 1.0, times=3)
        result, _run = self.sync_ok(" with QUIT replies held back")
        logins = self.proxy.commands("USER")
        sessions = sorted({s for _t, s, _v, _a in logins})
        quits = self.proxy.commands("QUIT")
        self.assertEqual(len(sessions), 3, "expected 3 connections\n" + self.context(result))
        first_quit = min(t for t, _s, _v, _a in quits)
        self.assertFalse([s for t, s, _v, _a in logins if t > first_quit],
                         "a login after the first QUIT (a connection only to log out)\n"
                         + self.context(result))
        self.assertEqual(sorted(s for _t, s, _v, _a in quits), sessions,
                         "not one QUIT per logged-in connection\n" + self.context(result))
        spread = max(t for t, _s, _v, _a in quits) - min(t for t, _s, _v, _a in quits)
        self.assertLess(spread, 0.8, "QUITs sent one after another's reply (%.2f s apart)\n%s"
                        % (spread, self.context(result)))

    def test_server_restarted_mid_run(self):
        rate = 1_000_000
        files = base_tree(big_size=1_500_000, extra=0)
        for i in range(8):
            files["mid/m%d.bin" % i] = (content("mid%d" % i, 300_000), BASE + 50 + i)
        self.setup_mirror(files, throttle=rate)
        box = {}

        def restarter():
            try:
                deadline = time.monotonic() + 30
                while len(self.proxy.commands("RETR")) < 3:
                    if time.monotonic() > deadline:
                        box["error"] = "never saw 3 RETRs"
                        return
                    time.sleep(0.02)
                down_at = time.monotonic()
                self.proxy.go_down()
                self.server.stop()
                self.server = servers.start_for(self, "pyftpdlib", self.remote, throttle=rate)
                time.sleep(max(0.0, 2.0 - (time.monotonic() - down_at)))
                self.proxy.come_up(upstream_port=self.server.port)
                box["down"] = time.monotonic() - down_at
            except Exception as exc:   # reported by the test
                box["error"] = repr(exc)

        t = threading.Thread(target=restarter, daemon=True)
        t.start()
        before = len(self.mirror.runs())
        result = self.mirror.sync(timeout=60)
        t.join(timeout=30)
        self.assertNotIn("error", box, box.get("error"))
        self.assertIn("down", box, "the restart did not happen during the sync\n" + self.context(result))
        self.assertExit(result, 0, "sync across a server restart (down %.1fs)" % box["down"])
        run = self.new_run(self.mirror, before, result)
        self.assertEqual(run["status"], "ok", self.context(result))
        self.assertExact(result, " after a server restart mid-run")
        self.assertTrue(self.events(run["id"], "retry"),
                        "no `retry` event tells of the restart\n" + self.context(result))


# ======================================================================
# 421 / 450 / 451 transient; 530 / 550 permanent
# ======================================================================

class TestReplies(FaultTest):
    TARGET_FILE = "pool/a.deb"

    def check_transient(self, code, close=False):
        self.setup_mirror(base_tree(big_size=100_000))
        self.proxy.inject_reply("RETR", code, times=2, path=self.TARGET_FILE, close=close)
        result, run = self.sync_ok(" with %d twice on RETR %s" % (code, self.TARGET_FILE))
        attempts = [c[0] for c in self.proxy.commands("RETR")
                    if faultproxy.norm(c[3]) == self.TARGET_FILE]
        self.assertEqual(len(attempts), 3, "expected 3 RETRs of %s (2 refused, 1 ok), saw %d\n%s"
                         % (self.TARGET_FILE, len(attempts), self.context(result)))
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        problems = []
        # Back-off: about 1 s before the first retry, 2 s before the second.
        if not (gaps[0] >= 0.8 and gaps[1] >= 1.6 and gaps[1] > gaps[0] * 1.3):
            problems.append("no growing back-off (about 1 s, then 2 s) between the attempts: "
                            "gaps %s s" % ", ".join("%.2f" % g for g in gaps))
        retries = self.events(run["id"], "retry", self.TARGET_FILE)
        if len(retries) != 2:
            problems.append("expected 2 `retry` events for %s, found %d" % (self.TARGET_FILE, len(retries)))
        if not all(str(code) in (e["detail"] or "") for e in retries):
            problems.append("the `retry` events do not name the %d reply: details %s"
                            % (code, [e["detail"] for e in retries]))
        if problems:
            self.fail("\n".join(problems) + "\n" + self.context(result))

    def test_421_retried(self):
        self.check_transient(421, close=True)

    def test_450_retried(self):
        self.check_transient(450)

    def test_451_retried(self):
        self.check_transient(451)

    def test_transient_gives_up_after_retries(self):
        self.setup_mirror(base_tree(big_size=100_000), retries=2)
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        helpers.set_file(self.remote, self.TARGET_FILE, content("a.deb v2", 41_000), BASE + 500)
        self.proxy.inject_reply("RETR", 451, times=100, path=self.TARGET_FILE)
        before = len(self.mirror.runs())
        mark = self.proxy.mark()
        result = self.mirror.sync()
        self.assertExit(result, 1, "sync with 451 on every RETR of %s" % self.TARGET_FILE)
        run = self.new_run(self.mirror, before, result)
        attempts = [c for c in self.proxy.commands("RETR", since=mark)
                    if faultproxy.norm(c[3]) == self.TARGET_FILE]
        self.assertEqual(len(attempts), 3, "retries: 2 means 3 attempts, saw %d\n%s"
                         % (len(attempts), self.context(result)))
        self.assertTrue(self.events(run["id"], "error", self.TARGET_FILE),
                        "no `error` event for %s\n%s" % (self.TARGET_FILE, self.context(result)))
        now = public_snapshot(self.mirror.target)
        self.assertEqual(now[self.TARGET_FILE].data, old[self.TARGET_FILE].data,
                         "the public copy of %s changed" % self.TARGET_FILE)
        self.proxy.clear()
        self.sync_ok(" after the replies are normal again")

    def check_permanent(self, code, **keys):
        """A file the server refuses for good is left out (error event, no
        retry, its old version stays public), but it does not freeze the
        mirror: the run's other changes are published, except index files
        (publish_last), which wait for a run in which everything passes, and
        with them the deletions (the old index may list what vanished)."""
        files = base_tree(big_size=100_000)
        files["SHA256SUMS"] = (content("sums v1", 200), BASE + 6)
        self.setup_mirror(files, max_delete="50%", **keys)
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        new_file, fine_file, index = "pool/new.deb", "docs/x y.txt", "SHA256SUMS"
        helpers.set_file(self.remote, self.TARGET_FILE, content("a.deb v2", 41_000), BASE + 500)
        helpers.set_file(self.remote, new_file, content("new", 5_000), BASE + 501)
        helpers.set_file(self.remote, fine_file, content("x y v2", 310), BASE + 502)
        helpers.set_file(self.remote, index, content("sums v2", 200), BASE + 503)
        gone = "README"
        os.unlink(os.path.join(self.remote, gone))
        self.proxy.inject_reply("RETR", code, times=100, path=self.TARGET_FILE)
        self.proxy.inject_reply("RETR", code, times=100, path=new_file)
        before = len(self.mirror.runs())
        mark = self.proxy.mark()
        result = self.mirror.sync()
        self.assertNoCrash(result)
        self.assertExit(result, 1, "sync with %d on RETR of two files" % code)
        run = self.new_run(self.mirror, before, result)
        self.assertEqual(run["status"], "partial", "runs row %s" % run)
        self.assertIn("refused", run["message"] or "", "runs.message: %s" % run)
        for path in (self.TARGET_FILE, new_file):
            attempts = [c for c in self.proxy.commands("RETR", since=mark)
                        if faultproxy.norm(c[3]) == path]
            self.assertEqual(len(attempts), 1, "a permanent %d must not be retried: %d RETRs of %s\n%s"
                             % (code, len(attempts), path, self.context(result)))
            errors = self.events(run["id"], "error", path)
            self.assertTrue(errors, "no `error` event for %s\n%s" % (path, self.context(result)))
        self.assertGreaterEqual(run["errors"] or 0, 2, "runs.errors: %s" % run)
        now = public_snapshot(self.mirror.target)
        self.assertEqual(now[self.TARGET_FILE].data, old[self.TARGET_FILE].data,
                         "the public copy of %s changed although its download failed" % self.TARGET_FILE)
        self.assertNotIn(new_file, now, "%s published although its download failed" % new_file)
        self.assertEqual(now[fine_file].data, content("x y v2", 310),
                         "%s, fetched fine, was not published\n%s" % (fine_file, self.context(result)))
        self.assertEqual(now[index].data, old[index].data,
                         "the index file %s was published beside a refused file" % index)
        held = self.events(run["id"], "skip", index)
        self.assertTrue(held and "held back" in (held[0]["detail"] or ""),
                        "no `skip` event holds %s back: %s" % (index, held))
        # The old index stays, and it may list what vanished: deletions wait too.
        self.assertIn(gone, now, "%s deleted while the old index was kept" % gone)
        self.proxy.clear()
        self.sync_ok(" after the replies are normal again")

    def test_530_permanent(self):
        self.check_permanent(530)

    def test_550_permanent(self):
        self.check_permanent(550)

    def test_550_permanent_snapshot(self):
        self.check_permanent(550, publish="snapshot")


# ======================================================================
# SIGKILL at random moments, >= 20 times, on one tree
# ======================================================================

class Watcher(threading.Thread):
    """Reads every file of target again and again; each must be one of the
    versions the server ever had for that path."""

    def __init__(self, target, versions, lock):
        super().__init__(daemon=True)
        self.target = target
        self.versions = versions
        self.lock = lock
        self.stopping = threading.Event()
        self.violations = []
        self.reads = 0

    def run(self):
        while not self.stopping.is_set():
            for dirpath, _dirs, names in os.walk(self.target):
                for name in names:
                    path = os.path.join(dirpath, name)
                    rel = os.path.relpath(path, self.target)
                    if is_trace(rel):
                        continue
                    try:
                        if os.path.islink(path):
                            continue
                        with open(path, "rb") as f:
                            digest = hashlib.sha256(f.read()).hexdigest()
                    except (FileNotFoundError, IsADirectoryError):
                        continue
                    self.reads += 1
                    with self.lock:
                        known = digest in self.versions.get(rel, ())
                    if not known and len(self.violations) < 20:
                        self.violations.append("%s: %s is no version the server ever had"
                                               % (rel, digest[:16]))
            time.sleep(0.005)


class TestKill(FaultTest):

    def test_sigkill_at_random_moments(self):
        rng = random.Random(20261126)
        files = {}
        for i in range(6):
            files["d%d/file%d.bin" % (i % 3, i)] = (content("k%d v0" % i, 150_000 + 70_000 * i), BASE + i)
        files["top.txt"] = (content("top v0", 3000), BASE + 10)
        self.setup_mirror(files, throttle=600_000, proxy=False, connections=3)
        staging = self.path("staging")
        os.makedirs(staging)
        versions, lock = {}, threading.Lock()
        for rel, (data, _m) in files.items():
            versions[rel] = {hashlib.sha256(data).hexdigest()}

        def change(rel, seed, mtime):
            data = content(seed, rng.choice([60_000, 250_000, 600_000]))
            with lock:
                versions.setdefault(rel, set()).add(hashlib.sha256(data).hexdigest())
            tmp = os.path.join(staging, "next")
            with open(tmp, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.utime(tmp, (mtime, mtime))
            os.makedirs(os.path.dirname(os.path.join(self.remote, rel)), exist_ok=True)
            os.replace(tmp, os.path.join(self.remote, rel))

        watcher = Watcher(self.mirror.target, versions, lock)
        watcher.start()
        self.addCleanup(watcher.stopping.set)
        kills = 0
        mid_transfer = 0    # kills that left a staged file behind
        completed = 0
        names = sorted(files)
        round_no = 0
        # Every round changes two files upstream (between runs, atomically),
        # so each sync has work to be killed in; at most 40 rounds.
        while kills < 22 and round_no < 40:
            round_no += 1
            for rel in rng.sample(names, 2):
                change(rel, "%s v%d" % (rel, round_no), BASE + 1000 + round_no)
            if round_no == 11:
                change("d9/late.bin", "late", BASE + 2000)
                names.append("d9/late.bin")
            proc, out, err = self.mirror.start_sync("kill%d" % round_no)
            delay = rng.uniform(0.05, 1.0)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                if staged_files(self.mirror.incoming):
                    mid_transfer += 1
            else:
                completed += 1
            helpers.stop_process(proc, grace=1.0, sig=signal.SIGKILL)
            with open(err, errors="replace") as f:
                text = f.read()
            self.assertFalse(any(m in text for m in SANITIZER_MARKS),
                             "round %d: sanitizer report\n%s" % (round_no, text))
            if proc.returncode not in (-signal.SIGKILL, 0, 1):
                self.fail("round %d: sync exited %s before the kill\n%s"
                          % (round_no, proc.returncode, outputs(out, err)))
        self.assertGreaterEqual(kills, 20, "only %d of %d syncs were killed (%d finished first)"
                                % (kills, round_no, completed))
        self.assertGreaterEqual(mid_transfer, 5, "only %d of %d kills hit a download in progress"
                                % (mid_transfer, kills))
        result, run = self.sync_ok(" after %d SIGKILLs" % kills)
        time.sleep(0.2)
        watcher.stopping.set()
        watcher.join(timeout=10)
        self.assertGreater(watcher.reads, 0, "the watcher never read a file")
        self.assertEqual(watcher.violations, [], "target held partial or mixed files")
        con = sqlite3.connect(self.mirror.db)
        try:
            check = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
        self.assertEqual(check, [("ok",)], "PRAGMA integrity_check")


# ======================================================================
# SIGTERM / SIGINT
# ======================================================================

class TestStopSignals(FaultTest):

    def check_signal(self, signo):
        files = base_tree(big_size=100_000)
        self.setup_mirror(files, throttle=1_000_000, proxy=False)
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        helpers.set_file(self.remote, BIG, content("big v2", 3 * 1024 * 1024), BASE + 900)
        before = len(self.mirror.runs())
        proc, out, err = self.mirror.start_sync("signalled")
        try:
            staged = wait_for_staging(self, proc, self.mirror.incoming, 300_000, out, err)
            sent = time.monotonic()
            os.kill(proc.pid, signo)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            took = time.monotonic() - sent
        finally:
            helpers.stop_process(proc, grace=0.5, sig=signal.SIGKILL)
        text = outputs(out, err)
        self.assertLessEqual(took, 3.0, "exit took %.1fs after signal %d\n%s" % (took, signo, text))
        self.assertTrue(proc.returncode is not None and proc.returncode > 0,
                        "exit status %s after signal %d (expected a non-zero exit, not death by "
                        "the signal)\n%s" % (proc.returncode, signo, text))
        self.assertFalse(any(m in text for m in SANITIZER_MARKS), text)
        runs = self.mirror.runs()
        self.assertEqual(len(runs), before + 1, text)
        self.assertEqual(runs[-1]["status"], "aborted", "runs row %s\n%s" % (runs[-1], text))
        self.assertIsNotNone(runs[-1]["finished_at"], "runs row %s" % runs[-1])
        problems = helpers.tree_differences(old, public_snapshot(self.mirror.target))
        self.assertEqual(problems, [], "the stopped sync changed target")
        kept = staged_files(self.mirror.incoming)
        self.assertTrue(any(size >= 300_000 for size in kept.values()),
                        "the partial %s is gone from incoming: %s" % (staged, kept))
        result, run = self.sync_ok(" after the stopped one")
        resumes = [e["bytes"] for e in self.events(run["id"], "resume", BIG)]
        self.assertTrue(resumes and resumes[0] >= 300_000,
                        "the next run did not resume the partial (resume events %s)\n%s"
                        % (resumes, self.context(result)))

    def test_sigterm(self):
        self.check_signal(signal.SIGTERM)

    def test_sigint(self):
        self.check_signal(signal.SIGINT)


# ======================================================================
# disk full / write error
# ======================================================================

class TestWriteErrors(FaultTest):

    def check_prefix_partials(self, result):
        """Every staged file is a prefix of the remote big file or of a
        remote file (intact), none in target."""
        with open(os.path.join(self.remote, BIG), "rb") as f:
            big = f.read()
        kept = staged_files(self.mirror.incoming)
        self.assertTrue(kept, "no staged partial kept in %s\n%s" % (self.mirror.incoming, self.context(result)))
        for path, size in kept.items():
            with open(path, "rb") as f:
                data = f.read()
            if len(data) > 10_000:
                self.assertEqual(data, big[:len(data)], "staged %s (%d bytes) is not a prefix of %s"
                                 % (path, size, BIG))

    def test_file_size_limit(self):
        self.setup_mirror(base_tree(big_size=100_000), proxy=False)
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        helpers.set_file(self.remote, BIG, content("big v2", BIG_SIZE), BASE + 900)
        limit = 1024 * 1024

        def limited():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        before = len(self.mirror.runs())
        result = run_with(self.mirror, ["sync", self.mirror.job], preexec_fn=limited)
        self.assertNoCrash(result)
        self.assertExit(result, 1, "sync with RLIMIT_FSIZE %d" % limit)
        text = (result.stderr + result.stdout).lower()
        self.assertTrue("too large" in text or "fsize" in text or "no space" in text,
                        "no clear write error\n" + self.context(result))
        run = self.new_run(self.mirror, before, result)
        self.assertTrue(self.events(run["id"], "error", BIG),
                        "no `error` event for %s\n%s" % (BIG, self.context(result)))
        problems = helpers.tree_differences(old, public_snapshot(self.mirror.target))
        self.assertEqual(problems, [], "target changed by the failed sync")
        self.check_prefix_partials(result)
        self.sync_ok(" without the limit")

    def test_small_filesystem_full(self):
        fs = self.path("fs")
        os.makedirs(fs)
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", fs],
                               capture_output=True, text=True)
        if mount.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % mount.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", fs], capture_output=True)
        self.setup_mirror(base_tree(big_size=100_000), proxy=False,
                          target=os.path.join(fs, "mirror"))
        self.sync_ok(" (first copy, on a 2 MiB file system)")
        old = public_snapshot(self.mirror.target)
        helpers.set_file(self.remote, BIG, content("big v2", BIG_SIZE), BASE + 900)
        before = len(self.mirror.runs())
        result = self.mirror.sync()
        self.assertNoCrash(result)
        self.assertExit(result, 1, "sync onto a full file system")
        self.assertIn("no space", (result.stderr + result.stdout).lower(),
                      "no clear 'No space left on device'\n" + self.context(result))
        # The operator's log names the remote file, not only a staged one's id.
        lines = [l for l in result.stderr.splitlines() if "no space" in l.lower()]
        self.assertTrue(any(BIG in l for l in lines),
                        "the error line does not name %s\n%s" % (BIG, self.context(result)))
        run = self.new_run(self.mirror, before, result)
        self.assertTrue(self.events(run["id"], "error", BIG),
                        "no `error` event for %s\n%s" % (BIG, self.context(result)))
        problems = helpers.tree_differences(old, public_snapshot(self.mirror.target))
        self.assertEqual(problems, [], "target changed by the failed sync")
        self.check_prefix_partials(result)
        subprocess.run(["mount", "-o", "remount,size=16m", fs], check=True)
        self.sync_ok(" once there is room")

    def test_unopenable_incoming_files_fail_without_reconnects(self):
        """A staged file that cannot be created fails its download alone;
        the others are tried on the same logged-in connections (a first
        run opens staged files after the RETR is out, and a failure there
        aborts a transfer, which costs libcurl its connection)."""
        files = {"f%02d.txt" % i: (content("f%d" % i, 2000 + i), BASE + i) for i in range(12)}
        self.setup_mirror(files, proxy=False, connections=3, retries=0)
        # Staged files are named by id from 1: directories there make each open fail.
        for i in range(1, 60):
            os.makedirs(os.path.join(self.mirror.incoming, str(i)))
        mark = self.server.mark()
        result = self.mirror.sync()
        self.assertNoCrash(result)
        self.assertNotEqual(result.returncode, 0, "sync with unwritable incoming files\n"
                            + self.context(result))
        self.assertIn("is a directory", (result.stderr + result.stdout).lower(),
                      "no clear error for the incoming files\n" + self.context(result))
        logins = [c for c in self.server.commands(mark) if c.cmd == "USER"]
        self.assertLessEqual(len(logins), 3 + 2, "a login per failed file: %d logins\n%s"
                             % (len(logins), self.context(result)))


# ======================================================================
# empty, failed, truncated listings; max_delete
# ======================================================================

class TestListings(FaultTest):

    def tree(self):
        return base_tree(big_size=50_000, extra=20)

    def assertNothingDeleted(self, old, result):
        now = public_snapshot(self.mirror.target)
        gone = sorted(set(old) - set(now))
        self.assertEqual(gone, [], "files deleted from target\n" + self.context(result))
        problems = helpers.tree_differences(old, now)
        self.assertEqual(problems, [], "target changed\n" + self.context(result))

    def test_remote_root_empty(self):
        self.setup_mirror(self.tree())
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        for name in os.listdir(self.remote):
            shutil.rmtree(os.path.join(self.remote, name), ignore_errors=True)
            if os.path.exists(os.path.join(self.remote, name)):
                os.remove(os.path.join(self.remote, name))
        before = len(self.mirror.runs())
        result = self.mirror.sync()
        self.assertExit(result, 5, "sync of an empty remote root (default max_delete 10%)")
        run = self.new_run(self.mirror, before, result)
        self.assertNothingDeleted(old, result)
        self.assertIn("max_delete", (run["message"] or "") + result.stderr,
                      "neither runs.message nor stderr names max_delete\n" + self.context(result))
        self.assertFalse(self.events(run["id"], "delete"), "delete events\n" + self.context(result))

    def test_root_listing_empty_through_proxy(self):
        self.setup_mirror(self.tree())
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        self.proxy.truncate_data(after=0, times=100, path="")
        result = self.mirror.sync()
        self.assertExit(result, 5, "sync whose root listing comes back empty")
        self.assertTrue(self.proxy.faults("truncate"), self.context(result))
        self.assertNothingDeleted(old, result)

    def test_listing_truncated_mid_line(self):
        self.setup_mirror(self.tree())
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        self.proxy.truncate_data(after=700, times=100, path="many")
        result = self.mirror.sync()
        self.assertNoCrash(result)
        self.assertIn(result.returncode, (1, 5), "a truncated listing of many/ must fail the run (1) "
                      "or hit max_delete (5)\n" + self.context(result))
        self.assertTrue(self.proxy.faults("truncate"), self.context(result))
        self.assertNothingDeleted(old, result)
        self.proxy.clear()
        self.sync_ok(" with full listings again")

    def check_listing_fails(self, code, times):
        # max_delete 100%: only "a failed listing never counts as files gone" protects.
        self.setup_mirror(self.tree(), max_delete="100%")
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        self.proxy.inject_reply("MLSD", code, times=times, path="many")
        before = len(self.mirror.runs())
        result = self.mirror.sync()
        self.assertNoCrash(result)
        self.assertExit(result, 1, "sync whose listing of many/ fails with %d" % code)
        run = self.new_run(self.mirror, before, result)
        self.assertNothingDeleted(old, result)
        self.assertTrue(self.events(run["id"], "error"),
                        "no `error` event for the failed listing\n" + self.context(result))
        self.proxy.clear()
        self.sync_ok(" with listings working again")

    def test_listing_fails_550(self):
        self.check_listing_fails(550, times=100)

    def test_listing_fails_450_persistently(self):
        # libcurl takes 450 to LIST/MLSD for "no files": it must not read as empty.
        self.check_listing_fails(450, times=100)

    def test_listing_cut_is_retried(self):
        files = self.tree()
        for i in range(300):
            files["many/long-name-to-make-the-listing-big-%04d.txt" % i] = (b"x%d" % i, BASE + 7000 + i)
        self.setup_mirror(files)
        self.sync_ok(" (first copy)")
        self.proxy.cut_data(after=2000, times=1, verbs=("MLSD", "LIST"), path="many")
        result, run = self.sync_ok(" with the listing of many/ cut once")
        self.assertEqual(len(self.proxy.faults("cut")), 1, self.context(result))
        self.assertTrue(self.events(run["id"], "retry"), "no `retry` event\n" + self.context(result))

    def test_max_delete_count(self):
        self.setup_mirror(self.tree(), max_delete=2)
        self.sync_ok(" (first copy)")
        old = public_snapshot(self.mirror.target)
        for i in range(5):
            os.remove(os.path.join(self.remote, "many/f%03d.dat" % i))
        before = len(self.mirror.runs())
        result = self.mirror.sync()
        self.assertExit(result, 5, "5 deletions with max_delete: 2")
        run = self.new_run(self.mirror, before, result)
        self.assertNothingDeleted(old, result)
        self.assertIn("max_delete", (run["message"] or "") + result.stderr, self.context(result))
        self.mirror.write_job(max_delete=10)
        result, run = self.sync_ok(" with max_delete: 10")
        self.assertEqual(len(self.events(run["id"], "delete")), 5, self.context(result))


# ======================================================================
# a second sync of a running job
# ======================================================================

class TestLockHolder(FaultTest):

    def test_second_sync_exits_3_naming_holder(self):
        files = base_tree(big_size=4 * 1024 * 1024)
        self.setup_mirror(files, throttle=1_500_000, proxy=False)
        proc, out, err = self.mirror.start_sync("holder")
        try:
            wait_for_staging(self, proc, self.mirror.incoming, 64 * 1024, out, err)
            second = self.mirror.sync(timeout=30)
            self.assertIsNone(proc.poll(), "the holder ended before the check\n" + outputs(out, err))
            self.assertExit(second, 3, "second sync while the first runs")
            self.assertLess(second.seconds, 2.0, "exit 3 took %.1fs" % second.seconds)
            self.assertIn(str(proc.pid), second.stderr + second.stdout,
                          "the message does not name the holder (pid %d)\n%s"
                          % (proc.pid, helpers.describe(second)))
            proc.wait(timeout=40)
        finally:
            helpers.stop_process(proc, grace=1.0, sig=signal.SIGKILL)
        self.assertEqual(proc.returncode, 0, "the running sync was harmed\n" + outputs(out, err))
        self.assertExact(None, " after the holder finished")
        statuses = [r["status"] for r in self.mirror.runs()]
        self.assertEqual(statuses.count("ok"), 1, "runs: %s" % self.mirror.runs())


# ======================================================================
# corrupt or unwritable state database
# ======================================================================

class TestDatabase(FaultTest):

    def prepare(self):
        self.setup_mirror(base_tree(big_size=200_000), proxy=False)
        self.sync_ok(" (first copy)")
        self.old = public_snapshot(self.mirror.target)
        # Something to fetch, so a run that goes on would download.
        helpers.set_file(self.remote, "pool/a.deb", content("a.deb v2", 40_500), BASE + 700)
        self.mark = self.server.mark()

    def check_refused(self, result, what):
        self.assertNoCrash(result)
        self.assertNotEqual(result.returncode, 0, "%s: ftpmirror ran on\n%s" % (what, helpers.describe(result)))
        text = (result.stderr + result.stdout).lower()
        self.assertTrue("database" in text or self.mirror.db.lower() in text,
                        "%s: the error names neither the database nor its path\n%s"
                        % (what, helpers.describe(result)))
        fetched = self.server.transfers(self.mark)
        self.assertEqual(fetched, [], "%s: files downloaded anyway: %s\n%s"
                         % (what, fetched, helpers.describe(result)))
        problems = helpers.tree_differences(self.old, public_snapshot(self.mirror.target))
        self.assertEqual(problems, [], "%s: target changed" % what)

    def test_garbage_database(self):
        self.prepare()
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.mirror.db + suffix):
                os.remove(self.mirror.db + suffix)
        size = os.path.getsize(self.mirror.db)
        with open(self.mirror.db, "wb") as f:
            f.write(content("garbage", max(size, 8192)))
        for args in (["sync", self.mirror.job], ["history"]):
            result = self.mirror.run(*args)
            self.check_refused(result, "%s on a garbage database" % args[0])

    def test_damaged_database_pages(self):
        self.prepare()
        with open(self.mirror.db, "r+b") as f:
            header = f.read(100)
            page = int.from_bytes(header[16:18], "big") or 65536
            f.seek(page)
            rest = len(f.read())
            f.seek(page)
            f.write(content("damage", rest))
        result = self.mirror.sync()
        self.check_refused(result, "sync on a database with damaged pages")

    def test_unwritable_database(self):
        self.prepare()
        nobody = 65534
        for tree in (self.mirror.target, self.mirror.incoming):
            for dirpath, dirs, names in os.walk(tree):
                os.chown(dirpath, nobody, nobody)
                for name in names:
                    os.lchown(os.path.join(dirpath, name), nobody, nobody)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.mirror.db + suffix):
                os.chmod(self.mirror.db + suffix, 0o644)   # owned by root

        def as_nobody():
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)

        result = run_with(self.mirror, ["sync", self.mirror.job], preexec_fn=as_nobody)
        self.check_refused(result, "sync with a database it cannot write")


class TestConnectionLimit(helpers.IntegrationTest):
    """Public mirrors limit connections per address, often below a job's
    `connections`: pure-ftpd -C 2 answers the third login with 421 "too
    many connections".  The mirror must go on with the two it got (exit
    0, an exact copy, a warning), not fail every run with exit 4 as it
    did when the refused one was the first request."""

    def test_fewer_connections_than_asked(self):
        remote = self.path("remote")
        helpers.write_tree(remote, {"d%d/f%02d" % (i % 4, i): (content("f%d" % i, 3000 + i),
                                                                BASE + i) for i in range(40)})
        server = servers.start_for(self, "pure-ftpd", remote, options=["-C", "2"])
        mirror = helpers.Mirror(self.tmp, "limited", server.url, connections=4, retries=0,
                                timeout=20)
        for n in (1, 2):
            result = mirror.sync()
            self.assertExit(result, 0, "sync %d against a server that allows 2 connections" % n)
            self.assertIn("going on with 2", result.stderr, helpers.describe(result))
            # In the server's words, not libcurl's "Timeout was reached".
            self.assertRegex(result.stderr, r"away \(421 [^)]*connections", helpers.describe(result))
            self.assertSameTree(remote, mirror.target, " after sync %d" % n)


class TestIdleTimeout(helpers.IntegrationTest):
    """A server closes a control connection idle longer than its timeout
    (proftpd TimeoutIdle 3 here: "421 Idle timeout"), which happens to
    every other connection while one downloads a big file.  The next
    request on such a connection (the digest check after that download)
    must start again on a live one, not fail: with retries: 0 it failed
    the run in two of three rounds (libcurl picked the dead connection)."""

    def test_request_after_an_idle_timeout(self):
        remote = self.path("remote")
        files = {"f%02d" % i: (content("f%d" % i, 2000 + i), BASE + i) for i in range(20)}
        files["big/huge.bin"] = (content("huge", 1_000_000), BASE + 99)
        helpers.write_tree(remote, files)
        server = servers.start_for(self, "proftpd", remote, throttle=250_000, idle_timeout=3)
        # Which connection libcurl picks next is its choice, so three rounds
        # (before, two in three of them failed).
        mirror = helpers.Mirror(self.tmp, "idle", server.url, connections=2, retries=0,
                                timeout=10)
        for n in range(3):
            helpers.set_file(remote, "big/huge.bin", content("huge%d" % n, 1_000_000 + n),
                             BASE + 100 + n)
            result = mirror.sync(timeout=120)
            self.assertExit(result, 0, "sync %d with a download longer than the server's "
                            "idle timeout" % (n + 1))
            self.assertSameTree(remote, mirror.target)


class TestBandwidth(helpers.IntegrationTest):
    """`bandwidth:` caps the job's byte rate, all connections together, and
    a transfer held back by the cap is not a stall: libcurl's own limit
    read megabytes at once, then paused for seconds, which its low-speed
    check (`timeout`) took for a stall, and the bursts broke the cap."""

    def test_cap_kept_without_false_stalls(self):
        remote = self.path("remote")
        helpers.write_tree(remote, {"big/a.bin": (content("a", 1_600_000), BASE),
                                    "big/b.bin": (content("b", 1_600_000), BASE + 1)})
        server = servers.start_for(self, "pure-ftpd", remote)
        mirror = helpers.Mirror(self.tmp, "capped", server.url, connections=2, retries=0,
                                timeout=2, bandwidth="1M")
        started = time.monotonic()
        result = mirror.sync(timeout=60)
        elapsed = time.monotonic() - started
        self.assertExit(result, 0, "sync under a 1 MiB/s cap with a 2 s timeout")
        self.assertSameTree(remote, mirror.target)
        # 3.2 MB at 1 MiB/s: 3 s, less the quarter second saved at the start.
        self.assertGreater(elapsed, 2.5, "the cap was not kept\n" + helpers.describe(result))

    def test_connections_share_the_cap(self):
        """Every transfer gets its turn: the first resumed must not take
        the cap alone while the others wait a whole file (a data connection
        idle that long may be dropped by the server)."""
        remote = self.path("remote")
        helpers.write_tree(remote, {"f%d.bin" % i: (content("f%d" % i, 2_000_000), BASE + i)
                                    for i in range(3)})
        server = servers.start_for(self, "pure-ftpd", remote)
        mirror = helpers.Mirror(self.tmp, "shared", server.url, connections=3, retries=0,
                                timeout=5, bandwidth="1M")
        proc, out, err = mirror.start_sync()
        self.addCleanup(helpers.stop_process, proc)
        time.sleep(2.5)
        sizes = sorted(os.path.getsize(os.path.join(mirror.incoming, n))
                       for n in os.listdir(mirror.incoming) if n.isdigit())
        self.assertEqual(len(sizes), 3, "staged files after 2.5 s: %s" % sizes)
        self.assertGreater(sizes[0], 300_000, "a transfer starved under the cap: %s" % sizes)
        self.assertEqual(proc.wait(timeout=30), 0, outputs(out, err))


class TestFarTimesOverList(helpers.IntegrationTest):
    """Over LIST, a file dated beyond what the target's file system keeps
    (2500 on tmpfs upstream; ext4 keeps up to 2446) is checked with MDTM
    on every run, and that MDTM time must be compared as the local file
    system keeps it, or the file is fetched again every run.  vsftpd (LIST
    only) prints the year of a future time; pure-ftpd and pyftpdlib print
    "Jan 01 00:00", which no client can place four centuries ahead."""

    def test_far_future_file(self):
        if not os.path.isdir("/dev/shm"):
            self.skipTest("no /dev/shm")
        remote = tempfile.mkdtemp(prefix="ftpmirror-far-", dir="/dev/shm")
        self.addCleanup(shutil.rmtree, remote, True)
        far = 16_725_225_600   # 2500-01-01
        helpers.write_tree(remote, {"far": (content("far", 1000), far),
                                    "near": (content("near", 500), BASE)})
        server = servers.start_for(self, "vsftpd", remote)
        mirror = helpers.Mirror(self.tmp, "far", server.url, connections=1, retries=0,
                                timeout=10)
        self.assertExit(mirror.sync(), 0, "first sync")
        for n in (2, 3):
            before = len(mirror.runs())
            result = mirror.sync()
            self.assertExit(result, 0, "sync %d" % n)
            run = self.new_run(mirror, before, result)
            self.assertEqual((run["files_changed"], run["bytes_downloaded"]), (0, 0),
                             "sync %d fetched the far file again: %s" % (n, run))

