#!/usr/bin/env bash
# The edge with many tenants: BOTS bots (default 10,000) x 3 deployments in SQLite, then
# `tmahost edge` start time (process start to first answer; median of 3), RSS, wrk on a
# random app per request (gated: each app's own session cookie), and then, with `tmahost serve`
# on the same data, RUNS deploys through the API each timed until the edge serves it, with the
# whole-table reads the edge made meanwhile (a change must cost what it changes: none).
# Usage: tests/load/scale.sh   (env: BOTS=10000 DURATION=10s CONNECTIONS=64 WORKERS=1 RUNS=20)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bots=${BOTS:-10000} duration=${DURATION:-10s} conns=${CONNECTIONS:-64} workers=${WORKERS:-1} runs=${RUNS:-20}
command -v wrk >/dev/null || { echo "missing: wrk (see tests/load/README.md)" >&2; exit 1; }
cargo build --release -p tmahost --bin tmahost --example populate --manifest-path "$root/Cargo.toml" >&2
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

TMAHOST_LOG=warn "$root/target/release/examples/populate" "$work/data" "$bots"
rss() { awk '/^VmRSS/ { printf "%.1f MB", $2 / 1024 }' "/proc/$pid/status"; }
starts=()
for attempt in 1 2 3; do
  port=$(python3 "$here/bench.py" port)
  t0=$EPOCHREALTIME
  TMAHOST_DATA_DIR="$work/data" TMAHOST_EDGE_ADDR=127.0.0.1:$port TMAHOST_EDGE_WORKERS=$workers \
    TMAHOST_LOG=warn "$root/target/release/tmahost" edge >"$work/out" 2>"$work/err" &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/_tma/health"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.005
  done
  t1=$EPOCHREALTIME
  starts+=("$(awk "BEGIN { printf \"%.0f\", ($t1 - $t0) * 1000 }")")
  echo "start $attempt: ${starts[-1]} ms to the first answer; $(sed -n 's/^edge: .*, \([0-9]*\) hosts).*/\1/p' "$work/out") host names routed; RSS $(rss)" >&2
  [ "$attempt" = 3 ] || { kill "$pid"; wait "$pid" 2>/dev/null || true; }
done
start_ms=$(printf '%s\n' "${starts[@]}" | sort -n | sed -n 2p)
rss_start=$(rss)
# Every app must answer its own cookie before load.
read -r host cookie < <(shuf -n1 "$work/data/hosts.txt")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" -H "Cookie: $cookie" "http://127.0.0.1:$port/")
[ "$code" = 200 ] || { echo "$host answered $code" >&2; exit 1; }
result=$(LOAD_DIR=$here LOAD_HOSTS=$work/data/hosts.txt \
  wrk -t1 -c"$conns" -d"$duration" --latency -s "$here/scale.lua" "http://127.0.0.1:$port/" | sed -n 's/^RESULT //p')
read -r reqs secs p50 p99 errors <<<"$result"
printf '%-34s %s\n' "bots x deployments" "$bots x 3" \
  "edge start (median of 3)" "$start_ms ms" \
  "RSS after start" "$rss_start" \
  "random app, gated: req/s" "$(awk "BEGIN { printf \"%.0f\", $reqs / $secs }")" \
  "p50 / p99" "$(awk "BEGIN { printf \"%.2f / %.2f ms\", $p50 / 1000, $p99 / 1000 }")" \
  "errors" "$errors" \
  "RSS after load (every app's manifest cached)" "$(rss)"

# Propagation: the API and the edge in one process (`serve`), as on one machine.
kill "$pid"; wait "$pid" 2>/dev/null || true
token=$(TMAHOST_DATA_DIR="$work/data" TMAHOST_LOG=warn "$root/target/release/tmahost" admin token create --name scale --scope admin)
api_port=$(python3 "$here/bench.py" port) edge_port=$(python3 "$here/bench.py" port) ops_port=$(python3 "$here/bench.py" port)
TMAHOST_DATA_DIR="$work/data" TMAHOST_API_ADDR=127.0.0.1:$api_port TMAHOST_EDGE_ADDR=127.0.0.1:$edge_port \
  TMAHOST_OPS_ADDR=127.0.0.1:$ops_port TMAHOST_EDGE_WORKERS=$workers TMAHOST_LOG=warn \
  "$root/target/release/tmahost" serve >"$work/out" 2>"$work/err" &
pid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$ops_port/healthz"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.01
done
loads() { curl -sf "http://127.0.0.1:$ops_port/metrics" | awk '/^tmahost_edge_table_loads_total/ { print $2 }'; }
read -r host cookie < <(shuf -n1 "$work/data/hosts.txt")
before=$(loads)
read -r p50 p90 max < <(python3 "$here/bench.py" propagation "127.0.0.1:$api_port" "$token" "127.0.0.1:$edge_port" \
  "$host" "$cookie" "${host%%.*}" "$runs")
printf '%-34s %s\n' \
  "deploy -> served (median/p90/max of $runs)" "$p50 / $p90 / $max ms" \
  "whole-table reads during them" "$(( $(loads) - before ))"
