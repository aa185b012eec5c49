#!/usr/bin/env bash
# scripts/soak.sh: what `make soak` does. normal.js on its soak profile (500 VUs, 30 minutes) against
# creditd on a fresh SQLite file, with the resident memory of tally and creditd sampled every 10 s
# (scripts/run.sh RSS_LOG), then a table of RSS per minute for docs/benchmarks.md.
#
# Environment (all optional): SOAK_DIR (default soak/: rss.csv, summary.json, table.md), PROFILE (default
# soak; e.g. quick for a dry run), RSS_EVERY (default 10), BIN, PORT, CREDITD_FLAGS, TALLY_FLAGS as in
# scripts/run.sh. Exits with the run's status.
set -uo pipefail
cd "$(dirname "$0")/.."

SOAK_DIR=${SOAK_DIR:-soak}
mkdir -p "$SOAK_DIR" || exit 2
# Accounts of 20,000 credits: 30 minutes of the user mix spend about 3,000 per VU, and normal.js treats a
# refusal for insufficient credits as a failure.
SCENARIO=normal PROFILE="${PROFILE:-soak}" RSS_LOG="$SOAK_DIR/rss.csv" RSS_EVERY="${RSS_EVERY:-10}" \
  TALLY_FLAGS="-e INITIAL_CREDITS=20000 --summary-export $SOAK_DIR/summary.json ${TALLY_FLAGS:-}" \
  scripts/run.sh
status=$?

# table.md: per minute, the last sample of that minute (MiB); then first/last/peak and the growth from
# minute 5 (after the ramp) to the end.
awk -F, 'BEGIN { last = 0 } NR > 1 && $3 != "" {
    m = int($1 / 60); t[m] = $3 / 1024; c[m] = ($4 == "" ? 0 : $4 / 1024); if (m > last) last = m
    if ($3 / 1024 > tp) tp = $3 / 1024; if ($4 / 1024 > cp) cp = $4 / 1024
  }
  END {
    print "| minute | tally RSS (MiB) | creditd RSS (MiB) |"
    print "|---:|---:|---:|"
    for (m = 0; m <= last; m++) if (m in t) printf "| %d | %.0f | %.0f |\n", m, t[m], c[m]
    ref = (5 in t) ? 5 : 0
    printf "\npeak: tally %.0f MiB, creditd %.0f MiB; minute %d to %d: tally %+.0f MiB, creditd %+.0f MiB\n",
      tp, cp, ref, last, t[last] - t[ref], c[last] - c[ref]
  }' "$SOAK_DIR/rss.csv" | tee "$SOAK_DIR/table.md"
exit "$status"
