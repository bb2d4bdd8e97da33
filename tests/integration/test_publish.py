"""Publishing like an archive (issue 7), against real servers on 127.0.0.1:

  * staged mode, index last: while a slow sync adds pool files and a new
    index listing them, a watcher polling target never sees the new index
    before every file it lists is there with its final bytes; the run's
    events put every index after the files it describes;
  * verify_manifests: files whose bytes no longer match SHA256SUMS (same
    directory or a parent one, "sub/file"), MD5SUMS or FILE.sha256 are
    quarantined (INCOMING.quarantine/, a `quarantine` event with the
    reason, exit 1, status partial), target keeps the previous good
    version, the new index is held back (`skip` event); fixed upstream,
    the next run publishes everything and exits 0;
  * verify_command: a scanner rejecting files that contain "EVIL" keeps
    them out; a scanner that hangs is killed after verify_timeout and the
    file rejected with a clear reason;
  * verify_remote_hash: proftpd (mod_digest) is asked XSHA256/HASH after
    each RETR (and nothing when `off`); a server that answers a wrong
    XSHA256 (a small pyftpdlib server in this file) gets the file fetched
    again, then quarantined;
  * snapshot mode: target is a link to .TARGET.snapshots/run-N, swapped per
    run; keep_snapshots; unchanged files hard-linked between snapshots; a
    reader walking target during a publish never sees two versions at
    once; a real directory as target is refused (exit 2); the trace file
    inside the snapshot names its run;
  * trace: TARGET/.ftpmirror/trace (or trace_file) names run, date, source
    and counts, and a no-op run leaves it alone;
  * fsync: by default staged data is synced (syncfs) before publishing,
    starting while the last files arrive, and a big file's writeback starts
    while it downloads (sync_file_range);
    `fsync: false` makes neither call and mirrors the same tree (strace
    watches the system calls).

This file is also the XSHA256 server when run as
    /usr/bin/python3 test_publish.py --xsha-server --root DIR --passive A-B
        --ready-file F --log F [--wrong REL]...
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time

import helpers
import servers

BASE = 1_660_000_000   # 2022-08-08, mtimes well in the past


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def md5(data):
    return hashlib.md5(data).hexdigest()


def sums(entries, digest=sha256):
    """sha256sum-style text: {name: bytes} -> b"HEX  name\\n"..."""
    return "".join("%s  %s\n" % (digest(data), name)
                   for name, data in sorted(entries.items())).encode()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def tree_without_trace(root):
    return {rel: e for rel, e in helpers.snapshot(root).items()
            if rel != helpers.TRACE_DIR and not rel.startswith(helpers.TRACE_DIR + "/")}


def parse_trace(text):
    """{key: value} of a trace file's "key: value" lines."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


# ------------------------------------------------------ the XSHA256 server

