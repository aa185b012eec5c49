package summary_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/summary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixture is a summary of a short HTTP test with checks, groups, custom
// metrics, sub-metrics and thresholds (one failing).
func fixture() *summary.Data {
	root := groups.NewRoot()
	login, _ := root.Group("login")
	inner, _ := login.Group("form")
	c1, _ := root.Check("status is 200")
	c1.Passes.Add(45)
	c2, _ := login.Check("token present")
	c2.Passes.Add(40)
	c2.Fails.Add(5)
	c3, _ := inner.Check("form ok")
	c3.Passes.Add(3)
	trend := func(contains string, avg, min, med, max, p90, p95 float64) *summary.MetricData {
		return &summary.MetricData{Type: "trend", Contains: contains, Values: map[string]float64{
			"avg": avg, "min": min, "med": med, "max": max, "p(90)": p90, "p(95)": p95}}
	}
	d := &summary.Data{
		RootGroup: root.Data(),
		Options:   summary.Options{SummaryTrendStats: []string{"avg", "min", "med", "max", "p(90)", "p(95)"}},
		State:     summary.State{TestRunDurationMs: 6858.6},
		Metrics: map[string]*summary.MetricData{
			"checks":            {Type: "rate", Contains: "default", Values: map[string]float64{"rate": 88.0 / 93, "passes": 88, "fails": 5}},
			"http_req_duration": trend("time", 140.3612, 119.0834, 140.9611, 154.6342, 146.8812, 148.2123),
			"http_req_duration{expected_response:true}": trend("time", 140.3612, 119.0834, 140.9611, 154.6342, 146.8812, 148.2123),
			"http_req_duration{scenario:race}":          trend("time", 1140.3, 0.0071, 1.5, 61234.5, 2000, 3000),
			"http_req_blocked":                          trend("time", 0.0123, 0.001, 0.004, 1.35, 0.2, 0.7),
			"http_req_failed":                           {Type: "rate", Contains: "default", Values: map[string]float64{"rate": 0, "passes": 0, "fails": 45}},
			"http_reqs":                                 {Type: "counter", Contains: "default", Values: map[string]float64{"count": 45, "rate": 6.561093}},
			"iteration_duration":                        trend("time", 152.38, 119.37, 141.27, 684.62, 147.11, 148.39),
			"iterations":                                {Type: "counter", Contains: "default", Values: map[string]float64{"count": 45, "rate": 6.561093}},
			"vus":                                       {Type: "gauge", Contains: "default", Values: map[string]float64{"value": 1, "min": 1, "max": 1}},
			"vus_max":                                   {Type: "gauge", Contains: "default", Values: map[string]float64{"value": 1, "min": 1, "max": 1}},
			"data_received":                             {Type: "counter", Contains: "data", Values: map[string]float64{"count": 519234, "rate": 75700}},
			"data_sent":                                 {Type: "counter", Contains: "data", Values: map[string]float64{"count": 4120, "rate": 600.7}},
			"group_duration":                            trend("time", 300, 200, 300, 400, 380, 390),
			"custom_waiting_time":                       trend("default", 152.355556, 120, 141, 684, 147.2, 148.8),
			"ledger_discrepancies": {Type: "counter", Contains: "default", Values: map[string]float64{"count": 2, "rate": 0.291606},
				Thresholds: map[string]summary.ThresholdResult{"count==0": {OK: false, Aggregation: "count", Value: 2}}},
		},
	}
	d.Metrics["http_req_duration"].Thresholds = map[string]summary.ThresholdResult{
		"p(95)<1500": {OK: true, Aggregation: "p(95)", Value: 148.2123, Order: 0},
		"p(90)<2000": {OK: true, Aggregation: "p(90)", Value: 146.8812, Order: 1},
	}
	d.Metrics["http_req_failed"].Thresholds = map[string]summary.ThresholdResult{"rate<0.01": {OK: true, Aggregation: "rate"}}
	d.Metrics["checks{check:token present}"] = &summary.MetricData{Type: "rate", Contains: "default",
		Values:     map[string]float64{"rate": 40.0 / 45, "passes": 40, "fails": 5},
		Thresholds: map[string]summary.ThresholdResult{"rate>0.95": {OK: false, Aggregation: "rate", Value: 40.0 / 45}}}
	d.Metrics["http_req_duration{scenario:race}"].Thresholds = map[string]summary.ThresholdResult{"max<60000": {OK: false, Aggregation: "max", Value: 61234.5}}
	d.Breakdown = &summary.Breakdown{
		Groups: map[string]map[string]*summary.MetricData{
			"::login": {
				"checks":            {Type: "rate", Contains: "default", Values: map[string]float64{"rate": 40.0 / 45, "passes": 40, "fails": 5}},
				"http_req_duration": trend("time", 100, 90, 100, 110, 108, 109),
				"http_reqs":         {Type: "counter", Contains: "default", Values: map[string]float64{"count": 45, "rate": 6.561093}},
			},
			"::login::form": {
				"checks": {Type: "rate", Contains: "default", Values: map[string]float64{"rate": 1, "passes": 3, "fails": 0}},
			},
		},
		Scenarios: map[string]map[string]*summary.MetricData{
			"default": {
				"iterations": {Type: "counter", Contains: "default", Values: map[string]float64{"count": 45, "rate": 6.561093}},
			},
		},
	}
	return d
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestTextGolden(t *testing.T) {
	tests := []struct {
		name string
		opts summary.TextOptions
	}{
		{"compact.txt", summary.TextOptions{NoColor: true}},
		{"full.txt", summary.TextOptions{Mode: summary.ModeFull, NoColor: true,
			Extra: []summary.Section{{Title: "LEDGER", Text: "verdict: 2 discrepancies\nbalance interval ok\n"}}}},
		{"color.txt", summary.TextOptions{Mode: summary.ModeCompact}},
		{"time-unit-ms.txt", summary.TextOptions{NoColor: true, TimeUnit: "ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := summary.Text(&buf, fixture(), tc.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestTextDisabledPrintsNothing(t *testing.T) {
	var buf bytes.Buffer
	if err := summary.Text(&buf, fixture(), summary.TextOptions{Mode: summary.ModeDisabled}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("disabled mode printed %q", buf.String())
	}
}

func TestTextNoColorHasNoEscapes(t *testing.T) {
	var buf bytes.Buffer
	if err := summary.Text(&buf, fixture(), summary.TextOptions{Mode: summary.ModeFull, NoColor: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "\x1b[") {
		t.Error("NoColor output contains ANSI escapes")
	}
}

func TestExportGolden(t *testing.T) {
	d := fixture()
	d.SetupData = json.RawMessage(`{"token":"abc"}`)
	b, err := summary.Export(d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "export.json", append(b, '\n'))
	// the measured shape: thresholds true when FAILED, rate → value,
	// groups and checks keyed by name
	var doc struct {
		RootGroup struct {
			Groups map[string]struct {
				Path   string `json:"path"`
				Checks map[string]struct{ Passes, Fails int64 }
			} `json:"groups"`
		} `json:"root_group"`
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Metrics["ledger_discrepancies"]["thresholds"].(map[string]any)["count==0"]; got != true {
		t.Errorf("failed threshold exported as %v, want true", got)
	}
	if got := doc.Metrics["http_req_failed"]["thresholds"].(map[string]any)["rate<0.01"]; got != false {
		t.Errorf("passing threshold exported as %v, want false", got)
	}
	if _, ok := doc.Metrics["checks"]["value"]; !ok {
		t.Error(`rate metric lacks "value"`)
	}
	if _, ok := doc.Metrics["checks"]["rate"]; ok {
		t.Error(`rate metric still has "rate"`)
	}
	if g := doc.RootGroup.Groups["login"]; g.Path != "::login" || g.Checks["token present"].Fails != 5 {
		t.Errorf("login group = %+v", g)
	}
}

func TestValidation(t *testing.T) {
	for _, m := range []string{"", "compact", "full", "disabled"} {
		if err := summary.ValidateMode(m); err != nil {
			t.Errorf("ValidateMode(%q) = %v", m, err)
		}
	}
	for _, m := range []string{"legacy", "Compact", "none"} {
		if err := summary.ValidateMode(m); err == nil {
			t.Errorf("ValidateMode(%q) = nil, want an error", m)
		}
	}
	if err := summary.ValidateTrendStats([]string{"avg", "p(99.9)", "count", "med"}); err != nil {
		t.Errorf("ValidateTrendStats: %v", err)
	}
	for _, s := range []string{"p95", "mean", "p(101)", "p(-1)"} {
		if err := summary.ValidateTrendStats([]string{"avg", s}); err == nil {
			t.Errorf("ValidateTrendStats(avg, %q) = nil error", s)
		}
	}
	for _, u := range []string{"", "s", "ms", "us"} {
		if err := summary.ValidateTimeUnit(u); err != nil {
			t.Errorf("ValidateTimeUnit(%q) = %v", u, err)
		}
	}
	if err := summary.ValidateTimeUnit("m"); err == nil {
		t.Error(`summary.ValidateTimeUnit("m") = nil`)
	}
}

func TestTextMinimalData(t *testing.T) {
	for _, d := range []*summary.Data{{}, {RootGroup: groups.NewRoot().Data(), Metrics: map[string]*summary.MetricData{
		"iterations": {Type: "counter", Contains: "default", Values: map[string]float64{"count": 1, "rate": 1}},
	}}} {
		var buf bytes.Buffer
		if err := summary.Text(&buf, d, summary.TextOptions{Mode: summary.ModeFull, NoColor: true}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "TOTAL RESULTS") || strings.Contains(buf.String(), "THRESHOLDS") {
			t.Errorf("unexpected summary:\n%s", buf.String())
		}
	}
	var buf bytes.Buffer
	if err := summary.Text(&buf, nil, summary.TextOptions{}); err != nil || buf.Len() != 0 {
		t.Errorf("nil data: %v, %q", err, buf.String())
	}
	if _, err := summary.Export(&summary.Data{}); err != nil {
		t.Errorf("Export of empty data: %v", err)
	}
}

// The same check name at the top level and in two groups is listed once
// per group, under the group's label (compact mode), and only in the group
// sections in full mode.
func TestTextSameCheckInGroups(t *testing.T) {
	root := groups.NewRoot()
	top, _ := root.Check("is valid")
	top.Passes.Add(2)
	alpha, _ := root.Group("alpha")
	a, _ := alpha.Check("is valid")
	a.Passes.Add(3)
	a.Fails.Add(1)
	beta, _ := root.Group("beta")
	b, _ := beta.Check("is valid")
	b.Fails.Add(2)
	inner, _ := beta.Group("inner")
	in, _ := inner.Check("is valid")
	in.Passes.Add(2)
	_, _ = root.Group("empty")
	d := &summary.Data{RootGroup: root.Data(), State: summary.State{TestRunDurationMs: 1000},
		Metrics: map[string]*summary.MetricData{"checks": {Type: "rate", Contains: "default", Values: map[string]float64{"rate": 0.7, "passes": 7, "fails": 3}}}}
	var buf bytes.Buffer
	if err := summary.Text(&buf, d, summary.TextOptions{NoColor: true}); err != nil {
		t.Fatal(err)
	}
	want := `    ✓ is valid

    GROUP: alpha
      ✗ is valid
        ↳  75% — ✓ 3 / ✗ 1

    GROUP: beta
      ✗ is valid
        ↳  0% — ✓ 0 / ✗ 2

      GROUP: inner
        ✓ is valid
`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("checks not listed under their groups:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "empty") {
		t.Errorf("a group without checks is listed:\n%s", buf.String())
	}
}
