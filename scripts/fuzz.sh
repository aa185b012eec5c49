#!/usr/bin/env bash
# fuzz.sh: run every Go fuzz target of the module (every func FuzzXxx(f
# *testing.F) in each package's test files, so new targets are picked up
# without editing anything) for FUZZTIME each (default 60s).
# Usage: FUZZTIME=10s scripts/fuzz.sh [packages...]   (default ./...)
# Prints one line per target (package, target, execs) and exits non-zero if
# any target fails; a failing input is saved by go test under the package's
# testdata/fuzz/<target>/ and then runs with every `go test`.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=(./...)
failed=0
total=0
# Discovery reads the test files (func FuzzXxx(f *testing.F)) instead of building every package's
# test binary with go test -list, which takes minutes on a busy machine.
while read -r pkg dir; do
  targets=$(cat "$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' || true)
  for t in $targets; do
    total=$((total + 1))
    log=$(mktemp)
    if $GO test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
      execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
      echo "fuzz ok   $pkg $t ${FUZZTIME} execs=${execs:-?}"
    else
      failed=$((failed + 1))
      echo "fuzz FAIL $pkg $t"
      tail -40 "$log"
    fi
    rm -f "$log"
  done
done < <($GO list -f '{{.ImportPath}} {{.Dir}}' "${pkgs[@]}")
echo "fuzz: $total targets, $failed failed (FUZZTIME=$FUZZTIME each)"
[ "$failed" -eq 0 ]
