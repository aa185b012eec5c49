package metricsengine_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/output"
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

func (r *run) finish(elapsed time.Duration, stats []string) (map[string]*metricsengine.MetricData, bool) {
	r.clock.Advance(elapsed)
	if err := r.eng.Stop(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	failed := r.eng.EvaluateThresholds()
	return r.eng.SummaryMetrics(elapsed, stats), failed
}

// expect checks values and threshold results the way the conformance
// checker does: numbers equal within 1e-9.
func expect(t *testing.T, got map[string]*metricsengine.MetricData, want map[string]map[string]any) {
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

func keys(m map[string]*metricsengine.MetricData) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

var allStats = []string{"count", "avg", "min", "med", "max", "p(90)", "p(95)"}

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

// A threshold on the always-registered sub-metric shares it; another
// spelling of the same selector is its own entry with the same data.
func TestThresholdOnExpectedResponseSubmetric(t *testing.T) {
	r := newRun(t, map[string]any{
		"http_req_duration{expected_response:true}":    []string{"max<100"},
		"http_req_duration{ expected_response: true }": []string{"avg<100"},
		"http_req_duration{expected_response:'false'}": []string{"max<100"},
	}, nil)
	r.add("http_req_duration", 20, map[string]string{"expected_response": "true"})
	r.add("http_req_duration", 500, map[string]string{"expected_response": "false"})
	got, failed := r.finish(time.Second, []string{"max", "avg"})
	if !failed {
		t.Error("EvaluateThresholds() = false, want the false sub-metric to fail")
	}
	expect(t, got, map[string]map[string]any{
		"http_req_duration{expected_response:true}":    {"max": 20, "thresholds": map[string]bool{"max<100": true}},
		"http_req_duration{ expected_response: true }": {"avg": 20, "thresholds": map[string]bool{"avg<100": true}},
		"http_req_duration{expected_response:'false'}": {"max": 500, "thresholds": map[string]bool{"max<100": false}},
		"http_req_duration":                            {"max": 500},
	})
	if n := len(r.eng.Describe(r.b.HTTPReqDuration).Submetrics); n != 3 {
		t.Errorf("%d sub-metrics, want 3", n)
	}
}

func TestNewOutputStartError(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	good := &countingOutput{}
	bad, err := output.New("json="+filepath.Join(t.TempDir(), "no", "such", "dir", "x.json"), output.Params{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = metricsengine.New(metricsengine.Config{Registry: reg, Outputs: []metricsengine.Output{good, bad}})
	if err == nil || exitcode.Of(err) != exitcode.Other || !strings.Contains(err.Error(), "x.json") {
		t.Fatalf("New() error = %v (code %d), want one naming the file with code 255", err, exitcode.Of(err))
	}
}

func TestThresholdStatuses(t *testing.T) {
	r := newRun(t, map[string]any{
		"http_reqs":              []string{"count>1"},
		"http_req_duration{a:b}": []string{"max<10", "avg<5"},
	}, nil)
	st := r.eng.ThresholdStatuses()
	if len(st) != 3 {
		t.Fatalf("got %d statuses, want 3: %+v", len(st), st)
	}
	for _, s := range st {
		if s.Evaluated || !s.OK {
			t.Errorf("before any evaluation: %+v, want not evaluated and ok", s)
		}
	}
	r.add("http_reqs", 1, nil)
	r.add("http_req_duration", 20, map[string]string{"a": "b"})
	r.finish(time.Second, nil)
	byKey := map[string]metricsengine.ThresholdStatus{}
	for _, s := range r.eng.ThresholdStatuses() {
		byKey[s.Metric+" "+s.Source] = s
	}
	for key, want := range map[string]bool{"http_reqs count>1": false, "http_req_duration{a:b} max<10": false,
		"http_req_duration{a:b} avg<5": false} {
		s, ok := byKey[key]
		if !ok || !s.Evaluated || s.OK != want {
			t.Errorf("%s: %+v (found %v), want evaluated, ok=%v", key, s, ok, want)
		}
	}
	if v := byKey["http_req_duration{a:b} max<10"].Value; v != 20 {
		t.Errorf("max value = %v, want 20", v)
	}
}
