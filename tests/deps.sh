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
set -eu

PACKAGES="gcc make pkg-config libcurl4-openssl-dev libsqlite3-dev libyaml-dev
libcmocka-dev python3 python3-pyftpdlib pure-ftpd sqlite3"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: as root, run: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

echo "deps: installing$missing"
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
            echo "deps: stopping the pure-ftpd service started by its package"
            if [ -x /etc/init.d/pure-ftpd ]; then
                /etc/init.d/pure-ftpd stop >/dev/null 2>&1 || true
            fi
            if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
                kill "$(cat "$pidfile")" 2>/dev/null || true
            fi
        fi
        ;;
esac

echo "deps: done"
