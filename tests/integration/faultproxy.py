"""A fault-injecting FTP proxy for ftpmirror's integration tests.

    proxy = FaultProxy(upstream_port, port=helpers.ports.port()).start()
    url = proxy.url                      # "ftp://127.0.0.1:PORT/": give it to the job
    proxy.cut_data(after=400_000, times=3)          # knobs, any time
    ...
    proxy.stop()                         # or let it stop by itself (lifetime)

It sits on 127.0.0.1 between a client and a real server (also on 127.0.0.1).
It forwards the control connection line by line, reads the server's EPSV
(229) and PASV (227) replies, opens a listener of its own for each passive
data connection and rewrites the reply to point at it (EPSV stays EPSV, PASV
stays PASV; the address in a 227 is 127.0.0.1), then relays the data
connection to the server's port.  Only passive mode is supported.

Fault knobs (each counts down: `times` faults, then it is spent):

  cut_data(after, times, verbs=("RETR",), path=None, reset=True)
        a data connection carrying one of `verbs` (of `path`, when given) is
        cut once `after` bytes went to the client: both sides closed, the
        client's with a TCP reset (reset=True) or a plain FIN (reset=False).
  stall_data(times, after=0, verbs=("RETR",), path=None)
        after `after` bytes nothing more is forwarded; both sockets stay open
        until the client gives up (or the proxy stops).
  truncate_data(after, times, verbs=("MLSD", "LIST", "NLST"), path=None)
        only the first `after` bytes reach the client, the rest is read from
        the server and dropped; the data connection then ends normally and
        the server's own reply (226) is forwarded: a listing that lies.
  refuse_data(times, mode="refuse")
        the next `times` passive replies point at a port where nothing
        listens (connection refused), or (mode="reset") at a listener that
        accepts and closes at once.
  inject_reply(verb, code, text=None, times=1, path=None, close=False)
        the next `times` commands `verb` (with argument `path`, when given)
        are not forwarded: the proxy answers "CODE TEXT" itself, and with
        close=True then drops the control connection (as a server does
        after 421).
  delay_reply(verb, seconds, times=1, final=False)
        the server's reply to the next `times` commands `verb` reaches the
        client `seconds` late (each session waits on its own); with
        final=True only its final line, and only if that is a 2xx (a
        transfer's 226, not its 150).
  drop_control(after, times=1, verb=None)
        every `after`-th command (or `verb` command) is not forwarded: the
        control connection is closed on both sides instead, `times` times.
  split_lines = True (an attribute)
        each command goes in a write of its own, and a command behind a
        transfer command (RETR's pipelined EPSV) is held until the server
        sends the transfer's data, whose relay waits for it in turn: the
        command reaches the server mid-transfer, however loaded the machine.
  go_down() / come_up(upstream_port=None) / restart(down)
        a server restart: every connection is closed and new ones are
        refused (the listening socket is closed) until come_up(), which
        may point the proxy at a new upstream port.

Paths are compared without leading/trailing "/" ("" is the root).  Every
command seen is recorded (`commands()`: (monotonic time, session, VERB, arg))
and every fault applied (`faults()`: (time, kind, detail)), for the tests'
assertions and failure messages.

Threads, blocking sockets and select(); 127.0.0.1 only; every socket has a
timeout; the proxy stops by itself after `lifetime` seconds.  An optional
server-side ssl.SSLContext (tls=) makes it an implicit-FTPS front end for a
plain-text server: control and data connections are TLS towards the client,
PBSZ and PROT are answered by the proxy.
"""

import re
import select
import socket
import ssl
import struct
import threading
import time

HOST = "127.0.0.1"
IDLE = 0.2              # select() tick: how often loops look at `stopping`
ACCEPT_TIMEOUT = 30.0   # a passive listener nobody connects to is closed after this
TRANSFER_VERBS = ("RETR", "MLSD", "LIST", "NLST", "STOR", "APPE", "STOU")
GATE_WAIT = 2.0         # split_lines: the longest a command or data is held

_EPSV = re.compile(rb"^229 .*\(\|\|\|(\d+)\|\)")
_PASV = re.compile(rb"^227 .*?(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+)")


def norm(path):
    return (path or "").strip().strip("/")


