#!/usr/bin/env bash
# The soak: the server in live mode against the two simulators for
# DURATION seconds at about CONCURRENCY calls at once, with the simulated
# model misbehaving: every 5th model session is closed with 1001 (OpenAI's
# "maximum duration") 4 s in, and also refuses its first response.create
# with rate_limit_exceeded; the simulated Qloo answers every 20th request
# with a 503. None of these should end a call: the server
# reopens the session with the conversation's context. The server's RSS is
# sampled every 30 s; the load report (one JSON line) comes at the end.
#
#   bench/soak.sh [DURATION_SECS] [CONCURRENCY]     default: 600 200
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
concurrency=${2:-200}
# two-films-to-a-film lasts about 12 s a call at real speed.
calls=$((concurrency * duration / 12))

source bench/stack.sh
# Qloo answers every 20th request with a 503 (the client retries it).
qloo_args="--error-every 20"
start_stack \
  --fault-every 5 --fault-close-after-ms 4000 --fault-close-code 1001 --fault-refuse-responses 1

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
