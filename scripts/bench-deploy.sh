#!/usr/bin/env bash
# Times `tmahost deploy` of a build folder on a release build against `tmahost serve` (SQLite +
# local files, loopback): the first deploy of a 1,000-file, 20 MB folder, a redeploy with one
# file changed, and an unchanged redeploy (hash, declare, finalize; nothing uploaded).
# Usage: scripts/bench-deploy.sh [files] [megabytes]
set -euo pipefail
files=${1:-1000}
mb=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -p tmahost --manifest-path "$root/Cargo.toml" >&2
bin="$root/target/release/tmahost"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$work/dist" "$files" "$mb" <<'PY'
import os, random, sys
dist, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
words = ["const", "let", "function", "return", "=>", "{", "}", "(", ")", ";", "props", "await", "import", "export"]
rng = random.Random(42)
per = mb * 1_000_000 // n
os.makedirs(f"{dist}/assets")
open(f"{dist}/index.html", "w").write("<!doctype html><script type=module src=/assets/f0.js></script>")
for i in range(n - 1):
    parts, size = [], 0
    while size < per:
        w = f"{rng.choice(words)} v{rng.randrange(5000)} "
        parts.append(w); size += len(w)
    open(f"{dist}/assets/f{i}-{i:08x}.js", "w").write("".join(parts))
PY

TMAHOST_DATA_DIR="$work/data" TMAHOST_API_ADDR=127.0.0.1:0 TMAHOST_EDGE_ADDR=127.0.0.1:0 \
  TMAHOST_TELEGRAM_API_URL=http://127.0.0.1:1 TMAHOST_LOG=warn "$bin" serve >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q '^admin token' "$work/out" 2>/dev/null && break; sleep 0.1; done
export TMAHOST_SERVER TMAHOST_TOKEN XDG_CONFIG_HOME="$work/config"
TMAHOST_SERVER=$(sed -n 's/^api: \(http[^ ]*\)\/api\/v1.*/\1/p' "$work/out")
TMAHOST_TOKEN=$(sed -n 's/^admin token.*: //p' "$work/out")
curl -sf -H "Authorization: Bearer $TMAHOST_TOKEN" -H 'content-type: application/json' \
  -d '{"token":"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_","username":"bench_bot"}' \
  "$TMAHOST_SERVER/api/v1/bots" >/dev/null

deploy() {
  local start end
  start=$EPOCHREALTIME
  "$bin" deploy "$work/dist" --bot bench_bot --json >"$work/resp" 2>/dev/null
  end=$EPOCHREALTIME
  printf '%-17s %6.2f s  %s\n' "$1" "$(awk "BEGIN { print $end - $start }")" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("v%(version)s files=%(file_count)s bytes=%(total_bytes)s uploaded=%(uploaded_blobs)s" % d)' "$work/resp")"
}
echo "folder: $files files, $(du -sh "$work/dist" | cut -f1)"
deploy first
echo "// changed" >>"$work/dist/assets/f0-00000000.js"
deploy one-file-changed
deploy unchanged
