package metricsengine_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/runstate"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
)

// The metrics of the conformance cases, fed with the samples the runtime
// produces for each script, must give the handleSummary data the reference
// produced. The expectation files in testdata/conformance are copies of
// the corpus's (../shared/conformance/cases); the check below applies the
// corpus checker's rules to the JSON of the summary data: numbers equal
// within 1e-9, {"min","max"} ranges, null = absent, thresholds by ok flag.
func TestConformanceMetrics(t *testing.T) {
	tests := []struct {
		file       string
		thresholds map[string]any
		custom     func(*metrics.Registry)
		feed       func(r *run)
		elapsed    time.Duration
		trendStats []string
		failed     bool
	}{
		{
			file:       "06-custom-metrics",
			trendStats: []string{"count", "avg", "min", "med", "max", "p(90)", "p(95)"},
			custom: func(reg *metrics.Registry) {
				reg.MustNew("c_total", metrics.Counter)
				reg.MustNew("g_last", metrics.Gauge)
				reg.MustNew("r_ratio", metrics.Rate)
				reg.MustNew("t_values", metrics.Trend)
				reg.MustNew("t_millis", metrics.Trend, metrics.Time)
			},
			feed: func(r *run) {
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
				r.iterations(1, "default")
			},
		},
		{
			file: "07-thresholds-pass",
			thresholds: map[string]any{
				"iterations":        []string{"count==3", "count===3", "count!=4"},
				"checks":            []string{"rate==1"},
				"http_req_failed":   []string{"rate<0.01"},
				"http_req_duration": []string{"p(95)<10000", "max<20000", "avg<10000", "med<10000", "min>=0"},
				"items":             []string{"count>=6", "count<=6"},
				"level":             []string{"value==7"},
				"sizes":             []string{"avg==20", "min==10", "max==30", "p(50)==20", "med == 20"},
			},
			custom: func(reg *metrics.Registry) {
				reg.MustNew("items", metrics.Counter)
				reg.MustNew("level", metrics.Gauge)
				reg.MustNew("sizes", metrics.Trend)
			},
			feed: func(r *run) {
				for i := 0; i < 3; i++ {
					r.request("default", 200, true, nil)
					r.add("checks", 1, map[string]string{"check": "status is 200", "group": "", "scenario": "default"})
					r.add("items", 2, nil)
					r.add("level", 7, nil)
					r.add("sizes", 10*float64(i+1), nil)
				}
				r.iterations(3, "default")
			},
		},
		{
			file: "08-thresholds-fail",
			thresholds: map[string]any{
				"latency_ms": []string{"p(99.9) < 1000", "avg > 100", "max<=400"},
				"good_ratio": []string{"rate>0.9", "rate>=0.5"},
				"iterations": []string{"count == 4"},
			},
			custom: func(reg *metrics.Registry) {
				reg.MustNew("latency_ms", metrics.Trend)
				reg.MustNew("good_ratio", metrics.Rate)
			},
			feed: func(r *run) {
				for i := 0; i < 4; i++ {
					r.add("latency_ms", 100*float64(i+1), nil)
					r.add("good_ratio", float64(1-i%2), nil)
				}
				r.iterations(4, "default")
			},
			failed: true,
		},
		{
			file: "09-submetric-thresholds",
			thresholds: map[string]any{
				"http_req_duration{scenario:race,status:200}": []string{"max<10000"},
				"http_reqs{scenario:race,status:200}":         []string{"count==3"},
				"http_reqs{status:404}":                       []string{"count==2"},
				"http_req_failed{scenario:race}":              []string{"rate==0.4"},
				"http_reqs{kind:probe}":                       []string{"count==1"},
				"http_reqs{status:500}":                       []string{"count==0"},
			},
			feed: func(r *run) {
				for i := 0; i < 3; i++ {
					r.request("race", 200, true, nil)
				}
				r.request("race", 404, false, nil)
				r.request("race", 404, false, map[string]string{"kind": "probe"})
				r.iterations(1, "race")
			},
		},
		{
			file: "11-custom-counter-threshold",
			thresholds: map[string]any{
				"failed_logins": []string{"count<1"},
				"logins":        []string{"count==3", "rate>0"},
			},
			custom: func(reg *metrics.Registry) {
				reg.MustNew("failed_logins", metrics.Counter)
				reg.MustNew("logins", metrics.Counter)
			},
			feed: func(r *run) {
				for i := 0; i < 3; i++ {
					r.add("logins", 1, nil)
					if i > 0 {
						r.add("failed_logins", 1, nil)
					}
				}
				r.iterations(3, "default")
			},
			failed: true,
		},
		{
			file: "16-http-failed-status",
			thresholds: map[string]any{
				"http_req_failed{phase:default}":     []string{"rate>=0"},
				"http_req_failed{phase:custom}":      []string{"rate>=0"},
				"http_req_failed{phase:none}":        []string{"rate>=0"},
				"http_reqs{phase:none}":              []string{"count>=0"},
				"http_reqs{expected_response:false}": []string{"count>=0"},
			},
			feed: func(r *run) {
				def := map[string]string{"phase": "default"}
				for _, st := range []int{200, 204, 301, 399} {
					r.request("default", st, true, def)
				}
				for _, st := range []int{400, 404, 500, 0} { // 0: connection refused
					r.request("default", st, false, def)
				}
				custom := map[string]string{"phase": "custom"}
				r.request("default", 404, true, custom)
				r.request("default", 503, true, custom)
				r.request("default", 200, false, custom)
				none := map[string]string{"phase": "none"}
				r.requestNoCallback("default", 500, none)
				r.requestNoCallback("default", 200, none)
				for _, c := range []string{"404 carries error_code 1404", "refused connection has status 0",
					"refused connection has error_code 1212", "refused connection has an error text"} {
					r.add("checks", 1, map[string]string{"check": c, "group": "", "scenario": "default"})
				}
				r.iterations(1, "default")
			},
		},
		{
			file:       "17-groups",
			trendStats: []string{"count", "avg", "max"},
			thresholds: map[string]any{
				"group_duration{group:::outer}":        []string{"max>=0"},
				"group_duration{group:::outer::inner}": []string{"max>=0"},
			},
			feed: func(r *run) {
				for i := 0; i < 2; i++ {
					r.add("checks", 1, map[string]string{"check": "in outer", "group": "::outer"})
					r.add("checks", 1, map[string]string{"check": "in inner", "group": "::outer::inner"})
					r.add("checks", 0, map[string]string{"check": "inner failing", "group": "::outer::inner"})
					r.add("group_duration", 0.2, map[string]string{"group": "::outer::inner"})
					r.add("group_duration", 0.5, map[string]string{"group": "::outer"})
					r.add("checks", 1, map[string]string{"check": "group returns the callback result", "group": ""})
					r.add("group_duration", 0.01, map[string]string{"group": "::empty"})
				}
				r.iterations(2, "default")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "conformance", tc.file+".expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want struct {
				ExitCode int                        `json:"exit_code"`
				Metrics  map[string]json.RawMessage `json:"metrics"`
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			r := newRun(t, tc.thresholds, tc.custom)
			tc.feed(r)
			elapsed := tc.elapsed
			if elapsed == 0 {
				elapsed = 1200 * time.Millisecond
			}
			stats := tc.trendStats
			if stats == nil {
				stats = []string{"avg", "min", "med", "max", "p(90)", "p(95)"}
			}
			metricsData, failed := r.finish(elapsed, stats)
			if failed != tc.failed {
				t.Errorf("EvaluateThresholds() = %v, want %v", failed, tc.failed)
			}
			if (want.ExitCode == 99) != failed {
				t.Errorf("expected exit code %d, thresholds failed = %v", want.ExitCode, failed)
			}
			// the JSON handleSummary receives
			b, err := json.Marshal(summary.Data{Metrics: runstate.SummaryMetrics(metricsData)})
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Metrics map[string]map[string]any `json:"metrics"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			for name, exp := range want.Metrics {
				checkMetric(t, name, got.Metrics[name], exp)
			}
		})
	}
}

// checkMetric applies the conformance checker's rules to one metric.
func checkMetric(t *testing.T, name string, got map[string]any, exp json.RawMessage) {
	t.Helper()
	if string(exp) == "null" {
		if got != nil {
			t.Errorf("%s: present, want absent", name)
		}
		return
	}
	if got == nil {
		t.Errorf("%s: absent", name)
		return
	}
	var fields map[string]any
	if err := json.Unmarshal(exp, &fields); err != nil {
		t.Fatal(err)
	}
	values, _ := got["values"].(map[string]any)
	for k, w := range fields {
		switch k {
		case "type", "contains":
			if got[k] != w {
				t.Errorf("%s.%s = %v, want %v", name, k, got[k], w)
			}
		case "thresholds":
			th, _ := got["thresholds"].(map[string]any)
			for expr, ok := range w.(map[string]any) {
				res, _ := th[expr].(map[string]any)
				if res == nil || res["ok"] != ok {
					t.Errorf("%s threshold %q = %v, want ok=%v", name, expr, th[expr], ok)
				}
			}
		default:
			v, found := values[k].(float64)
			if !found {
				t.Errorf("%s.%s missing from values %v", name, k, values)
				continue
			}
			if msg := matchNumber(v, w); msg != "" {
				t.Errorf("%s.%s %s", name, k, msg)
			}
		}
	}
}

func matchNumber(got float64, want any) string {
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	switch w := want.(type) {
	case float64:
		if !close(got, w) {
			return fmt.Sprintf("= %v, want %v", got, w)
		}
	case map[string]any:
		var parts []string
		if lo, ok := w["min"].(float64); ok && got < lo && !close(got, lo) {
			parts = append(parts, fmt.Sprintf("= %v, want >= %v", got, lo))
		}
		if hi, ok := w["max"].(float64); ok && got > hi && !close(got, hi) {
			parts = append(parts, fmt.Sprintf("= %v, want <= %v", got, hi))
		}
		return strings.Join(parts, "; ")
	default:
		return fmt.Sprintf("unsupported matcher %v", want)
	}
	return ""
}

// request adds the samples of one HTTP round trip the way k6/http tags
// them: expected tells the response callback's verdict.
func (r *run) request(scenario string, status int, expected bool, extra map[string]string) {
	r.t.Helper()
	tags := r.httpTags(scenario, status, extra)
	tags["expected_response"] = fmt.Sprint(expected)
	r.httpSamples(tags)
	failed := 1.0
	if expected {
		failed = 0
	}
	r.add("http_req_failed", failed, tags)
}

// requestNoCallback is a round trip with the response callback disabled:
// no expected_response tag, no http_req_failed sample.
func (r *run) requestNoCallback(scenario string, status int, extra map[string]string) {
	r.t.Helper()
	r.httpSamples(r.httpTags(scenario, status, extra))
}

func (r *run) httpTags(scenario string, status int, extra map[string]string) map[string]string {
	tags := map[string]string{"scenario": scenario, "status": fmt.Sprint(status), "method": "GET",
		"url": "http://127.0.0.1:18080/x", "name": "http://127.0.0.1:18080/x", "proto": "HTTP/1.1", "group": ""}
	if status >= 400 || status == 0 {
		tags["error_code"] = fmt.Sprint(1000 + status)
	}
	for k, v := range extra {
		tags[k] = v
	}
	return tags
}

func (r *run) httpSamples(tags map[string]string) {
	r.add("http_reqs", 1, tags)
	for i, name := range []string{"http_req_duration", "http_req_blocked", "http_req_connecting",
		"http_req_tls_handshaking", "http_req_sending", "http_req_waiting", "http_req_receiving"} {
		r.add(name, 0.25*float64(i+1), tags)
	}
}

// iterations adds n completed iterations of scenario.
func (r *run) iterations(n int, scenario string) {
	tags := map[string]string{"scenario": scenario, "group": ""}
	for i := 0; i < n; i++ {
		r.add("iterations", 1, tags)
		r.add("iteration_duration", 1.5, tags)
		r.add("data_sent", 120, tags)
		r.add("data_received", 560, tags)
	}
}
