"""FTP servers for the integration tests, on 127.0.0.1 only.

    server = make_server("pyftpdlib" | "pure-ftpd", root, workdir, throttle=0)
    server.start()            # returns when the server greets on its port
    server.url                # "ftp://127.0.0.1:PORT/"
    mark = server.mark()      # position in its logs ...
    server.transfers(mark)    # ... and the transfers finished since then
    server.stop()             # kill the process group, wait, verify

Both servers serve `root` anonymously and read-only, with a passive port
range of PASSIVE_PORTS ports announced as 127.0.0.1.  Every started server is
registered; stop_all() (called by run.py whatever happens) stops the rest.

pyftpdlib runs tests/integration/pyftpd_server.py, which logs every command
(SESSION, CMD, ARG) and every finished transfer; commands(mark) reads them.

pure-ftpd serves the home directory of the system user `ftp`.  Rather than
touching the machine's accounts, it runs in a private mount namespace
(`unshare --mount`, root only) where a generated passwd file -- the real one
plus `ftp` with home = root -- is bind-mounted over /etc/passwd.  It runs in
the foreground with:
    -S 127.0.0.1,PORT   listen there (standalone)
    -p FIRST:LAST       passive ports (caps clients at half the range)
    -P 127.0.0.1        address announced in PASV/EPSV replies
    -e                  anonymous users only
    -i                  anonymous users cannot upload (read-only)
    -A                  chroot everyone
    -H                  no reverse DNS
    -4                  IPv4 only
    -f none             no syslog
    -O clf:FILE         one CLF line per finished (or aborted) transfer,
                        with the bytes sent: how tests count downloads
    -t KB               (throttle) anonymous bandwidth in KiB/s
"""

import os
import re
import shutil
import socket
import subprocess
import time
import unittest
from collections import namedtuple
from urllib.parse import unquote

import helpers

PYTHON = "/usr/bin/python3"
PURE_FTPD = "/usr/sbin/pure-ftpd"
PASSIVE_PORTS = 60
START_TIMEOUT = 15

Transfer = namedtuple("Transfer", "path bytes completed")   # path: relative, no leading /
Command = namedtuple("Command", "session cmd arg")

_live = set()


def stop_all():
    """Stop every server that is still running (run.py calls this last)."""
    for server in list(_live):
        try:
            server.stop()
        except Exception as exc:
            print("integration: could not stop %s: %s" % (server, exc))


