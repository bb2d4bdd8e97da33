"""FTP servers for the integration tests, on 127.0.0.1 only (the benchmark,
bench/ftpservers.py, reuses them on an address of its choice).

    server = make_server(KIND, root, workdir, throttle=0)
                              # KIND: pyftpdlib, pure-ftpd, vsftpd, proftpd
    server.start()            # returns when the server greets on its port
    server.url                # "ftp://127.0.0.1:PORT/"
    mark = server.mark()      # position in its logs ...
    server.transfers(mark)    # ... and the transfers finished since then
    server.commands(mark)     # ... and the commands received (when
                              #     server.logs_commands; not pure-ftpd)
    server.stop()             # kill the process group, wait, verify

Every server serves `root` anonymously and read-only, with a passive port
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

vsftpd and proftpd are not installed (they conflict with pure-ftpd as
packages): tests/deps.sh unpacks them into build/servers/root
($FTPMIRROR_SERVERS_ROOT overrides), and they run from there, in the
foreground, with a configuration file generated in the test's workdir.

vsftpd takes the anonymous area from the home of its `ftp_username` user
before `anon_root`, so it runs in the same private mount namespace with a
generated passwd as pure-ftpd.  Its log (vsftpd_log_file, with
log_ftp_protocol) holds every command and reply, "[pid N]" naming the
session process, and an OK/FAIL DOWNLOAD line with the bytes sent for every
transfer; dual_log_enable also writes a wu-ftpd xferlog beside it.
anon_max_rate throttles.  vsftpd has no MLSD: ftpmirror lists with LIST.
Its session processes make themselves session leaders (setsid), out of the
listener's process group: stop() also kills whatever is left in its mount
namespace, which nothing else shares.

proftpd reads its `ftp` user from a generated AuthUserFile (AuthOrder
mod_auth_file.c only), so it needs no namespace; `<Anonymous ROOT>` serves
root.  An ExtendedLog with a tab-separated LogFormat records every command
(pid, command, reply code, bytes, transfer status, path as the client sees
it, argument); a TransferLog (xferlog) is written too.  TransferRate RETR
throttles (KiB/s).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest
from collections import namedtuple
from urllib.parse import unquote

import helpers

PYTHON = "/usr/bin/python3"
PURE_FTPD = "/usr/sbin/pure-ftpd"
# Where tests/deps.sh unpacks vsftpd and proftpd (see the docstring).
SERVERS_ROOT = os.environ.get("FTPMIRROR_SERVERS_ROOT") or os.path.join(
    os.path.dirname(os.path.dirname(helpers.HERE)), "build", "servers", "root")
VSFTPD = os.path.join(SERVERS_ROOT, "usr", "sbin", "vsftpd")
PROFTPD = os.path.join(SERVERS_ROOT, "usr", "sbin", "proftpd")
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


def _passwd_with_ftp(root, path):
    """Write to `path` the machine's passwd without any `ftp` entry, plus our
    own `ftp` (an unused uid, group nogroup) whose home is root."""
    with open("/etc/passwd", encoding="utf-8") as f:
        entries = [line.rstrip("\n") for line in f if line.strip()]
    entries = [e for e in entries if e.split(":", 1)[0] != "ftp"]
    used = {int(e.split(":")[2]) for e in entries if e.count(":") >= 6 and e.split(":")[2].isdigit()}
    uid = next(u for u in range(64000, 65000) if u not in used)
    entries.append("ftp:x:%d:65534:ftpmirror test anonymous FTP:%s:/usr/sbin/nologin"
                   % (uid, root))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(entries) + "\n")
    os.chmod(path, 0o644)


def _with_private_passwd(passwd, argv):
    """argv run in a private mount namespace where `passwd` is bind-mounted
    over /etc/passwd.  unshare (no --fork) execs sh, which execs argv: one
    pid, the leader of the process group helpers.spawn() created."""
    script = 'mount --bind "$1" /etc/passwd || exit 97; shift; exec "$@"'
    return ["unshare", "--mount", "--propagation", "private",
            "sh", "-c", script, "sh", passwd] + list(argv)


def _namespace_unavailable():
    if shutil.which("unshare") is None:
        return "unshare not found"
    if os.geteuid() != 0:
        return "needs root (private mount namespace for its ftp user)"
    return None


def _unpacked_unavailable(path):
    if not os.access(path, os.X_OK):
        return ("%s not found (unpacked by tests/deps.sh: run `make deps` or "
                "`sh tests/deps.sh` as root)" % path)
    return None


def _mount_namespace(pid):
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid)
    except OSError:
        return None


def _namespace_members(ns):
    """Live processes in mount namespace ns."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit() and _mount_namespace(int(name)) == ns and helpers.process_alive(int(name)):
            members.append(int(name))
    return members


