#!/usr/bin/python3
"""A userspace TCP proxy that adds a fixed one-way delay: a WAN on loopback.

    delayproxy.py --listen 127.0.0.1 --target 127.0.0.2 \
                  --ports 21000,30000-30199 --delay-ms 10 [--ready-file F]

It listens on LISTEN:PORT for every port given and forwards each accepted
connection to TARGET:PORT (the same port number): the FTP server binds
127.0.0.2 and announces 127.0.0.1 for passive mode, so the proxy carries
the control connection and every passive data connection.

Every chunk read from one side is written to the other side DELAY after it
arrived (so the round trip is 2 x DELAY).  Chunks of one direction wait in a
queue ordered by arrival and one timer per direction releases all that are
due: delays overlap (no sleep per chunk), order is kept, and bandwidth is not
capped -- only the in-flight bytes of one direction are bounded (MAX_QUEUED,
64 MiB, far above what 10 ms of loopback traffic holds).  The connection to
the target is opened DELAY after the client's (a SYN takes the one-way
delay to arrive); an end of stream and a close travel with the same delay,
after the data before them.  The client's own connect() cannot be delayed
from user space (the kernel completes the handshake), so a new TCP
connection costs the client no extra round trip here (see bench/README.md).

With --delay-ms 0, bytes are forwarded as they come (the overhead of the
proxy alone; bench/run.py measures it).  uvloop is used when importable.
SIGTERM or SIGINT stops it; on the way out it writes counters (connections,
bytes each way, CPU seconds) to --stats-file, if given.
"""

import argparse
import asyncio
import collections
import json
import os
import resource
import signal
import socket
import sys
import time

# Timers fire late (the event loop wakes on whole milliseconds, then runs
# callbacks): a chunk is released when due within EARLY seconds, and timers
# are set EARLY ahead, so that the mean delay is the one asked for.
EARLY = 0.00025

MAX_QUEUED = 64 << 20      # bytes waiting in one direction before reading pauses
RESUME_QUEUED = 16 << 20

# Deadlines on the monotonic clock itself: uvloop's loop.time() is cached
# and counts whole milliseconds.
_now = time.monotonic

EOF = object()             # queue markers: end of stream, close
CLOSE = object()


class Stats:
    def __init__(self):
        self.connections = 0
        self.failed_connects = 0
        self.up_bytes = 0      # client -> target
        self.down_bytes = 0    # target -> client
        self.flushes = 0       # timer releases, and how late they were
        self.late_sum = 0.0
        self.late_max = 0.0


STATS = Stats()


class Pipe:
    """One direction of one connection: bytes read from `src` are written to
    `dst` `delay` seconds after they arrived, in order."""

    __slots__ = ("loop", "delay", "src", "dst", "queue", "queued", "timer",
                 "paused_queue", "paused_dst", "done", "up", "on_done")

    def __init__(self, loop, delay, up):
        self.loop = loop
        self.delay = delay
        self.src = None        # transport read from
        self.dst = None        # transport written to (None until connected)
        self.queue = collections.deque()
        self.queued = 0
        self.timer = None
        self.paused_queue = False
        self.paused_dst = False
        self.done = False      # CLOSE or EOF delivered, or the pipe dropped
        self.up = up
        self.on_done = None    # called once EOF or CLOSE is delivered

    # --- input side ---------------------------------------------------

    def feed(self, data):
        if self.done:
            return
        if self.up:
            STATS.up_bytes += len(data)
        else:
            STATS.down_bytes += len(data)
        if self.delay == 0 and not self.queue and self.dst is not None:
            self.dst.write(data)
            return
        self.queue.append((_now() + self.delay, data))
        self.queued += len(data)
        if self.queued > MAX_QUEUED and not self.paused_queue:
            self.paused_queue = True
            self._update_reading()
        self._arm()

    def mark(self, marker):
        """Queue an end of stream (EOF) or a close (CLOSE)."""
        if self.done:
            return
        self.queue.append((_now() + self.delay, marker))
        self._arm()

    # --- output side --------------------------------------------------

    def _arm(self):
        if self.timer is None and self.queue and self.dst is not None:
            wait = self.queue[0][0] - EARLY - _now()
            if wait <= 0:
                self.timer = self.loop.call_soon(self._flush)
            else:
                self.timer = self.loop.call_later(wait, self._flush)

    def connected(self, dst):
        self.dst = dst
        self._arm()

    def _flush(self):
        self.timer = None
        if self.done or self.dst is None:
            return
        now = _now() + EARLY
        chunks = []
        marker = None
        queue = self.queue
        first = queue[0][0] if queue else 0.0
        while queue and queue[0][0] <= now:
            _when, item = queue.popleft()
            if item is EOF or item is CLOSE:
                marker = item
                break
            chunks.append(item)
            self.queued -= len(item)
        if chunks and self.delay:
            late = _now() - first
            STATS.flushes += 1
            STATS.late_sum += late
            STATS.late_max = max(STATS.late_max, late)
        if chunks:
            self.dst.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if marker is EOF:
            self.done = True
            if self.dst.can_write_eof():
                self.dst.write_eof()
            else:
                self.dst.close()
            if self.on_done:
                self.on_done()
        elif marker is CLOSE:
            self.done = True
            self.dst.close()
            if self.on_done:
                self.on_done()
        if self.paused_queue and self.queued < RESUME_QUEUED:
            self.paused_queue = False
            self._update_reading()
        if not self.done:
            self._arm()

    def drop(self):
        """The destination is gone: forget what was queued."""
        self.done = True
        self.queue.clear()
        self.queued = 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _update_reading(self):
        src = self.src
        if src is None or src.is_closing():
            return
        if self.paused_queue or self.paused_dst:
            src.pause_reading()
        else:
            src.resume_reading()

    def dst_pause(self):
        self.paused_dst = True
        self._update_reading()

    def dst_resume(self):
        self.paused_dst = False
        self._update_reading()


