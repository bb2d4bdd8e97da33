"""FTP servers for the benchmark: pure-ftpd (default), proftpd, vsftpd.

    server = make_server(kind, root, workdir, bind="127.0.0.2", announce="127.0.0.1")
    server.start()          # returns once the server greets on bind:port
    server.port, server.passive
    mark = server.mark(); ...; server.counts(mark)   # (RETRs, commands or None)
    server.stop()

Unlike the integration tests' servers (tests/integration/servers.py, which
all bind 127.0.0.1), these bind an address of our choice: behind the delay
proxy the server binds 127.0.0.2 and announces 127.0.0.1 for passive mode,
where bench/delayproxy.py listens on the control port and on every passive
port.  Process control (own process group, stop for sure, subreaper) is
reused from tests/integration/helpers.py; spawn() adds a parent-death
signal so nothing outlives the benchmark.  vsftpd and proftpd run from
build/servers/root, unpacked there by tests/deps.sh (`sh bench/deps.sh
--servers`).  Everything is anonymous and read-only.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import helpers  # noqa: E402  (process control only)

_live = []      # Popen objects started by spawn() and not yet stopped


def _die_with_parent():
    """In the child: be sent SIGKILL when the benchmark dies (even by
    SIGKILL), so no server or proxy outlives it.  Kept across exec."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def spawn(argv, **kwargs):
    """Popen in a new session (its process group can be signalled whole);
    registered so that stop_all() stops it whatever happens."""
    proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent, **kwargs)
    _live.append(proc)
    return proc


def stop(proc, grace=3.0, sig=signal.SIGTERM):
    """Stop proc and its whole process group, for sure (helpers.stop_process)."""
    try:
        helpers.stop_process(proc, grace=grace, sig=sig)
    finally:
        if proc in _live:
            _live.remove(proc)


def stop_all():
    for proc in list(_live):
        try:
            stop(proc, grace=2.0)
        except Exception as exc:   # keep stopping the others
            print("bench: could not stop pid %d: %s" % (proc.pid, exc), file=sys.stderr)

PURE_FTPD = "/usr/sbin/pure-ftpd"
SERVERS_ROOT = os.environ.get("FTPMIRROR_SERVERS_ROOT") or os.path.join(REPO, "build", "servers", "root")
VSFTPD = os.path.join(SERVERS_ROOT, "usr", "sbin", "vsftpd")
PROFTPD = os.path.join(SERVERS_ROOT, "usr", "sbin", "proftpd")
PASSIVE_PORTS = 200        # pure-ftpd serves at most half as many clients
START_TIMEOUT = 15


# ------------------------------------------------------------------ ports

def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_handed_out = set()


def port_block(count, addrs=("127.0.0.1", "127.0.0.2")):
    """`count` consecutive ports free on every address in addrs, below the
    ephemeral range (outgoing connections never take them)."""
    low, high = 21000, max(22000, _ephemeral_low()) - 1
    start = low + (os.getpid() * 131) % (high - low)
    for attempt in range(400):
        first = start + attempt * count
        first = low + (first - low) % (high - low - count)
        ports = range(first, first + count)
        if any(p in _handed_out for p in ports):
            continue
        if all(_free(a, p) for p in ports for a in addrs):
            _handed_out.update(ports)
            return ports
    raise RuntimeError("no block of %d free ports" % count)


# ------------------------------------------------------------ ftp account

def _passwd_with_ftp(root, path):
    """The machine's passwd without `ftp`, plus an `ftp` whose home is root."""
    with open("/etc/passwd", encoding="utf-8") as f:
        entries = [line.rstrip("\n") for line in f if line.strip()]
    entries = [e for e in entries if e.split(":", 1)[0] != "ftp"]
    used = {int(e.split(":")[2]) for e in entries
            if e.count(":") >= 6 and e.split(":")[2].isdigit()}
    uid = next(u for u in range(64000, 65000) if u not in used)
    entries.append("ftp:x:%d:65534:ftpmirror bench anonymous FTP:%s:/usr/sbin/nologin" % (uid, root))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(entries) + "\n")
    os.chmod(path, 0o644)


def _with_private_passwd(passwd, argv):
    """argv in a private mount namespace with `passwd` over /etc/passwd."""
    script = 'mount --bind "$1" /etc/passwd || exit 97; shift; exec "$@"'
    return ["unshare", "--mount", "--propagation", "private",
            "sh", "-c", script, "sh", passwd] + list(argv)


