# Sourced by the benchmark scripts: builds the release binary and starts `tmahost serve` on
# loopback with a temp data dir, then sets $bin, $work, $api and $token and registers
# @bench_bot. The caller's EXIT trap must call `stop_serve`.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --release -p tmahost --manifest-path "$root/Cargo.toml" >&2
bin="$root/target/release/tmahost"
work=$(mktemp -d)
pid=""
stop_serve() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }

start_serve() {
  TMAHOST_DATA_DIR="$work/data" TMAHOST_API_ADDR=127.0.0.1:0 TMAHOST_EDGE_ADDR=127.0.0.1:0 \
    TMAHOST_TELEGRAM_API_URL=http://127.0.0.1:1 TMAHOST_LOG=warn "$bin" serve >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 100); do grep -q '^admin token' "$work/out" 2>/dev/null && break; sleep 0.1; done
  api=$(sed -n 's/^api: \(http[^ ]*\)\/api\/v1.*/\1/p' "$work/out")
  token=$(sed -n 's/^admin token.*: //p' "$work/out")
  curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"token":"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_","username":"bench_bot"}' "$api/api/v1/bots" >/dev/null
}