def _close(sock, reset=False):
    if sock is None:
        return
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _nodelay(sock):
    """No Nagle: FTP replies are small writes that must not wait for ACKs."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    return sock


def _readable(socks, timeout):
    """The sockets of socks with data to read (TLS-buffered data counts)."""
    ready = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()]
    if ready:
        return ready
    try:
        r, _w, _x = select.select(socks, [], [], timeout)
    except (OSError, ValueError):
        return list(socks)   # closed under us: let recv() tell
    return r


class _Rule:
    def __init__(self, kind, times, **kw):
        self.kind = kind
        self.left = times
        self.__dict__.update(kw)

    def matches(self, verb, arg):
        verbs = getattr(self, "verbs", None)
        if verbs is not None and verb not in verbs:
            return False
        path = getattr(self, "path", None)
        if path is not None and norm(arg) != norm(path):
            return False
        return True


class FaultProxy:
    def __init__(self, upstream_port, port=0, upstream_host=HOST, lifetime=300.0, tls=None):
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.lifetime = lifetime
        self.tls = tls
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.down = threading.Event()
        self.listener = None
        self.sessions = set()
        self.relays = set()
        self.data_rules = []        # cut, stall, truncate
        self.reply_rules = []       # inject
        self.delay_rules = []
        self.drop_rules = []
        self.refuse_rules = []
        self._commands = []
        self._transcript = []       # (time, session, ">" command | "<" reply, text)
        self._faults = []
        self._session_no = 0
        self._count_all = 0
        self.threads = []
        self.split_lines = False    # forward each command in a write of its own

    # ------------------------------------------------------------ life cycle

    @property
    def url(self):
        scheme = "ftps" if self.tls else "ftp"
        return "%s://%s:%d/" % (scheme, HOST, self.port)

    def start(self):
        self._listen()
        self.started = time.monotonic()
        self._thread(self._accept_loop)
        self._thread(self._watchdog)
        return self

    def _thread(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        with self.lock:
            self.threads = [x for x in self.threads if x.is_alive()] + [t]
        return t

    def _listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, self.port))
        s.listen(64)
        s.settimeout(IDLE)
        self.port = s.getsockname()[1]
        with self.lock:
            self.listener = s

    def _watchdog(self):
        self.stopping.wait(self.lifetime)
        if not self.stopping.is_set():
            self._fault("lifetime", "proxy stopped itself after %ss" % self.lifetime)
            self.stop()

    def stop(self):
        self.stopping.set()
        self._close_all()
        with self.lock:
            _close(self.listener)
            self.listener = None
            threads = list(self.threads)
        for t in threads:
            if t is not threading.current_thread():
                t.join(timeout=2)

    def _close_all(self):
        with self.lock:
            sessions, relays = list(self.sessions), list(self.relays)
        for s in sessions:
            s.close()
        for r in relays:
            r.close()

    def go_down(self):
        """Close every connection and refuse new ones until come_up()."""
        self.down.set()
        with self.lock:
            _close(self.listener)
            self.listener = None
        self._close_all()
        self._fault("down", "listener closed, connections dropped")

    def come_up(self, upstream_port=None):
        if upstream_port is not None:
            self.upstream = (self.upstream[0], upstream_port)
        deadline = time.monotonic() + 5
        while True:
            try:
                self._listen()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.down.clear()
        self._fault("up", "listening again, upstream %s:%d" % self.upstream)

    def restart(self, down=2.0):
        self.go_down()
        time.sleep(down)
        self.come_up()

    # ----------------------------------------------------------------- knobs

    def cut_data(self, after, times=1, verbs=("RETR",), path=None, reset=True):
        with self.lock:
            self.data_rules.append(_Rule("cut", times, after=after, verbs=verbs, path=path,
                                         reset=reset))

    def stall_data(self, times=1, after=0, verbs=("RETR",), path=None):
        with self.lock:
            self.data_rules.append(_Rule("stall", times, after=after, verbs=verbs, path=path))

    def truncate_data(self, after, times=1, verbs=("MLSD", "LIST", "NLST"), path=None):
        with self.lock:
            self.data_rules.append(_Rule("truncate", times, after=after, verbs=verbs, path=path))

    def refuse_data(self, times=1, mode="refuse"):
        with self.lock:
            self.refuse_rules.append(_Rule("refuse", times, mode=mode))

    def inject_reply(self, verb, code, text=None, times=1, path=None, close=False):
        if text is None:
            text = {421: "Service not available, closing control connection.",
                    425: "Can't open data connection.",
                    450: "Requested file action not taken.",
                    451: "Requested action aborted: local error in processing.",
                    530: "Not logged in.",
                    550: "Requested action not taken; file unavailable."}.get(code, "Injected.")
        with self.lock:
            self.reply_rules.append(_Rule("inject", times, verbs=(verb.upper(),), path=path,
                                          code=code, text=text, close=close))

    def delay_reply(self, verb, seconds, times=1, final=False):
        with self.lock:
            self.delay_rules.append(_Rule("delay", times, verbs=(verb.upper(),), seconds=seconds,
                                          final=final))

    def drop_control(self, after, times=1, verb=None):
        with self.lock:
            self.drop_rules.append(_Rule("drop", times, after=after,
                                         verb=verb.upper() if verb else None, seen=0))

    def clear(self):
        """Remove every knob that is not spent yet."""
        with self.lock:
            self.data_rules, self.reply_rules = [], []
            self.drop_rules, self.refuse_rules, self.delay_rules = [], [], []

    # ------------------------------------------------------------ inspection

    def mark(self):
        """A position in the command record: pass it to commands(since=)."""
        with self.lock:
            return len(self._commands)

    def commands(self, verb=None, since=0):
        """Commands received, each (monotonic time, session, VERB, arg)."""
        with self.lock:
            return [c for c in self._commands[since:] if verb is None or c[2] == verb]

    def faults(self, kind=None):
        with self.lock:
            return [f for f in self._faults if kind is None or f[1] == kind]

    def describe(self, last=60):
        with self.lock:
            cmds = ["  %.2f s%d %s %s" % (t - self.started, s, d, a) for t, s, d, a in self._transcript[-last:]]
            faults = ["  %.2f %s %s" % (t - self.started, k, d) for t, k, d in self._faults[-last:]]
        return "proxy faults:\n%s\nproxy transcript (last %d lines):\n%s" % (
            "\n".join(faults) or "  (none)", last, "\n".join(cmds) or "  (none)")

    def _log_reply(self, session, text):
        with self.lock:
            self._transcript.append((time.monotonic(), session, "<", text))

    def _fault(self, kind, detail):
        with self.lock:
            self._faults.append((time.monotonic(), kind, detail))

    # -------------------------------------------------------------- internals

    def _take(self, rules, pred):
        """The first rule with faults left for which pred holds; spends one."""
        with self.lock:
            for rule in rules:
                if rule.left > 0 and pred(rule):
                    rule.left -= 1
                    return rule
        return None

    def _accept_loop(self):
        while not self.stopping.is_set():
            with self.lock:
                listener = self.listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _addr = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                time.sleep(0.02)
                continue
            with self.lock:
                self._session_no += 1
                number = self._session_no
            session = _Session(self, client, number)
            with self.lock:
                self.sessions.add(session)
            self._thread(session.run)


class _Session:
    """One control connection: client <-> proxy <-> server."""

    def __init__(self, proxy, client, number):
        self.proxy = proxy
        self.client = client
        self.server = None
        self.number = number
        self.closed = False
        self.cbuf = b""
        self.sbuf = b""
        self.xfer = ("", "")       # last transfer command: (VERB, arg)
        self.protected = False     # PROT P seen (TLS front end)
        self.dead_ports = []       # sockets bound, never listening (refuse_data)
        self.reply_delay = None    # (seconds, final only) for the next reply (delay_reply)
        self.gate = None           # split_lines: the transfer a command is held behind
        self.wlock = threading.Lock()

    def close(self):
        self.closed = True
        _close(self.client)
        _close(self.server)
        for s in self.dead_ports:
            _close(s)
        with self.proxy.lock:
            self.proxy.sessions.discard(self)

    def send_client(self, data):
        with self.wlock:
            self.client.sendall(data)

    def run(self):
        p = self.proxy
        try:
            self.client.settimeout(30)
            _nodelay(self.client)
            if p.tls:
                self.client = p.tls.wrap_socket(self.client, server_side=True)
            self.server = _nodelay(socket.create_connection(p.upstream, timeout=10))
            self.server.settimeout(30)
            while not self.closed and not p.stopping.is_set():
                for sock in _readable([self.client, self.server], IDLE):
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is self.client:
                        self.cbuf += data
                        if not self._client_lines():
                            return
                    else:
                        self.sbuf += data
                        self._server_lines()
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            self.close()

    # client -> server: one command per line, but the lines of one read
    # forwarded in one write, as a router would: a client that pipelines
    # commands ("RETR a\r\nEPSV\r\n") must not see them split apart
    def _client_lines(self):
        out = []
        try:
            return self._client_line_each(out)
        finally:
            if self.proxy.split_lines:
                self._send_split(out)
            elif out:
                self.server.sendall(b"".join(line for _verb, line in out))

    def _send_split(self, lines):
        """Each (verb, line) in a write of its own; a line behind a
        transfer command once the server sends the transfer's data (_Gate)."""
        gate = None
        for i, (verb, line) in enumerate(lines):
            if i + 1 < len(lines) and verb in TRANSFER_VERBS:
                gate = self.gate = _Gate()
                self.server.sendall(line)
                gate.sending.wait(GATE_WAIT)
                continue
            self.server.sendall(line)
            if gate is not None:
                gate.behind_sent.set()
                gate = self.gate = None

    def _client_line_each(self, out):
        p = self.proxy
        while b"\n" in self.cbuf:
            line, self.cbuf = self.cbuf.split(b"\n", 1)
            text = line.rstrip(b"\r").decode("latin-1")
            verb, _sp, arg = text.partition(" ")
            verb = verb.upper()
            with p.lock:
                shown = "******" if verb == "PASS" else arg
                p._commands.append((time.monotonic(), self.number, verb, shown))
                p._transcript.append((time.monotonic(), self.number, ">", "%s %s" % (verb, shown)))
                p._count_all += 1
            # drop the control connection?
            drop = None
            with p.lock:
                for rule in p.drop_rules:
                    if rule.left > 0 and (rule.verb is None or rule.verb == verb):
                        rule.seen += 1
                        if rule.seen % rule.after == 0:
                            rule.left -= 1
                            drop = rule
                            break
            if drop is not None:
                p._fault("drop", "session %d dropped at %s %s" % (self.number, verb, arg))
                return False
            # answer it ourselves?
            rule = p._take(p.reply_rules, lambda r: r.matches(verb, arg))
            if rule is not None:
                p._fault("inject", "session %d: %s %s -> %d" % (self.number, verb, arg, rule.code))
                self.send_client(b"%d %s\r\n" % (rule.code, rule.text.encode()))
                p._log_reply(self.number, "%d %s (injected)" % (rule.code, rule.text))
                if rule.close:
                    return False
                continue
            if p.tls and verb in ("PBSZ", "PROT"):
                if verb == "PROT":
                    self.protected = arg.strip().upper() == "P"
                self.send_client(b"200 %s=%s OK (proxy).\r\n" % (verb.encode(), arg.encode()))
                continue
            if verb in TRANSFER_VERBS:
                self.xfer = (verb, arg)
            rule = p._take(p.delay_rules, lambda r: r.matches(verb, arg))
            if rule is not None:
                p._fault("delay", "session %d: reply to %s held %.1f s" % (self.number, verb, rule.seconds))
                self.reply_delay = (rule.seconds, rule.final)
            out.append((verb, line + b"\n"))
        return True

    # server -> client: rewrite passive replies
    def _server_lines(self):
        while b"\n" in self.sbuf:
            line, self.sbuf = self.sbuf.split(b"\n", 1)
            line += b"\n"
            m = _EPSV.match(line)
            if m:
                port = self._relay(int(m.group(1)))
                line = b"229 Entering Extended Passive Mode (|||%d|)\r\n" % port
            else:
                m = _PASV.match(line)
                if m:
                    port = self._relay(int(m.group(5)) * 256 + int(m.group(6)))
                    line = b"227 Entering Passive Mode (127,0,0,1,%d,%d)\r\n" % (port >> 8, port & 255)
            if self.reply_delay and not (self.reply_delay[1] and line[:1] == b"1"):
                if not self.reply_delay[1] or line[:1] == b"2":
                    time.sleep(self.reply_delay[0])
                self.reply_delay = None
            self.send_client(line)
            self.proxy._log_reply(self.number, line.rstrip(b"\r\n").decode("latin-1"))

    def _relay(self, server_port):
        """A local port for the client's data connection to server_port."""
        p = self.proxy
        rule = p._take(p.refuse_rules, lambda r: True)
        if rule is not None and rule.mode == "refuse":
            dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            dead.bind((HOST, 0))          # bound, never listening: connect is refused
            self.dead_ports.append(dead)
            port = dead.getsockname()[1]
            p._fault("refuse", "session %d: data connection to port %d refused" % (self.number, port))
            return port
        relay = _Relay(self, server_port, reset_at_once=rule is not None)
        if rule is not None:
            p._fault("refuse", "session %d: data connection reset on accept" % self.number)
        with p.lock:
            p.relays.add(relay)
        p._thread(relay.run)
        return relay.port


