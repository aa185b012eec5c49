#!/usr/bin/env bash
# cpu-per-request.sh — tally CPU per request of a scenario, one build against another, interleaved rounds
# (`make bench-cpu`).
#
#   bench/cpu-per-request.sh SCENARIO TREE [TREE...]
#
# Each TREE is a checkout with bin/tally and scripts/ (e.g. `.` and a worktree of an older commit built
# with `go build -o bin/ ./cmd/...`). Per round, for each TREE in turn: creditd (the first TREE's) on a
# fresh SQLite file (--ai-latency 20ms+-10ms, as make run), then `tally run -q -e PROFILE=$PROFILE
# scripts/SCENARIO.js` of that TREE under /usr/bin/time. CPU per request = (user+sys of the tally process
# over the whole run, setup and teardown included) / http_reqs of its summary export. Prints every run,
# then the medians (min-max) and, for each later TREE, the per-round ratios to the first.
#
# Environment: ROUNDS (3), PROFILE (quick), PORT (18320: creditd's port on 127.0.0.1).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bench/cpu-per-request.sh SCENARIO TREE [TREE...]  (ROUNDS, PROFILE, PORT in the environment)" >&2
  exit 2
fi
scenario=$1; shift
ROUNDS=${ROUNDS:-3}; PROFILE=${PROFILE:-quick}; PORT=${PORT:-18320}
case "$ROUNDS$PORT" in *[!0-9]*) echo "cpu-per-request.sh: ROUNDS and PORT must be whole numbers" >&2; exit 2;; esac
[ "$ROUNDS" -le 10 ] || { echo "cpu-per-request.sh: at most 10 rounds" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "cpu-per-request.sh: /usr/bin/time is missing (apt-get install -y time)" >&2; exit 2; }
trees=()
for t in "$@"; do
  t=$(cd "$t" && pwd)
  for f in bin/tally "scripts/$scenario.js"; do
    [ -e "$t/$f" ] || { echo "cpu-per-request.sh: $t/$f is missing" >&2; exit 2; }
  done
  trees+=("$t")
done
creditd=${trees[0]}/bin/creditd
[ -x "$creditd" ] || { echo "cpu-per-request.sh: $creditd is missing" >&2; exit 2; }

tmp=$(mktemp -d)
srv=""
stop() { if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; srv=""; fi; }
trap 'stop; rm -rf "$tmp"' EXIT
up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# start_creditd starts creditd on a fresh database at PORT; when the port is taken (a busy machine's
# outgoing connections use ports of the ephemeral range too), it tries the next ones.
start_creditd() {
  local try
  for try in 1 2 3 4 5 6 7 8; do
    rm -f "$tmp"/creditd.db*
    "$creditd" --test-endpoints --store "sqlite:$tmp/creditd.db" --addr "127.0.0.1:$PORT" \
      --ai-latency 20ms+-10ms --request-timeout 10s 2>"$tmp/creditd.log" </dev/null &
    srv=$!
    for _ in $(seq 100); do
      grep -q 'creditd listening' "$tmp/creditd.log" && up && return 0
      kill -0 "$srv" 2>/dev/null || break
      sleep 0.1
    done
    stop
    PORT=$((PORT + 1))
  done
  echo "cpu-per-request.sh: creditd did not start:" >&2
  cat "$tmp/creditd.log" >&2
  exit 1
}

for r in $(seq "$ROUNDS"); do
  for i in "${!trees[@]}"; do
    t=${trees[$i]}
    start_creditd
    echo "round $r/$ROUNDS: $t" >&2
    (cd "$t" && /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" bin/tally run -q --summary-mode disabled \
      --summary-export "$tmp/s.json" -e "PROFILE=$PROFILE" -e "BASE_URL=http://127.0.0.1:$PORT" \
      "scripts/$scenario.js" >"$tmp/tally.log" 2>&1) || echo "  (tally exited $?; thresholds may have failed)" >&2
    stop
    python3 - "$tmp/s.json" "$tmp/time" "$r" "$i" >>"$tmp/results" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
e, u, s, rss = open(sys.argv[2]).read().split()[-4:]
p95 = m.get("http_req_duration", {}).get("p(95)", 0)
print(sys.argv[3], sys.argv[4], m["http_reqs"]["count"], float(u) + float(s), e, rss, p95)
PY
    tail -n 1 "$tmp/results" >&2
  done
done

python3 - "$tmp/results" "$scenario" "$PROFILE" "${trees[@]}" <<'PY'
import statistics as st, sys
path, scenario, profile, trees = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = {}  # tree index -> round -> (reqs, cpu s, us/req, rss MiB, p95)
for line in open(path):
    r, i, n, cpu, wall, rss, p95 = line.split()
    runs.setdefault(int(i), {})[int(r)] = (float(n), float(cpu), float(cpu) / float(n) * 1e6, int(rss) / 1024, float(p95))
print(f"{scenario}.js PROFILE={profile}: tally CPU (user+sys) per request, {len(runs[0])} interleaved rounds")
print(f"{'tree':<40} {'µs/request':>22} {'http_reqs':>20} {'CPU s':>8} {'peak RSS':>10} {'p95 ms':>8}")
for i, t in enumerate(trees):
    v = list(runs[i].values())
    col = lambda k: [x[k] for x in v]
    us = col(2)
    print(f"{t[-40:]:<40} {st.median(us):>8.1f} ({min(us):.0f}-{max(us):.0f}) {st.median(col(0)):>9,.0f} "
          f"({min(col(0)):,.0f}-{max(col(0)):,.0f}) {st.median(col(1)):>7.1f} {st.median(col(3)):>7.0f} MiB {st.median(col(4)):>7.0f}")
for i in range(1, len(trees)):
    ratios = [runs[i][r][2] / runs[0][r][2] for r in sorted(runs[0]) if r in runs[i]]
    print(f"per-round CPU/request ratio {trees[i][-30:]} / {trees[0][-30:]}: "
          + ", ".join(f"{x:.2f}" for x in ratios) + f"  (median {st.median(ratios):.2f})")
PY
