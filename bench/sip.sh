#!/usr/bin/env bash
# Calls held per core: calls OpenAI answers over SIP (the server as their
# control plane only) beside Media Streams calls (the server relaying every
# frame both ways), in turns in one session. Each server pinned to core 0,
# the generator (which plays OpenAI's side, or the callers and the model)
# to core 1. One JSON line a run, its mode first.
#
#   [ROUNDS=n] bench/sip.sh [SECONDS] [CALLS ...]      default: 30  100 300
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
seconds=${1:-30}
shift || true
rounds=${ROUNDS:-1}
cargo build --release --quiet
bin=$PWD/target/release/qloophone
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=18081
model=127.0.0.1:18082
control=127.0.0.1:18087
# The sandbox's webhook secret (sandbox/src/sip.rs), which the generator
# signs with.
secret=whsec_c2FuZGJveC13ZWJob29rLXNlY3JldC0yNA==

start() {
  (cd "$work" && OPENAI_API_KEY=bench QLOO_API_KEY=bench OPENAI_REALTIME_URL=ws://$model/v1/realtime \
    OPENAI_BASE_URL=http://$control/v1 OPENAI_WEBHOOK_SECRET=$secret \
    QLOO_API_URL=http://127.0.0.1:9 PORT=$port PUBLIC_URL=http://127.0.0.1:$port \
    QLOOPHONE_LIMITS__MAX_CALLS=5000 LOG_FORMAT=json RUST_LOG=warn \
    exec taskset -c 0 "$bin" serve --insecure >"$work/server.log" 2>&1) &
  pid=$!
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && return
    sleep 0.1
  done
}

for round in $(seq "$rounds"); do
  for n in ${@:-100 300}; do
    for mode in sip media-streams; do
      start
      printf '%s round %s calls %s: ' "$mode" "$round" "$n"
      if [ "$mode" = sip ]; then
        taskset -c 1 "$bin" load --sip --url "http://127.0.0.1:$port" --calls "$n" \
          --ramp-ms $((n * 10)) --seconds "$seconds" --model-listen "$model" \
          --control-listen "$control" --server-pid "$pid" --json || true
      else
        taskset -c 1 "$bin" load --duplex --url "http://127.0.0.1:$port" --calls "$n" \
          --ramp-ms $((n * 10)) --seconds "$seconds" --model-listen "$model" \
          --server-pid "$pid" --json || true
      fi
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
      sleep 1
    done
  done
done
