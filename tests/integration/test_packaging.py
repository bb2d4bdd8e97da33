"""Packaging: `make install` / `make uninstall` with DESTDIR, the man pages
(mdoc, checked with `man --warnings` and, where installed, mandoc's lint),
and the systemd units (checked with `systemd-analyze verify`).

Make runs in the repository root; when build/ftpmirror exists it is taken as
it is (`make -o build/ftpmirror`), so these tests never compile anything.
"""

import filecmp
import glob
import os
import shutil
import stat

import helpers

ROOT = os.path.dirname(os.path.dirname(helpers.HERE))
PREFIX = "/usr/local"
MAN_PAGES = {"man1/ftpmirror.1": "src/ftpmirror.1",
             "man5/ftpmirror.yaml.5": "src/ftpmirror.yaml.5"}
UNITS = ("ftpmirror.service", "ftpmirror@.service", "ftpmirror@.timer")
UNIT_DIR = "lib/systemd/system"            # under PREFIX
SCHEMA_DIR = "share/ftpmirror/schema"      # under PREFIX
EXAMPLE = "share/doc/ftpmirror/examples/gnu-emacs.yaml"   # under PREFIX
MAKE_TIMEOUT = 300
TOOL_TIMEOUT = 60

# Every unit must carry these lines (issue 6: hardening).
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
             "StateDirectory=ftpmirror", "ProtectHome=yes", "PrivateDevices=yes",
             "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
             "ReadWritePaths=-/srv/mirror", "ReadWritePaths=/var/lib/ftpmirror")


