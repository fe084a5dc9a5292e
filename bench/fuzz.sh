#!/usr/bin/env bash
# The fuzzing run: every coverage-guided target in fuzz/ (libFuzzer through
# cargo-fuzz, on the nightly toolchain) for SECONDS each, one after the
# other, with the corpus kept in fuzz/corpus/<target> between runs. Prints
# one line per target: executions, coverage, and whether it crashed (a
# crash leaves its input in fuzz/artifacts/<target>/ and the run fails).
# Not part of CI: it needs nightly and minutes.
#
#   bench/fuzz.sh [SECONDS] [TARGET ...]     default: 120, every target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
if ! rustup toolchain list | grep -q nightly; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
failed=0
for target in "${targets[@]}"; do
  log=$(mktemp)
  if (cd fuzz && cargo +nightly fuzz run "$target" -- \
        -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=5) >"$log" 2>&1; then
    outcome=ok
  else
    outcome=CRASH
    failed=1
  fi
  stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW)' "$log" | tail -1 || true)
  echo "fuzz $target ${seconds}s: $outcome  $stats"
  if [ "$outcome" = CRASH ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20
  fi
  rm -f "$log"
done
exit "$failed"
