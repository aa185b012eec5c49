#!/usr/bin/env bash
# vumem.sh — memory per VU of bench/vus100.js (`make bench-vus`): peak RSS (/usr/bin/time %M) of a run at
# each of VUS (default "1000 3000"; think time 1 s, DURATION seconds of constant-vus) and of a 1-VU
# baseline, against bench/stubserver pinned to core SERVER_CPU; per VU = (peak RSS - baseline) / VUs.
# With BASE_BIN set (another tally binary, e.g. one built from an earlier commit), both binaries run in
# interleaved rounds, side by side. ROUNDS rounds; prints every run and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}; BASE_BIN=${BASE_BIN:-}; ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-12}; VUS=${VUS:-1000 3000}
SERVER_CPU=${SERVER_CPU:-1}
case "$ROUNDS$DURATION${VUS// /}" in *[!0-9]*) echo "vumem.sh: ROUNDS, DURATION (seconds) and VUS must be whole numbers" >&2; exit 2;; esac
for v in $VUS; do [ "$v" -le 5000 ] || { echo "vumem.sh: at most 5,000 VUs" >&2; exit 2; }; done
[ "$DURATION" -le 60 ] && [ "$ROUNDS" -le 10 ] || { echo "vumem.sh: at most 10 rounds of 60 s" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "vumem.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
taskset -c "$SERVER_CPU" "$BIN/stubserver" -addr 127.0.0.1:0 2>"$tmp/server.log" &
srv=$!
for _ in $(seq 50); do addr=$(sed -n 's/^stubserver listening on //p' "$tmp/server.log"); [ -n "$addr" ] && break; sleep 0.1; done
[ -n "$addr" ] || { echo "vumem.sh: stubserver did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }

tallies=("$BIN/tally"); [ -n "$BASE_BIN" ] && tallies=("$BASE_BIN" "$BIN/tally")
for r in $(seq "$ROUNDS"); do
  for v in 1 $VUS; do
    for t in "${tallies[@]}"; do
      /usr/bin/time -f '%M %U %S' -o "$tmp/time" "$t" run -q --summary-mode disabled -e BASE_URL="http://$addr" \
        -e VUS="$v" -e DURATION="${DURATION}s" bench/vus100.js >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
      read -r rss u s <"$tmp/time"
      echo "$t $v $rss $u $s" >>"$tmp/runs"
      echo "round $r: $t, $v VUs: peak RSS $((rss / 1024)) MiB, CPU $u+$s s (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
  done
done
python3 - "$tmp/runs" <<'PY'
import statistics as st, sys
runs = {}
for line in open(sys.argv[1]):
    t, v, rss, u, s = line.split()
    runs.setdefault((t, int(v)), []).append((int(rss), float(u) + float(s)))
for (t, v), rs in sorted(runs.items()):
    if v == 1:
        continue
    base = st.median(r for r, _ in runs[(t, 1)])
    rss = st.median(r for r, _ in rs)
    per = [(r - base) / v for r, _ in rs]
    print(f"{t:<24} {v:>5} VUs: peak RSS {rss / 1024:7.1f} MiB (1 VU: {base / 1024:.1f}), "
          f"{(rss - base) / v:6.1f} KiB per VU ({min(per):.1f}-{max(per):.1f}), CPU {st.median(c for _, c in rs):.2f} s")
PY
