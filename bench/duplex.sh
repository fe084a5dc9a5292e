#!/usr/bin/env bash
# The full-duplex sweep: for each call count, a fresh server in live mode,
# pinned to core 0, pointed at the load generator's own model side; the
# generator, pinned to core 1, plays every caller and every model session,
# each streaming a stamped 20 ms frame every 20 ms for SECONDS. Prints one
# JSON line per run (see `qloophone load --help`, --duplex).
#
#   bench/duplex.sh [SECONDS] [CALLS ...]     default: 20  10 100 200 400
#
# SERVER_BIN=path runs that build as the server (an A/B against another
# commit's binary), with this tree's generator.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
seconds=${1:-20}
shift || true
cargo build --release --quiet
bin=target/release/qloophone
server_bin=${SERVER_BIN:-$bin}
case "$server_bin" in /*) ;; *) server_bin="$PWD/$server_bin" ;; esac
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for n in ${@:-10 100 200 400}; do
  # Qloo is never called (no tools run); its URL only has to parse.
  (cd "$work" && \
    OPENAI_API_KEY=bench QLOO_API_KEY=bench \
    OPENAI_REALTIME_URL=ws://127.0.0.1:18082/v1/realtime QLOO_API_URL=http://127.0.0.1:9 \
    PORT=18081 PUBLIC_URL=http://127.0.0.1:18081 QLOOPHONE_LIMITS__MAX_CALLS=5000 \
    LOG_FORMAT=json RUST_LOG=warn exec taskset -c 0 "$server_bin" serve --insecure >"$work/server.log" 2>&1) &
  server=$!
  for _ in $(seq 100); do curl -fsS http://127.0.0.1:18081/health >/dev/null 2>&1 && break; sleep 0.1; done
  taskset -c 1 "$bin" load --duplex --url http://127.0.0.1:18081 --calls "$n" --ramp-ms $((n * 10)) \
    --seconds "$seconds" --model-listen 127.0.0.1:18082 --server-pid "$server" --json || true
  # The server's own view: relay latency inside it, one frame in 16.
  echo "relay: $(curl -fsS http://127.0.0.1:18081/metrics | grep -E '^qloophone_relay_latency_seconds_(sum|count|bucket)' | tr '\n' ' ')"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
done