def clean_env(**extra):
    """The environment without a parent make's flags (a jobserver that is
    not ours), in a fixed locale, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra)
    return env


def installed_entries(root):
    """Paths (relative to root) of every file and symlink under root."""
    found = set()
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


class PackagingTest(helpers.IntegrationTest):

    def make(self, *args):
        argv = ["make", "--no-print-directory", "-C", ROOT]
        if os.path.isfile(os.path.join(ROOT, "build", "ftpmirror")):
            argv += ["-o", "build/ftpmirror"]
        result = helpers.run_command(argv + list(args), timeout=MAKE_TIMEOUT,
                                     env=clean_env(), cwd=ROOT)
        self.assertExit(result, 0, "make %s" % " ".join(args))
        return result

    def expected_files(self, prefix):
        """Relative to the install root: what `make install` must install."""
        p = prefix.lstrip("/")
        files = {os.path.join(p, "bin/ftpmirror"), os.path.join(p, EXAMPLE)}
        files |= {os.path.join(p, "share/man", m) for m in MAN_PAGES}
        files |= {os.path.join(p, UNIT_DIR, u) for u in UNITS}
        files |= {os.path.join(p, SCHEMA_DIR, os.path.basename(s))
                  for s in glob.glob(os.path.join(ROOT, "schema", "*.sql"))}
        return files


class TestInstall(PackagingTest):
    """make install PREFIX=/usr/local DESTDIR=..., then make uninstall."""

    def test_install_then_uninstall(self):
        dest = self.path("dest")
        os.mkdir(dest)
        args = ("PREFIX=%s" % PREFIX, "DESTDIR=%s" % dest)
        self.make("install", *args)

        expected = self.expected_files(PREFIX)
        self.assertEqual(installed_entries(dest), expected,
                         "make install installed other files than expected")
        at = lambda rel: os.path.join(dest, PREFIX.lstrip("/"), rel)  # noqa: E731

        # The binary: executable, and it runs.
        binary = at("bin/ftpmirror")
        self.assertEqual(stat.S_IMODE(os.stat(binary).st_mode), 0o755)
        result = helpers.run_command([binary, "--version"], timeout=TOOL_TIMEOUT)
        self.assertExit(result, 0, "installed ftpmirror --version")
        self.assertIn("ftpmirror", result.stdout)

        # Man pages, schema: the files of the tree, byte for byte, mode 0644.
        pairs = [(at(os.path.join("share/man", m)), os.path.join(ROOT, src))
                 for m, src in MAN_PAGES.items()]
        pairs += [(at(os.path.join(SCHEMA_DIR, os.path.basename(s))), s)
                  for s in glob.glob(os.path.join(ROOT, "schema", "*.sql"))]
        for inst, src in pairs:
            self.assertTrue(filecmp.cmp(inst, src, shallow=False), "%s differs from %s" % (inst, src))
            self.assertEqual(stat.S_IMODE(os.stat(inst).st_mode), 0o644, inst)

        # Units: @BINDIR@ replaced by the real (DESTDIR-less) bindir.
        for unit in UNITS:
            path = at(os.path.join(UNIT_DIR, unit))
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o644, path)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            self.assertNotIn("@BINDIR@", text, unit)
            self.assertNotIn(dest, text, "%s names the DESTDIR" % unit)
            if unit.endswith(".service"):
                self.assertIn("ExecStart=%s/bin/ftpmirror " % PREFIX, text, unit)

        # The example job is valid.
        env = clean_env(HOME=self.tmp, FTPMIRROR_DB=self.path("state.db"))
        result = helpers.run_command([binary, "check", at(EXAMPLE)], timeout=TOOL_TIMEOUT,
                                     env=env)
        self.assertExit(result, 0, "check of the installed example job")

        self.make("uninstall", *args)
        self.assertEqual(installed_entries(dest), set(),
                         "make uninstall left files behind")
        for own in ("share/ftpmirror", "share/doc/ftpmirror"):
            self.assertFalse(os.path.exists(at(own)), "make uninstall left %s" % own)


class TestManPages(PackagingTest):
    """Both pages format without a warning."""

    def test_man_warnings(self):
        if shutil.which("man") is None:
            self.skipTest("man (man-db) is not installed")
        for src in MAN_PAGES.values():
            with self.subTest(page=src):
                result = helpers.run_command(
                    ["man", "--warnings", "-l", os.path.join(ROOT, src)],
                    timeout=TOOL_TIMEOUT, env=clean_env(MANWIDTH="80", MAN_KEEP_STDERR="1"))
                self.assertExit(result, 0, "man --warnings -l %s" % src)
                self.assertEqual(result.stderr.strip(), "", helpers.describe(result))
                self.assertIn("ftpmirror", result.stdout)

    def test_mandoc_lint(self):
        # Level "warning": mandoc's "style" notes include "referenced manual
        # not found", which depends on the pages installed on the machine.
        if shutil.which("mandoc") is None:
            self.skipTest("mandoc is not installed (apt-get install mandoc)")
        for src in MAN_PAGES.values():
            with self.subTest(page=src):
                result = helpers.run_command(
                    ["mandoc", "-T", "lint", "-W", "warning", os.path.join(ROOT, src)],
                    timeout=TOOL_TIMEOUT, env=clean_env())
                self.assertExit(result, 0, "mandoc -T lint %s" % src)
                self.assertEqual((result.stdout + result.stderr).strip(), "",
                                 helpers.describe(result))


class TestUnits(PackagingTest):
    """systemd-analyze verify accepts the installed units.  They are installed
    with PREFIX in this test's directory and no DESTDIR, so that ExecStart=
    names a binary that exists; MANPATH lets verify find the Documentation=
    pages where they were installed."""

    def analyze(self, *paths, manpath=None):
        env = clean_env(SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="")
        if manpath:
            env["MANPATH"] = manpath
        return helpers.run_command(["systemd-analyze", "verify"] + list(paths),
                                   timeout=TOOL_TIMEOUT, env=env, cwd=self.tmp)

    def test_units_hardened(self):
        for unit in UNITS:
            if not unit.endswith(".service"):
                continue
            with open(os.path.join(ROOT, "systemd", unit), encoding="utf-8") as f:
                lines = {line.strip() for line in f}
            for want in HARDENING:
                self.assertIn(want, lines, "%s lacks %s" % (unit, want))

    def test_systemd_analyze_verify(self):
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed (apt-get install systemd)")
        # Can it run here at all?  A trivial unit must pass.
        probe = self.path("probe.service")
        with open(probe, "w") as f:
            f.write("[Unit]\nDescription=probe\n[Service]\nType=exec\nExecStart=/bin/true\n")
        result = self.analyze(probe)
        if result.returncode != 0:
            self.skipTest("systemd-analyze verify cannot run here: %s"
                          % (result.stdout + result.stderr).strip()[:300])

        prefix = self.path("prefix")
        self.make("install", "PREFIX=%s" % prefix)
        unit_dir = os.path.join(prefix, UNIT_DIR)
        result = self.analyze(*[os.path.join(unit_dir, u) for u in UNITS],
                              manpath=os.path.join(prefix, "share/man"))
        self.assertExit(result, 0, "systemd-analyze verify")
        # verify exits 0 on unknown keys and bad values, only warning.
        complaints = [line for line in (result.stdout + result.stderr).splitlines()
                      if line.strip()]
        self.assertEqual(complaints, [], helpers.describe(result))
