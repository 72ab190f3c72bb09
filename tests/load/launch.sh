#!/usr/bin/env bash
# The launch of a gated Mini App in Chromium against the same files from nginx without a gate:
# Telegram-Mini-Apps/reactjs-template (pinned commit, built with Vite from npm), deployed to
# `tmahost serve` (gated, as every app is by default) and copied to nginx as the edge serves it
# (the same bytes and encodings). launch.py times cold and warm launches at each latency.
# Usage: tests/load/launch.sh   (env: RUNS=5 LATENCIES="50 150 300", TEMPLATE=<git URL or path of
#        reactjs-template>, or DIST=<its build folder from an earlier run> to skip the build)
# Needs nginx (with libnginx-mod-http-brotli-static), chromium, npm, git and python3 with
# websockets; see README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5} latencies=${LATENCIES:-50 150 300}
template=${TEMPLATE:-https://github.com/Telegram-Mini-Apps/reactjs-template.git}
commit=15519a0b284de5e70bdcfd7debbff64d215db7a5
for tool in nginx chromium npm git curl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (see tests/load/README.md)" >&2; exit 1; }
done
python3 -c 'import websockets.sync.client' 2>/dev/null ||
  { echo "missing: the websockets Python package (pip install 'websockets>=13')" >&2; exit 1; }

# Every launch signs in from the same address: the per-address limit would refuse most of them.
export TMAHOST_LOG=error TMAHOST_SESSION_RATE_PER_MINUTE=1000000
source "$here/../../scripts/release-serve.sh"
ngx=""
cleanup() {
  [ -n "$ngx" ] && kill "$ngx" 2>/dev/null
  stop_serve
}
trap cleanup EXIT

if [ -n "${DIST:-}" ]; then
  cp -r "$DIST" "$work/dist"
else
  echo "template: $template at $commit, built with Vite" >&2
  git clone -q "$template" "$work/template"
  git -C "$work/template" checkout -q "$commit"
  # `npm run build` is `tsc --noEmit && vite build`: the type check adds nothing to the files.
  (cd "$work/template" && npm install --no-audit --no-fund --loglevel=error >&2 &&
    npx vite build --base=/ --outDir "$work/dist" --emptyOutDir >&2)
fi

start_serve
edge=$(sed -n 's/^edge: http:\/\/\([^ ]*\) .*/\1/p' "$work/out")
host=bench-bot.localhost
bot_token="123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
TMAHOST_SERVER="$api" TMAHOST_TOKEN="$token" XDG_CONFIG_HOME="$work/config" \
  "$bin" deploy "$work/dist" --bot bench_bot -m launch >/dev/null
cookie=$(python3 "$here/bench.py" session "$edge" "$host" "$bot_token")
# nginx gets the brotli variants the edge makes after the deploy: wait for the biggest script's.
biggest=$(cd "$work/dist" && ls -S assets/*.js | head -1)
python3 "$here/bench.py" wait-brotli "$api" "$token" "$edge" "$host" "$cookie" "/$biggest"
python3 "$here/bench.py" mirror "$edge" "$host" "$cookie" "$work/dist" "$work/root"
port=$(python3 "$here/bench.py" port)
mkdir -p "$work/nginx"
# No app backend in this benchmark: @UPSTREAM@ names a port nothing listens on.
sed -e "s|@WORKERS@|1|" -e "s|@PORT@|$port|" -e "s|@UPSTREAM@|$(python3 "$here/bench.py" port)|" \
  -e "s|@ROOT@|$work/root|" -e "s|@DIR@|$work/nginx|" "$here/nginx.conf.in" >"$work/nginx/nginx.conf"
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
ngx=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

echo "files: $(find "$work/dist" -type f | wc -l), $(du -sh "$work/dist" | cut -f1); runs: $runs; latencies: $latencies ms" >&2
# shellcheck disable=SC2086
python3 "$here/launch.py" "$bot_token" "http://$host:${edge##*:}" "http://localhost:$port" "$runs" $latencies