class _Gate:
    """split_lines: a transfer command went alone, the command behind it
    waits until the server sends the data (sending), and the data waits
    until that command went (behind_sent)."""

    def __init__(self):
        self.sending = threading.Event()
        self.behind_sent = threading.Event()


class _Relay:
    """One passive data connection: client <-> proxy <-> server's port."""

    def __init__(self, session, server_port, reset_at_once=False):
        self.session = session
        self.proxy = session.proxy
        self.server_port = server_port
        self.reset_at_once = reset_at_once
        self.client = None
        self.server = None
        self.closed = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((HOST, 0))
        self.listener.listen(1)
        self.listener.settimeout(IDLE)
        self.port = self.listener.getsockname()[1]

    def close(self, reset=False):
        self.closed = True
        _close(self.listener)
        _close(self.client, reset)
        _close(self.server)
        with self.proxy.lock:
            self.proxy.relays.discard(self)

    def _stopped(self):
        return self.closed or self.session.closed or self.proxy.stopping.is_set()

    def run(self):
        p = self.proxy
        reset = False
        try:
            deadline = time.monotonic() + ACCEPT_TIMEOUT
            while self.client is None:
                if self._stopped() or time.monotonic() > deadline:
                    return
                try:
                    self.client, _addr = self.listener.accept()
                except socket.timeout:
                    continue
            _close(self.listener)
            if self.reset_at_once:
                reset = True
                return
            self.client.settimeout(30)
            _nodelay(self.client)
            if p.tls and self.session.protected:
                self.client = p.tls.wrap_socket(self.client, server_side=True)
            self.server = _nodelay(socket.create_connection((p.upstream[0], self.server_port),
                                                            timeout=10))
            self.server.settimeout(30)
            reset = self._pump()
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            self.close(reset)

    def _pump(self):
        """Relay until either side ends; returns True to reset the client.
        A data rule is spent only when its fault really happens (a cut
        after N bytes does not count on a file shorter than N)."""
        p = self.proxy
        candidates = None
        rule = None
        sent = 0
        while not self._stopped():
            for sock in _readable([self.client, self.server], IDLE):
                data = sock.recv(65536)
                if sock is self.client:
                    if not data:
                        return False
                    self.server.sendall(data)
                    continue
                gate, self.session.gate = self.session.gate, None
                if gate is not None:
                    gate.sending.set()
                    gate.behind_sent.wait(GATE_WAIT)
                if not data:
                    return False
                if candidates is None:
                    verb, arg = self.session.xfer
                    with p.lock:
                        candidates = [r for r in p.data_rules if r.left > 0 and r.matches(verb, arg)]
                if rule is None and candidates:
                    room = min(r.after for r in candidates) - sent
                    if len(data) > room:
                        rule = self._fire(candidates, sent + len(data))
                        if rule is None:
                            candidates = []
                if rule is None:
                    self.client.sendall(data)
                    sent += len(data)
                    continue
                room = max(0, rule.after - sent)
                if room:
                    self.client.sendall(data[:room])
                    sent += room
                if rule.kind == "cut":
                    return rule.reset
                if rule.kind == "stall":
                    self._stall()
                    return False
                # truncate: swallow the rest, end normally with the server
        return False

    def _fire(self, candidates, reached):
        """Spend the first candidate rule whose threshold is below
        `reached` bytes and that has faults left; None if none."""
        p = self.proxy
        verb, arg = self.session.xfer
        with p.lock:
            for r in candidates:
                if r.after < reached and r.left > 0:
                    r.left -= 1
                    p._faults.append((time.monotonic(), r.kind, "session %d: %s %s after %d bytes"
                                      % (self.session.number, verb, arg, r.after)))
                    return r
        return None

    def _stall(self):
        """Forward nothing more; keep both sockets open until the client
        closes its side or the proxy stops."""
        while not self._stopped():
            if self.client in _readable([self.client], IDLE):
                try:
                    if not self.client.recv(65536):
                        return
                except OSError:
                    return
