#!/usr/bin/env python3
r"""Where a mirror run's time goes on its FTP control connections.

Reads a packet capture of the client's side of the delay proxy (see
bench/README.md, "Profiles") and pairs each command with the final reply
that follows it.  It prints, summed over the connections, the time spent
waiting for replies (command sent -> reply in) and the client's own time
between a reply and its next command (reply in -> command sent).

    tcpdump -i lo --immediate-mode -s 256 -w run.pcap \
        'src host 127.0.0.1 and dst host 127.0.0.1 and portrange P-P+200'
    bench/rttbudget.py run.pcap P

P is the proxy's control port (the source URL's port).  Only classic pcap
files with Ethernet framing (what tcpdump writes on lo) are read.
"""

import argparse
import re
import statistics
import struct
from collections import defaultdict

REPLY = re.compile(r"^\d{3} ")        # the last line of a reply
PRELIMINARY = ("150", "125")          # a transfer starts; its end follows


def control_lines(path, port):
    """{client port: [(time, 'C' or 'S', line)]}, each TCP segment once."""
    lines = defaultdict(list)
    seen = set()
    with open(path, "rb") as f:
        if len(f.read(24)) < 24:
            raise SystemExit(f"{path}: not a pcap file")
        while True:
            head = f.read(16)
            if len(head) < 16:
                break
            sec, usec, incl, _ = struct.unpack("<IIII", head)
            frame = f.read(incl)
            ip = frame[14:]
            tcp = ip[(ip[0] & 15) * 4:]
            sport, dport, seq = struct.unpack(">HHI", tcp[:8])
            payload = tcp[(tcp[12] >> 4) * 4:]
            if port not in (sport, dport) or not payload:
                continue
            if (sport, dport, seq) in seen:     # retransmitted or seen twice
                continue
            seen.add((sport, dport, seq))
            t = sec + usec / 1e6
            text = payload.decode("latin-1")
            if dport == port:
                lines[sport].append((t, "C", text.strip()))
            else:
                lines[dport].extend((t, "S", line)
                                    for line in text.split("\r\n")
                                    if REPLY.match(line))
    return lines


def intervals(lines):
    """{(from, to): [seconds]} over all connections."""
    spans = defaultdict(list)
    for events in lines.values():
        events.sort()
        command = reply = None
        for t, side, text in events:
            if side == "C":
                verb = text.split(" ", 1)[0].upper()
                if reply is not None:
                    spans[(reply[1], verb)].append(t - reply[0])
                command = (t, verb)
            elif command is not None and text[:3] not in PRELIMINARY:
                spans[(">" + command[1], text[:3])].append(t - command[0])
                reply = (t, text[:3])
    return spans


def main():
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pcap")
    ap.add_argument("port", type=int, help="the proxy's control port")
    a = ap.parse_args()
    lines = control_lines(a.pcap, a.port)
    if not lines:
        raise SystemExit(f"{a.pcap}: no control traffic on port {a.port}")
    spans = intervals(lines)
    first = min(e[0][0] for e in lines.values())
    last = max(e[-1][0] for e in lines.values())
    n = len(lines)
    print(f"{n} control connections, {last - first:.3f} s from the first "
          f"command or reply to the last")
    print(f"{'interval':<16} {'count':>6} {'mean ms':>8} {'median':>7} "
          f"{'p90':>7} {'max':>7} {'s/conn':>7}")
    waiting = own = 0.0
    for (start, end), v in sorted(spans.items(), key=lambda kv: -sum(kv[1])):
        v.sort()
        total = sum(v) / n
        if start.startswith(">"):
            waiting += total
        else:
            own += total
        name = f"{start} -> {end}"
        print(f"{name:<16} {len(v):6d} {1000 * statistics.mean(v):8.3f} "
              f"{1000 * statistics.median(v):7.3f} "
              f"{1000 * v[int(0.9 * (len(v) - 1))]:7.3f} "
              f"{1000 * v[-1]:7.2f} {total:7.3f}")
    print(f"per connection: {waiting:.3f} s waiting for replies, "
          f"{own:.3f} s between a reply and the next command (the "
          f"client's own time, and waits for work at the start and end)")


if __name__ == "__main__":
    main()
