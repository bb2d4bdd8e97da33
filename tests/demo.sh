#!/bin/sh
# `make demo`: mirror a small sample tree from a local FTP server.
#
#   1. tests/demo-tree.sh writes the sample tree to build/demo/remote;
#   2. pyftpdlib serves it anonymously on 127.0.0.1:21021;
#   3. build/ftpmirror syncs jobs/demo.yaml into build/demo/mirror, with its
#      state in build/demo/state.db, and shows the run history;
#   4. diff -r compares remote and mirror; sqlite3 lists the run's events.
# The server is stopped however the script ends.  Exit status: ftpmirror's
# sync status, or 1 if the mirror differs from the remote.
set -eu
cd "$(dirname "$0")/.."

BIN=${FTPMIRROR_BIN:-build/ftpmirror}   # override to demo another build
DEMO=build/demo
PORT=21021
PASSIVE=21100-21199
PYTHON=/usr/bin/python3
DB=$DEMO/state.db

if [ ! -x "$BIN" ]; then
    echo "demo: $BIN is missing: run 'make' first" >&2
    exit 1
fi

# Start from scratch: sample tree, no mirror, no state.
rm -rf "$DEMO"
mkdir -p "$DEMO"
sh tests/demo-tree.sh "$DEMO/remote"

if ! "$PYTHON" -c 'import socket, sys
s = socket.socket()
# As the server will: connections of an earlier demo in TIME_WAIT are fine.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    sys.exit("demo: port %s on 127.0.0.1 is taken (%s): stop what uses it" % (sys.argv[1], e))
' "$PORT"; then
    exit 1
fi

server=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_server() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM HUP

"$PYTHON" tests/integration/pyftpd_server.py --root "$DEMO/remote" --port "$PORT" \
    --passive "$PASSIVE" --command-log "$DEMO/ftp-commands.log" \
    --ready-file "$DEMO/server.port" >"$DEMO/server.log" 2>&1 &
server=$!

tries=0
while [ ! -s "$DEMO/server.port" ]; do
    if ! kill -0 "$server" 2>/dev/null; then
        echo "demo: the FTP server did not start:" >&2
        cat "$DEMO/server.log" >&2
        server=""
        exit 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ]; then
        echo "demo: the FTP server is not ready after 10s" >&2
        exit 1
    fi
    sleep 0.1
done
echo "demo: serving $DEMO/remote on ftp://127.0.0.1:$PORT/"

echo
echo "\$ $BIN --db $DB sync jobs/demo.yaml"
status=0
timeout 300 "$BIN" --db "$DB" sync jobs/demo.yaml || status=$?
echo "(exit status $status)"

echo
echo "\$ $BIN --db $DB history"
timeout 60 "$BIN" --db "$DB" history || true

echo
# .ftpmirror/ holds the trace file ftpmirror writes after publishing.
echo "\$ diff -r -x .ftpmirror $DEMO/remote $DEMO/mirror"
if diff -r -x .ftpmirror "$DEMO/remote" "$DEMO/mirror" >"$DEMO/diff.txt" 2>&1; then
    echo "identical: $(find "$DEMO/mirror" -path "$DEMO/mirror/.ftpmirror" -prune \
        -o -type f -print | wc -l) files mirrored"
    echo
    echo "\$ cat $DEMO/mirror/.ftpmirror/trace"
    cat "$DEMO/mirror/.ftpmirror/trace"
else
    echo "DIFFERENT:"
    head -n 20 "$DEMO/diff.txt"
    [ "$status" -ne 0 ] || status=1
fi

echo
echo "\$ sqlite3 $DB 'SELECT run_id, action, bytes, path FROM events ...'"
sqlite3 -header -column "$DB" \
    "SELECT run_id, action, bytes, path FROM events ORDER BY run_id, path;" || true

exit "$status"
