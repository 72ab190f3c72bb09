#!/usr/bin/env bash
# Times bundle ingestion end to end on a release build of `tmahost serve` (SQLite + local
# files): upload of a 1,000-file, 20 MB zip, an identical re-upload, and a one-file change.
# Usage: scripts/bench-ingest.sh [files] [megabytes]
set -euo pipefail
files=${1:-1000}
mb=${2:-20}
source "$(dirname "$0")/release-serve.sh"
trap stop_serve EXIT

python3 - "$work" "$files" "$mb" <<'PY'
import random, sys, zipfile
work, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
words = ["const", "let", "function", "return", "=>", "{", "}", "(", ")", ";", "props", "await", "import", "export"]
def bundle(path, changed):
    rng = random.Random(42)
    per = mb * 1_000_000 // n
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("dist/index.html", "<!doctype html><script type=module src=/assets/f0.js></script>")
        for i in range(n - 1):
            parts, size = [], 0
            while size < per:
                w = f"{rng.choice(words)} v{rng.randrange(5000)} "
                parts.append(w); size += len(w)
            body = "".join(parts)
            if changed and i == 0:
                body += "// changed"
            z.writestr(f"dist/assets/f{i}-{i:08x}.js", body)
bundle(f"{work}/first.zip", False)
bundle(f"{work}/changed.zip", True)
PY
ls -l "$work"/first.zip | awk '{printf "archive: %.1f MB compressed\n", $5/1e6}'

start_serve

upload() {
  curl -sf -o "$work/resp" -w '%{time_total}' -H "Authorization: Bearer $token" -H 'content-type: application/zip' \
    --data-binary "@$1" "$api/api/v1/bots/bench_bot/apps/main/deployments"
}
for run in first:first.zip identical:first.zip one-file-changed:changed.zip; do
  t=$(upload "$work/${run#*:}")
  printf '%-17s %6.2f s  %s\n' "${run%%:*}" "$t" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("v%(version)s files=%(file_count)s bytes=%(total_bytes)s new_blobs=%(new_blobs)s" % d)' "$work/resp")"
done
