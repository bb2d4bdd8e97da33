#!/bin/sh
# Install the Debian packages needed to build, test and demo ftpmirror, when
# any is missing.  Quiet when everything is already there.  `make deps` (and
# so `make test` and `make demo`) runs this.
#
# pure-ftpd is only used by the integration tests, which start it themselves
# on 127.0.0.1 with a private configuration: its package must not leave a
# system FTP daemon running, so the install runs with a policy-rc.d that
# forbids service starts, and any daemon the package managed to start anyway
# is stopped afterwards.
#
# vsftpd and proftpd (also integration-test servers) conflict with pure-ftpd
# as apt installs (each provides ftp-server), so they are not installed:
# their packages are fetched with `apt-get download` into build/servers/debs
# and unpacked with `dpkg -x` into build/servers/root, where
# tests/integration/servers.py finds them.  Only their runtime libraries
# (SERVER_LIBS) are installed normally.  Nothing of them runs as a service.
#
#   sh tests/deps.sh --only NAME PACKAGE...
# installs just those packages when missing, the same way, with messages
# prefixed by NAME, and nothing else (bench/deps.sh uses it).
set -eu
cd "$(dirname "$0")/.."

name=deps
only=0
if [ "${1:-}" = "--only" ]; then
    name=$2
    shift 2
    only=1
fi

PACKAGES="gcc make pkg-config libcurl4-openssl-dev libsqlite3-dev libyaml-dev
libcmocka-dev python3 python3-pyftpdlib pure-ftpd sqlite3 tzdata clang libssl-dev mandoc man-db systemd strace"

# Unpacked, not installed (see above); SERVER_BINARIES are checked with ldd.
SERVER_DEBS="vsftpd proftpd-core"
SERVER_DIR=build/servers
SERVER_BINARIES="usr/sbin/vsftpd usr/sbin/proftpd"
# What those binaries link beyond a base system: libwrap0 (vsftpd);
# libhiredis0.14, libmemcached11, libmemcachedutil2, libpcre2-posix3
# (proftpd); the rest of their Depends, listed so a minimal machine has them.
SERVER_LIBS="libwrap0 libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3
libpcre2-8-0 libacl1 libcap2 libcrypt1 libidn2-0 libpam0g libssl3 libncursesw6 libtinfo6 zlib1g"
PACKAGES="$PACKAGES $SERVER_LIBS"
[ "$only" = 0 ] || PACKAGES="$*"

# servers_ready: the unpacked servers are there, complete, and every library
# they link is found.
servers_ready() {
    [ -f "$SERVER_DIR/root/.unpacked" ] || return 1
    for bin in $SERVER_BINARIES; do
        [ -x "$SERVER_DIR/root/$bin" ] || return 1
    done
    return 0
}

# unpack_servers: download SERVER_DEBS (running apt-get update once if the
# package lists are missing or stale) and unpack them into a fresh
# $SERVER_DIR/root, atomically (a half-done unpack is never taken as done).
unpack_servers() {
    debs="$SERVER_DIR/debs"
    rm -rf "$debs"
    mkdir -p "$debs"
    log="$SERVER_DIR/download.log"
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    if ! (cd "$debs" && apt-get download -q $SERVER_DEBS) >"$log" 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then
            cat "$log" >&2
            echo "deps: cannot download$SERVER_DEBS; as root, run: apt-get update" >&2
            exit 1
        fi
        apt-get update -q >/dev/null
        # shellcheck disable=SC2086
        if ! (cd "$debs" && apt-get download -q $SERVER_DEBS) >"$log" 2>&1; then
            cat "$log" >&2
            echo "deps: apt-get download$SERVER_DEBS failed" >&2
            exit 1
        fi
    fi
    tmp="$SERVER_DIR/root.tmp"
    rm -rf "$tmp" "$SERVER_DIR/root"
    mkdir -p "$tmp"
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$tmp"
    done
    (cd "$debs" && ls ./*.deb) >"$tmp/.unpacked"
    mv "$tmp" "$SERVER_DIR/root"
}

# check_servers: fail loudly if an unpacked server misses a library.
check_servers() {
    for bin in $SERVER_BINARIES; do
        if ldd "$SERVER_DIR/root/$bin" 2>&1 | grep -q 'not found'; then
            echo "deps: $SERVER_DIR/root/$bin misses libraries:" >&2
            ldd "$SERVER_DIR/root/$bin" 2>&1 | grep 'not found' >&2
            exit 1
        fi
    done
}

# One dpkg-query for all packages (fast when nothing is missing).
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

if [ -z "$missing" ]; then
    [ "$only" = 0 ] || exit 0
    servers_ready || { echo "deps: unpacking $SERVER_DEBS into $SERVER_DIR/root"; unpack_servers; }
    check_servers
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "$name: missing Debian packages:$missing" >&2
    echo "$name: as root, run: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

echo "$name: installing$missing"
export DEBIAN_FRONTEND=noninteractive

# Forbid service starts during the install (exit 101 = "action forbidden"),
# unless the machine already has its own policy; remove ours afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# installed by ftpmirror tests/deps.sh for the duration of an install\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

apt-get update -q >/dev/null
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing >/dev/null

# If pure-ftpd's maintainer scripts started a daemon anyway, stop it: the
# tests run their own instances and a system one would hold port 21.
case "$missing" in
    *pure-ftpd*)
        pidfile=/var/run/pure-ftpd/pure-ftpd.pid
        if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            echo "$name: stopping the pure-ftpd service started by its package"
            if [ -x /etc/init.d/pure-ftpd ]; then
                /etc/init.d/pure-ftpd stop >/dev/null 2>&1 || true
            fi
            if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
                kill "$(cat "$pidfile")" 2>/dev/null || true
            fi
        fi
        ;;
esac

[ "$only" = 0 ] || exit 0
servers_ready || { echo "deps: unpacking $SERVER_DEBS into $SERVER_DIR/root"; unpack_servers; }
check_servers
echo "deps: done"
