package ledgerjs

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules/modulestest"
)

// Benchmarks of the binding's hot path: begin + settle called from JS, on
// the real runtime. Commands and figures: docs/benchmarks.md, section
// "ledger (binding)".

const benchScript = `
import ledger from 'k6/x/ledger';
ledger.configure({ run: 'bench' });
const ACCOUNTS = 100, B0 = 2 ** 50;
const names = [];
for (let k = 0; k < ACCOUNTS; k++) names.push('acct-' + k);
export function setup() { for (const a of names) ledger.open(a, { balance: B0 }); }

// Each loop makes N deductions over the 100 accounts, starting at account
// START. seq(k) is a Go counter per account, so that balances after are
// distinct per account as on a correct server, whatever the VU.
export function baseline() { // the inputs alone: no ledger calls
  let s = 0;
  for (let i = START; i < START + N; i++) {
    const k = i % ACCOUNTS;
    const d = { feature: 'ai_search', amount: 5 };
    const o = { outcome: 'ok', balanceAfter: B0 - 5 * seq(k), version: 1, txId: 'tx', charged: 5 };
    s += d.amount + o.balanceAfter + names[k].length;
  }
  return s;
}
export function settle() {
  for (let i = START; i < START + N; i++) {
    const k = i % ACCOUNTS;
    const op = ledger.begin(names[k], { feature: 'ai_search', amount: 5 });
    ledger.settle(op, { outcome: 'ok', balanceAfter: B0 - 5 * seq(k), version: 1, txId: 'tx', charged: 5 });
  }
}
export function settleHttp() {
  for (let i = START; i < START + N; i++) {
    const k = i % ACCOUNTS;
    const op = ledger.begin(names[k], { feature: 'ai_search', amount: 5 });
    const body = '{"success":true,"credits_charged":5,"remaining_credits":' + (B0 - 5 * seq(k)) + ',"transaction_id":"tx-' + i + '","version":' + i + '}';
    ledger.settleHttp(op, { status: 200, body: body, error_code: 0 });
  }
}
export function baselineHttp() { // the inputs of settleHttp alone
  let s = 0;
  for (let i = START; i < START + N; i++) {
    const k = i % ACCOUNTS;
    const d = { feature: 'ai_search', amount: 5 };
    const body = '{"success":true,"credits_charged":5,"remaining_credits":' + (B0 - 5 * seq(k)) + ',"transaction_id":"tx-' + i + '","version":' + i + '}';
    const res = { status: 200, body: body, error_code: 0 };
    s += d.amount + res.body.length + names[k].length;
  }
  return s;
}
`

// BenchmarkBeginSettle measures one ledger.begin plus one ledger.settle
// (or settleHttp) called from JS, with the metric samples pushed, from one
// VU and from 1,000 VUs at once, over 100 accounts. The baseline variants
// run the same loops without the ledger calls: what the script itself
// costs.
func BenchmarkBeginSettle(b *testing.B) {
	for _, bc := range []struct {
		fn  string
		vus int
	}{
		{"baseline", 1}, {"settle", 1}, {"baselineHttp", 1}, {"settleHttp", 1},
		{"baseline", 2}, {"settle", 2},
		{"baseline", 1000}, {"settle", 1000}, {"baselineHttp", 1000}, {"settleHttp", 1000},
	} {
		b.Run(bc.fn+"/vus="+strconv.Itoa(bc.vus), func(b *testing.B) {
			var pushed atomic.Int64
			e, err := modulestest.New(b, benchScript, modulestest.Options{
				Samples: metrics.PusherFunc(func(ss metrics.Samples) {
					for _, s := range ss {
						if strings.HasPrefix(s.Metric.Name, "ledger_") {
							pushed.Add(1)
						}
					}
				})})
			if err != nil {
				b.Fatal(err)
			}
			e.Setup()
			var seqs [100]struct {
				atomic.Int64
				_ [56]byte
			}
			vus := make([]*modulestest.VU, bc.vus)
			for k := range vus {
				v := e.VU(uint64(k + 1))
				rt := v.Runtime()
				rt.Set("seq", func(c sobek.FunctionCall) sobek.Value {
					return rt.ToValue(seqs[c.Argument(0).ToInteger()].Add(1))
				})
				vus[k] = v
			}
			sc := modulestest.Scenario{Name: "bench", Exec: bc.fn}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuNs()
			var wg sync.WaitGroup
			for k, v := range vus {
				n := b.N / len(vus)
				if k < b.N%len(vus) {
					n++
				}
				if n == 0 {
					continue
				}
				v.Runtime().Set("N", n)
				v.Runtime().Set("START", k*7)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if !v.Once(context.Background(), sc) {
						b.Error("iteration interrupted")
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if cpu0 > 0 {
				b.ReportMetric(float64(cpuNs()-cpu0)/float64(b.N), "cpu-ns/op")
			}
			if l := rootOf(b, e).Ledger(); bc.fn == "settle" || bc.fn == "settleHttp" {
				// two per deduction (ledger_ops, ledger_credits_confirmed),
				// the zeros at first use, and no online violation
				if n, want := pushed.Load(), int64(2*b.N+8); n != want {
					b.Errorf("%d samples pushed for %d deductions, want %d", n, b.N, want)
				}
				if u := l.Unknowns(); len(u) != 0 {
					b.Errorf("%d deductions left unknown", len(u))
				}
			}
			if s := e.Logs(); s != "" {
				b.Fatalf("logs: %s", s)
			}
		})
	}
}