class Connection:
    """A client connection and its connection to the target."""

    def __init__(self, loop, delay, target, port):
        self.loop = loop
        self.delay = delay
        self.target = target
        self.port = port
        self.up = Pipe(loop, delay, True)      # client -> target
        self.down = Pipe(loop, delay, False)   # target -> client
        self.up.on_done = self._check_done
        self.down.on_done = self._check_done
        self.client = None
        self.server = None
        self.closed = False

    def _check_done(self):
        if self.up.done and self.down.done:
            self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        for t in (self.client, self.server):
            if t is not None:
                t.close()

    def abort(self):
        self.closed = True
        self.up.drop()
        self.down.drop()
        for t in (self.client, self.server):
            if t is not None:
                t.abort()

    def client_made(self, transport):
        STATS.connections += 1
        self.client = transport
        self.up.src = transport
        self.down.dst = transport
        _nodelay(transport)
        if self.delay:
            self.loop.call_later(self.delay, self._connect)
        else:
            self._connect()

    def _connect(self):
        if self.closed:
            return
        task = self.loop.create_task(self.loop.create_connection(
            lambda: Side(self, False), self.target, self.port))
        task.add_done_callback(self._connected)

    def _connected(self, task):
        exc = task.exception() if not task.cancelled() else None
        if task.cancelled() or exc is not None:
            STATS.failed_connects += 1
            self.abort()      # the client sees a reset, as from a closed port

    def server_made(self, transport):
        self.server = transport
        self.down.src = transport
        _nodelay(transport)
        if self.closed:
            transport.abort()
            return
        self.up.connected(transport)
        self.down._update_reading()


class Side(asyncio.Protocol):
    """Protocol for either end of a Connection."""

    __slots__ = ("conn", "is_client", "inp", "out")

    def __init__(self, conn, is_client):
        self.conn = conn
        self.is_client = is_client
        # inp: the pipe this side feeds; out: the pipe that writes to this side
        self.inp = conn.up if is_client else conn.down
        self.out = conn.down if is_client else conn.up

    def connection_made(self, transport):
        if self.is_client:
            self.conn.client_made(transport)
        else:
            self.conn.server_made(transport)

    def data_received(self, data):
        self.inp.feed(data)

    def eof_received(self):
        self.inp.mark(EOF)
        return True    # keep the other direction open (half close)

    def connection_lost(self, exc):
        # Nothing more can be written to this side; what the other side sent
        # before is still delivered, then the other side is closed.
        self.out.drop()
        self.inp.mark(CLOSE)
        if self.conn.up.done and self.conn.down.done:
            self.conn.close()

    def pause_writing(self):
        self.out.dst_pause()

    def resume_writing(self):
        self.out.dst_resume()


def _nodelay(transport):
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def parse_ports(text):
    ports = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            first, last = part.split("-", 1)
            ports.extend(range(int(first), int(last) + 1))
        else:
            ports.append(int(part))
    return ports


async def serve(args):
    loop = asyncio.get_running_loop()
    delay = args.delay_ms / 1000.0
    servers = []
    for port in parse_ports(args.ports):
        server = await loop.create_server(
            lambda port=port: Side(Connection(loop, delay, args.target, port), True),
            args.listen, port, reuse_address=True, backlog=256)
        servers.append(server)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.ready_file)
    await stop.wait()
    for server in servers:
        server.close()


def main():
    global EARLY
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--target", default="127.0.0.2")
    parser.add_argument("--ports", required=True, help="e.g. 21000,30000-30199")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (default 10)")
    parser.add_argument("--ready-file", help="written (with the pid) once listening")
    parser.add_argument("--stats-file", help="counters written here on exit (JSON)")
    parser.add_argument("--early-ms", type=float, default=0.25,
                        help="release chunks this much before they are due, to make up for "
                             "late timers (default %(default)s)")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    EARLY = args.early_ms / 1000.0 if args.delay_ms > 0 else 0.0
    for addr in (args.listen, args.target):
        if not addr.startswith("127."):
            sys.exit("delayproxy: loopback addresses only (got %s)" % addr)
    if not args.no_uvloop:
        try:
            import uvloop
            uvloop.install()
        except ImportError:
            pass
    try:
        asyncio.run(serve(args))
    finally:
        if args.stats_file:
            ru = resource.getrusage(resource.RUSAGE_SELF)
            with open(args.stats_file, "w") as f:
                json.dump({"connections": STATS.connections,
                           "failed_connects": STATS.failed_connects,
                           "up_bytes": STATS.up_bytes, "down_bytes": STATS.down_bytes,
                           "cpu_seconds": ru.ru_utime + ru.ru_stime,
                           "flushes": STATS.flushes,
                           "mean_late_ms": STATS.late_sum / max(1, STATS.flushes) * 1e3,
                           "max_late_ms": STATS.late_max * 1e3,
                           "loop": type(asyncio.get_event_loop_policy()).__module__}, f)


if __name__ == "__main__":
    main()
