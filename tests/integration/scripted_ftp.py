"""A tiny FTP server on 127.0.0.1 whose protocol behaviour a test scripts
command by command, for the own engine's reply/queue handling
(test_ftpconn.py).

    srv = ScriptedFTP(files={"a.bin": b"..."}, mtime=...).start()
    srv.url                      "ftp://127.0.0.1:PORT/"
    srv.log                      [(session, "VERB arg")] every command seen
    srv.stop()

Commands are read line by line and answered strictly in order, as vsftpd or
pure-ftpd do (so the engine's NOOP probe turns pipelining on).  A subclass,
or a hook passed as `hooks={"RETR": fn}`, replaces the answer to one verb:
fn(conn, arg) does whatever it likes with conn (a Session: conn.reply(),
conn.send_raw(), conn.data_accept(), conn.close()...), and returns True
when it answered the command itself.

Everything is threads and blocking sockets with timeouts; stop() closes
every socket, and a watchdog stops the server after `lifetime` seconds.
"""

import socket
import threading
import time

MLSD_TIME = "20230101000000"


class Session:
    def __init__(self, server, sock, number):
        self.server = server
        self.sock = sock
        self.number = number
        self.buf = b""
        self.listener = None
        self.rest = 0
        self.cwd = ""          # relative to the root, no slashes around
        self.state = {}        # for hooks

    # --- control ------------------------------------------------------------

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def reply(self, text):
        self.send_raw(text + "\r\n")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        raise SessionOver()

    def readline(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise SessionOver()
            self.buf += data
        line, _nl, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("latin-1")

    # --- data ---------------------------------------------------------------

    def open_listener(self):
        if self.listener is not None:
            self.listener.close()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.server.track(self.listener)
        return self.listener.getsockname()[1]

    def data_accept(self):
        if self.listener is None:
            return None
        try:
            data, _addr = self.listener.accept()
        except OSError:
            return None
        finally:
            self.listener.close()
            self.listener = None
        data.settimeout(10)
        self.server.track(data)
        return data

    def send_data(self, payload):
        """150, the bytes on the data connection, its close, 226."""
        data = self.data_accept()
        if data is None:
            self.reply("425 no data connection")
            return
        self.reply("150 here it comes")
        try:
            data.sendall(payload)
        finally:
            data.close()
        self.reply("226 done")


class SessionOver(Exception):
    pass


class ScriptedFTP:
    def __init__(self, files, hooks=None, lifetime=120.0, mtime=MLSD_TIME, mlsd=True):
        self.files = dict(files)            # "name" or "dir/name" -> bytes
        self.mlsd = mlsd                    # False: no MLST in FEAT, LIST only
        self.hooks = dict(hooks or {})
        self.mtime = mtime
        self.lock = threading.Lock()
        self.log = []
        self.socks = set()
        self.stopping = threading.Event()
        self.sessions = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.lifetime = lifetime

    @property
    def url(self):
        return "ftp://127.0.0.1:%d/" % self.port

    def track(self, sock):
        with self.lock:
            self.socks.add(sock)

    def commands(self, verb=None):
        with self.lock:
            return [(s, c) for s, c in self.log if verb is None or c.split(" ")[0] == verb]

    def start(self):
        for target in (self._accept_loop, self._watchdog):
            threading.Thread(target=target, daemon=True).start()
        return self

    def stop(self):
        self.stopping.set()
        with self.lock:
            socks = list(self.socks)
        for s in socks + [self.listener]:
            try:
                s.close()
            except OSError:
                pass

    def _watchdog(self):
        if not self.stopping.wait(self.lifetime):
            self.stop()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                sock, _addr = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(30)
            self.track(sock)
            with self.lock:
                self.sessions += 1
                number = self.sessions
            threading.Thread(target=self._session, args=(sock, number), daemon=True).start()

    # --- the default server ---------------------------------------------------

    def _session(self, sock, number):
        conn = Session(self, sock, number)
        try:
            conn.reply("220 scripted")
            while not self.stopping.is_set():
                line = conn.readline()
                verb, _sp, arg = line.partition(" ")
                verb = verb.upper()
                with self.lock:
                    self.log.append((number, (verb + " " + arg).strip()))
                hook = self.hooks.get(verb)
                if hook is not None and hook(conn, arg):
                    continue
                self.answer(conn, verb, arg)
        except (SessionOver, OSError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def path_of(self, arg, cwd=""):
        """arg as a path from the root: "a/./b/" and "/a/b" are "a/b"."""
        parts = [] if arg.startswith("/") else [p for p in cwd.split("/") if p]
        for p in arg.split("/"):
            if p == "..":
                parts = parts[:-1]
            elif p not in ("", "."):
                parts.append(p)
        return "/".join(parts)

    def listing(self, arg, cwd="", unix=False):
        d = self.path_of(arg, cwd)
        lines = []
        seen = set()
        for name, body in sorted(self.files.items()):
            if d and not name.startswith(d + "/"):
                continue
            rest = name[len(d) + 1:] if d else name
            first, slash, _ = rest.partition("/")
            if slash:
                if first not in seen:
                    seen.add(first)
                    lines.append("drwxr-xr-x 2 0 0 4096 Jan  1  2023 %s" % first if unix
                                 else "type=dir;modify=%s; %s" % (self.mtime, first))
            else:
                lines.append("-rw-r--r-- 1 0 0 %d Jan  1  2023 %s" % (len(body), rest) if unix
                             else "type=file;size=%d;modify=%s; %s" % (len(body), self.mtime, rest))
        return "".join(l + "\r\n" for l in lines).encode("latin-1")

    def answer(self, conn, verb, arg):
        if verb == "USER":
            conn.reply("331 password")
        elif verb == "PASS":
            conn.reply("230 in")
        elif verb == "FEAT":
            conn.reply("211-Features:\r\n%s MDTM\r\n SIZE\r\n211 End"
                       % (" MLST type*;size*;modify*;\r\n" if self.mlsd else ""))
        elif verb == "PWD":
            conn.reply('257 "/" is home')
        elif verb == "CWD":
            conn.cwd = self.path_of(arg, conn.cwd)
            conn.reply("250 ok")
        elif verb in ("TYPE", "NOOP", "OPTS"):
            conn.reply("200 ok")
        elif verb == "EPSV":
            conn.reply("229 Entering Extended Passive Mode (|||%d|)" % conn.open_listener())
        elif verb == "PASV":
            port = conn.open_listener()
            conn.reply("227 Entering Passive Mode (127,0,0,1,%d,%d)" % (port >> 8, port & 255))
        elif verb == "REST":
            conn.rest = int(arg)
            conn.reply("350 restarting")
        elif verb == "MDTM":
            conn.reply("213 " + self.mtime if self.path_of(arg, conn.cwd) in self.files
                       else "550 no such file")
        elif verb == "SIZE":
            name = self.path_of(arg, conn.cwd)
            conn.reply("213 %d" % len(self.files[name]) if name in self.files
                       else "550 no such file")
        elif verb in ("MLSD", "LIST"):
            conn.send_data(self.listing(arg, conn.cwd, unix=verb == "LIST"))
        elif verb == "RETR":
            name = self.path_of(arg, conn.cwd)
            if name not in self.files:
                conn.reply("550 no such file")
                return
            rest, conn.rest = conn.rest, 0
            conn.send_data(self.files[name][rest:])
        elif verb == "QUIT":
            conn.reply("221 bye")
            conn.close()
        else:
            conn.reply("500 unknown")
