"""Security (issue 5): passwords, file modes, FTPS.

* A real account on pyftpdlib (user + password, started by this file): the
  password (password_file or inline `password:`) never appears in
  ftpmirror's stdout/stderr (also with -v, also when the login fails), in
  the database files, or in /proc/PID/cmdline and environ of a running sync;
  `check` warns about a job file that holds a password and is readable by
  others, and does not when it is not.
* Modes: the server's files and directories carry setuid, setgid, sticky and
  world-writable modes; under umask 0, 022 and 027, nothing in `target` or
  `incoming` has a setuid/setgid/sticky bit or is world-writable (not even
  under umask 0), no bit the umask removes is set, and all files (all
  directories) share one mode: nothing comes from the server.
* FTPS on pure-ftpd with a self-signed certificate made here (-Y 3: TLS
  required on control and data connections; -2 CERTFILE): `tls: required`
  on an ftp:// source fails with exit 4 and a certificate message without
  ca_file, and mirrors exactly with ca_file.  pure-ftpd (1.0.50, Debian)
  has no implicit TLS, so ftps:// is tested against faultproxy's TLS front
  end (implicit TLS on control and data) before a plain pure-ftpd.
"""

import ftplib
import os
import socket
import ssl
import stat
import subprocess
import time

import faultproxy
import helpers
import servers
from helpers import content

BASE = 1_660_000_000
USER = "mirroruser"
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")

USER_SERVER = r'''
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler, ThrottledDTPHandler
from pyftpdlib.servers import FTPServer

root, port, pwfile, first, last, throttle, user = sys.argv[1:8]
with open(pwfile) as f:
    password = f.read().strip()
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elr")
handler = FTPHandler
handler.authorizer = authorizer
handler.passive_ports = range(int(first), int(last) + 1)
handler.masquerade_address = "127.0.0.1"
handler.use_gmt_times = True
if int(throttle):
    class Throttled(ThrottledDTPHandler):
        read_limit = int(throttle)
        write_limit = int(throttle)
    handler.dtp_handler = Throttled
server = FTPServer(("127.0.0.1", int(port)), handler)
server.serve_forever()
'''


def tree():
    return {"README": (content("README", 2000), BASE + 1),
            "pub/data.bin": (content("data", 600_000), BASE + 2),
            "pub/sub/small.txt": (content("small", 100), BASE + 3)}


