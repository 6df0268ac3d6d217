#!/bin/sh
# deps.sh - make sure the Debian packages Postern needs are installed.
#
#   sh mk/deps.sh build        what building needs
#   sh mk/deps.sh build test   ... plus what the test suite needs
#
# As root, missing packages are installed with apt-get. As anyone else the
# exact apt-get line is printed and the script fails, so nothing half-works.
set -eu

build_pkgs="gcc make pkg-config libc6-dev libssl-dev liblmdb-dev libcap-dev libpcre2-dev
            libldap-dev libcrypt-dev libargon2-dev openssl"
test_pkgs="libcmocka-dev python3 python3-pytest clang clang-format git procps iproute2 man-db groff-base
    procmail passwd util-linux swaks dnsmasq-base slapd ldap-utils"

want=""
for set in "$@"; do
    case "$set" in
    build) want="$want $build_pkgs" ;;
    test) want="$want $test_pkgs" ;;
    *) echo "deps.sh: unknown package set: $set" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; install the equivalents of:$want" >&2
    exit 0
fi

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "Postern needs these Debian packages:$missing" >&2
    echo "Install them as root with:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing </dev/null
