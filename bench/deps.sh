#!/bin/sh
# Install what the benchmark needs, when missing (Debian, as root).
#   sh bench/deps.sh            pure-ftpd, the peers (lftp, rclone, wget, curl), python3
#   sh bench/deps.sh --servers  also vsftpd and proftpd, unpacked by tests/deps.sh
# Quiet when everything is there.  Package installs never start a service
# (a policy-rc.d forbids it for the duration), and a pure-ftpd daemon that
# its package started anyway is stopped: the benchmark runs its own.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="python3 pure-ftpd lftp rclone wget curl util-linux
gcc make pkg-config libcurl4-openssl-dev libsqlite3-dev libyaml-dev"
# Optional: a faster event loop for bench/delayproxy.py (used when importable).
PACKAGES="$PACKAGES python3-uvloop"

want_servers=0
[ "${1:-}" = "--servers" ] && want_servers=1

# shellcheck disable=SC2086  # word splitting of the package list is intended
installed=" $(dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>/dev/null |
    awk '$2 == "install" && $3 == "ok" && $4 == "installed" { printf "%s ", $1 }') "
missing=""
for pkg in $PACKAGES; do
    case "$installed" in
        *" $pkg "*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench deps: missing Debian packages:$missing" >&2
        echo "bench deps: as root, run: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
        exit 1
    fi
    echo "bench deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# installed by ftpmirror bench/deps.sh for the duration of an install\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        own_policy=1
    fi
    trap 'if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
    trap 'exit 130' INT TERM
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
    pidfile=/var/run/pure-ftpd/pure-ftpd.pid
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "bench deps: stopping the pure-ftpd service started by its package"
        [ -x /etc/init.d/pure-ftpd ] && /etc/init.d/pure-ftpd stop >/dev/null 2>&1 || true
        if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    fi
fi

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
