package timeseries

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/tallyhq/tally/metrics"
)

type fixture struct {
	reg *metrics.Registry
	b   *metrics.Builtin
	ops *metrics.Metric
	t0  time.Time
}

func newFixture() *fixture {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	return &fixture{reg: reg, b: b, ops: reg.MustNew("ledger_ops", metrics.Counter),
		t0: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// request returns the samples of one HTTP request at offset d.
func (f *fixture) request(d time.Duration, name string, ms float64, failed bool) metrics.Samples {
	tags := metrics.NewTagSet(map[string]string{"name": name})
	fv := 0.0
	if failed {
		fv = 1
	}
	t := f.t0.Add(d)
	return metrics.Samples{
		{Metric: f.b.HTTPReqs, Time: t, Value: 1, Tags: tags},
		{Metric: f.b.HTTPReqDuration, Time: t, Value: ms, Tags: tags},
		{Metric: f.b.HTTPReqFailed, Time: t, Value: fv, Tags: tags},
		{Metric: f.b.HTTPReqWaiting, Time: t, Value: ms, Tags: tags}, // not shown
	}
}

func TestSeriesPerInterval(t *testing.T) {
	f := newFixture()
	a := New(Config{})
	a.Add(metrics.Samples{{Metric: f.b.VUs, Time: f.t0, Value: 3}})
	for i := 0; i < 10; i++ { // 10 requests in second 0, 1..10 ms, two failed
		a.Add(f.request(time.Duration(i)*50*time.Millisecond, "a", float64(i+1), i < 2))
	}
	for i := 0; i < 4; i++ { // second 2: 4 requests of 100 ms
		a.Add(f.request(2*time.Second+time.Duration(i)*100*time.Millisecond, "b", 100, false))
	}
	a.Add(metrics.Samples{
		{Metric: f.b.Iterations, Time: f.t0.Add(2500 * time.Millisecond), Value: 1},
		{Metric: f.b.Checks, Time: f.t0.Add(2500 * time.Millisecond), Value: 1},
		{Metric: f.b.Checks, Time: f.t0.Add(2600 * time.Millisecond), Value: 0},
		{Metric: f.b.VUs, Time: f.t0.Add(2999 * time.Millisecond), Value: 5},
	})
	s := a.Snapshot()
	if len(s.Time) != 3 || s.Width != 1 {
		t.Fatalf("got %d intervals of %gs, want 3 of 1s", len(s.Time), s.Width)
	}
	tests := []struct {
		series string
		i      int
		want   float64 // NaN: null
	}{
		{"vus", 0, 3},
		{"vus", 1, math.NaN()},
		{"vus", 2, 5},
		{"http_reqs", 0, 10},
		{"http_reqs", 2, 4},
		{"http_req_failed", 0, 0.2},
		{"http_req_failed", 2, 0},
		{"p50", 0, 5.5},
		{"p99", 2, 100},
		{"iterations", 2, 1},
		{"checks", 2, 0.5},
		{"checks_failed", 2, 1},
		{"p95", 1, math.NaN()},
	}
	for _, tt := range tests {
		got := float64(s.Series[tt.series][tt.i])
		if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-9) {
			t.Errorf("%s[%d] = %v, want %v", tt.series, tt.i, got, tt.want)
		}
	}
	if len(s.Endpoints) != 2 || s.Endpoints[0].Name != "a" || s.Endpoints[0].Requests != 10 || float64(s.Endpoints[0].Failed) != 0.2 {
		t.Fatalf("endpoints = %+v", s.Endpoints)
	}
	if got := float64(s.Endpoints[1].P95[2]); got != 100 {
		t.Errorf("endpoint b p95 in second 2 = %v, want 100", got)
	}
	if s.Totals.Requests != 14 || s.Totals.ChecksPassed != 1 || s.Totals.ChecksFailed != 1 || float64(s.Totals.VUs) != 5 {
		t.Errorf("totals = %+v", s.Totals)
	}
	if s.Ledger {
		t.Error("ledger reported without ledger samples")
	}
	// JSON: nulls for missing data, no NaN.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("snapshot JSON does not parse: %v", err)
	}
}

