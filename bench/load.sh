#!/usr/bin/env bash
# The load benchmark: the server alone in its own process, in live mode,
# pointed at the two simulators (each in its own process), and a load
# generator placing calls through /twiml and /call like Twilio.
#
#   bench/load.sh [CALLS ...]       default: 50 100 200
#
# Prints one JSON line per run (see `qloophone load --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/stack.sh
start_stack

for calls in "${@:-50 100 200}"; do
  for n in $calls; do
    "$bin" load --url http://127.0.0.1:18081 --calls "$n" --ramp-ms $((n * 20)) --server-pid "$server" --json
  done
done
