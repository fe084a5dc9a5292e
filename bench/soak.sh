#!/usr/bin/env bash
# The soak: the server in live mode against the two simulators for
# DURATION seconds at about CONCURRENCY calls at once, with the simulated
# model misbehaving: every 5th model session is closed with 1001 (OpenAI's
# "maximum duration") 4 s in, and also refuses its first response.create
# with rate_limit_exceeded. None of these should end a call: the server
# reopens the session with the conversation's context. The server's RSS is
# sampled every 30 s; the load report (one JSON line) comes at the end.
#
#   bench/soak.sh [DURATION_SECS] [CONCURRENCY]     default: 600 200
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
duration=${1:-600}
concurrency=${2:-200}
# two-films-to-a-film lasts about 12 s a call at real speed.
calls=$((concurrency * duration / 12))

cargo build --release --quiet
bin=target/release/qloophone
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" sim realtime --listen 127.0.0.1:18082 \
  --fault-every 5 --fault-close-after-ms 4000 --fault-close-code 1001 --fault-refuse-responses 1 \
  >"$work/realtime.log" 2>&1 & pids+=($!)
"$bin" sim qloo --listen 127.0.0.1:18083 --latency-ms 300 >"$work/qloo.log" 2>&1 & pids+=($!)
(cd "$work" && \
  OPENAI_API_KEY=bench QLOO_API_KEY=bench \
  OPENAI_REALTIME_URL=ws://127.0.0.1:18082/v1/realtime QLOO_API_URL=http://127.0.0.1:18083 \
  PORT=18081 PUBLIC_URL=http://127.0.0.1:18081 QLOOPHONE_LIMITS__MAX_CALLS=5000 \
  LOG_FORMAT=json RUST_LOG=warn exec "$OLDPWD/$bin" serve --insecure >"$work/server.log" 2>&1) & server=$!
pids+=($server)
for _ in $(seq 100); do curl -fsS http://127.0.0.1:18081/health >/dev/null 2>&1 && break; sleep 0.1; done

(
  start=$(date +%s)
  while kill -0 "$server" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
    active=$(curl -fsS http://127.0.0.1:18081/health | sed -n 's/.*"activeCalls":\([0-9]*\).*/\1/p')
    echo "soak t=$(( $(date +%s) - start ))s rss_kib=$rss active_calls=$active"
    sleep 30
  done
) & pids+=($!)

"$bin" load --url http://127.0.0.1:18081 --calls "$calls" --ramp-ms $((duration * 1000)) \
  --server-pid "$server" --json
echo "reconnects: $(curl -fsS http://127.0.0.1:18081/metrics | grep -E '^qloophone_model_reconnects_total|^qloophone_model_reconnect_gap_seconds_(sum|count)|^qloophone_calls_ended_total' | tr '\n' ' ')"
