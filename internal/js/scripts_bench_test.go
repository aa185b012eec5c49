package js

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
)

// chargeReqsScript builds the requests of one race.js burst with the
// scenarios' own client (scripts/lib/credit.js): five charges of an
// account, deductions and AI features mixed, as chargeAll does before its
// http.batch (BUILD: burstReq, the objects kept per place in the burst
// that chargeAll uses, or chargeReq, new objects for every request).
const chargeReqsScript = `
import { load } from './lib/config.js';
import { Client } from './lib/credit.js';
const cfg = load();
const api = new Client(cfg);
const acct = { id: 'tally-r-1-7', token: 't0ken' };
const f = cfg.features;
const burst = [f.deduct, f.aiSearch, f.deduct, f.aiRecommendations, f.deduct];
let id = 0;
export default function () {
  const reqs = [];
  for (let i = 0; i < burst.length; i++) {
    reqs.push(BUILD);
    id++;
  }
}
`

// BenchmarkChargeReqs measures building a race.js burst's five requests in
// the scripts' JS (per op: one burst), without sending them.
func BenchmarkChargeReqs(b *testing.B) {
	for _, bc := range []struct{ name, build string }{
		{"burstReq", `api.burstReq(i, acct, burst[i], api.price(burst[i], 1 + i), id, 'key-' + id)`},
		{"chargeReq", `api.chargeReq(acct, burst[i], api.price(burst[i], 1 + i), id, 'key-' + id)`},
	} {
		b.Run(bc.name, func(b *testing.B) { benchChargeReqs(b, strings.Replace(chargeReqsScript, "BUILD", bc.build, 1)) })
	}
}

func benchChargeReqs(b *testing.B, src string) {
	reg := metrics.NewRegistry()
	r, err := New(Config{Path: "../../scripts/bench-charge-reqs.js", Source: []byte(src), Registry: reg,
		Builtin: metrics.RegisterBuiltin(reg), Root: groups.NewRoot(), Env: map[string]string{}})
	if err != nil {
		b.Fatal(err)
	}
	r.Configure(RunConfig{Options: &options.Options{}, SystemTags: metrics.DefaultSystemTags,
		RunTags: metrics.NewTagSet(nil), Samples: metrics.PusherFunc(func(metrics.Samples) {})})
	v, err := r.NewVU(context.Background(), 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	it := &executor.Iteration{Scenario: &executor.Scenario{Name: "b", Executor: "constant-vus", Exec: "default"}}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if !v.RunIteration(context.Background(), it) {
			b.Fatal("the iteration failed")
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
}

// processCPU is the CPU time (user and system) the process used so far: on
// a shared machine a steadier measure than the wall time of ns/op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raceBurstScript is the JS of a race.js iteration around its http.batch,
// without the requests and the ledger (op stands for ledger.begin's
// handle): the burst's charges made (CHARGES), its requests gathered
// (GATHER) and the balance read's request built (READ), with the scenarios'
// own client.
const raceBurstScript = `
import { load } from './lib/config.js';
import { Client } from './lib/credit.js';
const cfg = load();
const api = new Client(cfg);
const acct = { id: 'tally-r-1-7', token: 't0ken' };
const f = cfg.features;
const op = { id: 0, key: '' };
function charge(i) {
  if (i % 3 === 0) return { feature: f.deduct, amount: api.price(f.deduct, 1 + i) };
  if (i % 3 === 1) return { feature: f.aiSearch, amount: api.price(f.aiSearch, 1) };
  return { feature: f.aiRecommendations, amount: api.price(f.aiRecommendations, 1) };
}
let n = 0;
export default function () {
  CHARGES
  const ops = [];
  const reqs = [];
  for (let i = 0; i < charges.length; i++) {
    const c = charges[i];
    op.id = n++;
    op.key = 'key-' + op.id;
    GATHER
  }
  READ
}
`

// BenchmarkRaceBurstJS measures the JS of a race.js iteration around its
// requests (per op: one burst of five and a balance read's request): "push"
// as it was (arrays filled with Array.prototype.push, a request, a params
// and a headers object per balance read), "index" as race.js and
// lib/credit.js do it (arrays filled by index, the balance read's request
// written over in the object balanceReq keeps for readBalance).
func BenchmarkRaceBurstJS(b *testing.B) {
	for _, bc := range []struct{ name, charges, gather, read string }{
		{"push", `const charges = []; while (charges.length < 5) charges.push(charge(charges.length));`,
			`ops.push(op); reqs.push(api.burstReq(i, acct, c.feature, c.amount, op.id, op.key));`,
			`api.balanceReq(acct);`},
		{"index", `const charges = []; let j = 0; while (j < 5) { charges[j] = charge(j); j++; }`,
			`ops[i] = op; reqs[i] = api.burstReq(i, acct, c.feature, c.amount, op.id, op.key);`,
			`api.balanceReq(acct, false, true);`},
	} {
		src := strings.NewReplacer("CHARGES", bc.charges, "GATHER", bc.gather, "READ", bc.read).Replace(raceBurstScript)
		b.Run(bc.name, func(b *testing.B) { benchChargeReqs(b, src) })
	}
}
