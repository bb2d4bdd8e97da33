"""Interrupted syncs, against every server in servers.SERVERS (pyftpdlib,
pure-ftpd, vsftpd, proftpd; each throttled by its own means: pyftpdlib's
throttled data handler, pure-ftpd -t, vsftpd anon_max_rate, proftpd
TransferRate):

  (d) SIGKILL ftpmirror in the middle of a large download (the server is
      throttled): the public tree keeps its old state with no partial file;
      the next sync completes the mirror and resumes the download (REST)
      instead of starting it over.

And, once: a second sync of a job whose sync is running exits 3 (locked).
"""

import os
import signal
import time

import helpers
import servers
from helpers import content

BASE = 1_660_000_000
RATE = 1_500_000                   # bytes/s per data connection
BIG = "pool/big image.iso"
BIG_SIZE = 6 * 1024 * 1024
KILL_AFTER = 384 * 1024            # staged bytes seen before the kill


def small_tree():
    files = {"README": (content("README", 900), BASE + 1),
             "pool/a.deb": (content("a.deb", 20_000), BASE + 2),
             "pool/empty": (b"", BASE + 3),
             "docs/x y.txt": (content("x y", 300), BASE + 4)}
    # The large file's old version: smaller than KILL_AFTER, so a staged
    # file past that size can only be the new version.
    files[BIG] = (content("big v1", 200_000), BASE + 5)
    return files


def staged_files(incoming):
    """{path: size} of regular files under incoming, the lock excluded."""
    found = {}
    for dirpath, _dirs, names in os.walk(incoming):
        for name in names:
            path = os.path.join(dirpath, name)
            if name == ".lock" or not os.path.isfile(path) or os.path.islink(path):
                continue
            try:
                found[path] = os.path.getsize(path)
            except FileNotFoundError:
                pass
    return found


