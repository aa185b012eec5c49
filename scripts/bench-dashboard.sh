#!/usr/bin/env bash
# scripts/bench-dashboard.sh: what the web dashboard costs, side by side. Starts creditd, then runs
# ROUNDS interleaved pairs of the same tally run (VUS VUs for DURATION, one GET /health per iteration),
# one without the dashboard and one with it on (K6_WEB_DASHBOARD=true, updates every second, a browser
# stand-in reading the event stream with curl, the HTML report exported); the order alternates per round.
# Prints requests/s and CPU per request (user+sys of tally, from /usr/bin/time) per run, then the
# medians and the median of the per-round ratios. Figures: docs/benchmarks.md (## web dashboard).
#
#   make build && scripts/bench-dashboard.sh            # ROUNDS=5 VUS=50 DURATION=10s
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
ROUNDS=${ROUNDS:-5}
VUS=${VUS:-50}
DURATION=${DURATION:-10s}

dir="$(mktemp -d -t tally-bench-dash.XXXXXX)"
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
"$BIN/creditd" --store "sqlite:$dir/creditd.db" --addr 127.0.0.1:0 2>"$dir/creditd.log" &
cpid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/.*creditd listening"\{0,1\} url=\([^ ]*\).*/\1/p' "$dir/creditd.log" | head -n 1)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "creditd did not start" >&2; cat "$dir/creditd.log" >&2; exit 1; }

cat >"$dir/get.js" <<JS
import http from 'k6/http';
export const options = { vus: ${VUS}, duration: '${DURATION}' };
export default function () { http.get(__ENV.BASE + '/health'); }
JS

# run MODE: one tally run; prints "MODE requests/s cpu-us-per-request"
run() {
  local mode=$1 rc=0 watcher=""
  rm -f "$dir/s.json" "$dir/err.log"
  if [ "$mode" = on ]; then
    ( for _ in $(seq 1 300); do
        u="$(sed -n 's/.*web dashboard: \(http:[^" ]*\).*/\1/p' "$dir/err.log" 2>/dev/null | head -n 1)"
        if [ -n "$u" ]; then exec curl -sN "$u/events" >/dev/null 2>&1; fi
        sleep 0.1
      done ) &
    watcher=$!
    K6_WEB_DASHBOARD=true K6_WEB_DASHBOARD_PORT=0 K6_WEB_DASHBOARD_PERIOD=1s \
      K6_WEB_DASHBOARD_EXPORT="$dir/report.html" /usr/bin/time -f '%U %S' -o "$dir/time" \
      "$BIN/tally" run -q --summary-export "$dir/s.json" -e "BASE=$url" "$dir/get.js" >/dev/null 2>"$dir/err.log" || rc=$?
  else
    /usr/bin/time -f '%U %S' -o "$dir/time" \
      "$BIN/tally" run -q --summary-export "$dir/s.json" -e "BASE=$url" "$dir/get.js" >/dev/null 2>"$dir/err.log" || rc=$?
  fi
  [ -n "$watcher" ] && { kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true; }
  if [ "$rc" -ne 0 ]; then echo "tally exited with $rc:" >&2; cat "$dir/err.log" >&2; exit 1; fi
  python3 - "$mode" "$dir/s.json" "$dir/time" <<'PY'
import json, sys
mode, summary, timing = sys.argv[1:]
m = json.load(open(summary))["metrics"]["http_reqs"]
u, s = map(float, open(timing).read().split()[-2:])
print(f"{mode} {m['rate']:.1f} {(u + s) / m['count'] * 1e6:.2f}")
PY
}

results="$dir/results"
for i in $(seq 1 "$ROUNDS"); do
  if [ $((i % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
  for mode in $order; do
    line="$(run "$mode")"
    echo "round $i: $line" >&2
    echo "$i $line" >>"$results"
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r, mode, rps, cpu in rows:
    by.setdefault(int(r), {})[mode] = (float(rps), float(cpu))
def med(xs): return statistics.median(xs)
for mode in ("off", "on"):
    rps = [v[mode][0] for v in by.values()]; cpu = [v[mode][1] for v in by.values()]
    print(f"dashboard {mode:3}: requests/s median {med(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}), "
          f"CPU per request median {med(cpu):.2f} us ({min(cpu):.2f}-{max(cpu):.2f})")
rr = [v["on"][0] / v["off"][0] for v in by.values()]
cr = [v["on"][1] / v["off"][1] for v in by.values()]
print(f"on/off per round: requests/s median {med(rr):.3f} ({min(rr):.3f}-{max(rr):.3f}), "
      f"CPU per request median {med(cr):.3f} ({min(cr):.3f}-{max(cr):.3f})")
PY
