"""Entries that change type between two runs, and symbolic links under
each `symlinks:` policy, against real servers; and a tree deeper than the
loop guard (64 levels) with and without max_depth.

Type changes (pyftpdlib and pure-ftpd): a file that becomes a directory,
a directory that becomes a file, and a directory that becomes a symlink
are mirrored exactly, and the database's idea of the tree follows (no rows
left below a directory that is gone).

Symlinks (pure-ftpd, whose MLSD shows links as OS.unix=slink:TARGET):
  keep    links inside the mirror are recreated as the same relative links;
          a link out of it is skipped with an event;
  follow  links are mirrored as what they point to; a link to an ancestor
          is skipped as a loop (lexically, or by the MLSD unique fact of the
          directory it reaches) and one to nowhere as dangling;
  skip    no link is mirrored.
"""

import os

import helpers
import servers
from helpers import content

BASE = 1_660_000_000


class TypeChangeMixin:
    server_kind = None

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, {
            "becomes-dir": (content("f", 100), BASE),
            "was-dir/inner/x": (content("x", 50), BASE + 1),
            "was-dir/y": (content("y", 60), BASE + 2),
            "to-link/z": (content("z", 70), BASE + 3),
            "keep/k": (content("k", 80), BASE + 4),
        })
        self.server = servers.start_for(self, self.server_kind, self.remote)
        self.mirror = helpers.Mirror(self.tmp, "types", self.server.url, max_delete="100%")

    def files_rows(self):
        return {r["path"]: r["type"] for r in self.mirror._query(
            "SELECT path, type FROM files WHERE job = ?", (self.mirror.name,))}

    def test_type_changes(self):
        self.assertExit(self.mirror.sync(), 0, "first sync")
        self.assertSameTree(self.remote, self.mirror.target)

        # file -> directory, directory -> file, directory -> symlink
        os.unlink(os.path.join(self.remote, "becomes-dir"))
        helpers.write_tree(self.remote, {"becomes-dir/new": (content("n", 10), BASE + 5)})
        helpers.shutil.rmtree(os.path.join(self.remote, "was-dir"))
        helpers.write_tree(self.remote, {"was-dir": (content("w", 33), BASE + 6)})
        helpers.shutil.rmtree(os.path.join(self.remote, "to-link"))
        os.symlink("keep", os.path.join(self.remote, "to-link"))

        result = self.mirror.sync()
        self.assertExit(result, 0, "sync after type changes")
        target = self.mirror.target
        self.assertTrue(os.path.isdir(os.path.join(target, "becomes-dir")))
        with open(os.path.join(target, "becomes-dir", "new"), "rb") as f:
            self.assertEqual(f.read(), content("n", 10))
        with open(os.path.join(target, "was-dir"), "rb") as f:
            self.assertEqual(f.read(), content("w", 33))
        link = os.path.join(target, "to-link")
        if os.path.islink(link):
            # The server lists links as links: kept as the same link.
            self.assertEqual(os.readlink(link), "keep")
        else:
            # pyftpdlib lists what a link points to: a copy of keep/.
            self.assertTrue(os.path.isdir(link))
            with open(os.path.join(link, "k"), "rb") as f:
                self.assertEqual(f.read(), content("k", 80))
        self.assertFalse(os.path.exists(os.path.join(target, "to-link", "z")))

        rows = self.files_rows()
        for gone in ("was-dir/inner", "was-dir/inner/x", "was-dir/y", "becomes-dir/x"):
            self.assertNotIn(gone, rows, "files still holds %s: %s" % (gone, rows))
        self.assertEqual(rows.get("was-dir"), "file")
        self.assertEqual(rows.get("becomes-dir"), "dir")

        # And back: a third run changes nothing.
        result = self.mirror.sync()
        self.assertExit(result, 0, "no-op sync")
        run = self.mirror.runs()[-1]
        self.assertEqual((run["files_added"], run["files_changed"], run["files_deleted"]),
                         (0, 0, 0), run)


class TestTypeChangesPyftpdlib(TypeChangeMixin, helpers.IntegrationTest):
    server_kind = "pyftpdlib"


class TestTypeChangesPureFtpd(TypeChangeMixin, helpers.IntegrationTest):
    server_kind = "pure-ftpd"


