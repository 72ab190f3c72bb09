#!/usr/bin/env bash
# tmahost's edge against nginx and against the HTTP stack's ceiling (ceiling/: bare hyper, the
# edge's stack, answering the same bytes and headers from memory) on the same bundle, same
# machine, loopback only.
# Usage: tests/load/run.sh   (env: ROUNDS=3 DURATION=10s CONNECTIONS=64 WORKERS=1, and
#        SCENARIOS="page asset revalidate random session proxy" to run some of them;
#        CEILING_STACK=actix for a ceiling on actix-web, the edge's stack until issue 22,
#        PIN=0 to leave the servers and wrk where the scheduler puts them)
# Needs wrk and nginx (with libnginx-mod-http-brotli-static) from Debian; see README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-3} duration=${DURATION:-10s} conns=${CONNECTIONS:-64} workers=${WORKERS:-1}
scenarios=" ${SCENARIOS:-page asset revalidate random session proxy} "
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (see tests/load/README.md)" >&2; exit 1; }
done
[ -f /usr/lib/nginx/modules/ngx_http_brotli_static_module.so ] ||
  { echo "missing: libnginx-mod-http-brotli-static (see tests/load/README.md)" >&2; exit 1; }

# The per-address limit on session creation would turn the session scenario (one client
# address) into 429s after 30 requests.
export TMAHOST_EDGE_WORKERS=$workers TMAHOST_LOG=error TMAHOST_SESSION_RATE_PER_MINUTE=4000000000
# The proxy scenario's backend is on loopback, over plain http.
export TMAHOST_PROXY_ALLOW_PRIVATE=true TMAHOST_PROXY_ALLOW_HTTP=true
source "$here/../../scripts/release-serve.sh"
cargo build --release -p tmahost-load-ceiling --manifest-path "$root/Cargo.toml" >&2
ngx="" ups="" ceil=""
cleanup() {
  for p in "$ngx" "$ups" "$ceil"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  stop_serve
}
trap cleanup EXIT

echo "bundle: 2 KB page, 150 KB JS, 20 KB CSS, 1 MB binary, 1,000 small files" >&2
python3 "$here/bench.py" bundle "$work/dist"
start_serve
edge=$(sed -n 's/^edge: http:\/\/\([^ ]*\) .*/\1/p' "$work/out")
host=bench-bot.localhost
TMAHOST_SERVER="$api" TMAHOST_TOKEN="$token" XDG_CONFIG_HOME="$work/config" \
  "$bin" deploy "$work/dist" --bot bench_bot -m load >/dev/null
cookie=$(python3 "$here/bench.py" session "$edge" "$host" "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_")
# Brotli variants are made after the deploy; every server must send the same bytes.
python3 "$here/bench.py" wait-brotli "$api" "$token" "$edge" "$host" "$cookie" /assets/app.3f9a1c2e.js
python3 "$here/bench.py" session-body "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_" "$work/session.json"

echo "nginx and ceiling root: the representations the edge serves (original, .br, .gz)" >&2
python3 "$here/bench.py" mirror "$edge" "$host" "$cookie" "$work/dist" "$work/root"
port=$(python3 "$here/bench.py" port)
upstream=$(python3 "$here/bench.py" port)
mkdir -p "$work/nginx"
sed -e "s|@PORT@|$upstream|" -e "s|@DIR@|$work/nginx|" "$here/upstream.conf.in" >"$work/nginx/upstream.conf"
nginx -c "$work/nginx/upstream.conf" -e "$work/nginx/upstream-error.log" &
ups=$!
sed -e "s|@WORKERS@|$workers|" -e "s|@PORT@|$port|" -e "s|@UPSTREAM@|$upstream|" -e "s|@ROOT@|$work/root|" \
  -e "s|@DIR@|$work/nginx|" "$here/nginx.conf.in" >"$work/nginx/nginx.conf"
# The app's /api/ goes to the same backend on tmahost (gated: the cookie's user is sent on as
# Tma-Identity, signed per request).
curl -sf -X PUT -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"backends\":[{\"prefix\":\"/api/\",\"upstream\":\"http://127.0.0.1:$upstream\"}]}" \
  "$api/api/v1/bots/bench_bot/apps/main/settings" >/dev/null
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
ngx=$!
ceiling_port=$(python3 "$here/bench.py" port)
"$root/target/release/ceiling" "127.0.0.1:$ceiling_port" "$workers" "$work/root" "$work/headers.json" \
  "${CEILING_STACK:-hyper}" &
ceil=$!
for p in "$port" "$ceiling_port"; do
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done

