#!/bin/sh
# security-check.sh - `make security-check`: run Debian's testssl.sh
# against a relais started on loopback with a STARTTLS listener and an
# implicit-TLS listener, and fail on any finding rated HIGH or CRITICAL.
#
# The certificate is made here, signed by a throwaway CA that testssl is
# told to trust (--add-ca), so that the result rates relais's TLS set-up
# rather than the trust of a test certificate. Not part of `make test`:
# testssl takes a few minutes.
set -eu

BIN=${RELAIS_BIN:-build/relais}
[ -x "$BIN" ] || { echo "security-check: $BIN not built" >&2; exit 2; }
if ! command -v testssl >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends testssl.sh >&2
	else
		echo "security-check: run: sudo apt-get install -y testssl.sh" >&2
		exit 1
	fi
fi

tmp=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cd "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.crt -days 400 -subj "/CN=relais check CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout srv.key -out srv.csr -subj "/CN=localhost" 2>/dev/null
# a certificate as a public CA would issue it (a year, a CRL location),
# so that no finding is about the throwaway certificate itself
printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    'extendedKeyUsage=serverAuth' 'basicConstraints=critical,CA:FALSE' \
    'keyUsage=critical,digitalSignature' \
    'crlDistributionPoints=URI:http://localhost/relais-check.crl' > srv.ext
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 365 -out srv.crt -extfile srv.ext 2>/dev/null
ports=$(python3 -c 'import socket
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
p1=$(echo "$ports" | sed -n 1p)
p2=$(echo "$ports" | sed -n 2p)
cat > relais.conf <<CONF
[server]
hostname = localhost
data_dir = $tmp/data
threads = 2
[listener submission]
address = 127.0.0.1:$p1
role = submission
tls = required
[listener submissions]
address = 127.0.0.1:$p2
role = submissions
tls = implicit
[local]
domains = localhost
[tls]
certificate = $tmp/srv.crt
key = $tmp/srv.key
CONF
cd - >/dev/null
"$BIN" serve -c "$tmp/relais.conf" 2>"$tmp/relais.log" &
pid=$!
i=0
until grep -q event=server.ready "$tmp/relais.log"; do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat "$tmp/relais.log" >&2; exit 1; }
	sleep 0.1
done

status=0
for target in "starttls:$p1" "implicit:$p2"; do
	kind=${target%%:*}
	port=${target#*:}
	set -- --quiet --color 0 --warnings off --add-ca "$tmp/ca.crt" \
	    --jsonfile "$tmp/$kind.json"
	[ "$kind" = starttls ] && set -- "$@" -t smtp
	echo "== testssl ($kind) 127.0.0.1:$port"
	testssl "$@" "127.0.0.1:$port" >"$tmp/$kind.txt" 2>&1 || true
	python3 - "$tmp/$kind.json" <<'PY' || status=1
import json, sys
try:
    findings = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit(f"no testssl result: {e}")
if isinstance(findings, dict):
    findings = findings.get("scanResult", findings)
counts = {}
bad = []
for f in findings:
    sev = f.get("severity", "")
    counts[sev] = counts.get(sev, 0) + 1
    if sev in ("HIGH", "CRITICAL"):
        bad.append(f)
print("  severities:", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
for f in findings:
    if f.get("severity") in ("LOW", "MEDIUM", "WARN", "HIGH", "CRITICAL"):
        print(f"  {f['severity']}: {f.get('id')}: {f.get('finding')}")
sys.exit(1 if bad else 0)
PY
done
if [ $status -ne 0 ]; then
	echo "security-check: FAILED (HIGH or CRITICAL findings above)" >&2
	exit 1
fi
echo "security-check: OK (no HIGH or CRITICAL finding)"
