-- Shared by the scenarios: one machine-readable line per run for run.sh's table.
-- RESULT <requests> <seconds> <p50 us> <p99 us> <errors>
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %d %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
