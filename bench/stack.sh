# Sourced by bench/load.sh and bench/soak.sh: builds the release binary and
# starts the server alone in its own process, in live mode, pointed at the
# two simulators (each in its own process). `start_stack [ARGS...]` passes
# ARGS to `sim realtime` (and $qloo_args, if set, to `sim qloo`); it sets
# $bin and $server (the server's pid), and
# everything it started is stopped on exit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet
bin=target/release/qloophone
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start_stack() {
  "$bin" sim realtime --listen 127.0.0.1:18082 "$@" >"$work/realtime.log" 2>&1 & pids+=($!)
  "$bin" sim qloo --listen 127.0.0.1:18083 --latency-ms 300 ${qloo_args:-} >"$work/qloo.log" 2>&1 & pids+=($!)
  (cd "$work" && \
    OPENAI_API_KEY=bench QLOO_API_KEY=bench \
    OPENAI_REALTIME_URL=ws://127.0.0.1:18082/v1/realtime QLOO_API_URL=http://127.0.0.1:18083 \
    PORT=18081 PUBLIC_URL=http://127.0.0.1:18081 QLOOPHONE_LIMITS__MAX_CALLS=5000 \
    LOG_FORMAT=json RUST_LOG=warn exec "$OLDPWD/$bin" serve --insecure >"$work/server.log" 2>&1) & server=$!
  pids+=($server)
  for _ in $(seq 100); do curl -fsS http://127.0.0.1:18081/health >/dev/null 2>&1 && break; sleep 0.1; done
}
