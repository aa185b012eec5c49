#!/usr/bin/env bash
# latency.sh — the latency tally adds on top of the server's own time (`make bench-latency`).
#
# ROUNDS runs of bench/rate200.js (RATE balance GETs per second, constant-arrival-rate, DURATION
# seconds) against a fresh bench/stubserver each, tally pinned to core GEN_CPU and the server to core
# SERVER_CPU, loopback only. Per run: tally's reported http_req_duration p50 and p95 (--summary-export)
# and the server's own handler time p50 and p95 (GET /stats/handler-time: from the call of the handler to
# its return, 0.1 µs buckets). The overhead is tally's p50 minus the server's p50: the client, the
# kernel and the loopback. Prints each run and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}; ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-30}; RATE=${RATE:-200}
PORT=${PORT:-18302}; GEN_CPU=${GEN_CPU:-0}; SERVER_CPU=${SERVER_CPU:-1}
case "$ROUNDS$DURATION$RATE" in *[!0-9]*) echo "latency.sh: ROUNDS, DURATION (seconds) and RATE must be whole numbers" >&2; exit 2;; esac
if [ "$DURATION" -gt 300 ] || [ "$ROUNDS" -gt 10 ] || [ "$RATE" -gt 5000 ]; then
  echo "latency.sh: at most 10 rounds of 300 s at 5,000 requests/s" >&2; exit 2
fi
command -v curl >/dev/null || { echo "latency.sh: needs curl" >&2; exit 2; }

tmp=$(mktemp -d)
srv=""
stop_server() { if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; srv=""; fi; }
trap 'stop_server; rm -rf "$tmp"' EXIT
URL="http://127.0.0.1:$PORT"

for r in $(seq "$ROUNDS"); do
  taskset -c "$SERVER_CPU" "$BIN/stubserver" -addr "127.0.0.1:$PORT" 2>"$tmp/server.log" &
  srv=$!
  for _ in $(seq 50); do curl -fs "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "$URL/health" >/dev/null || { echo "latency.sh: stubserver did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }
  curl -fs -X DELETE "$URL/stats/handler-time" >/dev/null # the health checks are not part of the run
  taskset -c "$GEN_CPU" "$BIN/tally" run -q --summary-mode disabled --summary-export "$tmp/t.json" \
    -e BASE_URL="$URL" -e RATE="$RATE" -e DURATION="${DURATION}s" bench/rate200.js >/dev/null
  curl -fs "$URL/stats/handler-time" >"$tmp/server.json"
  stop_server
  python3 - "$tmp/t.json" "$tmp/server.json" "$r" >>"$tmp/results" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["metrics"]
t, n = d["http_req_duration"], d["http_reqs"]["count"]
s = json.load(open(sys.argv[2]))
print(sys.argv[3], n, t["med"], t["p(95)"], s["count"], s["p50_us"] / 1000, s["p95_us"] / 1000)
PY
  tail -n 1 "$tmp/results" | awk '{printf "round %s: %s requests; tally p50 %.3f ms, p95 %.3f ms; server (%s requests) p50 %.4f ms, p95 %.4f ms; overhead at p50 %.3f ms\n", $1, $2, $3, $4, $5, $6, $7, $3-$6}' >&2
done

python3 - "$tmp/results" "$RATE" "$DURATION" <<'PY'
import statistics as st, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = lambda i: st.median(r[i] for r in rows)
over = [r[2] - r[5] for r in rows]
print(f"{sys.argv[2]} requests/s for {sys.argv[3]} s, {len(rows)} rounds, medians (min-max):")
print(f"  tally http_req_duration  p50 {med(2):.3f} ms   p95 {med(3):.3f} ms")
print(f"  server handler time      p50 {med(5):.4f} ms  p95 {med(6):.4f} ms")
print(f"  overhead (tally p50 - server p50) {st.median(over):.3f} ms ({min(over):.3f}-{max(over):.3f})")
PY
