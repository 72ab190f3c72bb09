#!/usr/bin/env bash
# Times `tmahost deploy` of a build folder on a release build against `tmahost serve` (SQLite +
# local files, loopback): the first deploy of a 1,000-file, 20 MB folder, a redeploy with one
# file changed, and an unchanged redeploy (hash, declare, finalize; nothing uploaded); then
# the work a first deploy cannot avoid, `tar -c | gzip -6` of the same folder, and the ratio.
# The data dir is made under $TMPDIR (the filesystem matters: see docs/src/performance.md).
# Usage: scripts/bench-deploy.sh [files] [megabytes]
set -euo pipefail
files=${1:-1000}
mb=${2:-20}
source "$(dirname "$0")/release-serve.sh"
trap stop_serve EXIT

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

start_serve
export TMAHOST_SERVER="$api" TMAHOST_TOKEN="$token" XDG_CONFIG_HOME="$work/config"

seconds() { awk "BEGIN { print $2 - $1 }"; }
deploy() {
  local start end
  start=$EPOCHREALTIME
  "$bin" deploy "$work/dist" --bot bench_bot --json >"$work/resp" 2>>"$work/phases"
  end=$EPOCHREALTIME
  [ "$1" = first ] && first=$(seconds "$start" "$end")
  printf '%-17s %6.2f s  %s\n' "$1" "$(seconds "$start" "$end")" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("v%(version)s files=%(file_count)s bytes=%(total_bytes)s uploaded=%(uploaded_blobs)s" % d)' "$work/resp")"
}
echo "folder: $files files, $(du -sh "$work/dist" | cut -f1)"
start=$EPOCHREALTIME
tar -c -C "$work" dist | gzip -6 >/dev/null
gzip_s=$(seconds "$start" "$EPOCHREALTIME")
printf '%-17s %6.2f s\n' "tar -c | gzip -6" "$gzip_s"
# The server's CPU seconds (user, system) spent on the first deploy.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f %.2f", $14 / hz, $15 / hz }' "/proc/$pid/stat"; }
read -r user0 sys0 <<<"$(cpu)"
deploy first
read -r user1 sys1 <<<"$(cpu)"
printf '  server CPU: %.2f s user, %.2f s system\n' "$(seconds "$user0" "$user1")" "$(seconds "$sys0" "$sys1")"
echo "// changed" >>"$work/dist/assets/f0-00000000.js"
deploy one-file-changed
deploy unchanged
printf 'first / gzip      %6.2fx\n' "$(awk "BEGIN { print $first / $gzip_s }")"
echo "client phases:" >&2
cat "$work/phases" >&2
