"""Mirroring over a link with latency: the server behind bench/delayproxy.py
(5 ms each way), bound to 127.0.0.2 and announcing 127.0.0.1, as in the
benchmark, with libcurl's engine (`pipelining: false`; test_pipeline.py
runs our own over the same link).

proftpd sends a download's final reply (226) only once the client has
closed the data connection, vsftpd often does, and libcurl waits for that
reply in a blocking poll, which stops every other connection for a round
trip.  ftpmirror notices replies that come late after the last byte
(xfer.c), then closes its side of each data connection as soon as it is
connected, so that the reply follows the data.  These tests check what
that does, not how fast (the benchmark measures speed): the mirror is
exact, the switch is made against proftpd and vsftpd and never has to be
undone, and it is not made against pure-ftpd, which answers at once.
"""

import os
import subprocess
import sys
import time

import helpers
import servers
from helpers import content

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))
import ftpservers  # noqa: E402  (servers bound to 127.0.0.2, as behind the proxy)

DELAY_MS = 5
BASE = 1_650_000_000
SWITCHED = "closing it as soon as it is connected"
GAVE_UP = "no reply seen after a half-closed data connection"
FELL_BACK = "a download failed after an early half-close"
CLOSED_EARLY = "first data connection half-closed as soon as connected"


def wan_files():
    """Forty small files in five directories, two empty ones and a 3 MiB one."""
    files = {"d%d/f%02d.bin" % (i % 5, i): (content("f%d" % i, 1 + 1499 * i), BASE + 61 * i)
             for i in range(40)}
    files["d0/empty"] = (b"", BASE)
    files["d1/empty too"] = (b"", BASE + 1)
    files["big.iso"] = (content("big", 3 * 1024 * 1024 + 7), BASE + 2)
    return files


class WanScenario:
    """Mixed into one TestCase per server kind (see the bottom)."""

    server_kind = None

    def setUp(self):
        super().setUp()
        reason = servers.SERVERS[self.server_kind].unavailable()
        if reason:
            self.skipTest(reason)
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, wan_files(), [])
        self.server = ftpservers.make_server(self.server_kind, self.remote, self.tmp)
        self.addCleanup(self.server.stop)
        self.server.start()
        self.start_proxy()
        self.mirror = helpers.Mirror(self.tmp, "wan-" + self.server_kind,
                                     "ftp://127.0.0.1:%d/" % self.server.port,
                                     connections=4, retries=2, timeout=20,
                                     pipelining=False)

    def start_proxy(self):
        s = self.server
        ready = self.path("proxy.ready")
        argv = ["/usr/bin/python3", os.path.join(REPO, "bench", "delayproxy.py"),
                "--listen", "127.0.0.1", "--target", "127.0.0.2",
                "--ports", "%d,%d-%d" % (s.port, s.passive[0], s.passive[-1]),
                "--delay-ms", str(DELAY_MS), "--ready-file", ready]
        with open(self.path("proxy.out"), "wb") as out:
            proxy = helpers.spawn(argv, stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(helpers.stop_process, proxy, 3.0)
        deadline = time.monotonic() + 15
        while not os.path.exists(ready):
            if proxy.poll() is not None or time.monotonic() > deadline:
                self.fail("delay proxy did not start: %s" % open(self.path("proxy.out")).read())
            time.sleep(0.02)

    def check_switch(self):
        """The switch to early half-closes is made, and it holds: no download
        fails for it, no wait for a reply runs out."""
        result = self.sync_exact()
        self.assertIn(SWITCHED, result.stderr,
                      "no switch to closing data connections early against %s\n%s"
                      % (self.server_kind, helpers.describe(result)))
        self.assertIn(CLOSED_EARLY, result.stderr,
                      "switched, but no data connection was half-closed at connect\n"
                      + helpers.describe(result))
        self.assertNotIn(FELL_BACK, result.stderr, helpers.describe(result))
        self.assertNotIn(GAVE_UP, result.stderr, helpers.describe(result))
        # A second run starts over (the switch is per run) and fetches the new file.
        helpers.write_tree(self.remote, {"d2/new": (content("new", 5000), BASE + 9)}, [])
        self.sync_exact()

    def sync_exact(self):
        """A verbose sync that must give an exact copy; returns its Result."""
        before = len(self.mirror.runs())
        result = self.mirror.run("-v", "sync", self.mirror.job, timeout=120)
        self.assertExit(result, 0, "sync over a link with %d ms each way" % DELAY_MS)
        run = self.new_run(self.mirror, before, result)
        self.assertEqual(run["status"], "ok", helpers.describe(result))
        self.assertSameTree(self.remote, self.mirror.target, " over the slow link")
        return result


class TestWanProftpd(WanScenario, helpers.IntegrationTest):
    server_kind = "proftpd"

    def test_late_replies_switch_to_closing_early(self):
        self.check_switch()


class TestWanVsftpd(WanScenario, helpers.IntegrationTest):
    server_kind = "vsftpd"

    def test_late_replies_switch_to_closing_early(self):
        # vsftpd often sends the 226 right behind the 150: a pause waiting
        # for the reply on the socket would wait out its limit and give up.
        self.check_switch()


class TestWanPureFtpd(WanScenario, helpers.IntegrationTest):
    server_kind = "pure-ftpd"

    def test_prompt_replies_keep_libcurls_way(self):
        result = self.sync_exact()
        self.assertNotIn(SWITCHED, result.stderr,
                         "switched to closing data connections early against pure-ftpd, "
                         "which replies at once\n" + helpers.describe(result))