def wait_greeting(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with status %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server on port %d did not greet" % port)


class TestPasswords(helpers.IntegrationTest):

    def start_user_server(self, password, throttle=0):
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, tree())
        script = self.path("user_server.py")
        with open(script, "w") as f:
            f.write(USER_SERVER)
        pwfile = self.path("server.pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        os.chmod(pwfile, 0o600)
        port = helpers.ports.port()
        passive = helpers.ports.block(20)
        log = open(self.path("user_server.out"), "wb")
        self.addCleanup(log.close)
        proc = helpers.spawn([servers.PYTHON, script, self.remote, str(port), pwfile,
                              str(passive[0]), str(passive[-1]), str(throttle), USER],
                             stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(helpers.stop_process, proc, 2.0)
        wait_greeting(port, proc)
        return "ftp://127.0.0.1:%d/" % port

    def secret(self, tag):
        return "Pw-%s-%s" % (tag, os.urandom(6).hex())

    def assertNotLeaked(self, secret, text, where):
        if secret in text:
            at = text.index(secret)
            self.fail("the password appears in %s: ...%r..." % (where, text[max(0, at - 120):at + 60]))

    def assertDbClean(self, mirror, secret):
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = mirror.db + suffix
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data = f.read()
                self.assertNotIn(secret.encode(), data, "the password is stored in %s" % path)
        # The staging area and the mirror hold nothing of it either.
        for root in (mirror.incoming, mirror.target):
            for dirpath, _dirs, names in os.walk(root):
                for name in names:
                    path = os.path.join(dirpath, name)
                    if os.path.isfile(path) and not os.path.islink(path):
                        with open(path, "rb") as f:
                            self.assertNotIn(secret.encode(), f.read(), "password in %s" % path)

    def test_password_file_never_shown(self):
        secret = self.secret("file")
        url = self.start_user_server(secret, throttle=300_000)
        pwfile = self.path("job.pw")
        with open(pwfile, "w") as f:
            f.write(secret + "\n")
        os.chmod(pwfile, 0o600)
        mirror = helpers.Mirror(self.tmp, "pwfile", url, user=USER, password_file=pwfile,
                                timeout=10, retries=1, connections=2)
        os.chmod(mirror.job, 0o600)
        out, err = self.path("v.stdout"), self.path("v.stderr")
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = helpers.spawn(mirror.argv("-v", "sync", mirror.job), stdout=o, stderr=e,
                                 env=mirror.env(), cwd=mirror.workdir)
        samples = 0
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                for name in ("cmdline", "environ"):
                    try:
                        with open("/proc/%d/%s" % (proc.pid, name), "rb") as f:
                            data = f.read()
                    except OSError:
                        continue
                    samples += 1
                    self.assertNotIn(secret.encode(), data, "password in /proc/PID/%s" % name)
                time.sleep(0.05)
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        finally:
            helpers.stop_process(proc, grace=1.0)
        with open(out, errors="replace") as f:
            stdout = f.read()
        with open(err, errors="replace") as f:
            stderr = f.read()
        result = helpers.Result(mirror.argv("-v", "sync", mirror.job), proc.returncode,
                                stdout, stderr, 0.0)
        self.assertExit(result, 0, "sync -v with a password_file")
        self.assertGreater(samples, 4, "the sync was too short to sample /proc")
        self.assertTrue("PASS" in stderr + stdout or "USER" in stderr + stdout,
                        "-v shows no protocol steps; nothing was checked\n" + helpers.describe(result))
        self.assertNotLeaked(secret, stdout + stderr, "sync -v output")
        self.assertSameTree(self.remote, mirror.target)
        for args in (["sync", mirror.job], ["-v", "sync", mirror.job], ["--json", "sync", mirror.job],
                     ["history"], ["--json", "history"], ["check", mirror.job], ["-v", "check", mirror.job]):
            res = mirror.run(*args)
            self.assertNotLeaked(secret, res.stdout + res.stderr, " ".join(args))
        self.assertDbClean(mirror, secret)

    def test_inline_password_never_shown(self):
        secret = self.secret("inline")
        url = self.start_user_server(secret)
        mirror = helpers.Mirror(self.tmp, "inline", url, user=USER, password=secret,
                                timeout=10, retries=1)
        os.chmod(mirror.job, 0o600)
        for args in (["-v", "sync", mirror.job], ["sync", mirror.job], ["-v", "history"],
                     ["-v", "check", mirror.job]):
            res = mirror.run(*args)
            self.assertNotLeaked(secret, res.stdout + res.stderr, " ".join(args))
            if args[-1] == mirror.job and "sync" in args:
                self.assertExit(res, 0, " ".join(args))
        self.assertSameTree(self.remote, mirror.target)
        self.assertDbClean(mirror, secret)

    def test_password_env_never_shown(self):
        secret = self.secret("env")
        url = self.start_user_server(secret)
        mirror = helpers.Mirror(self.tmp, "pwenv", url, user=USER,
                                password_env="FTPMIRROR_TEST_PASSWORD", timeout=10, retries=1)
        os.chmod(mirror.job, 0o600)
        env = mirror.env()
        env["FTPMIRROR_TEST_PASSWORD"] = secret
        res = helpers.run_command(mirror.argv("-v", "sync", mirror.job), timeout=60, env=env,
                                  cwd=self.tmp)
        self.assertExit(res, 0, "sync -v with password_env")
        self.assertNotLeaked(secret, res.stdout + res.stderr, "sync -v with password_env")
        self.assertSameTree(self.remote, mirror.target)
        self.assertDbClean(mirror, secret)
        # Unset, the job can't run: a clear job error, not a login attempt.
        res = mirror.run("sync", mirror.job)
        self.assertExit(res, 2, "sync with password_env unset")
        self.assertIn("FTPMIRROR_TEST_PASSWORD", res.stderr)

    def test_netrc_never_shown(self):
        secret = self.secret("netrc")
        url = self.start_user_server(secret)
        netrc = self.path("netrc")
        with open(netrc, "w") as f:
            f.write("machine 127.0.0.1 login %s password %s\n" % (USER, secret))
        os.chmod(netrc, 0o600)
        mirror = helpers.Mirror(self.tmp, "netrc", url, netrc_file=netrc, timeout=10, retries=1)
        os.chmod(mirror.job, 0o600)
        res = mirror.run("-v", "sync", mirror.job)
        self.assertExit(res, 0, "sync -v with netrc_file")
        self.assertNotLeaked(secret, res.stdout + res.stderr, "sync -v with netrc_file")
        self.assertSameTree(self.remote, mirror.target)
        self.assertDbClean(mirror, secret)

    def test_wrong_password_not_shown(self):
        url = self.start_user_server(self.secret("right"))
        wrong = self.secret("wrong")
        pwfile = self.path("wrong.pw")
        with open(pwfile, "w") as f:
            f.write(wrong + "\n")
        os.chmod(pwfile, 0o600)
        mirror = helpers.Mirror(self.tmp, "wrongpw", url, user=USER, password_file=pwfile,
                                timeout=5, retries=1)
        os.chmod(mirror.job, 0o600)
        res = mirror.run("-v", "sync", mirror.job)
        self.assertExit(res, 4, "sync with a wrong password")
        self.assertNotLeaked(wrong, res.stdout + res.stderr, "the failed login's output")
        text = (res.stdout + res.stderr).lower()
        self.assertTrue("login" in text or "denied" in text or "530" in text,
                        "the error does not say the login failed\n" + helpers.describe(res))
        self.assertDbClean(mirror, wrong)

    def test_check_warns_when_job_with_password_is_readable(self):
        mirror = helpers.Mirror(self.tmp, "pwjob", "ftp://127.0.0.1:21/", user=USER,
                                password="Pw-check-1234")
        os.chmod(mirror.job, 0o644)
        res = mirror.run("check", mirror.job)
        self.assertExit(res, 0, "check of a readable job with a password")
        text = (res.stdout + res.stderr).lower()
        self.assertTrue("password" in text and ("readable" in text or "permission" in text
                                                or "mode" in text),
                        "no warning about a world-readable job file holding a password\n"
                        + helpers.describe(res))
        self.assertNotLeaked("Pw-check-1234", res.stdout + res.stderr, "check output")
        os.chmod(mirror.job, 0o600)
        res = mirror.run("check", mirror.job)
        self.assertExit(res, 0, "check of a private job with a password")
        warnings = [line for line in (res.stdout + res.stderr).lower().splitlines()
                    if "password" in line]
        self.assertEqual(warnings, [], "warning about a job file only its owner can read\n"
                         + helpers.describe(res))


# ---------------------------------------------------------------- modes

SPECIAL = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX

REMOTE_MODES = {              # path: mode set on the server's copy
    "suid.bin": 0o4755,
    "sgid.bin": 0o2755,
    "sticky.txt": 0o1644,
    "all.txt": 0o777,
    "ww.txt": 0o666,
    "sd/inner.txt": 0o6777,
    "sd": 0o1777,
    "gd": 0o2775,
    "gd/x.txt": 0o644,
    "wd": 0o777,
    "wd/y.bin": 0o4777,
}


class TestModes(helpers.IntegrationTest):

    def remote_tree(self):
        remote = self.path("remote")
        files = {}
        for rel in REMOTE_MODES:
            if rel not in ("sd", "gd", "wd"):
                files[rel] = (content(rel, 300_000 if rel.endswith(".bin") else 500), BASE + len(rel))
        helpers.write_tree(remote, files, dirs=["sd", "gd", "wd"])
        for rel, mode in REMOTE_MODES.items():
            os.chmod(os.path.join(remote, rel), mode)
        return remote

    def run_umask(self, mirror, mask, args):
        def child():
            os.umask(mask)
        start = time.monotonic()
        proc = helpers.spawn(mirror.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=mirror.env(), cwd=mirror.workdir, preexec_fn=child)
        out, err = proc.communicate(timeout=60)
        helpers.stop_process(proc, grace=0.5)
        return helpers.Result(mirror.argv(*args), proc.returncode, out.decode(errors="replace"),
                              err.decode(errors="replace"), time.monotonic() - start)

    def bad_modes(self, root, mask):
        """Entries under root with a setuid/setgid/sticky bit, world-writable,
        with a bit the umask removes, or whose mode differs from that of
        the other entries of its type there: the server's modes (all
        different, see REMOTE_MODES) must not show through."""
        problems = []
        seen = {}
        # The directory itself: ftpmirror creates target and incoming.
        mode = stat.S_IMODE(os.lstat(root).st_mode)
        if mode & (SPECIAL | 0o002 | mask):
            problems.append("%s itself: %04o (setuid/setgid/sticky, world-writable or "
                            "against the umask %03o)" % (root, mode, mask))
        for dirpath, dirs, names in os.walk(root):
            for name in dirs + names:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode) or name == ".lock":
                    continue
                mode = stat.S_IMODE(st.st_mode)
                rel = os.path.relpath(path, root)
                if mode & SPECIAL:
                    problems.append("%s: %04o has setuid/setgid/sticky" % (rel, mode))
                if mode & 0o002:
                    problems.append("%s: %04o is world-writable" % (rel, mode))
                if mode & mask:
                    problems.append("%s: %04o has bits the umask %03o removes" % (rel, mode, mask))
                if rel == ".ftpmirror" or rel.startswith(".ftpmirror/"):
                    continue   # ftpmirror's own trace file, not a copy of a remote file
                kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
                seen.setdefault(kind, {}).setdefault(mode, []).append(rel)
        for kind, modes in seen.items():
            if len(modes) > 1:
                problems.append("%ss have different modes: %s" % (
                    kind, ", ".join("%04o: %s" % (m, sorted(p)[:4]) for m, p in sorted(modes.items()))))
        return problems

    def check_modes(self, kind, mask):
        remote = self.remote_tree()
        server = servers.start_for(self, kind, remote)
        proxy = faultproxy.FaultProxy(server.port, port=helpers.ports.port(), lifetime=120).start()
        self.addCleanup(proxy.stop)
        mirror = helpers.Mirror(self.tmp, "modes-%s-%03o" % (kind, mask), proxy.url,
                                timeout=3, retries=0, connections=2)
        # First a run that leaves a staged partial: one transfer cut, no retries.
        proxy.cut_data(after=100_000, times=1, path="wd/y.bin")
        first = self.run_umask(mirror, mask, ["sync", mirror.job])
        self.assertExit(first, 1, "sync with a cut transfer and retries: 0\n" + proxy.describe())
        staged = [n for n in os.listdir(mirror.incoming) if n != ".lock"]
        self.assertTrue(staged, "nothing staged in %s" % mirror.incoming)
        problems = self.bad_modes(mirror.incoming, mask)
        self.assertEqual(problems, [], "modes in incoming (%s, umask %03o)" % (kind, mask))
        second = self.run_umask(mirror, mask, ["sync", mirror.job])
        self.assertExit(second, 0, "sync")
        self.assertSameTree(remote, mirror.target)
        problems = self.bad_modes(mirror.target, mask) + self.bad_modes(mirror.incoming, mask)
        self.assertEqual(problems, [], "modes in target/incoming (%s, umask %03o)" % (kind, mask))

    def test_umask_0_pyftpdlib(self):
        self.check_modes("pyftpdlib", 0)

    def test_umask_022_pyftpdlib(self):
        self.check_modes("pyftpdlib", 0o022)

    def test_umask_0_pure_ftpd(self):
        # pure-ftpd's MLSD shows UNIX.mode: a tempting source of modes.
        self.check_modes("pure-ftpd", 0)

    def test_umask_027_pure_ftpd(self):
        self.check_modes("pure-ftpd", 0o027)


# ----------------------------------------------------------------- FTPS

class PureFtpdTls(servers.PureFtpdServer):
    """pure-ftpd requiring TLS (-Y 3: control and data) with certfile."""

    def __init__(self, root, workdir, certfile, level=3):
        super().__init__(root, workdir)
        self.certfile = certfile
        self.level = level

    def _argv(self):
        return super()._argv() + ["-Y", str(self.level), "-2", self.certfile]


def make_cert(directory, name="server"):
    """A self-signed certificate for 127.0.0.1: (cert, key, bundle)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    bundle = os.path.join(directory, name + ".pem")
    res = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", key, "-out", cert, "-days", "2",
                          "-subj", "/CN=127.0.0.1",
                          "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("openssl failed: %s" % res.stderr)
    with open(bundle, "w") as out:
        for part in (key, cert):
            with open(part) as f:
                out.write(f.read())
    os.chmod(bundle, 0o600)
    return cert, key, bundle


class TestFtps(helpers.IntegrationTest):

    def setUp(self):
        super().setUp()
        if not os.access("/usr/bin/openssl", os.X_OK):
            self.skipTest("openssl not installed")
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, tree())
        self.cert, self.key, self.bundle = make_cert(self.tmp)

    def start_tls_server(self):
        server = PureFtpdTls(self.remote, self.tmp, self.bundle)
        self.addCleanup(server.stop)
        server.start()
        # The server must really insist on TLS, or the tests prove nothing.
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", server.port, timeout=5)
        try:
            with self.assertRaises(ftplib.all_errors, msg="pure-ftpd accepted a clear-text login"):
                ftp.login()
        finally:
            ftp.close()
        return server

    def assertCertificateError(self, res):
        self.assertFalse(any(m in res.stderr for m in SANITIZER_MARKS), helpers.describe(res))
        self.assertExit(res, 4, "sync against an unverifiable certificate")
        self.assertIn("certificate", (res.stderr + res.stdout).lower(),
                      "the error does not mention the certificate\n" + helpers.describe(res))

    def test_explicit_tls_without_ca_file_fails(self):
        server = self.start_tls_server()
        mirror = helpers.Mirror(self.tmp, "tls-noca", server.url, tls="required",
                                timeout=5, retries=1)
        res = mirror.sync()
        self.assertCertificateError(res)
        self.assertFalse(os.path.exists(mirror.target) and os.listdir(mirror.target),
                         "files mirrored over an unverified connection")

    def test_explicit_tls_with_ca_file(self):
        server = self.start_tls_server()
        mirror = helpers.Mirror(self.tmp, "tls-ca", server.url, tls="required",
                                ca_file=self.cert, timeout=5, retries=1)
        res = mirror.sync()
        self.assertExit(res, 0, "sync with tls: required and ca_file")
        self.assertSameTree(self.remote, mirror.target)
        again = mirror.sync()
        self.assertExit(again, 0, "second sync over TLS")

    def implicit_front(self):
        """ftps:// (implicit TLS): pure-ftpd has no implicit mode, so
        faultproxy terminates TLS (control and, after PROT P, data) in
        front of a plain pure-ftpd."""
        server = servers.start_for(self, "pure-ftpd", self.remote)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        proxy = faultproxy.FaultProxy(server.port, port=helpers.ports.port(), tls=ctx,
                                      lifetime=120).start()
        self.addCleanup(proxy.stop)
        return proxy

    def test_implicit_ftps_without_ca_file_fails(self):
        proxy = self.implicit_front()
        mirror = helpers.Mirror(self.tmp, "ftps-noca", proxy.url, timeout=5, retries=1)
        res = mirror.sync()
        self.assertCertificateError(res)

    def test_implicit_ftps_with_ca_file(self):
        proxy = self.implicit_front()
        mirror = helpers.Mirror(self.tmp, "ftps-ca", proxy.url, ca_file=self.cert,
                                timeout=5, retries=1)
        res = mirror.sync()
        self.assertExit(res, 0, "sync of an ftps:// source with ca_file\n" + proxy.describe())
        self.assertSameTree(self.remote, mirror.target)
        prot = [c for c in proxy.commands("PROT")]
        self.assertTrue(prot and all(c[3].strip().upper() == "P" for c in prot),
                        "data connections not protected (PROT commands: %s)" % prot)
