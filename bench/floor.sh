#!/usr/bin/env bash
# QlooPhone beside the floor relays (../shared/floor: floor-rs and floor-c,
# built as its README says into FLOOR) and, when NODE_DIR is set, Twilio's
# Node sample (as bench/duplex-node.sh): each server in turn pinned to core
# 0, the generator pinned to core 1, full duplex; for each call count, every
# server once, in the order given, ROUNDS times. One JSON line a run, its
# server first.
#
#   FLOOR=DIR [NODE_DIR=DIR] [ROUNDS=n] [SERVERS="qloophone floor-rs floor-c node"] \
#     bench/floor.sh [SECONDS] [CALLS ...]        default: 20  100 300
#
# SERVER_BIN=path measures that build as "qloophone"; an A/B names builds
# in SERVERS as qloophone=PATH (each printed as qloophone=PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
seconds=${1:-20}
shift || true
: "${FLOOR:?FLOOR=the built copy of ../shared/floor}"
rounds=${ROUNDS:-1}
servers=${SERVERS:-qloophone floor-rs floor-c${NODE_DIR:+ node}}
cargo build --release --quiet
bin=$PWD/target/release/qloophone
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
server_bin=$(absolute "${SERVER_BIN:-$bin}")
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
model=ws://127.0.0.1:18082/v1/realtime

start() {
  local name=$1 port
  case "$name" in
    qloophone|qloophone=*)
      local exe=$server_bin
      case "$name" in qloophone=*) exe=$(absolute "${name#qloophone=}") ;; esac
      port=18081
      (cd "$work" && OPENAI_API_KEY=bench QLOO_API_KEY=bench OPENAI_REALTIME_URL=$model \
        QLOO_API_URL=http://127.0.0.1:9 PORT=$port PUBLIC_URL=http://127.0.0.1:$port \
        QLOOPHONE_LIMITS__MAX_CALLS=5000 LOG_FORMAT=json RUST_LOG=warn \
        exec taskset -c 0 "$exe" serve --insecure >"$work/server.log" 2>&1) &
      pid=$!
      url=http://127.0.0.1:$port stream_url= ready=$url/health ;;
    floor-rs|floor-c)
      local exe=$FLOOR/target/release/floor-rs
      [ "$name" = floor-c ] && exe=$FLOOR/floor-c/floor-c
      port=15053
      (PORT=$port OPENAI_REALTIME_URL=$model OPENAI_API_KEY=bench exec taskset -c 0 "$exe" >/dev/null 2>&1) &
      pid=$!
      url=http://127.0.0.1:$port stream_url=ws://127.0.0.1:$port/call ready= ;;
    node)
      port=15050
      (cd "$NODE_DIR" && OPENAI_API_KEY=bench OPENAI_REALTIME_URL=$model PORT=$port \
        exec taskset -c 0 node index.js >/dev/null 2>&1) &
      pid=$!
      url=http://127.0.0.1:$port stream_url=ws://127.0.0.1:$port/media-stream ready=$url/ ;;
    *) echo "unknown server $name" >&2; exit 2 ;;
  esac
  for _ in $(seq 100); do
    if [ -n "$ready" ]; then curl -fsS -o /dev/null "$ready" 2>/dev/null && return; else
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; fi
    sleep 0.1
  done
}

for round in $(seq "$rounds"); do
  for n in ${@:-100 300}; do
    for name in $servers; do
      start "$name"
      printf '%s round %s: ' "$name" "$round"
      taskset -c 1 "$bin" load --duplex --url "$url" ${stream_url:+--stream-url "$stream_url"} \
        --calls "$n" --ramp-ms $((n * 10)) --seconds "$seconds" --model-listen 127.0.0.1:18082 \
        --server-pid "$pid" --json || true
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
      sleep 1
    done
  done
done