def xsha_server_main(argv):
    """A pyftpdlib server whose FEAT offers XSHA256 and which answers it
    with the file's real digest, except a wrong one for --wrong files."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import DTPHandler, FTPHandler
    from pyftpdlib.servers import FTPServer

    ap = argparse.ArgumentParser()
    ap.add_argument("--xsha-server", action="store_true")
    ap.add_argument("--root", required=True)
    ap.add_argument("--passive", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--wrong", action="append", default=[])
    args = ap.parse_args(argv)
    root = os.path.realpath(args.root)
    wrong = {w.strip("/") for w in args.wrong}
    log = open(args.log, "a", encoding="utf-8")

    def record(obj):
        log.write(json.dumps(obj) + "\n")
        log.flush()

    class Handler(FTPHandler):
        proto_cmds = dict(FTPHandler.proto_cmds)
        proto_cmds["XSHA256"] = dict(perm="r", auth=True, arg=True,
                                     help="Syntax: XSHA256 <SP> file-name")

        def on_connect(self):
            self._extra_feats = list(self._extra_feats) + ["XSHA256"]

        def pre_process_command(self, line, cmd, arg):
            record({"cmd": cmd, "arg": "******" if cmd == "PASS" else (arg or "")})
            return super().pre_process_command(line, cmd, arg)

        def log_transfer(self, cmd, filename, receive, completed, elapsed, bytes):
            rel = os.path.relpath(filename, root)
            record({"xfer": cmd, "path": rel, "completed": bool(completed), "bytes": bytes})
            super().log_transfer(cmd, filename, receive, completed, elapsed, bytes)

        def ftp_XSHA256(self, path):
            rel = os.path.relpath(path, root)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as err:
                self.respond("550 %s." % err.strerror)
                return None
            if rel in wrong:
                data = b"not what the file holds\n"
            self.respond("250 %s" % sha256(data))
            return path

    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root, perm="elr")
    Handler.authorizer = authorizer
    first, _, last = args.passive.partition("-")
    Handler.passive_ports = range(int(first), int(last) + 1)
    Handler.masquerade_address = "127.0.0.1"
    Handler.use_gmt_times = True
    Handler.dtp_handler = DTPHandler
    server = FTPServer(("127.0.0.1", 0), Handler)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.socket.getsockname()[1])
    os.replace(tmp, args.ready_file)

    import signal

    def stop(_signo, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(handle_exit=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.close_all()


class XshaServer(servers.FtpServer):
    """xsha_server_main as a servers.FtpServer (registry, start, stop)."""

    kind = "xsha256-pyftpdlib"
    logs_commands = True

    @classmethod
    def unavailable(cls):
        return servers.PyftpdlibServer.unavailable()

    def __init__(self, root, workdir, wrong=()):
        super().__init__(root, workdir)
        base = os.path.join(workdir, "xsha-%d" % id(self))
        self.ready_file = base + ".port"
        self.log = base + ".log"
        self.wrong = list(wrong)

    def _argv(self):
        argv = [servers.PYTHON, os.path.abspath(__file__), "--xsha-server",
                "--root", self.root, "--passive", "%d-%d" % (self.passive[0], self.passive[-1]),
                "--ready-file", self.ready_file, "--log", self.log]
        for w in self.wrong:
            argv += ["--wrong", w]
        return argv

    def _discover_port(self):
        try:
            with open(self.ready_file) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _transfer_log_lines(self):
        return servers._log_lines(self.log)

    def _records(self, since=0):
        return [json.loads(line) for line in self._transfer_log_lines()[since:]]

    def commands(self, since=0):
        return [servers.Command(0, r["cmd"], r["arg"]) for r in self._records(since) if "cmd" in r]

    def transfers(self, since=0):
        return [servers.Transfer(r["path"], r["bytes"], r["completed"])
                for r in self._records(since) if r.get("xfer") == "RETR"]


# -------------------------------------------------------------- base class

class PublishTest(helpers.IntegrationTest):

    def sync(self, mirror, code, context, timeout=helpers.DEFAULT_TIMEOUT):
        """Run a sync that must exit `code` and add one runs row; returns
        (result, runs row, events in order)."""
        before = len(mirror.runs())
        result = mirror.sync(timeout=timeout)
        self.assertExit(result, code, context)
        run = self.new_run(mirror, before, result)
        events = mirror._query("SELECT * FROM events WHERE run_id = ? ORDER BY id", (run["id"],))
        return result, run, events

    @staticmethod
    def show(result, run, events):
        """Evidence for a failure message."""
        rows = "\n".join("  %-10s %-28s %s" % (e["action"], e["path"], e["detail"] or "")
                         for e in events)
        return "runs row: %s\nevents:\n%s\n%s" % (run, rows, helpers.describe(result))

    @staticmethod
    def by_path(events, action):
        return {helpers.norm_path(e["path"]): e for e in events if e["action"] == action}

    def quarantined(self, mirror):
        """{file name: bytes} in INCOMING.quarantine/."""
        qdir = mirror.incoming.rstrip("/") + ".quarantine"
        if not os.path.isdir(qdir):
            return {}
        return {name: read(os.path.join(qdir, name)) for name in os.listdir(qdir)
                if os.path.isfile(os.path.join(qdir, name))}

    def assertQuarantined(self, mirror, rel, data, events, evidence, reason=None):
        """rel was rejected this run: a quarantine event (with a reason,
        matching `reason` when given) and its bytes in quarantine."""
        q = self.by_path(events, "quarantine")
        self.assertIn(rel, q, "no quarantine event for %s\n%s" % (rel, evidence))
        detail = q[rel]["detail"] or ""
        self.assertTrue(detail.strip(), "quarantine event of %s without a reason\n%s"
                        % (rel, evidence))
        if reason:
            self.assertRegex(detail, reason, "reason for %s\n%s" % (rel, evidence))
        base = os.path.basename(rel)
        held = {n: d for n, d in self.quarantined(mirror).items() if n.endswith(base)}
        self.assertIn(data, held.values(),
                      "the rejected bytes of %s are not in %s.quarantine (has %s)\n%s"
                      % (rel, mirror.incoming, sorted(self.quarantined(mirror)), evidence))


# ----------------------------------------------------- staged, index last

class TestIndexLast(PublishTest):
    """Index files (publish_last) appear only after the files they list."""

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        self.pool = {"pool/main/a/old%02d.deb" % i: helpers.content("old%d" % i, 3000 + i)
                     for i in range(4)}
        files = {rel: (data, BASE + i) for i, (rel, data) in enumerate(sorted(self.pool.items()))}
        files.update(self.indexes(self.pool, 1))
        helpers.write_tree(self.remote, files)
        # Slow: ~2 s for the second run's downloads with 4 connections.
        self.server = servers.start_for(self, "pyftpdlib", self.remote, throttle=400_000)
        self.mirror = helpers.Mirror(self.tmp, "index-last", self.server.url,
                                     connections=4, retries=1, timeout=20)

    @staticmethod
    def indexes(pool, version):
        """dists/stable/Release (HEX SIZE path, from the root) and
        pool/SHA256SUMS (sha256sum, relative to pool/) describing pool."""
        release = "Version: %d\nSHA256:\n" % version + "".join(
            " %s %d %s\n" % (sha256(d), len(d), rel) for rel, d in sorted(pool.items()))
        poolsums = sums({rel[len("pool/"):]: d for rel, d in pool.items()})
        mtime = BASE + 10_000 * version
        return {"dists/stable/Release": (release.encode(), mtime),
                "pool/SHA256SUMS": (poolsums, mtime)}

    @staticmethod
    def listed(index_rel, data):
        """Paths (from the root) an index lists."""
        text = data.decode()
        if index_rel.endswith("Release"):
            return [line.split()[2] for line in text.splitlines() if line.startswith(" ")]
        return ["pool/" + line.split("  ", 1)[1] for line in text.splitlines() if line]

    def test_index_appears_after_the_files_it_lists(self):
        result, run, events = self.sync(self.mirror, 0, "first sync")
        self.assertSameTree(self.remote, self.mirror.target)

        # Upstream: new pool files, and new indexes listing them.
        new = {"pool/main/n/new%03d.deb" % i: helpers.content("new%d" % i, 20_000 + 7 * i)
               for i in range(60)}
        pool2 = dict(self.pool)
        pool2.update(new)
        files = {rel: (d, BASE + 5000 + i) for i, (rel, d) in enumerate(sorted(new.items()))}
        new_indexes = self.indexes(pool2, 2)
        files.update(new_indexes)
        helpers.write_tree(self.remote, files)
        final = {rel: d for rel, d in pool2.items()}

        target = self.mirror.target
        stop = threading.Event()
        seen = {"polls": 0, "new_index": 0, "pool_before_index": 0, "problems": []}

        def watch():
            while not stop.is_set():
                seen["polls"] += 1
                any_new_pool = any(os.path.exists(os.path.join(target, rel)) for rel in list(new)[:5])
                new_visible = False
                for rel, (want, _mtime) in new_indexes.items():
                    try:
                        data = read(os.path.join(target, rel))
                    except FileNotFoundError:
                        continue
                    if data != want:
                        continue
                    new_visible = True
                    seen["new_index"] += 1
                    if seen["new_index"] > 40:
                        continue   # checked enough times
                    for listed in self.listed(rel, data):
                        try:
                            have = read(os.path.join(target, listed))
                        except FileNotFoundError:
                            seen["problems"].append("%s visible, %s missing" % (rel, listed))
                            continue
                        if have != final[listed]:
                            seen["problems"].append("%s visible, %s has %d bytes, not its final %d"
                                                    % (rel, listed, len(have), len(final[listed])))
                if any_new_pool and not new_visible:
                    seen["pool_before_index"] += 1
                time.sleep(0.002)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            result, run, events = self.sync(self.mirror, 0, "sync adding pool files and indexes")
        finally:
            time.sleep(0.1)
            stop.set()
            watcher.join(10)
        evidence = "watcher: %s\n%s" % ({k: v for k, v in seen.items() if k != "problems"},
                                         self.show(result, run, events))
        self.assertEqual(seen["problems"][:20], [], evidence)
        self.assertGreater(seen["new_index"], 0, "the watcher never saw the new index\n" + evidence)
        self.assertSameTree(self.remote, target, " after the second sync")

        # The run's own record: every index published after its files.
        order = {helpers.norm_path(e["path"]): i for i, e in enumerate(events)
                 if e["action"] in ("add", "change")}
        for rel in new_indexes:
            self.assertIn(rel, order, "no add/change event for %s\n%s" % (rel, evidence))
            late = [p for p in self.listed(rel, new_indexes[rel][0])
                    if p in order and order[p] > order[rel]]
            self.assertEqual(late, [], "%s was published before files it lists\n%s"
                             % (rel, evidence))
        # And on disk: each index was renamed in after the files it lists
        # (rename sets ctime; coarse clock, so not-earlier is what holds).
        for rel in new_indexes:
            ictime = os.stat(os.path.join(target, rel)).st_ctime_ns
            newer = [p for p in new if os.stat(os.path.join(target, p)).st_ctime_ns > ictime]
            self.assertEqual(newer, [], "files changed after %s was published\n%s"
                             % (rel, evidence))


# --------------------------------------------------------- verify_manifests

class TestManifests(PublishTest):

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        self.v1 = {
            "good.txt": b"good v1\n",
            "bad.txt": b"bad v1: the previous good version\n",
            "sub/deep.txt": b"deep v1\n",
            "md5/m.txt": b"m v1\n",
            "iso/image.iso": helpers.content("iso1", 70_000),
            "bare/raw.bin": helpers.content("raw1", 5000),
        }
        self.v1["SHA256SUMS"] = sums({k: self.v1[k] for k in ("good.txt", "bad.txt", "sub/deep.txt")})
        self.v1["md5/MD5SUMS"] = sums({"m.txt": self.v1["md5/m.txt"]}, md5)
        self.v1["iso/image.iso.sha256"] = sums({"image.iso": self.v1["iso/image.iso"]})
        self.v1["bare/raw.bin.sha256"] = (sha256(self.v1["bare/raw.bin"]) + "\n").encode()
        self.put(self.v1, 1)
        self.server = servers.start_for(self, "pyftpdlib", self.remote)
        self.mirror = helpers.Mirror(self.tmp, "manifests", self.server.url, connections=2,
                                     retries=1, timeout=20, verify_manifests=True)

    def put(self, files, generation):
        helpers.write_tree(self.remote, {rel: (data, BASE + 1000 * generation + i)
                                         for i, (rel, data) in enumerate(sorted(files.items()))})

    def test_corrupted_files_are_quarantined_then_fixed(self):
        result, run, events = self.sync(self.mirror, 0, "first sync, all consistent")
        evidence = self.show(result, run, events)
        self.assertEqual(self.by_path(events, "quarantine"), {}, evidence)
        self.assertSameTree(self.remote, self.mirror.target)
        target = self.mirror.target

        # Upstream, manifests written, then files changed behind them.
        intended = {"bad.txt": b"bad v2\n", "sub/deep.txt": b"deep v2\n",
                    "added-bad.txt": b"added v2\n", "new.txt": b"new v2, fine\n"}
        sums2 = dict(intended, **{"good.txt": self.v1["good.txt"]})
        changes = {
            "SHA256SUMS": sums(sums2),
            "new.txt": intended["new.txt"],
            "bad.txt": b"bad v2 CORRUPTED after SHA256SUMS was written\n",
            "sub/deep.txt": b"deep v2 CORRUPTED\n",
            "added-bad.txt": b"added v2 CORRUPTED\n",
            "md5/m.txt": b"m v2: MD5SUMS still lists v1\n",
            "iso/image.iso": helpers.content("iso2", 70_000),
            "bare/raw.bin": helpers.content("raw2", 5000),
        }
        self.put(changes, 2)
        result, run, events = self.sync(self.mirror, 1, "sync with corrupted files")
        evidence = self.show(result, run, events)
        self.assertEqual(run["status"], "partial", evidence)
        rejected = {
            "bad.txt": "SHA256SUMS", "sub/deep.txt": "SHA256SUMS",
            "added-bad.txt": "SHA256SUMS", "md5/m.txt": "MD5SUMS",
            "iso/image.iso": r"image\.iso\.sha256", "bare/raw.bin": r"raw\.bin\.sha256",
        }
        for rel, reason in rejected.items():
            self.assertQuarantined(self.mirror, rel, changes[rel], events, evidence, reason)
        self.assertEqual(sorted(self.by_path(events, "quarantine")), sorted(rejected), evidence)
        # The previous good versions stay public; a new bad file is absent.
        for rel in ("bad.txt", "sub/deep.txt", "md5/m.txt", "iso/image.iso", "bare/raw.bin"):
            self.assertEqual(read(os.path.join(target, rel)), self.v1[rel],
                             "%s: not the previous good version\n%s" % (rel, evidence))
        self.assertFalse(os.path.lexists(os.path.join(target, "added-bad.txt")), evidence)
        # What passed is published.
        self.assertEqual(read(os.path.join(target, "new.txt")), intended["new.txt"], evidence)
        # The index is held back: the old one stays, with a skip event.
        self.assertEqual(read(os.path.join(target, "SHA256SUMS")), self.v1["SHA256SUMS"], evidence)
        skips = self.by_path(events, "skip")
        self.assertIn("SHA256SUMS", skips, evidence)
        self.assertTrue((skips["SHA256SUMS"]["detail"] or "").strip(), evidence)

        # Fixed upstream: everything goes through.
        fixed = {rel: intended[rel] for rel in ("bad.txt", "sub/deep.txt", "added-bad.txt")}
        fixed["md5/MD5SUMS"] = sums({"m.txt": changes["md5/m.txt"]}, md5)
        fixed["iso/image.iso.sha256"] = sums({"image.iso": changes["iso/image.iso"]})
        fixed["bare/raw.bin.sha256"] = (sha256(changes["bare/raw.bin"]) + "\n").encode()
        self.put(fixed, 3)
        result, run, events = self.sync(self.mirror, 0, "sync after the fix upstream")
        evidence = self.show(result, run, events)
        self.assertEqual(run["status"], "ok", evidence)
        self.assertEqual(self.by_path(events, "quarantine"), {}, evidence)
        published = dict(self.by_path(events, "add"), **self.by_path(events, "change"))
        self.assertIn("SHA256SUMS", published, "the held-back index was not published\n" + evidence)
        self.assertSameTree(self.remote, target, " after the fix")


# ----------------------------------------------------------- verify_command

class TestVerifyCommand(PublishTest):

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        self.files = {
            "clean/a.txt": b"nothing to see\n",
            "clean/b.txt": b"evil in lower case is fine\n",
            "evil.txt": b"this one is EVIL\n",
            "sub/evil2.bin": helpers.content("x", 3000) + b"EVIL" + helpers.content("y", 100),
            "hang/slow.txt": b"the scanner hangs on this\n",
        }
        helpers.write_tree(self.remote, {rel: (d, BASE + i)
                                         for i, (rel, d) in enumerate(sorted(self.files.items()))})
        self.server = servers.start_for(self, "pyftpdlib", self.remote)

    def script(self, name, body):
        path = self.path(name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path

    def test_rejecting_command_keeps_files_out(self):
        log = self.path("scanned.log")
        scan = self.script("scan.sh", 'echo "$1" >> %s\nif grep -q EVIL "$1"; then exit 1; fi\nexit 0\n'
                           % log)
        mirror = helpers.Mirror(self.tmp, "scanned", self.server.url, connections=2, retries=1,
                                timeout=20, exclude=["hang/**"], verify_command=scan + " {}")
        result, run, events = self.sync(mirror, 1, "sync with a rejecting verify_command")
        evidence = self.show(result, run, events)
        self.assertEqual(run["status"], "partial", evidence)
        for rel in ("evil.txt", "sub/evil2.bin"):
            self.assertQuarantined(mirror, rel, self.files[rel], events, evidence, r"exit|1")
            self.assertFalse(os.path.lexists(os.path.join(mirror.target, rel)), evidence)
        self.assertEqual(sorted(self.by_path(events, "quarantine")), ["evil.txt", "sub/evil2.bin"],
                         evidence)
        for rel in ("clean/a.txt", "clean/b.txt"):
            self.assertEqual(read(os.path.join(mirror.target, rel)), self.files[rel], evidence)
        with open(log) as f:
            scanned = f.read().splitlines()
        self.assertEqual(len(scanned), 4, "the command should have run once per file: %s\n%s"
                         % (scanned, evidence))

    def test_hanging_command_is_stopped(self):
        pidfile = self.path("hang.pid")
        hang = self.script("hang.sh", "echo $$ > %s\nexec sleep 30\n" % pidfile)
        mirror = helpers.Mirror(self.tmp, "hung", self.server.url + "hang/", connections=1,
                                retries=1, timeout=20, verify_command=hang + " {}",
                                verify_timeout=1)
        start = time.monotonic()
        result, run, events = self.sync(mirror, 1, "sync with a hanging verify_command")
        took = time.monotonic() - start
        evidence = self.show(result, run, events)
        self.assertLess(took, 15, "the hung command was not stopped in time\n" + evidence)
        self.assertQuarantined(mirror, "slow.txt", self.files["hang/slow.txt"], events, evidence,
                               r"(?i)time|over|limit|\b1 ?s")
        self.assertFalse(os.path.lexists(os.path.join(mirror.target, "slow.txt")), evidence)
        with open(pidfile) as f:
            pid = int(f.read())
        deadline = time.monotonic() + 3
        while helpers.process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(helpers.process_alive(pid),
                         "the hung verify_command (pid %d) still runs\n%s" % (pid, evidence))


# ------------------------------------------------------- verify_remote_hash

HASH_COMMANDS = ("XSHA256", "HASH", "XMD5", "XSHA1", "XSHA512", "XCRC")


class TestRemoteHashProftpd(PublishTest):

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        self.files = {"a.txt": b"alpha\n", "sub/b.bin": helpers.content("b", 50_000),
                      "name with space.txt": b"spaced\n"}
        helpers.write_tree(self.remote, {rel: (d, BASE + i)
                                         for i, (rel, d) in enumerate(sorted(self.files.items()))})
        self.server = servers.start_for(self, "proftpd", self.remote)

    def test_xsha256_after_each_retr(self):
        mark = self.server.mark()
        mirror = helpers.Mirror(self.tmp, "hashed", self.server.url, connections=2, timeout=20)
        result, run, events = self.sync(mirror, 0, "sync with verify_remote_hash: auto")
        evidence = self.show(result, run, events)
        cmds = self.server.commands(mark)
        evidence += "\nproftpd commands: %s" % [(c.cmd, c.arg) for c in cmds]
        self.assertSameTree(self.remote, mirror.target)
        retrieved = {c.arg.lstrip("/") for c in cmds if c.cmd == "RETR"}
        self.assertEqual(retrieved, set(self.files), evidence)
        hashed = [c for c in cmds if c.cmd in HASH_COMMANDS]
        self.assertTrue(any(c.cmd in ("XSHA256", "HASH") for c in hashed),
                        "no XSHA256 or HASH sent\n" + evidence)
        for rel in self.files:
            self.assertTrue(any(c.arg.lstrip("/").endswith(rel) for c in hashed),
                            "no digest asked for %s\n%s" % (rel, evidence))
        # In each session, the digest of a file is asked after its RETR.
        for rel in self.files:
            first_retr = min(i for i, c in enumerate(cmds) if c.cmd == "RETR"
                             and c.arg.lstrip("/") == rel)
            self.assertTrue(any(i > first_retr and c.cmd in HASH_COMMANDS
                                and c.arg.lstrip("/").endswith(rel)
                                for i, c in enumerate(cmds)),
                            "digest of %s not asked after its RETR\n%s" % (rel, evidence))

        mark = self.server.mark()
        off = helpers.Mirror(self.tmp, "unhashed", self.server.url, target=self.path("mirror-off"),
                             connections=2, timeout=20, verify_remote_hash="off")
        result, run, events = self.sync(off, 0, "sync with verify_remote_hash: off")
        cmds = self.server.commands(mark)
        self.assertEqual([c for c in cmds if c.cmd in HASH_COMMANDS], [],
                         "digest commands sent with verify_remote_hash: off\n%s"
                         % self.show(result, run, events))
        self.assertEqual(len([c for c in cmds if c.cmd == "RETR"]), len(self.files))
        self.assertSameTree(self.remote, off.target)


class TestRemoteHashMismatch(PublishTest):

    def test_wrong_digest_refetched_then_quarantined(self):
        remote = self.path("remote")
        files = {"ok1.txt": b"fine\n", "bad.bin": helpers.content("bad", 20_000),
                 "dir/ok2.txt": b"also fine\n"}
        helpers.write_tree(remote, {rel: (d, BASE + i)
                                    for i, (rel, d) in enumerate(sorted(files.items()))})
        server = XshaServer(remote, self.tmp, wrong=["bad.bin"])
        self.addCleanup(server.stop)
        server.start()
        mirror = helpers.Mirror(self.tmp, "xsha", server.url, connections=2, retries=1,
                                timeout=20)
        mark = server.mark()
        result, run, events = self.sync(mirror, 1, "sync with a wrong XSHA256")
        cmds = server.commands(mark)
        evidence = "%s\nserver commands: %s" % (self.show(result, run, events),
                                                [(c.cmd, c.arg) for c in cmds])
        self.assertEqual(run["status"], "partial", evidence)
        self.assertTrue(any(c.cmd == "XSHA256" for c in cmds), "XSHA256 never sent\n" + evidence)
        retr_bad = [c for c in cmds if c.cmd == "RETR" and c.arg.lstrip("/") == "bad.bin"]
        self.assertGreaterEqual(len(retr_bad), 2, "bad.bin was not fetched again\n" + evidence)
        self.assertIn("bad.bin", self.by_path(events, "retry"), evidence)
        self.assertQuarantined(mirror, "bad.bin", files["bad.bin"], events, evidence,
                               r"(?i)digest|hash|sha")
        self.assertFalse(os.path.lexists(os.path.join(mirror.target, "bad.bin")), evidence)
        for rel in ("ok1.txt", "dir/ok2.txt"):
            self.assertEqual(read(os.path.join(mirror.target, rel)), files[rel], evidence)
        self.assertEqual(sorted(self.by_path(events, "quarantine")), ["bad.bin"], evidence)


# ------------------------------------------------------------ snapshot mode

class TestSnapshot(PublishTest):

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        self.stable = {"stable/s%d.dat" % i: helpers.content("stable%d" % i, 4000 + i)
                       for i in range(3)}
        os.makedirs(self.remote, mode=0o755)
        self.server = servers.start_for(self, "pyftpdlib", self.remote)
        self.mirror = helpers.Mirror(self.tmp, "snap", self.server.url, connections=4,
                                     retries=1, timeout=20, publish="snapshot", keep_snapshots=1,
                                     delete=True, max_delete="100%")
        self.snapdir = self.path(".mirror.snapshots")

    @staticmethod
    def versioned(version):
        """{rel: bytes} of one version: every file tagged with it; the set
        of files changes too (one added, one gone per version)."""
        names = ["v/f%02d.txt" % i for i in range(20)] + ["v/d/g%d.bin" % i for i in range(4)]
        names.append("v/only-in-%d.txt" % version)
        return {rel: (b"version=%d path=%s\n" % (version, rel.encode())) + b"." * (100 * (i % 7))
                for i, rel in enumerate(names)}

    def upstream(self, version):
        remove = [rel for rel in helpers.snapshot(self.remote) if rel.startswith("v/only-in-")]
        for rel in remove:
            os.unlink(os.path.join(self.remote, rel))
        files = {rel: (d, BASE + 100 * version + i)
                 for i, (rel, d) in enumerate(sorted(self.versioned(version).items()))}
        files.update({rel: (d, BASE) for rel, d in self.stable.items()})
        helpers.write_tree(self.remote, files)

    def current(self):
        return os.path.realpath(self.mirror.target)

    def snapshots(self):
        return sorted(n for n in os.listdir(self.snapdir) if n.startswith("run-"))

    def check_run(self, run, evidence):
        self.assertTrue(os.path.islink(self.mirror.target), "target is not a link\n" + evidence)
        self.assertEqual(self.current(), os.path.join(self.snapdir, "run-%d" % run["id"]),
                         "target -> %s\n%s" % (os.readlink(self.mirror.target), evidence))
        problems = helpers.tree_differences(helpers.snapshot(self.remote),
                                            tree_without_trace(self.mirror.target))
        self.assertEqual(problems, [], evidence)
        with open(os.path.join(self.current(), ".ftpmirror", "trace")) as f:
            trace = parse_trace(f.read())
        self.assertEqual(trace.get("run"), str(run["id"]), "trace %s\n%s" % (trace, evidence))

    def test_snapshots_swap_atomically(self):
        self.upstream(1)
        result, run1, events = self.sync(self.mirror, 0, "first snapshot")
        self.check_run(run1, self.show(result, run1, events))
        self.assertEqual(self.snapshots(), ["run-%d" % run1["id"]])

        self.upstream(2)
        result, run2, events = self.sync(self.mirror, 0, "second snapshot")
        evidence = self.show(result, run2, events)
        self.check_run(run2, evidence)
        self.assertEqual(self.snapshots(), sorted(["run-%d" % run1["id"], "run-%d" % run2["id"]]),
                         evidence)
        # The first snapshot is untouched by the second run.
        old = os.path.join(self.snapdir, "run-%d" % run1["id"])
        for rel, data in self.versioned(1).items():
            self.assertEqual(read(os.path.join(old, rel)), data, evidence)
        # Unchanged files are hard links between consecutive snapshots.
        for rel in self.stable:
            a = os.stat(os.path.join(old, rel))
            b = os.stat(os.path.join(self.current(), rel))
            self.assertEqual(a.st_ino, b.st_ino, "%s is not shared between snapshots\n%s"
                             % (rel, evidence))

        # A reader walks target in a loop while the third run publishes.
        self.upstream(3)
        expected = {v: set(self.versioned(v)) | set(self.stable) for v in (2, 3)}
        stop = threading.Event()
        walks = {"count": 0, "versions": set(), "by_snapshot": {}, "problems": []}

        def reader():
            while not stop.is_set():
                root = os.path.realpath(self.mirror.target)
                tags, names = set(), set()
                try:
                    for dirpath, dirnames, filenames in os.walk(root):
                        for name in filenames:
                            path = os.path.join(dirpath, name)
                            rel = os.path.relpath(path, root)
                            if rel.startswith(".ftpmirror/"):
                                continue
                            names.add(rel)
                            data = read(path)
                            if rel.startswith("v/"):
                                m = re.match(rb"version=(\d+) ", data)
                                tags.add(int(m.group(1)) if m else -1)
                except OSError as exc:
                    walks["problems"].append("walk of %s: %s" % (root, exc))
                    continue
                walks["count"] += 1
                if len(tags) != 1:
                    walks["problems"].append("walk of %s saw versions %s" % (root, sorted(tags)))
                    continue
                version = tags.pop()
                walks["versions"].add(version)
                if names != expected.get(version):
                    walks["problems"].append("walk of %s (version %d): files %s"
                                             % (root, version, sorted(names ^ expected.get(version, set()))))
                if walks["by_snapshot"].setdefault(root, version) != version:
                    walks["problems"].append("%s changed from version %d to %d"
                                             % (root, walks["by_snapshot"][root], version))

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            time.sleep(0.05)
            result, run3, events = self.sync(self.mirror, 0, "third snapshot, read meanwhile")
            time.sleep(0.1)
        finally:
            stop.set()
            thread.join(10)
        evidence = "reader: %d walks, versions %s, problems %s\n%s" % (
            walks["count"], sorted(walks["versions"]), walks["problems"][:10],
            self.show(result, run3, events))
        self.assertEqual(walks["problems"], [], evidence)
        self.assertEqual(walks["versions"], {2, 3}, evidence)
        self.check_run(run3, evidence)
        # keep_snapshots: 1 -- the current one and exactly one older.
        self.assertEqual(self.snapshots(), sorted(["run-%d" % run2["id"], "run-%d" % run3["id"]]),
                         evidence)
        for rel in self.stable:
            a = os.stat(os.path.join(self.snapdir, "run-%d" % run2["id"], rel))
            b = os.stat(os.path.join(self.current(), rel))
            self.assertEqual(a.st_ino, b.st_ino, "%s not shared\n%s" % (rel, evidence))

    def test_real_directory_target_refused(self):
        self.upstream(1)
        os.makedirs(self.mirror.target)
        with open(os.path.join(self.mirror.target, "mine.txt"), "w") as f:
            f.write("the operator's file\n")
        result = self.mirror.sync()
        self.assertExit(result, 2, "sync with publish: snapshot onto a real directory")
        self.assertIn(self.mirror.target, result.stderr, helpers.describe(result))
        self.assertRegex(result.stderr, r"(?i)symbolic link|symlink", helpers.describe(result))
        self.assertEqual(os.listdir(self.mirror.target), ["mine.txt"], helpers.describe(result))
        self.assertFalse(os.path.islink(self.mirror.target))


# ------------------------------------------------------------------- trace

# ------------------------------------------------ target and incoming apart

class TestTreesApart(PublishTest):
    """Incoming must be apart from target (INTERFACE.md: "never inside
    it") and on the same mount: the job file's text shows neither a
    symbolic link into target nor a bind mount (systemd's ReadWritePaths=
    naming each tree), so the sync must refuse them at the start (exit 2),
    before anything is made or written inside target."""

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, {"inc": (b"a file named like incoming\n", 1_650_000_000),
                                         "f": (b"f\n", 1_650_000_001)})
        self.server = servers.start_for(self, "pyftpdlib", self.remote)
        self.target = self.path("out")
        os.makedirs(self.target)

    def refused(self, incoming, words, argv_prefix=(), options=()):
        mirror = helpers.Mirror(self.tmp, "apart", self.server.url, target=self.target,
                                incoming=incoming, connections=1, retries=0, timeout=10)
        result = helpers.run_command(list(argv_prefix) + mirror.argv("sync", *options,
                                                                     mirror.job),
                                     timeout=60, env=mirror.env(), cwd=self.tmp)
        self.assertExit(result, 2, "sync with incoming %s" % incoming)
        self.assertIn(words, result.stderr, "no clear reason\n" + helpers.describe(result))
        self.assertEqual(os.listdir(self.target), [], "something was made in target")

    def test_incoming_through_a_link_into_target(self):
        os.symlink(self.target, self.path("link"))
        self.refused(self.path("link/inc"), "inside")
        self.refused(self.path("link"), "inside")
        self.refused(self.path("link"), "inside", options=("--dry-run",))

    def test_unusable_lock_is_a_setup_error(self):
        """A lock that can't be taken (a directory in its place) is exit 2,
        as every other setup error, not 1, which means failed files."""
        incoming = self.path("inc")
        os.makedirs(os.path.join(incoming, ".lock"))
        mirror = helpers.Mirror(self.tmp, "locked", self.server.url, target=self.target,
                                incoming=incoming, connections=1, retries=0, timeout=10)
        result = mirror.sync()
        self.assertExit(result, 2, "sync with a directory for a lock")
        self.assertIn("cannot lock", result.stderr, helpers.describe(result))

    def test_target_and_incoming_on_two_mounts(self):
        if shutil.which("unshare") is None or os.geteuid() != 0:
            self.skipTest("needs unshare and root (a private mount namespace)")
        incoming = self.path("inc")
        os.makedirs(incoming)
        # The bind mount lives only in the namespace the sync runs in.
        script = 'mount --bind "$1" "$1" || exit 97; shift; exec "$@"'
        for dry in ((), ("--dry-run",)):
            self.refused(incoming, "different mounts",
                         ["unshare", "--mount", "--propagation", "private",
                          "sh", "-c", script, "sh", self.target], dry)


class TestTrace(PublishTest):

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, {"a.txt": (b"a\n", BASE), "d/b.txt": (b"bb\n", BASE + 1)})
        self.server = servers.start_for(self, "pyftpdlib", self.remote)

    def check_trace(self, path, run, mirror):
        with open(path) as f:
            text = f.read()
        trace = parse_trace(text)
        self.assertEqual(trace.get("run"), str(run["id"]), text)
        self.assertEqual(trace.get("source"), mirror.source, text)
        for key in ("files_added", "files_changed", "files_deleted"):
            self.assertEqual(trace.get(key), str(run[key]), "%s in\n%s" % (key, text))
        date = trace.get("date", "")
        self.assertRegex(date, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", text)
        stamp = time.mktime(time.strptime(date, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        self.assertLess(abs(stamp - time.time()), 300, text)

    def test_trace_written_on_change_only(self):
        mirror = helpers.Mirror(self.tmp, "traced", self.server.url, connections=1, timeout=20)
        trace = os.path.join(mirror.target, ".ftpmirror", "trace")
        result, run, events = self.sync(mirror, 0, "first sync")
        self.assertEqual(run["files_added"], 2, self.show(result, run, events))
        self.check_trace(trace, run, mirror)
        before = os.stat(trace)
        text = read(trace)

        time.sleep(1.1)
        result, run, events = self.sync(mirror, 0, "no-op sync")
        after = os.stat(trace)
        self.assertEqual((after.st_mtime_ns, after.st_ino), (before.st_mtime_ns, before.st_ino),
                         "a no-op run rewrote the trace\n" + self.show(result, run, events))
        self.assertEqual(read(trace), text)

        helpers.set_file(self.remote, "c.txt", b"c\n", BASE + 2)
        result, run, events = self.sync(mirror, 0, "sync adding a file")
        self.check_trace(trace, run, mirror)
        self.assertEqual(parse_trace(read(trace).decode()).get("files_added"), "1")

    def test_trace_file_path(self):
        where = self.path("traces", "mirror.trace")
        mirror = helpers.Mirror(self.tmp, "traced-elsewhere", self.server.url, connections=1,
                                timeout=20, trace_file=where)
        result, run, events = self.sync(mirror, 0, "sync with trace_file")
        self.check_trace(where, run, mirror)
        self.assertFalse(os.path.lexists(os.path.join(mirror.target, ".ftpmirror", "trace")),
                         self.show(result, run, events))

    def test_upstream_trace_left_out(self):
        """A mirror of an ftpmirror mirror meets its upstream's trace at
        .ftpmirror/trace: that one is not fetched (it would be overwritten by
        ours, and fetched again by every run)."""
        helpers.set_file(self.remote, ".ftpmirror/trace", b"run: 7\nupstream\n", BASE + 5)
        mirror = helpers.Mirror(self.tmp, "mirror-of-mirror", self.server.url, connections=1,
                                timeout=20)
        trace = os.path.join(mirror.target, ".ftpmirror", "trace")
        result, run, events = self.sync(mirror, 0, "first sync")
        self.assertEqual(run["files_added"], 2, self.show(result, run, events))
        self.check_trace(trace, run, mirror)
        mark = self.server.mark()
        result, run, events = self.sync(mirror, 0, "second sync")
        self.assertEqual((run["files_changed"], run["bytes_downloaded"]), (0, 0),
                         self.show(result, run, events))
        self.assertEqual([c for c in self.server.commands(mark) if c.cmd == "RETR"], [])


# ------------------------------------------------------------------- fsync

class TestFsync(PublishTest):

    SYNC_CALLS = ("syncfs", "sync_file_range", "fsync")
    RENAMES = ("rename", "renameat", "renameat2")

    def setUp(self):
        super().setUp()
        if shutil.which("strace") is None:
            self.skipTest("strace is not installed (tests/deps.sh installs it)")
        self.remote = self.path("remote")
        big = bytes(range(256)) * (20 * 4096)        # 20 MiB: a few writeback chunks
        helpers.write_tree(self.remote, {"big.bin": (big, BASE), "d/small.txt": (b"s\n", BASE)})
        self.server = servers.start_for(self, "pyftpdlib", self.remote)

    def traced_sync(self, mirror):
        """A sync under strace; returns the sync calls it made, by name, and
        the order of the syncfs and rename calls ("S", "R")."""
        log = self.path("strace-%s.log" % mirror.name)
        env = mirror.env()
        env["ASAN_OPTIONS"] = "detect_leaks=0"   # LeakSanitizer cannot run under ptrace
        traced = self.SYNC_CALLS + self.RENAMES
        result = helpers.run_command(
            ["strace", "-f", "-qq", "-o", log, "-e", "trace=" + ",".join(traced)]
            + mirror.argv("sync", mirror.job), timeout=helpers.DEFAULT_TIMEOUT,
            env=env, cwd=mirror.workdir)
        self.assertExit(result, 0, "traced sync of %s" % mirror.name)
        calls = {name: 0 for name in self.SYNC_CALLS}
        order = ""
        with open(log) as f:
            for line in f:
                m = re.match(r"\d+\s+(\w+)\(", line)
                if m and m.group(1) in calls:
                    calls[m.group(1)] += 1
                if m and m.group(1) in ("syncfs",) + self.RENAMES:
                    order += "S" if m.group(1) == "syncfs" else "R"
        return calls, order, result

    def test_default_syncs_and_fsync_false_does_not(self):
        durable = helpers.Mirror(self.tmp, "durable", self.server.url, connections=2, timeout=20)
        calls, order, result = self.traced_sync(durable)
        # The data before the first rename (flushed on a thread while the
        # last files arrive, then once more to be sure), the new names after
        # the last (the renames: two files and the trace file).
        self.assertEqual(order, "SSRRRS", "%s %s\n%s" % (calls, order, helpers.describe(result)))
        self.assertGreaterEqual(calls["sync_file_range"], 2, calls)
        self.assertEqual(helpers.tree_differences(helpers.snapshot(self.remote),
                                                  tree_without_trace(durable.target)), [])

        fast = helpers.Mirror(self.tmp, "fast", self.server.url, connections=2, timeout=20,
                              fsync=False)
        calls, order, result = self.traced_sync(fast)
        self.assertEqual((calls["syncfs"], calls["sync_file_range"]), (0, 0),
                         "%s\n%s" % (calls, helpers.describe(result)))
        self.assertEqual(helpers.tree_differences(helpers.snapshot(self.remote),
                                                  tree_without_trace(fast.target)), [])

    def test_runs_without_renames_sync_what_they_changed(self):
        """A run that only removes an empty directory (no file counts as
        deleted) and a snapshot run that changes nothing (its new tree is all
        hard links) still sync before they are recorded as done."""
        os.mkdir(os.path.join(self.remote, "empty"))
        dirs = helpers.Mirror(self.tmp, "dirs", self.server.url, target=self.path("dirs"),
                              connections=2, timeout=20)
        self.traced_sync(dirs)
        self.assertTrue(os.path.isdir(os.path.join(dirs.target, "empty")))
        os.rmdir(os.path.join(self.remote, "empty"))
        calls, order, result = self.traced_sync(dirs)
        self.assertFalse(os.path.exists(os.path.join(dirs.target, "empty")))
        self.assertEqual(order, "S", "%s %s\n%s" % (calls, order, helpers.describe(result)))

        snap = helpers.Mirror(self.tmp, "snap", self.server.url, target=self.path("snap"),
                              connections=2, timeout=20, publish="snapshot")
        self.traced_sync(snap)
        calls, order, result = self.traced_sync(snap)
        self.assertEqual(calls["syncfs"], 1, "%s %s\n%s" % (calls, order, helpers.describe(result)))
        self.assertEqual(helpers.tree_differences(helpers.snapshot(self.remote),
                                                  tree_without_trace(snap.target)), [])


if __name__ == "__main__" and "--xsha-server" in sys.argv[1:]:
    xsha_server_main(sys.argv[1:])
