#!/usr/bin/env bash
# Backup of a data dir of about 1 GB (BOTS x DEPLOYMENTS x 10 contents of FILE_BYTES, default
# 100 x 1 x 10 x 1 MiB, incompressible): `tmahost backup DEST` against `cp -r` of the same data
# dir, each RUNS times (default 3), wall time and peak RSS (GNU time); then `tmahost backup
# --check` of the copy. The page cache is warm for both (the populate step just wrote the data).
# Usage: tests/load/backup.sh   (env: BOTS=100 DEPLOYMENTS=1 FILE_BYTES=1048576 RUNS=3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bots=${BOTS:-100} deployments=${DEPLOYMENTS:-1} runs=${RUNS:-3}
export FILE_BYTES=${FILE_BYTES:-1048576}
[ -x /usr/bin/time ] || { echo "missing: GNU time (apt install time)" >&2; exit 1; }
cargo build --release -p tmahost --bin tmahost --example gc_populate --manifest-path "$root/Cargo.toml" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TMAHOST_LOG=warn "$root/target/release/examples/gc_populate" "$work/data" "$bots" "$deployments"
echo "data dir: $(du -sh "$work/data" | cut -f1), $(find "$work/data/objects" -type f | wc -l) objects" >&2
for run in $(seq "$runs"); do
  rm -rf "$work/copy" "$work/backup"
  /usr/bin/time -f "%e s, peak RSS %M KB" -o "$work/time" cp -r "$work/data" "$work/copy"
  printf 'run %s  cp -r           %s\n' "$run" "$(cat "$work/time")"
  /usr/bin/time -f "%e s, peak RSS %M KB" -o "$work/time" \
    env TMAHOST_DATA_DIR="$work/data" TMAHOST_LOG=warn "$root/target/release/tmahost" backup "$work/backup" \
    >"$work/out" 2>"$work/err"
  printf 'run %s  tmahost backup  %s; %s\n' "$run" "$(cat "$work/time")" "$(cat "$work/out")"
done
/usr/bin/time -f "%e s, peak RSS %M KB" -o "$work/time" \
  env TMAHOST_DATA_DIR="$work/data" TMAHOST_LOG=warn "$root/target/release/tmahost" backup --check "$work/backup" 2>"$work/err"
printf 'backup --check   %s; %s\n' "$(cat "$work/time")" "$(tail -1 "$work/err")"
