#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, starting from the committed seed corpora.
# Usage: fuzz/run.sh [seconds per target, default 60]
#        FUZZ_DEV=1 builds the project's code unoptimised: a build about 50 s shorter, and 3x
#        (rules) to 15x (host) fewer inputs per second.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). On a stable toolchain the sanitizer
# flags cargo-fuzz passes need RUSTC_BOOTSTRAP=1, set here. A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the script; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
# Rust code here forbids `unsafe`, so AddressSanitizer adds little but build time; overflow
# checks and debug assertions stay on in cargo-fuzz builds.
flags=(--sanitizer none)
[ "${FUZZ_DEV:-}" = 1 ] && flags+=(--dev)
cargo fuzz build "${flags[@]}"
# The archive target writes each input to a temp dir: on tmpfs it runs 3-10x the inputs it
# does on this machine's disk.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in $targets; do
  # New inputs go to a scratch dir; the committed corpus is only read.
  scratch=$(mktemp -d)
  if ! cargo fuzz run "${flags[@]}" "$t" "$scratch" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  rm -rf "$scratch"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: $t: ${runs:-?} inputs in ${secs}s, no crash ($(grep -c . <(ls "corpus/$t")) seeds)" >&2
  # A target that runs this few inputs tests little: something in it became slow.
  if [ "${runs:-0}" -lt 10000 ]; then
    echo "fuzz: WARNING: $t ran fewer than 10,000 inputs in ${secs}s; profile it (or its build)" >&2
  fi
done