func TestDownsamplingKeepsTotalsAndBoundsSize(t *testing.T) {
	tests := []struct {
		name     string
		duration time.Duration
		maxLen   int
		width    float64
	}{
		{"60s", time.Minute, 60, 1},
		{"10m", 10 * time.Minute, 240, 4},
		{"60m", time.Hour, 240, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			a := New(Config{})
			var n int
			for d := time.Duration(0); d < tt.duration; d += 250 * time.Millisecond {
				a.Add(f.request(d, "x", float64(1+n%40), n%4 == 0))
				n++
			}
			s := a.Snapshot()
			if len(s.Time) > tt.maxLen || s.Width != tt.width {
				t.Fatalf("%d intervals of %gs, want at most %d of %gs", len(s.Time), s.Width, tt.maxLen, tt.width)
			}
			if s.Totals.Requests != float64(n) {
				t.Fatalf("total requests %v, want %d", s.Totals.Requests, n)
			}
			var sum float64
			for i, v := range s.Series["http_reqs"] {
				sp := s.Width
				if i == len(s.Time)-1 {
					sp = s.Totals.Elapsed - s.Time[i]
				}
				sum += float64(v) * sp
				if i < len(s.Time)-1 && math.Abs(float64(v)-4) > 1e-9 {
					t.Fatalf("http_reqs[%d] = %v/s, want 4/s", i, v)
				}
				if r := float64(s.Series["http_req_failed"][i]); math.Abs(r-0.25) > 1e-9 {
					t.Fatalf("http_req_failed[%d] = %v, want 0.25", i, r)
				}
			}
			if math.Abs(sum-float64(n)) > 4 {
				t.Errorf("requests summed over intervals = %v, want %d", sum, n)
			}
			if p := float64(s.Totals.P50); math.Abs(p-20.5) > 0.5 {
				t.Errorf("run p50 = %v, want about 20.5", p)
			}
			b, _ := json.Marshal(s)
			if len(b) > 64<<10 {
				t.Errorf("snapshot is %d bytes", len(b))
			}
		})
	}
}

func TestEndpointsAreCapped(t *testing.T) {
	f := newFixture()
	a := New(Config{MaxEndpoints: 3})
	for i, name := range []string{"a", "b", "c", "d", "e", "a"} {
		a.Add(f.request(time.Duration(i)*time.Millisecond, name, 1, false))
	}
	s := a.Snapshot()
	got := map[string]int64{}
	for _, e := range s.Endpoints {
		got[e.Name] = e.Requests
	}
	want := map[string]int64{"a": 2, "b": 1, "c": 1, OtherEndpoint: 2}
	if len(got) != len(want) {
		t.Fatalf("endpoints %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("endpoint %q: %d requests, want %d", k, got[k], v)
		}
	}
}

func TestLedgerSeries(t *testing.T) {
	f := newFixture()
	viol := f.reg.MustNew("ledger_online_violations", metrics.Counter)
	verified := f.reg.MustNew("ledger_accounts_verified", metrics.Rate)
	a := New(Config{})
	op := func(kind, outcome string) metrics.Sample {
		return metrics.Sample{Metric: f.ops, Time: f.t0, Value: 1,
			Tags: metrics.NewTagSet(map[string]string{"kind": kind, "outcome": outcome})}
	}
	a.Add(metrics.Samples{op("deduct", "ok"), op("deduct", "ok"), op("deduct", "insufficient"),
		op("deduct", "unknown"), op("read", "ok"), {Metric: viol, Time: f.t0, Value: 1},
		{Metric: verified, Time: f.t0, Value: 1}, {Metric: verified, Time: f.t0, Value: 0}})
	s := a.Snapshot()
	if !s.Ledger {
		t.Fatal("ledger not reported")
	}
	tot := s.Totals
	if tot.LedgerOK != 2 || tot.LedgerInsufficient != 1 || tot.LedgerUnknown != 1 || tot.LedgerViolations != 1 ||
		tot.LedgerAccounts != 2 || float64(tot.LedgerVerified) != 0.5 {
		t.Errorf("ledger totals = %+v", tot)
	}
	if v := s.Series["ledger_ok"][0]; v != 2 {
		t.Errorf("ledger_ok[0] = %v, want 2/s", v)
	}
}

func TestValueJSON(t *testing.T) {
	for _, tt := range []struct {
		v    Value
		want string
	}{{Null, "null"}, {Value(math.Inf(1)), "null"}, {1.23456789, "1.2346"}, {100, "100"}, {0, "0"}} {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", float64(tt.v), b, err, tt.want)
		}
	}
}

// BenchmarkAdd measures the per-sample cost on the output goroutine: one
// HTTP request's samples (11 metrics, 3 of them shown).
func BenchmarkAdd(b *testing.B) {
	f := newFixture()
	a := New(Config{})
	tags := metrics.NewTagSet(map[string]string{"name": "http://127.0.0.1/x", "method": "GET", "status": "200"})
	batch := metrics.Samples{}
	for _, m := range []*metrics.Metric{f.b.HTTPReqs, f.b.HTTPReqDuration, f.b.HTTPReqBlocked, f.b.HTTPReqConnecting,
		f.b.HTTPReqTLSHandshaking, f.b.HTTPReqSending, f.b.HTTPReqWaiting, f.b.HTTPReqReceiving, f.b.HTTPReqFailed,
		f.b.DataSent, f.b.DataReceived} {
		batch = append(batch, metrics.Sample{Metric: m, Value: 12.5, Tags: tags})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t := f.t0.Add(time.Duration(i) * 100 * time.Microsecond)
		for j := range batch {
			batch[j].Time = t
		}
		a.Add(batch)
	}
}
