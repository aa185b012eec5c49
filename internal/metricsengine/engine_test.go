package metricsengine_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
)

// fakeClock is an injectable clock advanced by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func thresholdsJSON(t *testing.T, m map[string]any) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

type run struct {
	t     *testing.T
	reg   *metrics.Registry
	b     *metrics.Builtin
	eng   *metricsengine.Engine
	clock *fakeClock
}

func newRun(t *testing.T, th map[string]any, custom func(r *metrics.Registry)) *run {
	t.Helper()
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	if custom != nil {
		custom(reg)
	}
	clock := newClock()
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, Thresholds: thresholdsJSON(t, th), Now: clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	eng.Start(context.Background(), nil)
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	return &run{t: t, reg: reg, b: b, eng: eng, clock: clock}
}

func (r *run) add(name string, v float64, tags map[string]string) {
	r.t.Helper()
	m := r.reg.Get(name)
	if m == nil {
		r.t.Fatalf("no metric %q", name)
	}
	r.eng.Push(metrics.Samples{{Metric: m, Time: r.clock.Now(), Value: v, Tags: metrics.NewTagSet(tags)}})
}

func (r *run) finish(elapsed time.Duration, stats []string) (map[string]*summary.MetricData, bool) {
	r.clock.Advance(elapsed)
	if err := r.eng.Stop(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	failed := r.eng.EvaluateThresholds()
	return r.eng.SummaryMetrics(elapsed, stats), failed
}

// expect checks values and threshold results the way the conformance
// checker does: numbers equal within 1e-9.
func expect(t *testing.T, got map[string]*summary.MetricData, want map[string]map[string]any) {
	t.Helper()
	for name, fields := range want {
		d, ok := got[name]
		if fields == nil {
			if ok {
				t.Errorf("%s: present, want absent", name)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: absent; have %v", name, keys(got))
			continue
		}
		for k, w := range fields {
			switch k {
			case "type":
				if d.Type != w {
					t.Errorf("%s.type = %s, want %s", name, d.Type, w)
				}
			case "contains":
				if d.Contains != w {
					t.Errorf("%s.contains = %s, want %s", name, d.Contains, w)
				}
			case "thresholds":
				for expr, ok := range w.(map[string]bool) {
					r, found := d.Thresholds[expr]
					if !found || r.OK != ok {
						t.Errorf("%s threshold %q = %+v (found %v), want ok=%v", name, expr, r, found, ok)
					}
				}
			default:
				v, found := d.Values[k]
				wf := toFloat(w)
				if !found || math.Abs(v-wf) > 1e-9*math.Max(1, math.Abs(wf)) {
					t.Errorf("%s.%s = %v (found %v), want %v", name, k, v, found, wf)
				}
			}
		}
	}
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	panic("bad number")
}

func keys(m map[string]*summary.MetricData) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

var allStats = []string{"count", "avg", "min", "med", "max", "p(90)", "p(95)"}

// Conformance case 06: aggregation of each metric type with known inputs.
func TestCase06CustomMetrics(t *testing.T) {
	r := newRun(t, nil, func(reg *metrics.Registry) {
		reg.MustNew("c_total", metrics.Counter)
		reg.MustNew("g_last", metrics.Gauge)
		reg.MustNew("r_ratio", metrics.Rate)
		reg.MustNew("t_values", metrics.Trend)
		reg.MustNew("t_millis", metrics.Trend, metrics.Time)
	})
	for _, v := range []float64{1, 2.5, 1, 0} {
		r.add("c_total", v, nil)
	}
	for _, v := range []float64{7, 3, 9, 4} {
		r.add("g_last", v, nil)
	}
	for _, v := range []float64{1, 0, 1, 0, 5} {
		r.add("r_ratio", v, nil)
	}
	for i := 1; i <= 10; i++ {
		r.add("t_values", float64(i), nil)
	}
	r.add("t_millis", 250, nil)
	r.add("t_millis", 750, nil)
	got, failed := r.finish(time.Second, allStats)
	if failed {
		t.Error("no thresholds, but failed")
	}
	expect(t, got, map[string]map[string]any{
		"c_total":  {"type": "counter", "contains": "default", "count": 4.5},
		"g_last":   {"type": "gauge", "value": 4, "min": 3, "max": 9},
		"r_ratio":  {"type": "rate", "passes": 3, "fails": 2, "rate": 0.6},
		"t_values": {"type": "trend", "contains": "default", "count": 10, "avg": 5.5, "min": 1, "med": 5.5, "max": 10, "p(90)": 9.1, "p(95)": 9.55},
		"t_millis": {"type": "trend", "contains": "time", "count": 2, "avg": 500, "min": 250, "max": 750, "med": 500},
		// registered but never sampled: absent
		"http_reqs": nil,
		"vus":       nil,
	})
}

// Conformance case 07: every aggregation and operator passing.
func TestCase07ThresholdsPass(t *testing.T) {
	r := newRun(t, map[string]any{
		"iterations":        []string{"count==3", "count===3", "count!=4"},
		"checks":            []string{"rate==1"},
		"http_req_failed":   []string{"rate<0.01"},
		"http_req_duration": []string{"p(95)<10000", "max<20000", "avg<10000", "med<10000", "min>=0"},
		"items":             []string{"count>=6", "count<=6"},
		"level":             []string{"value==7"},
		"sizes":             []string{"avg==20", "min==10", "max==30", "p(50)==20", "med == 20"},
	}, func(reg *metrics.Registry) {
		reg.MustNew("items", metrics.Counter)
		reg.MustNew("level", metrics.Gauge)
		reg.MustNew("sizes", metrics.Trend)
	})
	for i := 0; i < 3; i++ {
		tags := map[string]string{"scenario": "default", "status": "200", "expected_response": "true"}
		r.add("http_reqs", 1, tags)
		r.add("http_req_duration", 3+float64(i), tags)
		r.add("http_req_failed", 0, tags)
		r.add("checks", 1, map[string]string{"check": "status is 200"})
		r.add("items", 2, nil)
		r.add("level", 7, nil)
		r.add("sizes", 10*float64(i+1), nil)
		r.add("iterations", 1, nil)
	}
	got, failed := r.finish(time.Second, nil)
	if failed {
		t.Error("failed, want all thresholds to pass")
	}
	expect(t, got, map[string]map[string]any{
		"iterations":        {"count": 3, "thresholds": map[string]bool{"count==3": true, "count===3": true, "count!=4": true}},
		"checks":            {"thresholds": map[string]bool{"rate==1": true}},
		"http_req_failed":   {"passes": 0, "fails": 3, "thresholds": map[string]bool{"rate<0.01": true}},
		"http_req_duration": {"thresholds": map[string]bool{"p(95)<10000": true, "max<20000": true, "avg<10000": true, "med<10000": true, "min>=0": true}},
		"items":             {"count": 6, "thresholds": map[string]bool{"count>=6": true, "count<=6": true}},
		"level":             {"value": 7, "thresholds": map[string]bool{"value==7": true}},
		"sizes":             {"thresholds": map[string]bool{"avg==20": true, "min==10": true, "max==30": true, "p(50)==20": true, "med == 20": true}},
		"http_req_duration{expected_response:true}": {"type": "trend"},
	})
}

// Conformance case 08: failing thresholds report ok=false; the run fails.
func TestCase08ThresholdsFail(t *testing.T) {
	r := newRun(t, map[string]any{
		"latency_ms": []string{"p(99.9) < 1000", "avg > 100", "max<=400"},
		"good_ratio": []string{"rate>0.9", "rate>=0.5"},
		"iterations": []string{"count == 4"},
	}, func(reg *metrics.Registry) {
		reg.MustNew("latency_ms", metrics.Trend)
		reg.MustNew("good_ratio", metrics.Rate)
	})
	for i := 0; i < 4; i++ {
		r.add("latency_ms", 100*float64(i+1), nil)
		r.add("good_ratio", float64(1-i%2), nil)
		r.add("iterations", 1, nil)
	}
	got, failed := r.finish(time.Second, []string{"avg", "max"})
	if !failed {
		t.Error("EvaluateThresholds() = false, want true")
	}
	expect(t, got, map[string]map[string]any{
		"latency_ms": {"avg": 250, "max": 400, "thresholds": map[string]bool{"p(99.9) < 1000": true, "avg > 100": true, "max<=400": true}},
		"good_ratio": {"passes": 2, "fails": 2, "rate": 0.5, "thresholds": map[string]bool{"rate>0.9": false, "rate>=0.5": true}},
		"iterations": {"count": 4, "thresholds": map[string]bool{"count == 4": true}},
	})
	if f := r.eng.FailedThresholds(); len(f) != 1 || f[0] != "good_ratio: rate>0.9" {
		t.Errorf("FailedThresholds() = %q", f)
	}
}

// Conformance case 09 and 16: sub-metric thresholds, empty sub-metrics shown
// with zeros, empty Rate sub-metric passes.
func TestCase09SubmetricThresholds(t *testing.T) {
	r := newRun(t, map[string]any{
		"http_req_duration{scenario:race,status:200}": []string{"max<10000"},
		"http_reqs{scenario:race,status:200}":         []string{"count==3"},
		"http_reqs{status:404}":                       []string{"count==2"},
		"http_req_failed{scenario:race}":              []string{"rate==0.4"},
		"http_reqs{kind:probe}":                       []string{"count==1"},
		"http_reqs{status:500}":                       []string{"count==0"},
		"http_req_failed{phase:none}":                 []string{"rate>=0.5"},
		"group_duration{group:::outer}":               []string{"max>=0"},
	}, nil)
	req := func(status string, extra map[string]string) {
		tags := map[string]string{"scenario": "race", "status": status, "method": "GET", "expected_response": "true"}
		if status != "200" {
			tags["expected_response"] = "false"
		}
		for k, v := range extra {
			tags[k] = v
		}
		r.add("http_reqs", 1, tags)
		r.add("http_req_duration", 1.5, tags)
		failed := 0.0
		if status != "200" {
			failed = 1
		}
		r.add("http_req_failed", failed, tags)
	}
	for i := 0; i < 3; i++ {
		req("200", nil)
	}
	req("404", nil)
	req("404", map[string]string{"kind": "probe"})
	r.add("group_duration", 12, map[string]string{"group": "::outer"})
	r.add("group_duration", 5, map[string]string{"group": "::outer::inner"})
	got, failed := r.finish(time.Second, []string{"count", "max"})
	if failed {
		t.Error("failed, want pass")
	}
	expect(t, got, map[string]map[string]any{
		"http_reqs":                                   {"count": 5},
		"http_reqs{scenario:race,status:200}":         {"count": 3, "thresholds": map[string]bool{"count==3": true}},
		"http_reqs{status:404}":                       {"count": 2, "thresholds": map[string]bool{"count==2": true}},
		"http_reqs{kind:probe}":                       {"count": 1, "thresholds": map[string]bool{"count==1": true}},
		"http_reqs{status:500}":                       {"count": 0, "thresholds": map[string]bool{"count==0": true}},
		"http_req_failed{scenario:race}":              {"passes": 2, "fails": 3, "rate": 0.4, "thresholds": map[string]bool{"rate==0.4": true}},
		"http_req_failed{phase:none}":                 {"passes": 0, "fails": 0, "rate": 0, "thresholds": map[string]bool{"rate>=0.5": true}},
		"http_req_duration{scenario:race,status:200}": {"type": "trend", "thresholds": map[string]bool{"max<10000": true}},
		"http_req_duration{expected_response:true}":   {"count": 3},
		"group_duration{group:::outer}":               {"count": 1, "max": 12},
	})
}

// Conformance case 11: counter count and rate aggregations.
func TestCase11CounterThresholds(t *testing.T) {
	r := newRun(t, map[string]any{
		"failed_logins": []string{"count<1"},
		"logins":        []string{"count==3", "rate>0"},
	}, func(reg *metrics.Registry) {
		reg.MustNew("failed_logins", metrics.Counter)
		reg.MustNew("logins", metrics.Counter)
	})
	for i := 0; i < 3; i++ {
		r.add("logins", 1, nil)
		if i > 0 {
			r.add("failed_logins", 1, nil)
		}
	}
	got, failed := r.finish(1500*time.Millisecond, nil)
	if !failed {
		t.Error("want failure")
	}
	expect(t, got, map[string]map[string]any{
		"failed_logins": {"count": 2, "thresholds": map[string]bool{"count<1": false}},
		"logins":        {"count": 3, "rate": 2, "thresholds": map[string]bool{"count==3": true, "rate>0": true}},
	})
}

// A threshold on an empty metric: the final pass uses zeros, so count<1
// passes and count>0 fails; the metric appears in the summary.
func TestFinalPassEmptyMetrics(t *testing.T) {
	r := newRun(t, map[string]any{
		"errors":      []string{"count<1"},
		"gone":        []string{"count>0"},
		"ratio":       []string{"rate>0.99"},
		"lat":         []string{"p(95)<1", "avg>0"},
		"temperature": []string{"value==0"},
	}, func(reg *metrics.Registry) {
		reg.MustNew("errors", metrics.Counter)
		reg.MustNew("gone", metrics.Counter)
		reg.MustNew("ratio", metrics.Rate)
		reg.MustNew("lat", metrics.Trend, metrics.Time)
		reg.MustNew("temperature", metrics.Gauge)
	})
	got, failed := r.finish(time.Second, nil)
	if !failed {
		t.Error("want failure (gone count>0, lat avg>0)")
	}
	expect(t, got, map[string]map[string]any{
		"errors":      {"count": 0, "rate": 0, "thresholds": map[string]bool{"count<1": true}},
		"gone":        {"thresholds": map[string]bool{"count>0": false}},
		"ratio":       {"rate": 0, "passes": 0, "fails": 0, "thresholds": map[string]bool{"rate>0.99": true}},
		"lat":         {"avg": 0, "p(95)": 0, "thresholds": map[string]bool{"p(95)<1": true, "avg>0": false}},
		"temperature": {"value": 0, "thresholds": map[string]bool{"value==0": true}},
	})
}

func TestNewRejectsBadThresholds(t *testing.T) {
	tests := []struct {
		name string
		th   map[string]any
		want []string // substrings of the error
	}{
		{"malformed expression (case 21)", map[string]any{"iterations": []string{"count >>> 3"}}, []string{"iterations", "count >>> 3"}},
		{"unknown metric (case 22)", map[string]any{"no_such_metric": []string{"count<3"}}, []string{"no_such_metric"}},
		{"unknown aggregation", map[string]any{"http_req_duration": []string{"p95<3"}}, []string{"http_req_duration", "p95"}},
		{"percentile on a counter", map[string]any{"http_reqs": []string{"p(95)<3"}}, []string{"http_reqs", "p(95)<3", "counter"}},
		{"count on a trend", map[string]any{"http_req_duration": []string{"count>3"}}, []string{"count>3", "trend"}},
		{"value on a rate", map[string]any{"checks": []string{"value>3"}}, []string{"value>3", "rate"}},
		{"malformed selector", map[string]any{"http_reqs{status200}": []string{"count>3"}}, []string{"http_reqs{status200}", "status200"}},
		{"unclosed selector", map[string]any{"http_reqs{status:200": []string{"count>3"}}, []string{"http_reqs{status:200"}},
		{"bad percentile", map[string]any{"http_req_duration": []string{"p(101)<3"}}, []string{"p(101)"}},
		{"not a list", map[string]any{"http_reqs": "count>3"}, []string{"http_reqs", "list"}},
		{"object without threshold", map[string]any{"http_reqs": []any{map[string]any{"abortOnFail": true}}}, []string{"http_reqs", "threshold"}},
		{"bad delayAbortEval", map[string]any{"http_reqs": []any{map[string]any{"threshold": "count>1", "delayAbortEval": "soon"}}}, []string{"delayAbortEval"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := metrics.NewRegistry()
			metrics.RegisterBuiltin(reg)
			_, err := metricsengine.New(metricsengine.Config{Registry: reg, Thresholds: thresholdsJSON(t, tc.th)})
			if err == nil {
				t.Fatal("New() succeeded, want an error")
			}
			if code := exitcode.Of(err); code != exitcode.InvalidConfig {
				t.Errorf("exit code %d, want %d", code, exitcode.InvalidConfig)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNoThresholdsSkipsParsing(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, NoThresholds: true,
		Thresholds: thresholdsJSON(t, map[string]any{"nope": []string{"garbage"}})})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer eng.Stop(context.Background())
	if eng.EvaluateThresholds() {
		t.Error("EvaluateThresholds() = true without thresholds")
	}
}

// abortOnFail aborts at a periodic evaluation once delayAbortEval elapsed,
// exactly once, with exit code 99; thresholds without samples are skipped.
func TestAbortOnFail(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	errs := reg.MustNew("errors", metrics.Counter)
	clock := newClock()
	eng, err := metricsengine.New(metricsengine.Config{
		Registry: reg, Now: clock.Now, EvaluationInterval: time.Millisecond,
		Thresholds: thresholdsJSON(t, map[string]any{
			"errors":    []any{map[string]any{"threshold": "count<3", "abortOnFail": true, "delayAbortEval": "10s"}},
			"http_reqs": []any{map[string]any{"threshold": "count>100", "abortOnFail": true}}, // no samples: skipped
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	aborts := make(chan error, 10)
	eng.Start(context.Background(), func(err error) { aborts <- err })
	defer eng.Stop(context.Background())
	for i := 0; i < 5; i++ {
		eng.Push(metrics.Samples{{Metric: errs, Time: clock.Now(), Value: 1}})
	}
	select {
	case err := <-aborts:
		t.Fatalf("aborted before delayAbortEval: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	clock.Advance(11 * time.Second)
	var got error
	select {
	case got = <-aborts:
	case <-time.After(5 * time.Second):
		t.Fatal("no abort after delayAbortEval")
	}
	if exitcode.Of(got) != exitcode.ThresholdsFailed {
		t.Errorf("abort error code %d, want 99", exitcode.Of(got))
	}
	if !strings.Contains(got.Error(), "count<3") || !strings.Contains(got.Error(), "errors") {
		t.Errorf("abort error %q does not name the threshold", got)
	}
	time.Sleep(20 * time.Millisecond)
	if len(aborts) != 0 {
		t.Errorf("abort called %d more times", len(aborts))
	}
	var ec *exitcode.Error
	if !errors.As(got, &ec) {
		t.Error("abort error is not an *exitcode.Error")
	}
}

// Periodic evaluation updates threshold results seen in the summary before
// the final pass.
func TestPeriodicEvaluation(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	m := reg.MustNew("errors", metrics.Counter)
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, EvaluationInterval: time.Millisecond,
		Thresholds: thresholdsJSON(t, map[string]any{"errors": []string{"count<1"}})})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(context.Background(), nil)
	defer eng.Stop(context.Background())
	eng.Push(metrics.Samples{{Metric: m, Value: 1}})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if len(eng.FailedThresholds()) == 1 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("periodic evaluation never marked count<1 as failed")
}

func TestSummaryBreakdown(t *testing.T) {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, Breakdown: true})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(context.Background(), nil)
	tags := func(group, scenario string) *metrics.TagSet {
		return metrics.NewTagSet(map[string]string{"group": group, "scenario": scenario})
	}
	eng.Push(metrics.Samples{
		{Metric: b.HTTPReqs, Value: 1, Tags: tags("::login", "race")},
		{Metric: b.HTTPReqs, Value: 1, Tags: tags("::login", "normal")},
		{Metric: b.HTTPReqDuration, Value: 10, Tags: tags("::login", "race")},
		{Metric: b.HTTPReqDuration, Value: 30, Tags: tags("::login::form", "race")},
		{Metric: b.VUs, Value: 3, Tags: nil},
	})
	if err := eng.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	bd := eng.SummaryBreakdown(time.Second, []string{"avg", "count"})
	if got := bd.Groups["::login"]["http_reqs"].Values["count"]; got != 2 {
		t.Errorf("::login http_reqs = %v, want 2", got)
	}
	if got := bd.Groups["::login"]["http_req_duration"].Values["avg"]; got != 10 {
		t.Errorf("::login http_req_duration avg = %v, want 10", got)
	}
	if got := bd.Groups["::login::form"]["http_req_duration"].Values["count"]; got != 1 {
		t.Errorf("::login::form count = %v, want 1", got)
	}
	if got := bd.Scenarios["race"]["http_req_duration"].Values["avg"]; got != 20 {
		t.Errorf("race avg = %v, want 20", got)
	}
	if _, ok := bd.Scenarios["normal"]["http_req_duration"]; ok {
		t.Error("normal scenario has http_req_duration")
	}
	if _, ok := bd.Groups[""]; ok {
		t.Error("untagged vus sample landed in a group")
	}

	plain, err := metricsengine.New(metricsengine.Config{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Stop(context.Background())
	if plain.SummaryBreakdown(time.Second, nil) != nil {
		t.Error("breakdown without Config.Breakdown")
	}
}
