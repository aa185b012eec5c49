package runstate_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/runstate"
	"github.com/tallyhq/tally/metrics"
)

const testOptions = `{"thresholds":{"reqs":["count>=30"],"lat":["p(95)<50"]},"summaryTrendStats":["avg","p(95)","count"]}`

// state builds the state of an instance that counted reqs requests, each
// with latency lat.
func state(run, seg string, reqs int, lat float64) *runstate.File {
	c := &metrics.CounterSink{}
	tr := &metrics.TrendSink{}
	for range reqs {
		c.Add(metrics.Sample{Value: 1, Time: time.Unix(1, 0)})
		tr.AddValue(lat)
	}
	root := groups.NewRoot()
	g, _ := root.Group("buy")
	ck, _ := g.Check("status is 200")
	ck.Passes.Add(int64(reqs))
	ck.Fails.Add(1)
	return &runstate.File{
		RunID: run, Instance: seg, Segment: seg, Sequence: "0,1/3,2/3,1", DurationMs: 1000,
		Ended:   time.Unix(int64(reqs), 0),
		Options: json.RawMessage(testOptions),
		Metrics: []metricsengine.MetricState{
			{Name: "reqs", Type: "counter", Contains: "default", Sink: &metricsengine.SinkState{Counter: c}},
			{Name: "lat", Type: "trend", Contains: "time", Sink: &metricsengine.SinkState{Trend: tr}},
			{Name: "vus", Type: "gauge", Contains: "default", Sink: &metricsengine.SinkState{Gauge: &metricsengine.GaugeState{Value: 2, Min: 0, Max: 2}}},
		},
		RootGroup: root.Data(),
	}
}

// roundTrip writes f to a file in dir and reads it back.
func roundTrip(t *testing.T, dir, name string, f *runstate.File) runstate.Input {
	t.Helper()
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := runstate.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return runstate.Input{Path: p, File: got}
}

func TestMerge(t *testing.T) {
	dir := t.TempDir()
	in := []runstate.Input{
		roundTrip(t, dir, "c.json", state("r", "2/3:1", 10, 30)),
		roundTrip(t, dir, "a.json", state("r", "0:1/3", 10, 10)),
		roundTrip(t, dir, "b.json", state("r", "1/3:2/3", 10, 60)),
	}
	m, err := runstate.Merge(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Data.Metrics["reqs"].Values["count"]; got != 30 {
		t.Errorf("reqs count %v, want 30", got)
	}
	if got := m.Data.Metrics["lat"].Values["count"]; got != 30 {
		t.Errorf("lat count %v, want 30", got)
	}
	if got := m.Data.Metrics["lat"].Values["p(95)"]; got != 60 {
		t.Errorf("lat p(95) %v, want 60", got)
	}
	if got := m.Data.Metrics["vus"].Values["value"]; got != 6 {
		t.Errorf("vus %v, want 6 (2 per instance)", got)
	}
	if len(m.ThresholdsFailed) != 1 || !strings.Contains(m.ThresholdsFailed[0], "lat: p(95)<50") {
		t.Errorf("failed thresholds %v, want lat p(95)<50 only", m.ThresholdsFailed)
	}
	c := m.Data.RootGroup.Groups[0].Checks[0]
	if c.Passes != 30 || c.Fails != 3 {
		t.Errorf("check tallies %d/%d, want 30/3", c.Passes, c.Fails)
	}
	if m.Inputs[0].File.Segment != "0:1/3" {
		t.Errorf("inputs not in segment order: first %s", m.Inputs[0].File.Segment)
	}
	if m.RunError != nil {
		t.Errorf("RunError %v", m.RunError)
	}
}

func TestMergeRefuses(t *testing.T) {
	withOptions := func(f *runstate.File, o string) *runstate.File { f.Options = json.RawMessage(o); return f }
	withSeq := func(f *runstate.File, s string) *runstate.File { f.Sequence = s; return f }
	cases := []struct {
		name  string
		files []*runstate.File
		want  string
	}{
		{"missing segment", []*runstate.File{state("r", "0:1/3", 1, 1), state("r", "2/3:1", 1, 1)}, "no state covers the segment 1/3:2/3"},
		{"missing end", []*runstate.File{state("r", "0:1/3", 1, 1), state("r", "1/3:2/3", 1, 1)}, "no state covers the segment 2/3:1"},
		{"duplicated", []*runstate.File{state("r", "0:1/3", 1, 1), state("r", "0:1/3", 1, 1), state("r", "1/3:1", 1, 1)}, "is there twice"},
		{"overlap", []*runstate.File{state("r", "0:2/3", 1, 1), state("r", "1/3:1", 1, 1)}, "overlap"},
		{"mixed runs", []*runstate.File{state("r", "0:1/3", 1, 1), state("s", "1/3:2/3", 1, 1), state("r", "2/3:1", 1, 1)}, "from run"},
		{"no run id", []*runstate.File{state("", "0:1/2", 1, 1), state("", "1/2:1", 1, 1)}, "RUN_ID"},
		{"options", []*runstate.File{state("r", "0:1/2", 1, 1), withOptions(state("r", "1/2:1", 1, 1), `{"thresholds":{"reqs":["count>=1"]},"summaryTrendStats":["avg","p(95)","count"]}`)}, `"thresholds" is`},
		{"sequence", []*runstate.File{state("r", "0:1/2", 1, 1), withSeq(state("r", "1/2:1", 1, 1), "0,1/2,1")}, "segment sequence"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var in []runstate.Input
			for i, f := range c.files {
				in = append(in, roundTrip(t, dir, string(rune('a'+i))+".json", f))
			}
			_, err := runstate.Merge(in)
			var refused *runstate.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("err = %v, want a RefusedError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestMergeInstanceOutcome(t *testing.T) {
	dir := t.TempDir()
	a := state("r", "0:1/2", 5, 1)
	b := state("r", "1/2:1", 5, 1)
	b.Outcome = runstate.Outcome{ExitCode: 108, Error: "test aborted: service down"}
	m, err := runstate.Merge([]runstate.Input{roundTrip(t, dir, "a.json", a), roundTrip(t, dir, "b.json", b)})
	if err != nil {
		t.Fatal(err)
	}
	if exitcode.Of(m.RunError) != 108 || !strings.Contains(m.RunError.Error(), "service down") {
		t.Errorf("RunError = %v (code %d), want 108 naming the reason", m.RunError, exitcode.Of(m.RunError))
	}
}

func TestReadRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"junk.json":    "not json",
		"other.json":   `{"format":"k6","version":1}`,
		"version.json": `{"format":"tally-summary-state","version":99}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := runstate.Read(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
	if _, err := runstate.Read(filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
}