class TestSymlinksPureFtpd(helpers.IntegrationTest):
    """pure-ftpd lists symbolic links as links, with their targets."""

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote", "pub")
        helpers.write_tree(self.remote, {
            "f": (content("f", 10), BASE),
            "d/inside": (content("i", 20), BASE + 1),
        })
        with open(self.path("remote", "secret"), "wb") as f:
            f.write(b"outside the source")
        os.chmod(self.path("remote", "secret"), 0o644)
        for name, target in (("lf", "f"), ("ld", "d"), ("lup", ".."), ("lself", "."),
                             ("lout", "../secret"), ("lnowhere", "no/such/thing")):
            os.symlink(target, os.path.join(self.remote, name))
        self.server = servers.start_for(self, "pure-ftpd", self.path("remote"))

    def sync_with(self, policy):
        mirror = helpers.Mirror(self.tmp, "links-" + policy, self.server.url + "pub/",
                                target=self.path("mirror-" + policy), symlinks=policy)
        first = mirror.sync()
        second = mirror.sync()
        return mirror, first, second

    def skipped(self, mirror):
        return {r["path"]: r["detail"] for r in mirror._query(
            "SELECT path, detail FROM events WHERE action = 'skip'")}

    def test_keep(self):
        mirror, first, second = self.sync_with("keep")
        self.assertExit(first, 0)
        self.assertExit(second, 0)
        t = mirror.target
        for name, target in (("lf", "f"), ("ld", "d"), ("lself", "."), ("lnowhere", "no/such/thing")):
            self.assertTrue(os.path.islink(os.path.join(t, name)), name)
            self.assertEqual(os.readlink(os.path.join(t, name)), target)
        for name in ("lup", "lout"):
            self.assertFalse(os.path.lexists(os.path.join(t, name)), name)
            self.assertIn(name, self.skipped(mirror))
        self.assertEqual(mirror.runs()[-1]["files_added"], 0)

    def test_follow(self):
        mirror, first, second = self.sync_with("follow")
        self.assertExit(first, 0)
        self.assertExit(second, 0)
        t = mirror.target
        with open(os.path.join(t, "lf"), "rb") as f:
            self.assertEqual(f.read(), content("f", 10))
        self.assertFalse(os.path.islink(os.path.join(t, "lf")))
        with open(os.path.join(t, "ld", "inside"), "rb") as f:
            self.assertEqual(f.read(), content("i", 20))
        with open(os.path.join(t, "lout"), "rb") as f:
            self.assertEqual(f.read(), b"outside the source")
        for name in ("lself", "lnowhere"):
            self.assertFalse(os.path.lexists(os.path.join(t, name)), name)
            self.assertIn(name, self.skipped(mirror))
        # lup leads above the source: what is there is mirrored, but not
        # the source itself again (the loop, found by its unique fact).
        self.assertEqual(sorted(os.listdir(os.path.join(t, "lup"))), ["secret"])
        self.assertIn("lup/pub", self.skipped(mirror))
        run = mirror.runs()[-1]
        self.assertEqual((run["files_added"], run["files_changed"], run["bytes_downloaded"]),
                         (0, 0, 0), run)

    def test_skip(self):
        mirror, first, second = self.sync_with("skip")
        self.assertExit(first, 0)
        t = mirror.target
        self.assertEqual(sorted(n for n in os.listdir(t) if n != helpers.TRACE_DIR), ["d", "f"])


class TestDeepTreePyftpdlib(helpers.IntegrationTest):
    """A tree 70 directories deep.  Without max_depth the walk stops below
    64 levels (taken for a loop of a server that follows links itself):
    an error naming the directory, and the run partial (exit 1), never a
    quiet "ok".  With max_depth: 100 the whole tree is mirrored."""

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        deep = "/".join("d%d" % i for i in range(70))
        helpers.write_tree(self.remote, {"top": (content("top", 10), BASE),
                                         deep + "/leaf": (content("leaf", 20), BASE + 1)})
        self.server = servers.start_for(self, "pyftpdlib", self.remote)

    def test_deep_tree(self):
        mirror = helpers.Mirror(self.tmp, "deep", self.server.url, target=self.path("cut"))
        result = mirror.sync()
        self.assertExit(result, 1, "sync of a tree 70 levels deep without max_depth")
        cut = "/".join("d%d" % i for i in range(65))
        errors = [helpers.norm_path(e["path"]) for e in mirror._query(
            "SELECT path FROM events WHERE action = 'error'")]
        self.assertEqual(errors, [cut], "error events\n" + helpers.describe(result))
        self.assertIn("max_depth", result.stderr, helpers.describe(result))
        self.assertTrue(os.path.isfile(self.path("cut", "top")), "the rest was not published")

        whole = helpers.Mirror(self.tmp, "deep-whole", self.server.url,
                               target=self.path("whole"), max_depth=100)
        self.assertExit(whole.sync(), 0, "sync with max_depth: 100")
        self.assertSameTree(self.remote, whole.target)
