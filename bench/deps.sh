#!/bin/sh
# Install what the benchmark needs, when missing (Debian, as root).
#   sh bench/deps.sh            pure-ftpd, the peers (lftp, rclone, wget, curl), python3
#   sh bench/deps.sh --servers  also vsftpd and proftpd, unpacked by tests/deps.sh
# Quiet when everything is there.  Package installs never start a service
# (a policy-rc.d forbids it for the duration), and a pure-ftpd daemon that
# its package started anyway is stopped: the benchmark runs its own.  Both
# are tests/deps.sh's (`--only`), which bench/deps.sh calls.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="python3 pure-ftpd lftp rclone wget curl util-linux
gcc make pkg-config libcurl4-openssl-dev libsqlite3-dev libyaml-dev"
# Optional: a faster event loop for bench/delayproxy.py (used when importable).
PACKAGES="$PACKAGES python3-uvloop"

want_servers=0
[ "${1:-}" = "--servers" ] && want_servers=1

# Installed (when missing) the way tests/deps.sh installs its own.
# shellcheck disable=SC2086  # word splitting of the package list is intended
sh tests/deps.sh --only "bench deps" $PACKAGES

# vsftpd and proftpd conflict with pure-ftpd as packages: tests/deps.sh
# downloads and unpacks them into build/servers/root (and installs their
# libraries); the benchmark runs them from there.
if [ "$want_servers" = 1 ]; then
    if [ ! -x build/servers/root/usr/sbin/vsftpd ] || [ ! -x build/servers/root/usr/sbin/proftpd ] ||
       [ ! -f build/servers/root/.unpacked ]; then
        sh tests/deps.sh
    fi
fi
exit 0
