#!/bin/sh
# relais-start.sh - the mta-bench "custom" adapter: write a relais config
# for the harness's ports and scratch dir, then run relais in the
# foreground. Env: BENCH_IN_PORT, BENCH_SINK_PORT, BENCH_DIR, RELAIS_BIN,
# RELAIS_THREADS (0 = one per core), RELAIS_SANDBOX (yes|no, default yes).
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
exec "${RELAIS_BIN:-relais}" serve -c "$dir/relais.conf"
