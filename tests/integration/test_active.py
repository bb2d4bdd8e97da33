"""Active mode (`passive: false`: the server connects back for each listing
and download, EPRT or PORT) against every server in servers.SERVERS.

A first sync must make an exact copy and a second one find nothing to do;
where the server logs its commands, no EPSV or PASV may have been sent.
"""

import helpers
import servers
from helpers import content

BASE = 1_650_000_000   # 2022-04-15


def small_tree():
    files = {
        "readme.txt": (content("readme", 300), BASE),
        "empty": (b"", BASE + 1),
        "pool/a/one.bin": (content("one", 70_000), BASE + 2),
        "pool/a/two.bin": (content("two", 4096), BASE + 3),
        "pool/b/big.bin": (content("big", 1_500_000), BASE + 4),
    }
    return files


class ActiveScenarios:
    """Mixed into one TestCase per server kind (see the bottom)."""

    server_kind = None

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, small_tree(), ["pool/empty"])
        self.server = servers.start_for(self, self.server_kind, self.remote)
        self.mirror = helpers.Mirror(self.tmp, "active-" + self.server_kind, self.server.url,
                                     connections=2, passive=False, retries=1, timeout=10)

    def test_active_mode_mirrors_exactly(self):
        mark = self.server.mark()
        result = self.mirror.sync()
        self.assertExit(result, 0, "first sync in active mode")
        self.assertSameTree(self.remote, self.mirror.target, " after the first sync")
        if self.server.logs_commands:
            cmds = {c.cmd for c in self.server.commands(mark)}
            self.assertEqual(cmds & {"EPSV", "PASV"}, set(),
                             "passive commands in active mode\n" + helpers.describe(result))
            self.assertTrue(cmds & {"EPRT", "PORT"},
                            "neither EPRT nor PORT sent\n" + helpers.describe(result))

        before = len(self.mirror.runs())
        result = self.mirror.sync()
        self.assertExit(result, 0, "second sync in active mode")
        run = self.new_run(self.mirror, before, result)
        self.assertEqual((run["files_added"], run["files_changed"], run["files_deleted"]),
                         (0, 0, 0), "second sync changed something: %s" % run)


class TestActivePyftpdlib(ActiveScenarios, helpers.IntegrationTest):
    server_kind = "pyftpdlib"


class TestActivePureFtpd(ActiveScenarios, helpers.IntegrationTest):
    server_kind = "pure-ftpd"


class TestActiveVsftpd(ActiveScenarios, helpers.IntegrationTest):
    server_kind = "vsftpd"


class TestActiveProftpd(ActiveScenarios, helpers.IntegrationTest):
    server_kind = "proftpd"