def _reap_orphans(comm):
    """Reap zombies named comm that were re-parented to us (see
    helpers.become_subreaper), never a Popen object's own child."""
    mine = os.getpid()
    own = {p.pid for p in helpers._children}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in own:
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                data = f.read()
        except OSError:
            continue
        this = data[data.index(b"(") + 1:data.rindex(b")")].decode(errors="replace")
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] == b"Z" and int(fields[1]) == mine and this == comm:
            try:
                os.waitpid(int(name), os.WNOHANG)
            except ChildProcessError:
                pass


class FtpServer:
    kind = "?"
    logs_commands = False   # True: commands(mark) lists the commands received
    has_mlsd = True         # False: ftpmirror has to list with LIST

    def __init__(self, root, workdir, throttle=0, bind="127.0.0.1", announce="127.0.0.1",
                 ports=None):
        """root: directory to serve; workdir: where logs go; throttle: bytes
        per second per data connection (0: none).  Optional, for the
        benchmark (bench/ftpservers.py): bind: address to listen on;
        announce: address announced for passive mode; ports: a range of
        consecutive ports already chosen, the control port then the passive
        ones (default: allocated here, PASSIVE_PORTS passive ones)."""
        self.root = os.path.realpath(root)
        self.workdir = workdir
        self.throttle = throttle
        self.bind = bind
        self.announce = announce
        self.proc = None
        if ports is not None:
            self.port, self.passive = ports[0], ports[1:]
        else:
            self.port = None
            self.passive = helpers.ports.block(PASSIVE_PORTS)
        self.output = os.path.join(workdir, "%s-%d.out" % (self.kind, id(self)))

    def __repr__(self):
        return "<%s server on port %s, root %s>" % (self.kind, self.port, self.root)

    @property
    def url(self):
        return "ftp://%s:%d/" % (self.bind, self.port)

    # --- life cycle -------------------------------------------------------

    @classmethod
    def unavailable(cls):
        """None if this server can run here, else the reason it cannot."""
        return None

    def _argv(self):
        raise NotImplementedError

    def _spawn(self, argv, **kwargs):
        """Start the server process (the benchmark adds to this)."""
        return helpers.spawn(argv, **kwargs)

    def start(self):
        reason = self.unavailable()
        if reason:
            raise unittest.SkipTest("%s: %s" % (self.kind, reason))
        argv = self._argv()
        with open(self.output, "ab") as out:
            self.proc = self._spawn(argv, stdout=out, stderr=subprocess.STDOUT)
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
                    with socket.create_connection((self.bind, self.port), timeout=2) as s:
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
        text = []
        for path in [self.output] + self._extra_outputs():
            try:
                with open(path, "r", errors="replace") as f:
                    text.append(f.read()[-4000:])
            except FileNotFoundError:
                pass
        return "\n".join(text)

    def _extra_outputs(self):
        """Other files where the server reports errors."""
        return []

    # --- logs -------------------------------------------------------------

    def mark(self):
        """A position in the transfer log; pass it to transfers()."""
        return len(self._transfer_log_lines())

    def transfers(self, since=0):
        """Transfers logged after position `since` (see mark())."""
        raise NotImplementedError

    def commands(self, since=0):
        """Commands received after log position `since` (see mark()); only
        where logs_commands is True."""
        raise NotImplementedError("%s does not log commands" % self.kind)

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
    logs_commands = True

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
        return _namespace_unavailable()

    def __init__(self, root, workdir, throttle=0, options=(), **kwargs):
        """options: more pure-ftpd options (the benchmark's client limits)."""
        super().__init__(root, workdir, throttle, **kwargs)
        self.options = list(options)
        if self.port is None:
            self.port = helpers.ports.port()
        self.xfer_log = os.path.join(workdir, "pure-ftpd-%d.clf" % id(self))
        self.passwd = os.path.join(workdir, "pure-ftpd-%d.passwd" % id(self))

    def _argv(self):
        _passwd_with_ftp(self.root, self.passwd)
        argv = [PURE_FTPD,
                "-S", "%s,%d" % (self.bind, self.port),
                "-p", "%d:%d" % (self.passive[0], self.passive[-1]),
                "-P", self.announce,
                "-e", "-i", "-A", "-H", "-4"] + self.options + [
                "-f", "none",
                "-O", "clf:%s" % self.xfer_log]
        if self.throttle:
            argv += ["-t", str(max(1, self.throttle // 1024))]
        return _with_private_passwd(self.passwd, argv)

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


class VsftpdServer(FtpServer):
    kind = "vsftpd"
    logs_commands = True
    has_mlsd = False

    # "Thu Nov 26 09:17:36 2026 [pid 22177] [ftp] FTP command: Client "127.0.0.1", "PWD""
    LINE = re.compile(r'^.*? \[pid (?P<pid>\d+)\] (?:\[[^\]]*\] )?'
                      r'(?P<what>FTP command|OK DOWNLOAD|FAIL DOWNLOAD): Client "[^"]*", (?P<rest>.*)$')
    DOWNLOAD = re.compile(r'^"(?P<path>.*)", (?P<bytes>\d+) bytes, ')

    @classmethod
    def unavailable(cls):
        return _unpacked_unavailable(VSFTPD) or _namespace_unavailable()

    def __init__(self, root, workdir, throttle=0, **kwargs):
        super().__init__(root, workdir, throttle, **kwargs)
        if self.port is None:
            self.port = helpers.ports.port()
        self.namespace = None   # its private mount namespace, once started
        base = os.path.join(workdir, "vsftpd-%d" % id(self))
        self.config = base + ".conf"
        self.log = base + ".log"            # commands, replies, transfers
        self.xferlog = base + ".xferlog"    # wu-ftpd format (not parsed)
        self.passwd = base + ".passwd"
        self.empty = base + ".empty"        # secure_chroot_dir

    def _argv(self):
        _passwd_with_ftp(self.root, self.passwd)
        os.makedirs(self.empty, mode=0o755, exist_ok=True)
        options = [
            ("listen", "YES"), ("listen_ipv6", "NO"), ("background", "NO"),
            ("listen_address", self.bind), ("listen_port", self.port),
            # Anonymous and read-only; ftp_username's home (the generated
            # passwd says root) is entered before anon_root.
            ("anonymous_enable", "YES"), ("local_enable", "NO"), ("write_enable", "NO"),
            ("anon_upload_enable", "NO"), ("anon_mkdir_write_enable", "NO"),
            ("anon_other_write_enable", "NO"), ("no_anon_password", "YES"),
            ("ftp_username", "ftp"), ("anon_root", self.root),
            ("secure_chroot_dir", self.empty), ("seccomp_sandbox", "NO"),
            ("tcp_wrappers", "NO"), ("use_localtime", "NO"), ("dirmessage_enable", "NO"),
            ("max_clients", 0), ("max_per_ip", 0),
            ("pasv_enable", "YES"), ("pasv_min_port", self.passive[0]),
            ("pasv_max_port", self.passive[-1]), ("pasv_address", self.announce),
            ("pasv_addr_resolve", "NO"), ("connect_from_port_20", "NO"),
            # Every command and reply, and every transfer, in vsftpd_log_file.
            ("xferlog_enable", "YES"), ("xferlog_std_format", "NO"),
            ("log_ftp_protocol", "YES"), ("vsftpd_log_file", self.log),
            ("dual_log_enable", "YES"), ("xferlog_file", self.xferlog),
            ("syslog_enable", "NO"),
        ]
        if self.throttle:
            options.append(("anon_max_rate", self.throttle))   # bytes/s per session
        with open(self.config, "w", encoding="utf-8") as f:
            f.write("# generated by tests/integration/servers.py\n")
            f.write("".join("%s=%s\n" % kv for kv in options))
        # vsftpd refuses a config file it does not own (it runs as root).
        os.chmod(self.config, 0o600)
        return _with_private_passwd(self.passwd, [VSFTPD, self.config])

    def _extra_outputs(self):
        return [self.log]

    # Each vsftpd session process makes itself a session leader (setsid),
    # so killing the listener's process group leaves running sessions
    # behind.  They all share the listener's private mount namespace, which
    # no other process has: stop() kills what is left in it.

    def _wait_ready(self):
        super()._wait_ready()
        ns = _mount_namespace(self.proc.pid)
        if ns is None or ns == _mount_namespace(os.getpid()):
            raise RuntimeError("vsftpd (pid %d) is not in a private mount namespace (%s)"
                               % (self.proc.pid, ns))
        self.namespace = ns

    def stop(self):
        try:
            super().stop()
        finally:
            if self.namespace is not None:
                deadline = time.monotonic() + 5
                while True:
                    left = _namespace_members(self.namespace)
                    if not left:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError("vsftpd session processes %s survive SIGKILL" % left)
                    for pid in left:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    time.sleep(0.05)
            _reap_orphans("vsftpd")

    def _records(self):
        result = []
        for line in _log_lines(self.log):
            m = self.LINE.match(line)
            result.append((int(m.group("pid")), m.group("what"), m.group("rest")) if m else None)
        return result

    def _transfer_log_lines(self):
        return self._records()   # one log for commands and transfers

    def commands(self, since=0):
        result = []
        for rec in self._records()[since:]:
            if rec and rec[1] == "FTP command":
                text = rec[2]
                if text.startswith('"') and text.endswith('"'):
                    text = text[1:-1]
                cmd, _sep, arg = text.partition(" ")
                # Before login the session is served by another process than
                # after it: `session` is stable from login on.
                result.append(Command(rec[0], cmd.upper(), arg))
        return result

    def transfers(self, since=0):
        result = []
        for rec in self._records()[since:]:
            if rec and rec[1] in ("OK DOWNLOAD", "FAIL DOWNLOAD"):
                m = self.DOWNLOAD.match(rec[2])
                if m:
                    result.append(Transfer(m.group("path").lstrip("/"), int(m.group("bytes")),
                                           rec[1] == "OK DOWNLOAD"))
        return result


class ProftpdServer(FtpServer):
    kind = "proftpd"
    logs_commands = True

    # ExtendedLog fields, tab-separated; the argument (%J) last, so it may
    # hold anything but a newline.
    LOG_FORMAT = "%P\t%m\t%s\t%b\t%{transfer-status}\t%F\t%J"

    @classmethod
    def unavailable(cls):
        if os.geteuid() != 0:
            return "needs root (it switches to its anonymous user)"
        return _unpacked_unavailable(PROFTPD)

    def __init__(self, root, workdir, throttle=0, digest=True, idle_timeout=0, **kwargs):
        """digest: load mod_digest (HASH, XSHA256, XMD5); the benchmark
        runs without it.  idle_timeout: seconds an idle control connection
        is kept (TimeoutIdle; 0: proftpd's default)."""
        super().__init__(root, workdir, throttle, **kwargs)
        self.digest = digest
        self.idle_timeout = idle_timeout
        if self.port is None:
            self.port = helpers.ports.port()
        base = os.path.join(workdir, "proftpd-%d" % id(self))
        self.base = base
        self.config = base + ".conf"
        self.log = base + ".cmds"           # ExtendedLog: every command
        self.xferlog = base + ".xferlog"    # TransferLog (not parsed)
        self.system_log = base + ".system.log"
        self.passwd = base + ".passwd"
        self.group = base + ".group"

    def _write_auth_files(self):
        """AuthUserFile and AuthGroupFile: the machine's entries plus our
        `ftp` user; proftpd refuses world-readable ones."""
        _passwd_with_ftp(self.root, self.passwd)
        shutil.copyfile("/etc/group", self.group)
        for path in (self.passwd, self.group):
            os.chmod(path, 0o600)

    def _argv(self):
        self._write_auth_files()
        rate = ""
        if self.throttle:
            rate = "  TransferRate RETR %.1f\n" % (self.throttle / 1024.0)   # KiB/s
        digest = ""
        if self.digest:
            # mod_digest answers HASH, XSHA256 and XMD5: ftpmirror's remote-hash check.
            digest = ("ModulePath %s\nLoadModule mod_digest.c\nDigestEngine on\n"
                      "DigestAlgorithms all\n" % os.path.join(SERVERS_ROOT, "usr/lib/proftpd"))
        idle = "TimeoutIdle %d\n" % self.idle_timeout if self.idle_timeout else ""
        config = """# generated by tests/integration/servers.py
{idle}ServerType standalone
ServerName "ftpmirror test proftpd"
{digest}DefaultServer on
DefaultAddress {bind}
SocketBindTight on
UseIPv6 off
Port {port}
User nobody
Group nogroup
PidFile {base}.pid
ScoreboardFile {base}.scoreboard
SystemLog {system_log}
WtmpLog off
AuthPAM off
AuthUserFile {passwd}
AuthGroupFile {group}
AuthOrder mod_auth_file.c
UseReverseDNS off
DelayEngine off
ControlsEngine off
MaxInstances 200
PassivePorts {pasv_first} {pasv_last}
MasqueradeAddress {announce}
TimesGMT on
TransferLog {xferlog}
LogFormat cmds "{log_format}"
ExtendedLog {log} ALL cmds
<Anonymous "{root}">
  User ftp
  Group nogroup
  UserAlias anonymous ftp
  RequireValidShell off
  MaxClients 200
{rate}  <Limit WRITE>
    DenyAll
  </Limit>
</Anonymous>
""".format(port=self.port, base=self.base, system_log=self.system_log, passwd=self.passwd,
           group=self.group, pasv_first=self.passive[0], pasv_last=self.passive[-1],
           xferlog=self.xferlog, log_format=self.LOG_FORMAT, log=self.log, root=self.root,
           rate=rate, digest=digest, bind=self.bind, announce=self.announce, idle=idle)
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(config)
        os.chmod(self.config, 0o600)
        # -n: foreground, no fork into the background; -q: quiet startup.
        return [PROFTPD, "-n", "-q", "-c", self.config]

    def _extra_outputs(self):
        return [self.system_log]

    def _records(self):
        return [line.split("\t", 6) for line in _log_lines(self.log)]

    def _transfer_log_lines(self):
        return self._records()   # one log for commands and transfers

    def commands(self, since=0):
        result = []
        for fields in self._records()[since:]:
            if len(fields) == 7 and fields[0].isdigit():
                result.append(Command(int(fields[0]), fields[1].upper(), fields[6]))
        return result

    def transfers(self, since=0):
        result = []
        for fields in self._records()[since:]:
            if len(fields) == 7 and fields[1].upper() == "RETR" and fields[5] not in ("", "-"):
                nbytes = int(fields[3]) if fields[3].isdigit() else 0
                result.append(Transfer(fields[5].lstrip("/"), nbytes, fields[4] == "success"))
        return result


SERVERS = {cls.kind: cls for cls in (PyftpdlibServer, PureFtpdServer, VsftpdServer, ProftpdServer)}


def make_server(kind, root, workdir, throttle=0, **kwargs):
    """kwargs: the optional constructor parameters (bind, announce, ports;
    options for pure-ftpd, digest and idle_timeout for proftpd)."""
    return SERVERS[kind](root, workdir, throttle, **kwargs)


def start_for(test, kind, root, throttle=0, **kwargs):
    """Start a `kind` server on root for a TestCase, stopped in its cleanup
    (and by stop_all() if the run is interrupted).  Skips the test if that
    server cannot run here.  kwargs as for make_server."""
    server = make_server(kind, root, test.tmp, throttle, **kwargs)
    test.addCleanup(server.stop)
    server.start()
    return server
