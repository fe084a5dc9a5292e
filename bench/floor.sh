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
#
# TLS, as operators run it: "qloophone+tls-model" speaks wss:// to the
# model (the generator's model side serves it; the server trusts its CA
# through tls.ca_file), "qloophone+tls" serves wss:// on its own port too
# (tls.cert_file, tls.key_file; the callers trust the same CA). Both combine
# with =PATH. The certificates (a CA and a leaf for 127.0.0.1, P-256) are
# made with openssl at the start of each run.
#
# The runtime's shape: "qloophone+per-core" sets server.runtime = per-core
# (a current-thread runtime a core), "qloophone+shared" the multi-thread
# runtime; either differs from "qloophone" only given more than one core:
# SERVER_CPUS (default 0) and GENERATOR_CPUS (default 1) are the taskset
# lists the servers and the generator run on.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
seconds=${1:-20}
shift || true
: "${FLOOR:?FLOOR=the built copy of ../shared/floor}"
rounds=${ROUNDS:-1}
servers=${SERVERS:-qloophone floor-rs floor-c${NODE_DIR:+ node}}
server_cpus=${SERVER_CPUS:-0}
generator_cpus=${GENERATOR_CPUS:-1}
cargo build --release --quiet
bin=$PWD/target/release/qloophone
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
server_bin=$(absolute "${SERVER_BIN:-$bin}")
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
model=ws://127.0.0.1:18082/v1/realtime
case "$servers" in
  *+tls*)
    (cd "$work" &&
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.pem -days 1 -subj /CN=bench-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout key.pem -out leaf.csr -subj /CN=127.0.0.1 2>/dev/null &&
      printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >leaf.ext &&
      openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -days 1 -extfile leaf.ext -out cert.pem 2>/dev/null) ;;
esac

start() {
  local name=$1 port
  tls_args=()
  case "$name" in
    qloophone|qloophone=*|qloophone+*)
      local exe=$server_bin kind=${name%%=*} scheme=http server_model=$model
      case "$name" in *=*) exe=$(absolute "${name#*=}") ;; esac
      local env=()
      case "$kind" in
        qloophone) ;;
        qloophone+per-core) env+=(QLOOPHONE_SERVER__RUNTIME=per-core) ;;
        qloophone+shared) env+=(QLOOPHONE_SERVER__RUNTIME=shared) ;;
        qloophone+tls-model|qloophone+tls)
          server_model=wss://127.0.0.1:18082/v1/realtime
          env+=(QLOOPHONE_TLS__CA_FILE="$work/ca.pem")
          tls_args+=(--model-tls-cert "$work/cert.pem" --model-tls-key "$work/key.pem")
          if [ "$kind" = qloophone+tls ]; then
            scheme=https
            env+=(QLOOPHONE_TLS__CERT_FILE="$work/cert.pem" QLOOPHONE_TLS__KEY_FILE="$work/key.pem")
            tls_args+=(--ca-file "$work/ca.pem")
          fi ;;
        *) echo "unknown server $name" >&2; exit 2 ;;
      esac
      port=18081
      (cd "$work" && exec env "${env[@]}" OPENAI_API_KEY=bench QLOO_API_KEY=bench \
        OPENAI_REALTIME_URL=$server_model QLOO_API_URL=http://127.0.0.1:9 PORT=$port \
        PUBLIC_URL=$scheme://127.0.0.1:$port QLOOPHONE_LIMITS__MAX_CALLS=5000 LOG_FORMAT=json \
        RUST_LOG=warn taskset -c "$server_cpus" "$exe" serve --insecure >"$work/server.log" 2>&1) &
      pid=$!
      url=$scheme://127.0.0.1:$port stream_url= ready=$url/health
      # Over TLS the stream is opened directly, as the floors' are (the
      # generator asks /twiml over plain HTTP only).
      if [ "$scheme" = https ]; then stream_url=wss://127.0.0.1:$port/call ready=; fi ;;
    floor-rs|floor-c)
      local exe=$FLOOR/target/release/floor-rs
      [ "$name" = floor-c ] && exe=$FLOOR/floor-c/floor-c
      port=15053
      (PORT=$port OPENAI_REALTIME_URL=$model OPENAI_API_KEY=bench exec taskset -c "$server_cpus" "$exe" >/dev/null 2>&1) &
      pid=$!
      url=http://127.0.0.1:$port stream_url=ws://127.0.0.1:$port/call ready= ;;
    node)
      port=15050
      (cd "$NODE_DIR" && OPENAI_API_KEY=bench OPENAI_REALTIME_URL=$model PORT=$port \
        exec taskset -c "$server_cpus" node index.js >/dev/null 2>&1) &
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
      taskset -c "$generator_cpus" "$bin" load --duplex --url "$url" ${stream_url:+--stream-url "$stream_url"} \
        --calls "$n" --ramp-ms $((n * 10)) --seconds "$seconds" --model-listen 127.0.0.1:18082 \
        --server-pid "$pid" "${tls_args[@]}" --json || true
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
      sleep 1
    done
  done
done