def _log_lines(path):
    """Complete lines of a log file (a partly written last line is left)."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return lines[:-1]   # text ends with "\n": the last element is "" or partial


class FtpServer:
    kind = "?"

    def __init__(self, root, workdir, throttle=0):
        """root: directory to serve; workdir: where logs go; throttle: bytes
        per second per data connection (0: none)."""
        self.root = os.path.realpath(root)
        self.workdir = workdir
        self.throttle = throttle
        self.proc = None
        self.port = None
        self.passive = helpers.ports.block(PASSIVE_PORTS)
        self.output = os.path.join(workdir, "%s-%d.out" % (self.kind, id(self)))

    def __repr__(self):
        return "<%s server on port %s, root %s>" % (self.kind, self.port, self.root)

    @property
    def url(self):
        return "ftp://127.0.0.1:%d/" % self.port

    # --- life cycle -------------------------------------------------------

    @classmethod
    def unavailable(cls):
        """None if this server can run here, else the reason it cannot."""
        return None

    def _argv(self):
        raise NotImplementedError

    def start(self):
        reason = self.unavailable()
        if reason:
            raise unittest.SkipTest("%s: %s" % (self.kind, reason))
        argv = self._argv()
        with open(self.output, "ab") as out:
            self.proc = helpers.spawn(argv, stdout=out, stderr=subprocess.STDOUT)
        _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self):
        """Wait until the server sends a 220 greeting on its port."""
        deadline = time.monotonic() + START_TIMEOUT
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with status %s while starting:\n%s"
                                   % (self.kind, self.proc.returncode, self.server_output()))
            if self.port is None:
                self.port = self._discover_port()
            if self.port is not None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                        greeting = s.recv(512)
                        s.sendall(b"QUIT\r\n")
                    if greeting.startswith(b"220"):
                        return
                    last_error = "greeting %r" % greeting[:80]
                except OSError as exc:
                    last_error = exc
            time.sleep(0.05)
        raise RuntimeError("%s did not start within %ss (%s):\n%s"
                           % (self.kind, START_TIMEOUT, last_error, self.server_output()))

    def _discover_port(self):
        return self.port

    def stop(self):
        """Stop the server and everything in its process group; verified."""
        if self.proc is not None:
            try:
                helpers.stop_process(self.proc, grace=3.0)
            finally:
                _live.discard(self)

    def alive(self):
        return self.proc is not None and helpers.process_alive(self.proc.pid)

    def server_output(self):
        try:
            with open(self.output, "r", errors="replace") as f:
                return f.read()[-4000:]
        except FileNotFoundError:
            return ""

    # --- logs -------------------------------------------------------------

    def mark(self):
        """A position in the transfer log; pass it to transfers()."""
        return len(self._transfer_log_lines())

    def transfers(self, since=0):
        """Transfers logged after position `since` (see mark())."""
        raise NotImplementedError

    def _transfer_log_lines(self):
        raise NotImplementedError

    def wait_for_transfer(self, relpath, since, timeout=5.0):
        """Wait until a transfer of relpath is logged after `since` (servers
        log an aborted transfer only when they notice the client is gone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(t.path == relpath for t in self.transfers(since)):
                return True
            time.sleep(0.05)
        return False


class PyftpdlibServer(FtpServer):
    kind = "pyftpdlib"

    @classmethod
    def unavailable(cls):
        if not os.access(PYTHON, os.X_OK):
            return "%s not found" % PYTHON
        probe = subprocess.run([PYTHON, "-c", "import pyftpdlib"], capture_output=True, timeout=20)
        if probe.returncode != 0:
            return "python3-pyftpdlib is not installed for %s" % PYTHON
        return None

    def __init__(self, root, workdir, throttle=0):
        super().__init__(root, workdir, throttle)
        self.command_log = os.path.join(workdir, "pyftpdlib-%d.log" % id(self))
        self.ready_file = os.path.join(workdir, "pyftpdlib-%d.port" % id(self))
        self.port = None

    def _argv(self):
        argv = [PYTHON, os.path.join(helpers.HERE, "pyftpd_server.py"),
                "--root", self.root, "--port", str(helpers.ports.port()),
                "--passive", "%d-%d" % (self.passive[0], self.passive[-1]),
                "--command-log", self.command_log, "--ready-file", self.ready_file]
        if self.throttle:
            argv += ["--throttle", str(self.throttle)]
        return argv

    def _discover_port(self):
        try:
            with open(self.ready_file) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _records(self):
        return [line.split("\t", 2) for line in _log_lines(self.command_log)]

    def commands(self, since=0):
        """Commands received after log position `since` (see mark())."""
        result = []
        for fields in self._records()[since:]:
            if len(fields) == 3 and fields[1] not in ("XFER", "CONNECT"):
                result.append(Command(int(fields[0]), fields[1], fields[2]))
        return result

    def _transfer_log_lines(self):
        return self._records()   # one log for commands and transfers

    def transfers(self, since=0):
        result = []
        for fields in self._records()[since:]:
            if len(fields) == 3 and fields[1] == "XFER":
                cmd, completed, nbytes, path = fields[2].split("\t", 3)
                if cmd == "RETR":
                    result.append(Transfer(path.lstrip("/"), int(nbytes), completed == "1"))
        return result


class PureFtpdServer(FtpServer):
    kind = "pure-ftpd"

    CLF = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<verb>[A-Z]+) (?P<path>.*)" (?P<code>\d+) (?P<bytes>\d+)$')

    @classmethod
    def unavailable(cls):
        if not os.access(PURE_FTPD, os.X_OK):
            return "%s not found (install pure-ftpd: sh tests/deps.sh)" % PURE_FTPD
        if shutil.which("unshare") is None:
            return "unshare not found"
        if os.geteuid() != 0:
            return "needs root (private mount namespace for its ftp user)"
        return None

    def __init__(self, root, workdir, throttle=0):
        super().__init__(root, workdir, throttle)
        self.port = helpers.ports.port()
        self.xfer_log = os.path.join(workdir, "pure-ftpd-%d.clf" % id(self))
        self.passwd = os.path.join(workdir, "pure-ftpd-%d.passwd" % id(self))

    def _write_passwd(self):
        """The machine's passwd without any `ftp` entry, plus our own `ftp`
        (an unused uid, group nogroup) whose home is the served root."""
        with open("/etc/passwd", encoding="utf-8") as f:
            entries = [line.rstrip("\n") for line in f if line.strip()]
        entries = [e for e in entries if e.split(":", 1)[0] != "ftp"]
        used = {int(e.split(":")[2]) for e in entries if e.count(":") >= 6 and e.split(":")[2].isdigit()}
        uid = next(u for u in range(64000, 65000) if u not in used)
        entries.append("ftp:x:%d:65534:ftpmirror test anonymous FTP:%s:/usr/sbin/nologin"
                       % (uid, self.root))
        with open(self.passwd, "w", encoding="utf-8") as f:
            f.write("\n".join(entries) + "\n")
        os.chmod(self.passwd, 0o644)

    def _argv(self):
        self._write_passwd()
        argv = [PURE_FTPD,
                "-S", "127.0.0.1,%d" % self.port,
                "-p", "%d:%d" % (self.passive[0], self.passive[-1]),
                "-P", "127.0.0.1",
                "-e", "-i", "-A", "-H", "-4",
                "-f", "none",
                "-O", "clf:%s" % self.xfer_log]
        if self.throttle:
            argv += ["-t", str(max(1, self.throttle // 1024))]
        # unshare (no --fork) execs sh, which execs pure-ftpd: one pid, the
        # leader of the process group helpers.spawn() created.
        script = 'mount --bind "$1" /etc/passwd || exit 97; shift; exec "$@"'
        return ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", script, "sh", self.passwd] + argv

    def _transfer_log_lines(self):
        return _log_lines(self.xfer_log)

    def transfers(self, since=0):
        result = []
        prefix = self.root.rstrip("/") + "/"
        for line in self._transfer_log_lines()[since:]:
            m = self.CLF.match(line)
            if not m or m.group("verb") != "GET":
                continue
            path = unquote(m.group("path"))
            if path.startswith(prefix):
                path = path[len(prefix):]
            # CLF has no "completed" flag: leave it unknown (None).
            result.append(Transfer(path.lstrip("/"), int(m.group("bytes")), None))
        return result


SERVERS = {cls.kind: cls for cls in (PyftpdlibServer, PureFtpdServer)}


def make_server(kind, root, workdir, throttle=0):
    return SERVERS[kind](root, workdir, throttle)


def start_for(test, kind, root, throttle=0):
    """Start a `kind` server on root for a TestCase, stopped in its cleanup
    (and by stop_all() if the run is interrupted).  Skips the test if that
    server cannot run here."""
    server = make_server(kind, root, test.tmp, throttle)
    test.addCleanup(server.stop)
    server.start()
    return server