# The servers on the first $workers CPUs, wrk on the next one, when the machine has it: left
# to the scheduler, wrk and the server under test now and then share one CPU for part of a
# round (the 2-CPU VM's rounds of one scenario were up to half apart).
client=()
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -gt "$workers" ]; then
  for p in "$pid" "$ngx" "$ceil" $(pgrep -P "$ngx"); do taskset -a -p -c "0-$((workers - 1))" "$p" >/dev/null; done
  client=(taskset -c "$workers")
  echo "servers on CPU 0-$((workers - 1)), wrk on CPU $workers" >&2
fi

declare -A addr=([tmahost]=$edge [nginx]=127.0.0.1:$port [ceiling]=127.0.0.1:$ceiling_port)
js=/assets/app.3f9a1c2e.js
declare -A tag
for s in tmahost nginx ceiling; do tag[$s]=$(python3 "$here/bench.py" etag "${addr[$s]}" "$host" "$cookie" "$js"); done

# The servers must answer each scenario alike before anything is timed.
check() { # path expected-status expected-encoding [header...]; $servers: who is asked
  local path=$1 want=$2 enc=$3
  shift 3
  for s in ${servers:-tmahost nginx ceiling}; do
    local got
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %header{content-encoding}' \
      -H "Host: $host" -H "Cookie: $cookie" "$@" "http://${addr[$s]}$path")
    echo "check $s $path: $got" >&2
    [ "${got%% *}" = "$want" ] && [ "${got##* }" = "$enc" ] || { echo "unexpected answer from $s" >&2; exit 1; }
  done
}
# Settings reach the edge within a second; wait for the backend's answer there.
for _ in $(seq 100); do
  curl -s -H "Host: $host" -H "Cookie: $cookie" "http://$edge/api/ping" | grep -q '"backend":"load"' && break
  sleep 0.1
done
check / 200 ""
servers="tmahost nginx" check /api/ping 200 ""
check "$js" 200 br -H "Accept-Encoding: br, gzip"
# Each server has its own ETag.
for s in tmahost nginx ceiling; do
  got=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" -H "Cookie: $cookie" \
    -H "Accept-Encoding: br, gzip" -H "If-None-Match: ${tag[$s]}" "http://${addr[$s]}$js")
  [ "$got" = 304 ] || { echo "$s: revalidation answered $got" >&2; exit 1; }
done
check "$(head -1 "$work/paths.txt")" 200 br -H "Accept-Encoding: br, gzip"

export LOAD_DIR=$here LOAD_PATHS=$work/paths.txt LOAD_BODY=$work/session.json
run() { # round scenario server script path [header...]
  local rnd=$1 scen=$2 server=$3 script=$4 path=$5
  shift 5
  local out
  out=$("${client[@]}" wrk -t1 -c"$conns" -d"$duration" --latency -s "$here/$script" \
    -H "Host: $host" -H "Cookie: $cookie" "$@" "http://${addr[$server]}$path" | sed -n 's/^RESULT //p')
  echo "$rnd $scen $server $out" >>"$work/results"
  echo "round $rnd $scen $server: $out" >&2
}
echo "wrk: $rounds rounds x $duration, $conns connections, 1 thread; $workers server worker(s) each" >&2
for rnd in $(seq "$rounds"); do
  for server in tmahost nginx ceiling; do
    [[ $scenarios == *" page "* ]] && run "$rnd" page-2KB "$server" fixed.lua /
  done
  for server in tmahost nginx ceiling; do
    [[ $scenarios == *" asset "* ]] &&
      run "$rnd" asset-150KB-br "$server" fixed.lua "$js" -H "Accept-Encoding: br, gzip"
  done
  for server in tmahost nginx ceiling; do
    [[ $scenarios == *" revalidate "* ]] && run "$rnd" revalidate-304 "$server" fixed.lua "$js" \
      -H "Accept-Encoding: br, gzip" -H "If-None-Match: ${tag[$server]}"
  done
  for server in tmahost nginx ceiling; do
    [[ $scenarios == *" random "* ]] &&
      run "$rnd" random-small-files "$server" random.lua / -H "Accept-Encoding: br, gzip"
  done
  # An app backend: gate, identity token, forward, stream back (nginx: proxy_pass only).
  for server in tmahost nginx; do
    [[ $scenarios == *" proxy "* ]] && run "$rnd" proxy-small-json "$server" fixed.lua /api/ping
  done
  # Session creation (verify launch data, mint the cookie): tmahost only.
  [[ $scenarios == *" session "* ]] && run "$rnd" session-create tmahost session.lua /_tma/session
done
python3 "$here/bench.py" table "$work/results"
