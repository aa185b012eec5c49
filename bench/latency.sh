#!/usr/bin/env bash
# latency.sh — the latency tally adds on top of the server's own time (`make bench-latency`).
#
# ROUNDS rounds against a fresh bench/stubserver each, the client pinned to core GEN_CPU and the server
# to core SERVER_CPU, loopback only. A round runs bench/rate200.js (RATE balance GETs per second,
# constant-arrival-rate, DURATION seconds), then bench/rawclient at the same rate for the same time (the
# least a Go client can do: write the request, block reading the response, on one keep-alive
# connection). For each: the reported p50 and p95 and the server's own handler time (GET
# /stats/handler-time: from the call of the handler to its return, 0.1 µs buckets). Overhead = tally's
# p50 minus the server's p50 (the issue's measure: client, kernel, loopback and the server's HTTP stack);
# above the floor = tally's p50 minus rawclient's p50 (tally's own share). Prints each round and the
# medians.
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
URL="http://127.0.0.1:$PORT" # PORT=0: a free port, read from the server's first line

for r in $(seq "$ROUNDS"); do
  taskset -c "$SERVER_CPU" "$BIN/stubserver" -addr "127.0.0.1:$PORT" 2>"$tmp/server.log" &
  srv=$!
  for _ in $(seq 50); do
    addr=$(sed -n 's/^stubserver listening on //p' "$tmp/server.log")
    [ -n "$addr" ] && URL="http://$addr" && curl -fs "$URL/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "$URL/health" >/dev/null || { echo "latency.sh: stubserver did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }
  curl -fs -X DELETE "$URL/stats/handler-time" >/dev/null # the health checks are not part of the run
  taskset -c "$GEN_CPU" "$BIN/tally" run -q --summary-mode disabled --summary-export "$tmp/t.json" \
    -e BASE_URL="$URL" -e RATE="$RATE" -e DURATION="${DURATION}s" bench/rate200.js >/dev/null
  curl -fs "$URL/stats/handler-time" >"$tmp/server.json"
  curl -fs -X DELETE "$URL/stats/handler-time" >/dev/null
  taskset -c "$GEN_CPU" "$BIN/rawclient" -url "$URL/api/v1/beta/credits/balance" -rate "$RATE" \
    -duration "${DURATION}s" >"$tmp/raw.json"
  curl -fs "$URL/stats/handler-time" >"$tmp/server-raw.json"
  stop_server
  python3 - "$tmp/t.json" "$tmp/server.json" "$tmp/raw.json" "$tmp/server-raw.json" "$r" >>"$tmp/results" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["metrics"]
t, n = d["http_req_duration"], d["http_reqs"]["count"]
s, raw, sr = (json.load(open(p)) for p in sys.argv[2:5])
print(sys.argv[5], n, t["med"], t["p(95)"], s["p50_us"] / 1000, raw["count"], raw["p50_ms"], raw["p95_ms"], sr["p50_us"] / 1000)
PY
  tail -n 1 "$tmp/results" | awk '{printf "round %s: tally %s requests, p50 %.3f ms, p95 %.3f ms (server p50 %.4f ms); rawclient %s requests, p50 %.3f ms, p95 %.3f ms (server p50 %.4f ms)\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}' >&2
done

python3 - "$tmp/results" "$RATE" "$DURATION" <<'PY'
import statistics as st, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = lambda f: st.median(f(r) for r in rows)
rng = lambda f: f"({min(f(r) for r in rows):.3f}-{max(f(r) for r in rows):.3f})"
over, above = (lambda r: r[2] - r[4]), (lambda r: r[2] - r[6])
print(f"{sys.argv[2]} requests/s for {sys.argv[3]} s, {len(rows)} rounds, medians (min-max):")
print(f"  tally      p50 {med(lambda r: r[2]):.3f} ms  p95 {med(lambda r: r[3]):.3f} ms  server handler p50 {med(lambda r: r[4]):.4f} ms")
print(f"  rawclient  p50 {med(lambda r: r[6]):.3f} ms  p95 {med(lambda r: r[7]):.3f} ms  server handler p50 {med(lambda r: r[8]):.4f} ms")
print(f"  overhead: tally p50 - server p50 = {med(over):.3f} ms {rng(over)}; tally p50 - rawclient p50 = {med(above):.3f} ms {rng(above)}")
PY
