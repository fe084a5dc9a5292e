#!/usr/bin/env bash
# The two-instance benchmark: a redis-server of its own, the two simulators,
# and two servers (A and B, each in its own process, in live mode) sharing
# that Redis; a load generator per instance places half the calls on each
# at the same time, both starting with empty caches.
#
#   bench/fleet.sh [CALLS_PER_INSTANCE ...]     default: 50 100
#   FLEET_REDIS=0 bench/fleet.sh ...            the same two servers without
#                                               REDIS_URL, for comparison
#
# Prints, per run, each generator's JSON line (see `qloophone load --help`)
# and then one summary line: both instances' cache tiers, the searches that
# reached Qloo, the fleet each saw, and Redis's own CPU and commands.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet
bin=$PWD/target/release/qloophone
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

redis_port=18379
redis_url=redis://127.0.0.1:$redis_port
if [ "${FLEET_REDIS:-1}" = 0 ]; then redis_url=; fi
cpu_seconds() { # utime + stime of a pid, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

start() {
  mkdir -p "$work/redis" "$work/a" "$work/b"
  (cd "$work/redis" && exec redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no) \
    >"$work/redis.log" 2>&1 & redis=$!
  pids+=($redis)
  "$bin" sim realtime --listen 127.0.0.1:18082 >"$work/realtime.log" 2>&1 & pids+=($!)
  "$bin" sim qloo --listen 127.0.0.1:18083 --latency-ms 300 >"$work/qloo.log" 2>&1 & pids+=($!)
  for name in a b; do
    local port=18081
    [ "$name" = b ] && port=18091
    (cd "$work/$name" && \
      OPENAI_API_KEY=bench QLOO_API_KEY=bench \
      OPENAI_REALTIME_URL=ws://127.0.0.1:18082/v1/realtime QLOO_API_URL=http://127.0.0.1:18083 \
      PORT=$port PUBLIC_URL=http://127.0.0.1:$port QLOOPHONE_LIMITS__MAX_CALLS=5000 \
      QLOOPHONE_REDIS__INSTANCE=$name \
      QLOOPHONE_CACHE__SNAPSHOT= \
      LOG_FORMAT=json RUST_LOG=warn exec env ${redis_url:+REDIS_URL=$redis_url} "$bin" serve --insecure \
      >"$work/$name/server.log" 2>&1) &
    pids+=($!)
    eval "server_$name=$!"
  done
  for port in 18081 18091; do
    for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  done
}

stop() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
  rm -rf "${work:?}"/*
}

for n in ${@:-50 100}; do
  start
  redis_cpu_before=$(cpu_seconds "$redis")
  redis_commands_before=$(redis-cli -p "$redis_port" info stats | awk -F: '/^total_commands_processed/ { print $2 + 0 }')
  "$bin" load --url http://127.0.0.1:18081 --calls "$n" --ramp-ms $((n * 20)) --server-pid "$server_a" --json >"$work/load-a.json" &
  load_a=$!
  "$bin" load --url http://127.0.0.1:18091 --calls "$n" --ramp-ms $((n * 20)) --server-pid "$server_b" --json >"$work/load-b.json" &
  load_b=$!
  wait "$load_a" "$load_b"
  redis_cpu_after=$(cpu_seconds "$redis")
  redis_commands_after=$(redis-cli -p "$redis_port" info stats | awk -F: '/^total_commands_processed/ { print $2 + 0 }')
  cat "$work/load-a.json" "$work/load-b.json"
  for name in a b; do
    port=18081
    [ "$name" = b ] && port=18091
    curl -fsS "http://127.0.0.1:$port/cache-stats" >"$work/cache-$name.json"
    curl -fsS "http://127.0.0.1:$port/health" >"$work/health-$name.json"
    curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics-$name.txt"
  done
  N="$n" RCPU_BEFORE="$redis_cpu_before" RCPU_AFTER="$redis_cpu_after" \
  RCMD=$((redis_commands_after - redis_commands_before)) WORK="$work" python3 - <<'EOF'
import json, os, re
work = os.environ["WORK"]
def load(name):
    return json.load(open(f"{work}/{name}"))
def searches(name):
    total = 0
    for line in open(f"{work}/metrics-{name}.txt"):
        if line.startswith('qloophone_qloo_requests_total{') and 'endpoint="/search"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total
summary = {"calls_per_instance": int(os.environ["N"])}
for name in "ab":
    cache = load(f"cache-{name}.json")
    health = load(f"health-{name}.json")
    summary[name] = {
        "local": {k: cache[k] for k in ("size", "hits", "misses", "hitRate")},
        "shared": cache.get("shared"),
        "qloo_searches": searches(name),
        "fleet_instances": [i["name"] for i in health.get("fleet", {}).get("instances", [])],
    }
lookups = sum(summary[n]["local"]["hits"] + summary[n]["local"]["misses"] for n in "ab")
upstream = summary["a"]["qloo_searches"] + summary["b"]["qloo_searches"]
summary["fleet"] = {
    "entity_lookups": lookups,
    "qloo_searches": upstream,
    "hit_rate_across_instances": round(1 - upstream / lookups, 4) if lookups else None,
    "shared_hits": sum((summary[n]["shared"] or {}).get("hits", 0) for n in "ab"),
    "shared_waits": sum((summary[n]["shared"] or {}).get("waits", 0) for n in "ab"),
}
cpu = float(os.environ["RCPU_AFTER"]) - float(os.environ["RCPU_BEFORE"])
summary["redis"] = {"cpu_seconds": round(cpu, 3), "commands": int(os.environ["RCMD"])}
print(json.dumps(summary))
EOF
  stop
done
