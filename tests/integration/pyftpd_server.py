#!/usr/bin/python3
"""Anonymous, read-only FTP server (pyftpdlib) for ftpmirror's tests and demo.

Run with Debian's /usr/bin/python3 (python3-pyftpdlib is installed for that
interpreter only):

    pyftpd_server.py --root DIR --port PORT --passive FIRST-LAST
                     [--command-log FILE] [--throttle BYTES_PER_SEC]
                     [--ready-file FILE]

* Listens on 127.0.0.1 only; passive replies announce 127.0.0.1.
* Anonymous login, permissions "elr" (change dir, list, retrieve): nothing
  can be written through it.
* Times in listings are UTC (use_gmt_times), as MLSD requires anyway.
* --command-log appends one line per event, tab-separated, flushed at once:
      SESSION \t CMD \t ARG            every command received (PASS masked)
      SESSION \t XFER \t CMD \t COMPLETED(0|1) \t BYTES \t /PATH
                                       end of every data transfer (PATH is
                                       relative to --root, with a leading /)
  SESSION numbers the control connections from 1, so tests can follow one
  connection's REST/RETR sequence while several run in parallel.
* --throttle caps each data connection's send (and receive) rate, so a test
  can interrupt a client in the middle of a large download.
* --port 0 picks a free port; the bound port is written (atomically) to
  --ready-file once the server accepts connections.
"""

import argparse
import itertools
import logging
import os
import signal
import sys
from time import monotonic as timer

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler, ThrottledDTPHandler
from pyftpdlib.servers import FTPServer


class CommandLog:
    """Line-oriented, append-only log shared by all sessions."""

    def __init__(self, path):
        self._file = open(path, "a", encoding="utf-8", errors="replace") if path else None

    def write(self, *fields):
        if self._file is None:
            return
        line = "\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields)
        self._file.write(line + "\n")
        self._file.flush()


class SmoothThrottledDTPHandler(ThrottledDTPHandler):
    """ThrottledDTPHandler with a steady rate.

    pyftpdlib's own throttle lets `limit` bytes through at once and only then
    sleeps, so a few MiB leave in bursts of a whole second's worth.  Here the
    data connection pauses whenever it is ahead of `limit` bytes per second
    since its first byte, with small chunks, so a transfer progresses evenly
    and a test can stop the client part-way through a file."""

    chunk = 16384

    def __init__(self, sock, cmd_channel):
        super().__init__(sock, cmd_channel)
        self.ac_out_buffer_size = min(self.ac_out_buffer_size, self.chunk)
        self.ac_in_buffer_size = min(self.ac_in_buffer_size, self.chunk)
        self._rate_start = None
        self._rate_bytes = 0

    def _throttle_bandwidth(self, len_chunk, max_speed):
        now = timer()
        if self._rate_start is None:
            self._rate_start = now
        self._rate_bytes += len_chunk
        ahead = self._rate_start + self._rate_bytes / max_speed - now
        if ahead <= 0.005:
            return
        event = self.ioloop.READ if self.receive else self.ioloop.WRITE

        def unsleep():
            self.add_channel(events=event)

        self.del_channel()
        self._cancel_throttler()
        self._throttler = self.ioloop.call_later(ahead, unsleep, _errback=self.handle_error)


class LoggingHandler(FTPHandler):
    """FTPHandler that records every command and every finished transfer."""

    command_log = CommandLog(None)   # replaced in main()
    root = "/"                       # served directory, to relativise paths
    _sessions = itertools.count(1)

    def on_connect(self):
        self.session_no = next(self._sessions)
        self.command_log.write(self.session_no, "CONNECT", self.remote_ip)

    def pre_process_command(self, line, cmd, arg):
        shown = "******" if cmd == "PASS" else arg
        self.command_log.write(getattr(self, "session_no", 0), cmd, shown)
        return super().pre_process_command(line, cmd, arg)

    def log_transfer(self, cmd, filename, receive, completed, elapsed, bytes):
        rel = "/" + os.path.relpath(filename, self.root).replace(os.sep, "/")
        self.command_log.write(getattr(self, "session_no", 0), "XFER", cmd,
                               1 if completed else 0, bytes, rel)
        super().log_transfer(cmd, filename, receive, completed, elapsed, bytes)


def parse_range(text):
    first, _, last = text.partition("-")
    first, last = int(first), int(last)
    if not 0 < first <= last < 65536:
        raise argparse.ArgumentTypeError("bad port range %r" % text)
    return range(first, last + 1)


def serve(handler, port, ready_file, on_exit=None):
    """Serve on 127.0.0.1:port until SIGTERM or SIGINT; write the bound
    port to ready_file (atomically) once listening.  Shared with
    hostile_server.py."""
    server = FTPServer(("127.0.0.1", port), handler)
    port = server.socket.getsockname()[1]

    # SIGTERM / SIGINT: leave serve_forever() and close every socket.
    def stop(_signo, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if ready_file:
        tmp = ready_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write("%d\n" % port)
        os.replace(tmp, ready_file)

    try:
        server.serve_forever(handle_exit=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.close_all()
        if on_exit is not None:
            on_exit()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="directory to serve")
    ap.add_argument("--port", type=int, default=0, help="control port (0: any free one)")
    ap.add_argument("--passive", type=parse_range, required=True,
                    help="passive port range FIRST-LAST")
    ap.add_argument("--command-log", help="append commands and transfers here")
    ap.add_argument("--throttle", type=int, default=0,
                    help="bytes per second per data connection (0: unlimited)")
    ap.add_argument("--ready-file", help="write the bound port here once listening")
    args = ap.parse_args()

    root = os.path.realpath(args.root)
    if not os.path.isdir(root):
        ap.error("--root %s is not a directory" % args.root)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root, perm="elr")

    handler = LoggingHandler
    handler.authorizer = authorizer
    handler.root = root
    handler.command_log = CommandLog(args.command_log)
    handler.passive_ports = args.passive
    handler.masquerade_address = "127.0.0.1"
    handler.use_gmt_times = True
    handler.banner = "ftpmirror test server (pyftpdlib) ready."
    if args.throttle > 0:
        class Throttled(SmoothThrottledDTPHandler):
            read_limit = args.throttle
            write_limit = args.throttle   # downloads: the server writes
        handler.dtp_handler = Throttled
    else:
        handler.dtp_handler = DTPHandler

    serve(handler, args.port, args.ready_file)

if __name__ == "__main__":
    main()
