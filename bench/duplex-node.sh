#!/usr/bin/env bash
# Twilio's Node sample bridge (github.com/twilio-samples/
# speech-assistant-openai-realtime-api-node) measured exactly as
# bench/duplex.sh measures QlooPhone: pinned to core 0, the generator on
# core 1 opening its /media-stream directly, its OpenAI URL pointed at the
# generator's model side. DIR holds the sample's index.js, with the
# hard-coded `wss://api.openai.com/v1/realtime` replaced by
# `${process.env.OPENAI_REALTIME_URL}` (the only change), after
# `npm install`.
#
#   bench/duplex-node.sh DIR [SECONDS] [CALLS ...]   default: 20  10 100 200 400
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
dir=$1
seconds=${2:-20}
shift 2 || shift || true
cargo build --release --quiet
bin=target/release/qloophone
node=
cleanup() { [ -n "$node" ] && kill "$node" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

for n in ${@:-10 100 200 400}; do
  (cd "$dir" && OPENAI_API_KEY=bench OPENAI_REALTIME_URL=ws://127.0.0.1:18082/v1/realtime PORT=15050 \
    exec taskset -c 0 node index.js >/dev/null 2>&1) &
  node=$!
  for _ in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:15050/ 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 "$bin" load --duplex --url http://127.0.0.1:15050 --stream-url ws://127.0.0.1:15050/media-stream \
    --calls "$n" --ramp-ms $((n * 10)) --seconds "$seconds" --model-listen 127.0.0.1:18082 --server-pid "$node" --json || true
  kill "$node"; wait "$node" 2>/dev/null || true; node=
done
