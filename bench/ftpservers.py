"""FTP servers for the benchmark: pure-ftpd (default), proftpd, vsftpd.

    server = make_server(kind, root, workdir, bind="127.0.0.2", announce="127.0.0.1")
    server.start()          # returns once the server greets on bind:port
    server.port, server.passive
    mark = server.mark(); ...; server.counts(mark)   # (RETRs, commands or None)
    server.stop()

The servers are the integration tests' (tests/integration/servers.py),
started with the benchmark's options: they bind an address of our choice
(behind the delay proxy the server binds 127.0.0.2 and announces 127.0.0.1
for passive mode, where bench/delayproxy.py listens on the control port and
on every passive port), with PASSIVE_PORTS passive ports free on both
addresses, pure-ftpd with higher client limits, proftpd without mod_digest.
Process control (own process group, stop for sure, subreaper) is reused
from tests/integration/helpers.py; spawn() adds a parent-death signal so
nothing outlives the benchmark.  vsftpd and proftpd run from
build/servers/root, unpacked there by tests/deps.sh (`sh bench/deps.sh
--servers`).  Everything is anonymous and read-only.
"""

import os
import signal
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import helpers  # noqa: E402  (process control)
import servers  # noqa: E402  (the servers themselves)

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
    proc = helpers.spawn(argv, preexec_fn=_die_with_parent, **kwargs)
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
    servers.stop_all()
    for proc in list(_live):
        try:
            stop(proc, grace=2.0)
        except Exception as exc:   # keep stopping the others
            print("bench: could not stop pid %d: %s" % (proc.pid, exc), file=sys.stderr)

PASSIVE_PORTS = 200        # pure-ftpd serves at most half as many clients


# ------------------------------------------------------------------ ports

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
    low, high = 21000, max(22000, helpers._ephemeral_low()) - 1
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


# ---------------------------------------------------------------- servers

class BenchServer:
    """Mixed into a servers.py class: the benchmark's ports, spawn() and
    errors, and counts() of RETRs and commands."""

    def __repr__(self):
        return "<%s on %s:%d>" % (self.kind, self.bind, self.port)

    def _spawn(self, argv, **kwargs):
        # Registered by servers.py, whose stop_all() stop_all() calls.
        return helpers.spawn(argv, preexec_fn=_die_with_parent, **kwargs)

    def start(self):
        reason = self.unavailable()
        if reason:
            raise RuntimeError("%s: %s" % (self.kind, reason))
        return super().start()

    def counts(self, mark):
        """(RETRs, commands or None) since mark()."""
        cmds = len(self.commands(mark)) if self.logs_commands else None
        return len(self.transfers(mark)), cmds


class PureFtpd(BenchServer, servers.PureFtpdServer):
    OPTIONS = ["-c", "100",              # clients (the passive range allows 100)
               "-C", "100",              # per address: everything comes from one
               "-L", "1000000:64"]       # listing limits: files, depth


class Vsftpd(BenchServer, servers.VsftpdServer):
    pass


class Proftpd(BenchServer, servers.ProftpdServer):
    pass


SERVERS = {cls.kind: cls for cls in (PureFtpd, Proftpd, Vsftpd)}


def make_server(kind, root, workdir, bind="127.0.0.2", announce="127.0.0.1"):
    cls = SERVERS[kind]
    kwargs = {"bind": bind, "announce": announce, "ports": port_block(1 + PASSIVE_PORTS)}
    if cls is PureFtpd:
        kwargs["options"] = PureFtpd.OPTIONS
    if cls is Proftpd:
        kwargs["digest"] = False
    return cls(root, workdir, **kwargs)
