#!/usr/bin/python3
"""A hostile FTP server for ftpmirror's integration tests (pyftpdlib).

    hostile_server.py --root DIR --script SCRIPT.json --passive FIRST-LAST
                      [--port PORT] [--ready-file FILE] [--command-log FILE]

Run with Debian's /usr/bin/python3 (python3-pyftpdlib).  It is a real FTP
server -- anonymous, read-only, on 127.0.0.1 only, passive replies announce
127.0.0.1 -- that serves files from --root, except that what the script
says replaces the server's own answers:

    {
      "feat_mlst": true,            # false: FEAT does not offer MLST (forces LIST)
      "listings": {                 # per directory, as an absolute FTP path
        "/":    {"MLSD": [ITEM, ...], "LIST": [ITEM, ...]},
        "/sub": {"MLSD": [...]}
      },
      "default_listing": {"MLSD": [ITEM, ...]},
                                    # for every directory "listings" does
                                    # not name (e.g. an endless tree)
      "retr": {                     # per file, as an absolute FTP path
        "/f.bin": {"append": BYTES} # send the real file, then these bytes
        "/g.bin": {"data": BYTES}   # send exactly these bytes instead
      }
    }

A directory or command the script does not mention gets pyftpdlib's own
real answer.  An ITEM is one listing line, sent as given then CRLF:

    "text"                          # a string whose code points are bytes
                                    # (latin-1: "\\u00e9" is the byte 0xe9)
    {"b64": "...", "repeat": N, "eol": false}
    {"latin1": "...", "repeat": N, "eol": false}
                                    # those bytes N times (default 1),
                                    # then CRLF unless eol is false; a huge
                                    # N is streamed, never built in memory

BYTES is a latin-1 string, or {"b64": "..."}.  Path keys are latin-1 too
(so b"/caf\\xe9" is "/caf\\u00e9").

The script is read again at every command that uses it, so a test changes
the server's behaviour between two runs by rewriting the file (atomically,
with os.replace).

Commands arrive as bytes and are decoded with surrogateescape, so names in
any encoding reach the file system as the very bytes the client sent.

--command-log appends one JSON object per line, flushed at once:
    {"session": N, "cmd": "RETR", "arg": "<latin-1 bytes>"}
    {"session": N, "xfer": "RETR", "completed": true, "bytes": N, "path": "<latin-1 /path>"}
    {"session": N, "listing": "MLSD", "path": "/dir", "bytes": N}
                                    # a scripted listing was all handed
                                    # to the data connection

SIGTERM and SIGINT stop it cleanly (every socket closed).
"""

import argparse
import base64
import itertools
import json
import logging
import os
import sys

CHUNK = 65536


# ------------------------------------------------------------------ bytes

def to_bytes(text):
    """A str from this process (surrogateescape'd bytes) as bytes."""
    return text.encode("utf-8", "surrogateescape")


def shown(raw):
    """Bytes as a JSON-safe latin-1 str."""
    return raw.decode("latin-1")


def script_bytes(value):
    """BYTES of the script: a latin-1 str or {"b64": ...}."""
    if isinstance(value, dict):
        if "b64" in value:
            return base64.b64decode(value["b64"])
        return value["latin1"].encode("latin-1")
    return value.encode("latin-1")


