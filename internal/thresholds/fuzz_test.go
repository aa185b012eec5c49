package thresholds

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/metrics"
)

// FuzzParse feeds arbitrary keys and expressions through the whole
// pipeline: key parsing, expression parsing, resolution and evaluation must
// never panic, and what parses must round-trip its source. The seed corpus
// is below (failures the fuzzer finds land in testdata/fuzz/FuzzParse and
// then run with every go test); run it longer with
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./internal/thresholds/
func FuzzParse(f *testing.F) {
	seeds := []struct{ key, expr string }{
		{"http_req_duration", "p(95)<500"},
		{"http_req_duration{scenario:race,expected_response:true}", "p(99.9) < 1000"},
		{"group_duration{group:::login}", "max>=0"},
		{"http_reqs", "count >>> 3"},
		{"http_reqs", "count===3"},
		{"checks", "rate!=1"},
		{"level", "value<=-1e308"},
		{"http_reqs{status:200", "count<1"},
		{"http_reqs{}", "count<1"},
		{"{:}", "p(<)"},
		{"http_reqs{'a':\"b\"}", "p( 100 )>0x1p-2"},
		{"", ""},
		{"checks", "rate<NaN"},
		{"http_req_duration", "p(1e2)<Inf"},
	}
	for _, s := range seeds {
		f.Add(s.key, s.expr)
	}
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	reg.MustNew("level", metrics.Gauge)
	trend := &metrics.TrendSink{}
	for i := 0; i < 2000; i++ {
		trend.AddValue(float64(i % 97))
	}
	sinks := map[metrics.MetricType]metrics.Sink{
		metrics.Counter: &metrics.CounterSink{Sum: 3},
		metrics.Gauge:   &metrics.GaugeSink{Value: 1},
		metrics.Rate:    &metrics.RateSink{Trues: 1, Total: 2},
		metrics.Trend:   trend,
	}
	f.Fuzz(func(t *testing.T, key, expr string) {
		if e, err := ParseExpression(expr); err == nil {
			if e.Source != expr {
				t.Fatalf("Source %q != input %q", e.Source, expr)
			}
			if !strings.Contains(expr, e.Op.String()) {
				t.Fatalf("operator %q not in %q", e.Op, expr)
			}
			if e.AggName == "" {
				t.Fatalf("empty aggregation for %q", expr)
			}
		}
		if name, _, err := ParseKey(key); err == nil && name == "" {
			t.Fatalf("ParseKey(%q) returned an empty name", key)
		}
		list, err := json.Marshal([]string{expr})
		if err != nil {
			return
		}
		sets, _, err := Parse(map[string]json.RawMessage{key: list})
		if err != nil {
			return
		}
		if err := Resolve(sets, reg); err != nil {
			return
		}
		for _, s := range sets {
			for _, th := range s.Thresholds {
				for _, final := range []bool{false, true} {
					th.Evaluate(s.Metric.Type, sinks[s.Metric.Type], time.Second, final)
					th.Evaluate(s.Metric.Type, nil, 0, final)
				}
			}
		}
	})
}
