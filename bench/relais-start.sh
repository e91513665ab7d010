#!/bin/sh
# relais-start.sh - the mta-bench "custom" adapter: write a relais config
# for the harness's ports and scratch dir, then run relais in the
# foreground. Env: BENCH_IN_PORT, BENCH_SINK_PORT, BENCH_DIR, RELAIS_BIN,
# RELAIS_THREADS (0 = one per core), RELAIS_SANDBOX (yes|no, default yes),
# RELAIS_HTTP_PORT (set: an [http] listener there and an API key "bench"
# for any domain, its token in $BENCH_DIR/relais/token).
set -eu
dir="$BENCH_DIR/relais"
mkdir -p "$dir"
cat > "$dir/relais.conf" <<CONF
[server]
hostname = relais.bench
data_dir = $dir/data
threads = ${RELAIS_THREADS:-0}
log_level = warning
sandbox = ${RELAIS_SANDBOX:-yes}

[listener bench]
address = 127.0.0.1:$BENCH_IN_PORT
role = mx

[relay]
trusted_networks = 127.0.0.0/8
smarthost = 127.0.0.1:$BENCH_SINK_PORT
smarthost_tls = none
max_connections_per_domain = 100

[limits]
max_connections = 20000
max_connections_per_ip = 20000
CONF
if [ -n "${RELAIS_HTTP_PORT:-}" ]; then
	printf '\n[http]\naddress = 127.0.0.1:%s\n' "$RELAIS_HTTP_PORT" \
	    >> "$dir/relais.conf"
	mkdir -p "$dir/data"
	[ -s "$dir/token" ] || "${RELAIS_BIN:-relais}" apikey new bench \
	    --any-domain -c "$dir/relais.conf" > "$dir/token"
fi
exec "${RELAIS_BIN:-relais}" serve -c "$dir/relais.conf"