def wait_for_staging(test, proc, mirror, out, err, min_bytes, timeout=30):
    """Wait until a staged file in mirror.incoming reaches min_bytes; fail if
    the sync ends first or nothing shows up in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            test.fail("sync ended (status %s) before staging %d bytes in %s\n%s"
                      % (proc.returncode, min_bytes, mirror.incoming, _outputs(out, err)))
        big = [p for p, size in staged_files(mirror.incoming).items() if size >= min_bytes]
        if big:
            return big[0]
        time.sleep(0.02)
    test.fail("no file in %s reached %d bytes within %ss (staged: %s)\n%s"
              % (mirror.incoming, min_bytes, timeout, staged_files(mirror.incoming),
                 _outputs(out, err)))


def _outputs(out, err):
    text = []
    for label, path in (("stdout", out), ("stderr", err)):
        with open(path, errors="replace") as f:
            text.append("--- %s ---\n%s" % (label, f.read()[-4000:]))
    return "\n".join(text)


class ResumeScenarios:
    """Mixed into one TestCase per server kind (see the bottom)."""

    server_kind = None

    def test_d_killed_sync_resumes(self):
        remote = self.path("remote")
        helpers.write_tree(remote, small_tree())
        server = servers.start_for(self, self.server_kind, remote, throttle=RATE)
        mirror = helpers.Mirror(self.tmp, "resume-" + self.server_kind, server.url,
                                connections=4, retries=2, timeout=20)
        first = mirror.sync()
        self.assertExit(first, 0, "first sync")
        self.assertSameTree(remote, mirror.target, " after the first sync")
        old_target = helpers.snapshot(mirror.target)

        # Upstream, the large file gets a new version.
        helpers.set_file(remote, BIG, content("big v2", BIG_SIZE), BASE + 1000)
        before_kill = server.mark()
        proc, out, err = mirror.start_sync("killed")
        try:
            staged = wait_for_staging(self, proc, mirror, out, err, KILL_AFTER)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            helpers.stop_process(proc, grace=1.0, sig=signal.SIGKILL)
        self.assertEqual(proc.returncode, -signal.SIGKILL, "the sync was not killed\n"
                         + _outputs(out, err))

        # The public tree is untouched: old version, no partial file.
        problems = helpers.tree_differences(old_target, helpers.snapshot(mirror.target))
        self.assertEqual(problems, [], "target changed by the interrupted sync "
                         "(staged file was %s)" % staged)
        leftover = staged_files(mirror.incoming)
        self.assertTrue(any(size >= KILL_AFTER for size in leftover.values()),
                        "the partial download is gone from incoming: %s" % leftover)

        # The server logs the aborted transfer once it notices; wait for
        # that so the log after `mark` holds only the second sync.
        server.wait_for_transfer(BIG, before_kill, timeout=5)
        mark = server.mark()
        runs_before = len(mirror.runs())

        second = mirror.sync(timeout=60)

        self.assertExit(second, 0, "sync after the kill")
        run = self.new_run(mirror, runs_before, second)
        self.assertEqual(run["status"], "ok", "runs row %s" % run)
        self.assertSameTree(remote, mirror.target, " after the resumed sync")

        big_transfers = [t for t in server.transfers(mark) if t.path == BIG]
        self.assertTrue(big_transfers, "the second sync did not fetch %s; log: %s"
                        % (BIG, server.transfers(mark)))
        sent = sum(t.bytes for t in big_transfers)
        self.assertLess(sent, BIG_SIZE, "the second sync fetched %s again from the start "
                        "(%d bytes sent, file has %d)\n%s"
                        % (BIG, sent, BIG_SIZE, helpers.describe(second)))

        # The REST itself, where the server logs commands (pyftpdlib,
        # vsftpd, proftpd).  pure-ftpd logs only transfers: there the bytes
        # it sent for the file (fewer than its size, above) are the evidence.
        if server.logs_commands:
            restarts = self._rest_offsets(server.commands(mark), os.path.basename(BIG))
            self.assertTrue(any(n > 0 for n in restarts),
                            "no 'REST n' (n > 0) before RETR of %s; REST offsets seen: %s\n"
                            "commands: %s" % (BIG, restarts, server.commands(mark)[-40:]))

    @staticmethod
    def _rest_offsets(commands, basename):
        """Offsets of the REST commands that directly preceded (in the same
        session, no other REST/RETR between) a RETR of `basename`."""
        pending = {}
        offsets = []
        for c in commands:
            if c.cmd == "REST":
                try:
                    pending[c.session] = int(c.arg)
                except ValueError:
                    pending[c.session] = None
            elif c.cmd == "RETR":
                offset = pending.pop(c.session, None)
                if os.path.basename(c.arg.rstrip("/")) == basename and offset is not None:
                    offsets.append(offset)
        return offsets


class TestResumePyftpdlib(ResumeScenarios, helpers.IntegrationTest):
    server_kind = "pyftpdlib"


class TestResumePureFtpd(ResumeScenarios, helpers.IntegrationTest):
    server_kind = "pure-ftpd"


class TestResumeVsftpd(ResumeScenarios, helpers.IntegrationTest):
    server_kind = "vsftpd"


class TestResumeProftpd(ResumeScenarios, helpers.IntegrationTest):
    server_kind = "proftpd"


class TestLock(helpers.IntegrationTest):
    """Exit status 3 while another sync of the same job holds the lock."""

    def test_concurrent_sync_exits_3(self):
        remote = self.path("remote")
        helpers.write_tree(remote, {"slow.bin": (content("slow", 4 * 1024 * 1024), BASE)})
        server = servers.start_for(self, "pyftpdlib", remote, throttle=RATE)
        mirror = helpers.Mirror(self.tmp, "locked", server.url, connections=2)
        proc, out, err = mirror.start_sync("holder")
        try:
            wait_for_staging(self, proc, mirror, out, err, 64 * 1024)
            second = mirror.sync(timeout=30)
            self.assertTrue(proc.poll() is None, "the first sync ended before the check; "
                            "result not meaningful\n" + _outputs(out, err))
            self.assertExit(second, 3, "second sync while the first holds the lock")
        finally:
            helpers.stop_process(proc, grace=1.0, sig=signal.SIGKILL)
