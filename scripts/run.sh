#!/usr/bin/env bash
# scripts/run.sh: what `make run` does. Starts creditd on a fresh SQLite file with the test endpoints
# (unless TARGET names a running service), waits until it is healthy, runs the scenarios one after the
# other, stops creditd (also on failure or Ctrl-C) and exits with the first non-zero status of the runs.
#
# Ctrl-C: a terminal sends SIGINT to the whole process group. creditd runs in a session of its own
# (setsid), so it does not see it; tally does, stops the load once (gracefully), and runs its teardown
# (replays, closing balances, logs, verdict) against the still running service. Only when tally has
# exited does this script stop creditd, skip the remaining scenarios and exit with tally's status (105).
#
# Environment (all optional):
#   SCENARIO       scenarios to run, in order, space or comma separated (default: normal race)
#   PROFILE        full, quick or smoke (default: quick)
#   DURATION       seconds: replaces the profile's duration, keeping its other sizes (read by the scripts)
#   TARGET         base URL of a running credit service; no creditd is started
#   PORT           creditd's port on 127.0.0.1 (default 0: a free port)
#   CREDITD_FLAGS  extra creditd flags (default: --ai-latency 20ms+-10ms --request-timeout 10s)
#   TALLY_FLAGS    extra `tally run` flags, e.g. --summary-export out.json
#   BIN            where the tally and creditd binaries are (default: bin)
#   REPORTS        folder for the HTML reports, one per scenario, REPORTS/SCENARIO-PROFILE.html (default:
#                  reports; empty: none). K6_WEB_DASHBOARD=true also serves the live dashboard during
#                  each run (http://127.0.0.1:5665, K6_WEB_DASHBOARD_PORT to change).
#   RSS_LOG        when set, a CSV file: every RSS_EVERY seconds (default 10) the resident memory (KiB) of
#                  tally and of the creditd started here, as seconds,scenario,tally_rss_kib,creditd_rss_kib
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
SCENARIO=${SCENARIO:-normal race}
PROFILE=${PROFILE:-quick}
TARGET=${TARGET:-}
PORT=${PORT:-0}
CREDITD_FLAGS=${CREDITD_FLAGS:---ai-latency 20ms+-10ms --request-timeout 10s}
TALLY_FLAGS=${TALLY_FLAGS:-}
REPORTS=${REPORTS-reports}
RSS_LOG=${RSS_LOG:-}
RSS_EVERY=${RSS_EVERY:-10}

say() { printf '==> %s\n' "$*" >&2; }

for s in ${SCENARIO//,/ }; do
  if [ ! -f "scripts/$s.js" ]; then
    echo "run: SCENARIO=$s: no scripts/$s.js (scenarios: normal, spike, race)" >&2
    exit 2
  fi
done
for b in tally creditd; do
  if [ ! -x "$BIN/$b" ]; then
    echo "run: $BIN/$b is missing: run make build first" >&2
    exit 2
  fi
done

dir=""
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do # at most 10 s, then kill
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  [ -n "$dir" ] && rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT # until the scenarios run (below)
trap 'exit 141' PIPE
trap 'exit 143' TERM

url="$TARGET"
if [ -z "$url" ]; then
  dir="$(mktemp -d -t tally-run.XXXXXX)"
  # In its own session: the terminal's SIGINT to our process group must not stop the service while
  # tally's teardown still needs it; cleanup stops it once tally is done.
  detach=""
  if command -v setsid >/dev/null; then
    detach=setsid
  else
    say "setsid not found: Ctrl-C may stop creditd before tally's teardown"
  fi
  # shellcheck disable=SC2086 # CREDITD_FLAGS is a list of flags
  $detach "$BIN/creditd" --test-endpoints --store "sqlite:$dir/creditd.db" --addr "127.0.0.1:$PORT" $CREDITD_FLAGS \
    2>"$dir/creditd.log" </dev/null &
  pid=$!
  for _ in $(seq 1 100); do # at most 10 s for the listening line
    url="$(sed -n 's/.*creditd listening"\{0,1\} url=\([^ ]*\).*/\1/p' "$dir/creditd.log" | head -n 1)"
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "run: creditd did not start; its log:" >&2
    cat "$dir/creditd.log" >&2
    exit 1
  fi
  say "creditd on $url (SQLite in $dir, flags: $CREDITD_FLAGS)"
fi

healthy=""
for _ in $(seq 1 50); do # at most 10 s
  if command -v curl >/dev/null; then
    curl -fsS -m 2 "$url/health" >/dev/null 2>&1 && healthy=1
  else
    healthy=1 # no curl: the scenarios check /health themselves
  fi
  [ -n "$healthy" ] && break
  sleep 0.2
done
if [ -z "$healthy" ]; then
  echo "run: $url/health did not answer 200 within 10 s" >&2
  exit 1
fi

# rss PID: the resident set of a process in KiB, empty when it is gone.
rss() { [ -n "$1" ] && sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null; }

# sample SCENARIO PID: appends a line to RSS_LOG every RSS_EVERY seconds while tally (PID) runs.
sample() {
  local start now
  start=$(date +%s)
  while kill -0 "$2" 2>/dev/null; do
    now=$(date +%s)
    printf '%s,%s,%s,%s\n' "$((now - start))" "$1" "$(rss "$2")" "$(rss "$pid")" >>"$RSS_LOG"
    sleep "$RSS_EVERY"
  done
}
[ -n "$RSS_LOG" ] && echo "seconds,scenario,tally_rss_kib,creditd_rss_kib" >"$RSS_LOG"

[ -n "$REPORTS" ] && mkdir -p "$REPORTS"
status=0
results=""
reports=""
interrupted=""
# From here a SIGINT is tally's to handle (it got the same signal from the terminal): note it, let the
# running scenario finish its teardown, run no further scenario.
trap 'interrupted=1' INT
for s in ${SCENARIO//,/ }; do
  if [ -n "$interrupted" ]; then
    results="$results $s=skipped"
    continue
  fi
  report=""
  if [ -n "$REPORTS" ]; then
    report="$REPORTS/$s-$PROFILE.html"
    rm -f "$report"
    export K6_WEB_DASHBOARD_EXPORT="$report"
  fi
  say "tally run -e PROFILE=$PROFILE -e BASE_URL=$url $TALLY_FLAGS scripts/$s.js"
  if [ -n "$RSS_LOG" ]; then
    # shellcheck disable=SC2086 # TALLY_FLAGS is a list of flags
    "$BIN/tally" run -e "PROFILE=$PROFILE" -e "BASE_URL=$url" $TALLY_FLAGS "scripts/$s.js" &
    tpid=$!
    sample "$s" "$tpid" &
    spid=$!
    wait "$tpid"
    rc=$?
    wait "$spid"
  else
    # shellcheck disable=SC2086 # TALLY_FLAGS is a list of flags
    "$BIN/tally" run -e "PROFILE=$PROFILE" -e "BASE_URL=$url" $TALLY_FLAGS "scripts/$s.js"
    rc=$?
  fi
  results="$results $s=$rc"
  if [ -n "$report" ] && [ -f "$report" ]; then reports="$reports $report"; fi
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
done
trap 'exit 130' INT
if [ -n "$interrupted" ] && [ "$status" -eq 0 ]; then status=130; fi
if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
  echo "run: creditd exited during the run; the end of its log:" >&2
  tail -n 20 "$dir/creditd.log" >&2
  [ "$status" -eq 0 ] && status=1
fi
for r in $reports; do say "HTML report: $r"; done
say "exit statuses:$results (0 passed, 99 thresholds failed, 105 interrupted, 108 aborted, 107 script error)"
exit "$status"