def _mount_namespace(pid):
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid)
    except OSError:
        return None


def _log_lines(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return text.split("\n")[:-1]


# ---------------------------------------------------------------- servers

class Server:
    kind = "?"
    logs_commands = False

    def __init__(self, root, workdir, bind="127.0.0.2", announce="127.0.0.1"):
        self.root = os.path.realpath(root)
        self.workdir = workdir
        self.bind = bind
        self.announce = announce
        block = port_block(1 + PASSIVE_PORTS)
        self.port = block[0]
        self.passive = block[1:]
        self.base = os.path.join(workdir, "%s-%s-%d" % (self.kind, bind, self.port))
        self.output = self.base + ".out"
        self.proc = None

    def __repr__(self):
        return "<%s on %s:%d>" % (self.kind, self.bind, self.port)

    def unavailable(self):
        return None

    def start(self):
        reason = self.unavailable()
        if reason:
            raise RuntimeError("%s: %s" % (self.kind, reason))
        argv = self.argv()
        with open(self.output, "ab") as out:
            self.proc = spawn(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%s) while starting:\n%s"
                                   % (self.kind, self.proc.returncode, self.tail()))
            try:
                with socket.create_connection((self.bind, self.port), timeout=2) as s:
                    greeting = s.recv(512)
                    s.sendall(b"QUIT\r\n")
                if greeting.startswith(b"220"):
                    return
                last = greeting[:80]
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        raise RuntimeError("%s did not start (%s):\n%s" % (self.kind, last, self.tail()))

    def tail(self):
        out = []
        for path in [self.output] + self.extra_outputs():
            try:
                with open(path, errors="replace") as f:
                    out.append(f.read()[-3000:])
            except FileNotFoundError:
                pass
        return "\n".join(out)

    def extra_outputs(self):
        return []

    def stop(self):
        if self.proc is not None:
            stop(self.proc, grace=3.0)
            self.proc = None

    # Counters: RETRs (and commands, where logged) since a mark.
    def mark(self):
        return len(self._log())

    def counts(self, mark):
        return None, None

    def _log(self):
        return []


class PureFtpd(Server):
    kind = "pure-ftpd"

    def unavailable(self):
        if not os.access(PURE_FTPD, os.X_OK):
            return "%s not found (sh bench/deps.sh)" % PURE_FTPD
        if os.geteuid() != 0 or not shutil.which("unshare"):
            return "needs root and unshare (private mount namespace for its ftp user)"
        return None

    def argv(self):
        self.passwd = self.base + ".passwd"
        self.clf = self.base + ".clf"
        _passwd_with_ftp(self.root, self.passwd)
        argv = [PURE_FTPD,
                "-S", "%s,%d" % (self.bind, self.port),
                "-p", "%d:%d" % (self.passive[0], self.passive[-1]),
                "-P", self.announce,
                "-e", "-i", "-A", "-H", "-4",
                "-c", "100",              # clients (the passive range allows 100)
                "-C", "100",              # per address: everything comes from one
                "-L", "1000000:64",       # listing limits: files, depth
                "-f", "none",
                "-O", "clf:%s" % self.clf]
        return _with_private_passwd(self.passwd, argv)

    def _log(self):
        return _log_lines(getattr(self, "clf", ""))

    def counts(self, mark):
        retr = sum(1 for line in self._log()[mark:] if '"GET ' in line)
        return retr, None


