#!/usr/bin/env bash
# Garbage collection at scale: BOTS bots x DEPLOYMENTS deployments x 10 contents of their own
# (default 500 x 20 x 10 = 100,000 contents in 10,000 deployments), the older half of each bot's
# deployments deleted; then `tmahost gc --dry-run` and `tmahost gc` on SQLite + files: wall time
# and peak RSS of each (GNU time), and the contents and objects left.
# Usage: tests/load/gc.sh   (env: BOTS=500 DEPLOYMENTS=20)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bots=${BOTS:-500} deployments=${DEPLOYMENTS:-20}
[ -x /usr/bin/time ] || { echo "missing: GNU time (apt install time)" >&2; exit 1; }
cargo build --release -p tmahost --bin tmahost --example gc_populate --manifest-path "$root/Cargo.toml" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TMAHOST_LOG=warn "$root/target/release/examples/gc_populate" "$work/data" "$bots" "$deployments"
objects() { find "$work/data/objects" -type f | wc -l; }
echo "objects before: $(objects)" >&2
for mode in --dry-run ""; do
  /usr/bin/time -f "%e s, peak RSS %M KB" -o "$work/time" \
    env TMAHOST_DATA_DIR="$work/data" TMAHOST_GC_GRACE_SECS=0 TMAHOST_LOG=warn \
    "$root/target/release/tmahost" gc $mode >"$work/listed" 2>"$work/err"
  printf '%-16s %s; %s contents listed; %s\n' "gc ${mode:-(delete)}" "$(cat "$work/time")" \
    "$(wc -l <"$work/listed")" "$(tail -1 "$work/err")"
done
echo "objects after: $(objects)" >&2
