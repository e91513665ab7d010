#!/bin/sh
# deps.sh - install the Debian packages relais needs to build and test.
# Usage: scripts/deps.sh build|test|valgrind|man|deb
set -eu
build="gcc make pkg-config libevent-dev libssl-dev libsqlite3-dev libunbound-dev libinih-dev libpsl-dev libcrypt-dev libseccomp-dev libjansson-dev libcurl4-openssl-dev zlib1g-dev libhiredis-dev"
test="$build libcmocka-dev python3-pytest python3-dnslib python3-aiosmtpd python3-dkim dovecot-imapd dovecot-lmtpd swaks clang libclang-rt-14-dev openssl sqlite3 procps postfix python3-prometheus-client apache2-utils chromium chromium-driver python3-selenium unbound ldnsutils dns-root-data python3-jsonschema nginx dovecot-core rspamd opendkim redis-server haproxy python3-pytest-xdist"
case "${1:-build}" in
build) want=$build ;;
test) want="$test mandoc" ;;
valgrind) want="valgrind" ;;
# make test (with the test packages) and make man check the man pages
# with mandoc; make deb builds the Debian package and runs lintian on it
man) want="mandoc" ;;
deb) want="$build mandoc debhelper dpkg-dev fakeroot lintian" ;;
*) echo "usage: $0 build|test|valgrind|man|deb" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo="sudo"
else
	echo "relais: missing Debian packages:$missing" >&2
	echo "run: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "relais: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix is a test peer only: installed, never configured to run.
# unbound (with ldnsutils' ldns-signzone) serves the DNSSEC tests' signed
# zones, each test starting its own on a free loopback port; a system
# unbound the package may start listens on port 53, which no test uses.
# rspamd and opendkim are milters the tests start on free loopback ports
# with configurations of their own; a service the packages may start
# uses their default ports, which no test uses.
# nginx likewise: the MTA-STS tests start their own, with their own
# config, on 127.0.0.X:443; Debian's default site, where the install
# starts it, listens on port 80 only and is left alone.
case "$missing" in
*postfix*) echo "postfix postfix/main_mailer_type select No configuration" |
	$sudo debconf-set-selections ;;
esac
$sudo apt-get update -qq >&2 || true
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