class Vsftpd(Server):
    kind = "vsftpd"
    logs_commands = True
    LINE = re.compile(r'^.*? \[pid \d+\] (?:\[[^\]]*\] )?(FTP command|OK DOWNLOAD|FAIL DOWNLOAD): ')

    def unavailable(self):
        if not os.access(VSFTPD, os.X_OK):
            return "%s not found (sh bench/deps.sh --servers)" % VSFTPD
        if os.geteuid() != 0 or not shutil.which("unshare"):
            return "needs root and unshare"
        return None

    def argv(self):
        self.passwd = self.base + ".passwd"
        self.config = self.base + ".conf"
        self.log = self.base + ".log"
        empty = self.base + ".empty"
        os.makedirs(empty, mode=0o755, exist_ok=True)
        _passwd_with_ftp(self.root, self.passwd)
        options = [
            ("listen", "YES"), ("listen_ipv6", "NO"), ("background", "NO"),
            ("listen_address", self.bind), ("listen_port", self.port),
            ("anonymous_enable", "YES"), ("local_enable", "NO"), ("write_enable", "NO"),
            ("anon_upload_enable", "NO"), ("anon_mkdir_write_enable", "NO"),
            ("anon_other_write_enable", "NO"), ("no_anon_password", "YES"),
            ("ftp_username", "ftp"), ("anon_root", self.root),
            ("secure_chroot_dir", empty), ("seccomp_sandbox", "NO"),
            ("tcp_wrappers", "NO"), ("use_localtime", "NO"), ("dirmessage_enable", "NO"),
            ("max_clients", 0), ("max_per_ip", 0),
            ("pasv_enable", "YES"), ("pasv_min_port", self.passive[0]),
            ("pasv_max_port", self.passive[-1]), ("pasv_address", self.announce),
            ("pasv_addr_resolve", "NO"), ("connect_from_port_20", "NO"),
            ("xferlog_enable", "YES"), ("xferlog_std_format", "NO"),
            ("log_ftp_protocol", "YES"), ("vsftpd_log_file", self.log),
            ("syslog_enable", "NO"),
        ]
        with open(self.config, "w", encoding="utf-8") as f:
            f.write("".join("%s=%s\n" % kv for kv in options))
        os.chmod(self.config, 0o600)
        return _with_private_passwd(self.passwd, [VSFTPD, self.config])

    def extra_outputs(self):
        return [getattr(self, "log", "")]

    def _log(self):
        return _log_lines(getattr(self, "log", ""))

    def counts(self, mark):
        retr = cmds = 0
        for line in self._log()[mark:]:
            m = self.LINE.match(line)
            if not m:
                continue
            if m.group(1) == "FTP command":
                cmds += 1
            else:
                retr += 1
        return retr, cmds

    def stop(self):
        # vsftpd's session processes call setsid: kill what is left in its
        # private mount namespace.
        ns = _mount_namespace(self.proc.pid) if self.proc is not None else None
        try:
            super().stop()
        finally:
            if ns is not None and ns != _mount_namespace(os.getpid()):
                deadline = time.monotonic() + 5
                while True:
                    left = [int(n) for n in os.listdir("/proc") if n.isdigit()
                            and _mount_namespace(int(n)) == ns and helpers.process_alive(int(n))]
                    if not left or time.monotonic() > deadline:
                        break
                    for pid in left:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    time.sleep(0.05)


class Proftpd(Server):
    kind = "proftpd"
    logs_commands = True

    def unavailable(self):
        if not os.access(PROFTPD, os.X_OK):
            return "%s not found (sh bench/deps.sh --servers)" % PROFTPD
        if os.geteuid() != 0:
            return "needs root"
        return None

    def argv(self):
        self.passwd = self.base + ".passwd"
        self.group = self.base + ".group"
        self.config = self.base + ".conf"
        self.log = self.base + ".cmds"
        self.system_log = self.base + ".system.log"
        _passwd_with_ftp(self.root, self.passwd)
        shutil.copyfile("/etc/group", self.group)
        for path in (self.passwd, self.group):
            os.chmod(path, 0o600)
        config = """ServerType standalone
ServerName "ftpmirror bench proftpd"
DefaultServer on
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
PassivePorts {first} {last}
MasqueradeAddress {announce}
TimesGMT on
LogFormat cmds "%m"
ExtendedLog {log} ALL cmds
<Anonymous "{root}">
  User ftp
  Group nogroup
  UserAlias anonymous ftp
  RequireValidShell off
  MaxClients 200
  <Limit WRITE>
    DenyAll
  </Limit>
</Anonymous>
""".format(bind=self.bind, port=self.port, base=self.base, system_log=self.system_log,
           passwd=self.passwd, group=self.group, first=self.passive[0], last=self.passive[-1],
           announce=self.announce, log=self.log, root=self.root)
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(config)
        os.chmod(self.config, 0o600)
        return [PROFTPD, "-n", "-q", "-c", self.config]

    def extra_outputs(self):
        return [getattr(self, "system_log", "")]

    def _log(self):
        return _log_lines(getattr(self, "log", ""))

    def counts(self, mark):
        lines = self._log()[mark:]
        return sum(1 for c in lines if c.upper() == "RETR"), len(lines)


SERVERS = {cls.kind: cls for cls in (PureFtpd, Proftpd, Vsftpd)}


def make_server(kind, root, workdir, bind="127.0.0.2", announce="127.0.0.1"):
    return SERVERS[kind](root, workdir, bind, announce)
