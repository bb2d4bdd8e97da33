"""Names a server could take for something else, against every server in
servers.SERVERS: a directory called "-l" or "-la" (LIST and NLST read a
leading '-' as options: vsftpd answered "LIST -l" with the login
directory, so the mirror recursed into -l/-l/-l/... and never finished),
glob characters ("g[1]" beside "g1", "s*" beside "sx", "q?x" beside "qax",
"b{a,b}" beside "ba": pure-ftpd and proftpd expand LIST's argument), a
leading tilde (proftpd: a home directory), blanks inside, leading and
trailing (pure-ftpd splits LIST's argument at them) and a literal "%41".

Each must be mirrored exactly, over MLSD and over LIST, and a second sync
must find nothing to do; `ftpmirror ls` of such a directory must list that
directory, and a job whose source is "-l/" must mirror it.
"""

import os
import time
from urllib.parse import quote

import helpers
import servers
from helpers import content

BASE = 1_650_000_000   # 2022-04-15

NAMES = ["-l", "-la", "g[1]", "g1", "s*", "sx", "q?x", "qax", "b{a,b}", "ba",
         "~t", "a b", "%41", " lead", "trail ", "  two"]


def odd_tree():
    # A recent file in each directory: LIST shows its time to the minute, so
    # every sync over LIST asks its MDTM, a command that must name the file
    # right even on a connection that has just listed a directory by CWD.
    recent = int(time.time()) - 90
    files = {}
    for i, name in enumerate(NAMES):
        files["%s/f%d" % (name, i)] = (content(name, 100 + i), BASE + i)
        files["%s/inner %s" % (name, name)] = (content(name + "/2", 50 + i), BASE + 60 + i)
        files["%s/recent" % name] = (content(name + "/r", 30 + i), recent - i)
        files["top%s" % name] = (content("top" + name, 10 + i), BASE + 120 + i)
    # A file, not a directory, named like an option, at the top too.
    files["-rf"] = (content("-rf", 7), BASE + 200)
    return files


class NameScenarios:
    """Mixed into one TestCase per server kind (see the bottom)."""

    server_kind = None
    listing = "auto"

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, odd_tree())
        self.server = servers.start_for(self, self.server_kind, self.remote)
        self.mirror = helpers.Mirror(self.tmp, "names-" + self.server_kind, self.server.url,
                                     connections=4, retries=1, timeout=10, listing=self.listing)

    def test_odd_names_mirror_exactly(self):
        mark = self.server.mark()
        result = self.mirror.sync()
        self.assertExit(result, 0, "first sync")
        self.assertSameTree(self.remote, self.mirror.target, " after the first sync")
        if self.server.logs_commands:
            listed = [c.arg for c in self.server.commands(mark) if c.cmd in ("LIST", "MLSD")]
            self.assertEqual([a for a in listed if a.lstrip("/").startswith("-")], [],
                             "a listing named a path starting with '-'")

        before = len(self.mirror.runs())
        result = self.mirror.sync()
        self.assertExit(result, 0, "second sync")
        run = self.new_run(self.mirror, before, result)
        self.assertEqual((run["files_added"], run["files_changed"], run["files_deleted"]),
                         (0, 0, 0), "second sync changed something: %s" % run)
        self.assertSameTree(self.remote, self.mirror.target, " after the second sync")

    def test_source_named_like_an_option(self):
        """A job whose source directory itself is "-l" mirrors that directory."""
        mirror = helpers.Mirror(self.tmp, "dash-" + self.server_kind, self.server.url + "-l/",
                                connections=2, retries=1, timeout=10)
        result = mirror.sync()
        self.assertExit(result, 0, "sync of %s-l/" % self.server.url)
        self.assertSameTree(os.path.join(self.remote, "-l"), mirror.target, " (source -l/)")

    def test_ls_lists_the_named_directory(self):
        """`ftpmirror ls URL` (INTERFACE.md) shows one line per entry of
        that directory, even one named like an option."""
        for name, index in (("-l", NAMES.index("-l")), ("a b", NAMES.index("a b"))):
            url = self.server.url + quote(name) + "/"
            result = self.mirror.run("ls", url)
            self.assertExit(result, 0, "ls %s" % url)
            names = sorted(line.split(None, 4)[-1] for line in result.stdout.splitlines()
                           if line.split(None, 1)[0] in ("file", "dir", "link"))
            self.assertEqual(names, sorted(["f%d" % index, "inner %s" % name, "recent"]),
                             "ls %s listed another directory\n%s"
                             % (url, helpers.describe(result)))
            self.assertRegex(result.stdout, r"(?m)^file +%d +\S+ +(second|minute|day) +f%d$"
                             % (100 + index, index))


class TestNamesPyftpdlib(NameScenarios, helpers.IntegrationTest):
    server_kind = "pyftpdlib"


class TestNamesPureFtpd(NameScenarios, helpers.IntegrationTest):
    server_kind = "pure-ftpd"


class TestNamesVsftpd(NameScenarios, helpers.IntegrationTest):
    server_kind = "vsftpd"


class TestNamesProftpd(NameScenarios, helpers.IntegrationTest):
    server_kind = "proftpd"


# pure-ftpd and proftpd offer MLSD, whose argument is a path; forced to LIST,
# they expand its argument as a glob ("LIST g[1]" lists g1), so ftpmirror
# has to CWD into such a directory and list it without an argument.
class TestNamesListPureFtpd(NameScenarios, helpers.IntegrationTest):
    server_kind = "pure-ftpd"
    listing = "list"


class TestNamesListProftpd(NameScenarios, helpers.IntegrationTest):
    server_kind = "proftpd"
    listing = "list"
