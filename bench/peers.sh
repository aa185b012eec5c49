#!/usr/bin/env bash
# peers.sh — tally, Locust and wrk side by side on the same task mix (`make bench-peers`).
#
# Each generator is pinned to core 0 (GEN_CPU), bench/stubserver to core 1 (SERVER_CPU), loopback only.
# ROUNDS interleaved rounds (tally, Locust, wrk in turn) of DURATION seconds at USERS VUs / users /
# connections, no think time. Per run: requests/s as the tool reports it, generator CPU per request
# ((user+sys) of /usr/bin/time over the whole process / requests) and peak RSS (/usr/bin/time %M).
# Prints the medians with ratios to tally. Missing python3-locust or wrk are installed with apt-get
# (root) or reported. Task mix: bench/vus100.js (THINK=0), bench/locustfile.py, bench/mix.lua.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}; ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-12}; USERS=${USERS:-50}
PORT=${PORT:-18301}; GEN_CPU=${GEN_CPU:-0}; SERVER_CPU=${SERVER_CPU:-1}
case "$ROUNDS$DURATION$USERS" in *[!0-9]*) echo "peers.sh: ROUNDS, DURATION (seconds) and USERS must be whole numbers" >&2; exit 2;; esac
if [ "$DURATION" -gt 120 ] || [ "$ROUNDS" -gt 10 ]; then echo "peers.sh: at most 10 rounds of 120 s" >&2; exit 2; fi

need=()
command -v locust >/dev/null || need+=(python3-locust)
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "peers.sh: missing ${need[*]}: run as root or 'apt-get install -y ${need[*]}'" >&2; exit 2; fi
  echo "peers.sh: installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
taskset -c "$SERVER_CPU" "$BIN/stubserver" -addr "127.0.0.1:$PORT" 2>"$tmp/server.log" &
srv=$!
up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
for _ in $(seq 50); do up && break; sleep 0.1; done
up || { echo "peers.sh: stubserver did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }
URL="http://127.0.0.1:$PORT"
timed() { taskset -c "$GEN_CPU" /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@"; }

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS: tally" >&2
  timed "$BIN/tally" run -q --summary-mode disabled --summary-export "$tmp/t.json" -e BASE_URL="$URL" \
    -e VUS="$USERS" -e DURATION="${DURATION}s" -e THINK=0 bench/vus100.js >/dev/null
  python3 - "$tmp/t.json" "$tmp/time" tally >>"$tmp/results" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]["http_reqs"]
e, u, s, rss = open(sys.argv[2]).read().split()[-4:]
print(sys.argv[3], m["rate"], m["count"], float(u) + float(s), rss)
PY
  echo "round $r/$ROUNDS: locust" >&2
  timed locust -f bench/locustfile.py --headless -u "$USERS" -r "$USERS" -t "${DURATION}s" -H "$URL" \
    --csv "$tmp/l" --only-summary --loglevel WARNING >/dev/null 2>"$tmp/locust.log" || true
  python3 - "$tmp/l_stats.csv" "$tmp/time" locust >>"$tmp/results" <<'PY'
import csv, sys
row = [r for r in csv.DictReader(open(sys.argv[1])) if r["Name"] == "Aggregated"][0]
e, u, s, rss = open(sys.argv[2]).read().split()[-4:]
print(sys.argv[3], row["Requests/s"], row["Request Count"], float(u) + float(s), rss)
PY
  echo "round $r/$ROUNDS: wrk" >&2
  timed wrk -t1 -c"$USERS" -d"${DURATION}s" -s bench/mix.lua "$URL" >"$tmp/wrk.out"
  python3 - "$tmp/wrk.out" "$tmp/time" wrk >>"$tmp/results" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
n = re.search(r"(\d+) requests in", out).group(1)
rate = re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)
e, u, s, rss = open(sys.argv[2]).read().split()[-4:]
print(sys.argv[3], rate, n, float(u) + float(s), rss)
PY
done

python3 - "$tmp/results" "$ROUNDS" "$DURATION" "$USERS" <<'PY'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    tool, rate, n, cpu, rss = line.split()
    rows.setdefault(tool, []).append((float(rate), float(cpu) / float(n) * 1e6, int(rss) / 1024))
print(f"task mix, {sys.argv[4]} VUs/users/connections, {sys.argv[2]} interleaved rounds of {sys.argv[3]} s; medians (min-max)")
print(f"{'tool':<8} {'requests/s':>24} {'CPU/request':>22} {'peak RSS':>22} {'rps ratio':>10} {'CPU ratio':>10} {'RSS ratio':>10}")
med = {t: [st.median(c) for c in zip(*v)] for t, v in rows.items()}
for tool in ("tally", "locust", "wrk"):
    v = rows[tool]; m = med[tool]; b = med["tally"]
    rng = [f"({min(c):,.0f}-{max(c):,.0f})" for c in zip(*v)]
    print(f"{tool:<8} {m[0]:>11,.0f} {rng[0]:>12} {m[1]:>8.1f} µs {rng[1]:>10} {m[2]:>8.1f} MiB {rng[2]:>9}"
          f" {m[0]/b[0]:>9.2f}x {m[1]/b[1]:>9.2f}x {m[2]/b[2]:>9.2f}x")
PY
