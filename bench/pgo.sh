#!/usr/bin/env bash
# A profile-guided build of the server: build it instrumented, run it
# through a full-duplex load (the relay's hot path) and the shipped
# scenarios (so tools, texts and reports are not all taken for cold code),
# merge the profile with the toolchain's own llvm-profdata, then build again
# with it. Prints the optimised binary's path last.
#
#   bench/pgo.sh [OUT_DIR]        default: target/pgo
#
# The training load is deliberately not the measured one: 40 calls for
# 15 s, where bench/floor.sh measures 100 and 300 calls for 20 s.
# Needs llvm-tools-preview (`rustup component add llvm-tools-preview`, as
# .ci/run does for coverage).
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
out=$(realpath -m "${1:-target/pgo}")
sysroot=$(rustc --print sysroot)
profdata=$(find "$sysroot" -name llvm-profdata -type f | head -n 1)
[ -x "$profdata" ] || { echo "llvm-profdata not found: rustup component add llvm-tools-preview" >&2; exit 1; }
rm -rf "$out/profiles" && mkdir -p "$out/profiles"

echo "== the plain build (the training's generator and callers)" >&2
cargo build --release --quiet --locked --bin qloophone
gen=$PWD/target/release/qloophone

# With the target named, RUSTFLAGS reach only the binary's own code, not
# the build scripts and procedural macros run while compiling it (which
# would write profiles of their own).
host=$(rustc -vV | sed -n 's/^host: //p')
echo "== the instrumented build" >&2
RUSTFLAGS="-Cprofile-generate=$out/profiles" \
  cargo build --release --quiet --locked --bin qloophone --target "$host" --target-dir "$out/gen"
trained=$out/gen/$host/release/qloophone

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ready() {
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return; sleep 0.1; done
  echo "the server did not start" >&2; exit 1
}
stop() { kill -INT "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

echo "== training 1: a full-duplex load" >&2
(cd "$work" && exec env OPENAI_API_KEY=train QLOO_API_KEY=train \
  OPENAI_REALTIME_URL=ws://127.0.0.1:18092/v1/realtime QLOO_API_URL=http://127.0.0.1:9 \
  PORT=18091 PUBLIC_URL=http://127.0.0.1:18091 QLOOPHONE_LIMITS__MAX_CALLS=5000 \
  LOG_FORMAT=json RUST_LOG=warn "$trained" serve --insecure >"$work/server.log" 2>&1) &
pid=$!
ready http://127.0.0.1:18091/health
"$gen" load --duplex --url http://127.0.0.1:18091 --calls 40 --ramp-ms 400 --seconds 15 \
  --model-listen 127.0.0.1:18092 --json >&2
stop

echo "== training 2: the shipped scenarios against the sandbox" >&2
(cd "$work" && exec env -u OPENAI_API_KEY -u QLOO_API_KEY PORT=18093 RUST_LOG=warn \
  "$trained" serve >"$work/sandbox.log" 2>&1) &
pid=$!
ready http://127.0.0.1:18093/health
# All at once: each plays in real time.
for scenario in $("$gen" call --list | awk 'NF {print $1}'); do
  "$gen" call --url http://127.0.0.1:18093 --scenario "$scenario" >/dev/null 2>&1 &
done
wait $(jobs -p | grep -vx "$pid") 2>/dev/null || true
stop

"$profdata" merge -o "$out/merged.profdata" "$out/profiles"
echo "== the optimised build" >&2
RUSTFLAGS="-Cprofile-use=$out/merged.profdata" \
  cargo build --release --quiet --locked --bin qloophone --target "$host" --target-dir "$out/use"
echo "$out/use/$host/release/qloophone"
