package js_test

// The ledger extension is linked into this package's tests so that
// BenchmarkVUInit can initialize scripts/race.js, which imports k6/x/ledger
// (TALLY_BENCH_SCRIPT=../../scripts/race.js).
import _ "github.com/tallyhq/tally/extension/ledger/ledgerjs"