def item_chunks(item):
    """The bytes of one listing ITEM, as a sequence of chunks."""
    if isinstance(item, str):
        yield item.encode("latin-1") + b"\r\n"
        return
    unit = script_bytes(item)
    repeat = int(item.get("repeat", 1))
    if unit and repeat > 0:
        per = max(1, CHUNK // len(unit))
        block = unit * per
        full, rest = divmod(repeat, per)
        for _ in range(full):
            yield block
        if rest:
            yield unit * rest
    if item.get("eol", True):
        yield b"\r\n"


def listing_chunks(items):
    for item in items:
        yield from item_chunks(item)


def ftp_key(path):
    """A script key ("/a/b", "/") from an FTP path str."""
    raw = to_bytes(path)
    if len(raw) > 1:
        raw = raw.rstrip(b"/") or b"/"
    return shown(raw)


# ------------------------------------------------------------------ server

def main():
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import BufferedIteratorProducer, DTPHandler, FTPHandler
    from pyftpd_server import serve   # beside this file: its main loop

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="directory whose files RETR serves")
    ap.add_argument("--script", required=True, help="JSON file of scripted replies")
    ap.add_argument("--port", type=int, default=0, help="control port (0: any free one)")
    ap.add_argument("--passive", required=True, help="passive port range FIRST-LAST")
    ap.add_argument("--ready-file", help="write the bound port here once listening")
    ap.add_argument("--command-log", help="append commands and transfers here (JSON lines)")
    args = ap.parse_args()

    root = os.path.realpath(args.root)
    if not os.path.isdir(root):
        ap.error("--root %s is not a directory" % args.root)
    first, _, last = args.passive.partition("-")
    passive = range(int(first), int(last) + 1)
    log_file = open(args.command_log, "a", encoding="ascii") if args.command_log else None

    def record(obj):
        if log_file is not None:
            log_file.write(json.dumps(obj, ensure_ascii=True) + "\n")
            log_file.flush()

    def load_script():
        with open(args.script, "r", encoding="utf-8") as f:
            return json.load(f)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    class HostileHandler(FTPHandler):
        unicode_errors = "surrogateescape"
        _sessions = itertools.count(1)

        def on_connect(self):
            self.session_no = next(self._sessions)

        # Incoming lines are bytes: keep every byte (pyftpdlib 1.5 decodes
        # with self.unicode_errors; newer ones call self.decode).
        def decode(self, data):
            return data.decode("utf-8", "surrogateescape")

        def pre_process_command(self, line, cmd, arg):
            record({"session": getattr(self, "session_no", 0), "cmd": cmd,
                    "arg": "******" if cmd == "PASS" else shown(to_bytes(arg or ""))})
            return super().pre_process_command(line, cmd, arg)

        def log_transfer(self, cmd, filename, receive, completed, elapsed, bytes):
            try:
                path = self.fs.fs2ftp(filename) if filename else ""
            except Exception:
                path = filename or ""
            record({"session": getattr(self, "session_no", 0), "xfer": cmd,
                    "completed": bool(completed), "bytes": bytes,
                    "path": shown(to_bytes(path))})
            super().log_transfer(cmd, filename, receive, completed, elapsed, bytes)

        # --- scripted replies ------------------------------------------

        def _scripted_listing(self, path, cmd):
            script = load_script()
            entry = script.get("listings", {}).get(ftp_key(self.fs.fs2ftp(path)))
            if entry is None:
                entry = script.get("default_listing")
            if entry is None or cmd not in entry:
                return None
            return entry[cmd]

        def _push_listing(self, items, cmd, path):
            session = getattr(self, "session_no", 0)
            key = ftp_key(self.fs.fs2ftp(path))

            def counted():
                sent = 0
                for chunk in listing_chunks(items):
                    sent += len(chunk)
                    yield chunk
                # Every byte was handed to the data channel.
                record({"session": session, "listing": cmd, "path": key, "bytes": sent})

            producer = BufferedIteratorProducer(counted())
            self.push_dtp_data(producer, isproducer=True, cmd=cmd)

        def ftp_MLSD(self, path):
            items = self._scripted_listing(path, "MLSD")
            if items is None:
                return super().ftp_MLSD(path)
            self._push_listing(items, "MLSD", path)
            return path

        def ftp_LIST(self, path):
            items = self._scripted_listing(path, "LIST")
            if items is None:
                return super().ftp_LIST(path)
            self._push_listing(items, "LIST", path)
            return path

        def ftp_RETR(self, file):
            rule = load_script().get("retr", {}).get(ftp_key(self.fs.fs2ftp(file)))
            if rule is None:
                return super().ftp_RETR(file)
            rest_pos = self._restart_position
            self._restart_position = 0
            if "data" in rule:
                data = script_bytes(rule["data"])
            else:
                try:
                    with open(file, "rb") as f:
                        data = f.read()
                except OSError as err:
                    self.respond("550 %s." % err.strerror)
                    return None
                data += script_bytes(rule.get("append", ""))
            if rest_pos > len(data):
                self.respond("554 REST position (%d) > file size (%d)" % (rest_pos, len(data)))
                return None
            self.push_dtp_data(data[rest_pos:], cmd="RETR")
            return file

        def ftp_FEAT(self, line):
            if load_script().get("feat_mlst", True):
                return super().ftp_FEAT(line)
            self.push("211-Features supported:\r\n")
            self.push(" EPSV\r\n MDTM\r\n REST STREAM\r\n SIZE\r\n UTF8\r\n")
            self.respond("211 End FEAT.")
            return None

    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root, perm="elr")
    handler = HostileHandler
    handler.authorizer = authorizer
    handler.passive_ports = passive
    handler.masquerade_address = "127.0.0.1"
    handler.use_gmt_times = True
    handler.banner = "ftpmirror hostile test server (pyftpdlib) ready."
    handler.dtp_handler = DTPHandler

    serve(handler, args.port, args.ready_file,
          on_exit=log_file.close if log_file is not None else None)

if __name__ == "__main__":
    main()
