package metricsengine_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/metrics"
)

// stateSample is one sample of the synthetic run the state tests split.
type stateSample struct {
	metric string
	value  float64
	tags   map[string]string
}

func stateSamples(n int) []stateSample {
	rng := rand.New(rand.NewPCG(7, 11))
	out := make([]stateSample, 0, 4*n)
	for i := range n {
		name := []string{"deduct", "balance", "search"}[i%3]
		status := "200"
		if rng.IntN(50) == 0 {
			status = "500"
		}
		tags := map[string]string{"name": name, "status": status, "group": "::g" + name[:1], "scenario": "race"}
		if status == "200" {
			tags["expected_response"] = "true"
		} else {
			tags["expected_response"] = "false"
		}
		d := rng.ExpFloat64()*40 + rng.Float64()*5
		out = append(out,
			stateSample{metrics.HTTPReqDurationName, d, tags},
			stateSample{metrics.HTTPReqsName, 1, tags},
			stateSample{metrics.HTTPReqFailedName, map[bool]float64{true: 1, false: 0}[status != "200"], tags},
			stateSample{"credits", float64(rng.IntN(6)), tags},
		)
		if i%100 == 0 {
			out = append(out, stateSample{metrics.VUsName, 10, nil})
		}
	}
	return out
}

var stateThresholds = map[string]any{
	"http_req_duration":              []string{"p(95)<100", "p(99)<150", "med<30"},
	"http_req_duration{name:deduct}": []string{"p(95)<90"},
	"http_req_failed":                []string{"rate<0.01"},
	"credits":                        []string{"count>0"},
}

func newStateEngine(t *testing.T, reg *metrics.Registry) *metricsengine.Engine {
	t.Helper()
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, Thresholds: thresholdsJSON(t, stateThresholds), Breakdown: true})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// runStates pushes the samples into n engines (round-robin, as segments
// interleave) and returns their exported states, JSON-encoded and decoded.
func runStates(t *testing.T, samples []stateSample, n int) [][]metricsengine.MetricState {
	t.Helper()
	states := make([][]metricsengine.MetricState, n)
	for k := range n {
		reg := metrics.NewRegistry()
		metrics.RegisterBuiltin(reg)
		reg.MustNew("credits", metrics.Counter)
		eng := newStateEngine(t, reg)
		eng.Start(context.Background(), nil)
		for i := k; i < len(samples); i += n {
			s := samples[i]
			eng.Push(metrics.Samples{{Metric: reg.Get(s.metric), Value: s.value, Tags: metrics.NewTagSet(s.tags), Time: time.Unix(int64(i), 0)}})
		}
		_ = eng.Stop(context.Background())
		b, err := json.Marshal(eng.ExportState())
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &states[k]); err != nil {
			t.Fatal(err)
		}
	}
	return states
}

func mergeStates(t *testing.T, states [][]metricsengine.MetricState) *metricsengine.Engine {
	t.Helper()
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	if err := metricsengine.RegisterStateMetrics(reg, states); err != nil {
		t.Fatal(err)
	}
	eng := newStateEngine(t, reg)
	if err := eng.ImportStates(states, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	eng.EvaluateThresholds()
	return eng
}

// TestMergedStatesEqualUnsplit: merging the states of N instances gives
// what one state of all the samples gives (exactly for counts, rates and
// sums; trend quantiles within the sketch's accuracy of the exact ones).
func TestMergedStatesEqualUnsplit(t *testing.T) {
	samples := stateSamples(6000)
	stats := []string{"avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"}
	whole := mergeStates(t, runStates(t, samples, 1)).SummaryMetrics(10*time.Second, stats)
	var exact []float64
	var deduct []float64
	for _, s := range samples {
		if s.metric == metrics.HTTPReqDurationName {
			exact = append(exact, s.value)
			if s.tags["name"] == "deduct" {
				deduct = append(deduct, s.value)
			}
		}
	}
	sort.Float64s(exact)
	sort.Float64s(deduct)
	for _, n := range []int{2, 3, 7} {
		merged := mergeStates(t, runStates(t, samples, n)).SummaryMetrics(10*time.Second, stats)
		for name, w := range whole {
			if metricsengine.AdditiveGauges[name] {
				continue // each instance reports its own VUs: checked below
			}
			m, ok := merged[name]
			if !ok {
				t.Fatalf("n=%d: %s missing from the merged summary", n, name)
			}
			for k, v := range w.Values {
				got := m.Values[k]
				tol := 1e-9 * math.Max(1, math.Abs(v))
				if w.Type == "trend" && k != "count" && k != "min" && k != "max" && k != "avg" {
					tol = 2 * metrics.TrendRelativeAccuracy * math.Abs(v)
				}
				if math.Abs(got-v) > tol {
					t.Errorf("n=%d %s %s: merged %v, unsplit %v", n, name, k, got, v)
				}
			}
			for expr, r := range w.Thresholds {
				if m.Thresholds[expr].OK != r.OK {
					t.Errorf("n=%d %s %q: merged ok=%v, unsplit ok=%v", n, name, expr, m.Thresholds[expr].OK, r.OK)
				}
			}
		}
		for _, c := range []struct {
			key   string
			exact []float64
		}{{"http_req_duration", exact}, {"http_req_duration{name:deduct}", deduct}} {
			for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
				want := exactQuantile(c.exact, q)
				got := merged[c.key].Values[pName(q)]
				if math.Abs(got-want) > metrics.TrendRelativeAccuracy*want+1e-9 {
					t.Errorf("n=%d %s p(%v)=%v, exact %v: off by more than %.1f%%", n, c.key, q*100, got, want, metrics.TrendRelativeAccuracy*100)
				}
			}
		}
		if got, want := merged["http_reqs"].Values["count"], float64(len(exact)); got != want {
			t.Errorf("n=%d http_reqs %v, want %v", n, got, want)
		}
		if got := merged["vus"].Values["value"]; got != float64(10*n) {
			t.Errorf("n=%d vus %v, want %d (instances' VUs add up)", n, got, 10*n)
		}
	}
}

func pName(q float64) string {
	return map[float64]string{0.5: "med", 0.9: "p(90)", 0.95: "p(95)", 0.99: "p(99)"}[q]
}

// exactQuantile interpolates between the nearest ranks, as TrendSink does.
func exactQuantile(sorted []float64, q float64) float64 {
	idx := q * float64(len(sorted)-1)
	lo, hi := int(math.Floor(idx)), int(math.Ceil(idx))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(idx-float64(lo))
}

func TestImportStatesRejectsForeignSubmetric(t *testing.T) {
	states := runStates(t, stateSamples(50), 1)
	states[0] = append(states[0], metricsengine.MetricState{Name: "http_req_duration", Type: "trend", Contains: "time",
		Submetrics: map[string]*metricsengine.SinkState{"http_req_duration{name:other}": {Trend: &metrics.TrendSink{}}}})
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	if err := metricsengine.RegisterStateMetrics(reg, states); err != nil {
		t.Fatal(err)
	}
	if err := newStateEngine(t, reg).ImportStates(states, time.Second); err == nil {
		t.Fatal("a sub-metric of other thresholds was imported")
	}
	bad := [][]metricsengine.MetricState{{{Name: "credits", Type: "trend", Contains: "default"}}}
	reg = metrics.NewRegistry()
	reg.MustNew("credits", metrics.Counter)
	if err := metricsengine.RegisterStateMetrics(reg, bad); err == nil {
		t.Fatal("a metric of another type was accepted")
	}
}
