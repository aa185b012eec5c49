package output

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/metrics"
)

func testSamples(reg *metrics.Registry) metrics.Samples {
	reqs := reg.MustNew("http_reqs", metrics.Counter)
	dur := reg.MustNew("http_req_duration", metrics.Trend, metrics.Time)
	at := time.Date(2026, 1, 1, 10, 0, 0, 123456789, time.UTC)
	tags := metrics.NewTagSet(map[string]string{"status": "200", "method": "GET", "url": "http://h/x?a=1,2",
		"name": "http://h/x", "scenario": "default", "group": "", "kind": "pro\"be", "zone": "eu"})
	return metrics.Samples{
		{Metric: reqs, Time: at, Value: 1, Tags: tags, Metadata: map[string]string{"vu": "3", "iter": "7"}},
		{Metric: dur, Time: at, Value: 12.345678, Tags: tags},
		{Metric: reqs, Time: at.Add(time.Second), Value: 1, Tags: nil},
		{Metric: dur, Time: at.Add(time.Second), Value: 1e-7, Tags: metrics.NewTagSet(map[string]string{"note": "line\nbreak \u2028 é"})},
	}
}

func describe(m *metrics.Metric) metrics.Description {
	if m.Name != "http_reqs" {
		return metrics.Description{}
	}
	return metrics.Description{
		Thresholds: []json.RawMessage{json.RawMessage(`"count>0"`), json.RawMessage(`{ "threshold": "rate<10",
			"abortOnFail": true }`)},
		Submetrics: []metrics.Submetric{{Name: "http_reqs{status:200}", Suffix: "status:200",
			Tags: metrics.NewTagSet(map[string]string{"status": "200"})}},
	}
}

func run(t *testing.T, o Output, batches ...metrics.Samples) {
	t.Helper()
	if err := o.Start(context.Background(), describe); err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := o.AddSamples(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
}

func readMaybeGzip(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

type jsonLine struct {
	Type   string          `json:"type"`
	Metric string          `json:"metric"`
	Data   json.RawMessage `json:"data"`
}

type metricData struct {
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Contains   string            `json:"contains"`
	Thresholds []json.RawMessage `json:"thresholds"`
	Submetrics []struct {
		Name   string            `json:"name"`
		Suffix string            `json:"suffix"`
		Tags   map[string]string `json:"tags"`
	} `json:"submetrics"`
}

type pointData struct {
	Time     time.Time         `json:"time"`
	Value    float64           `json:"value"`
	Tags     map[string]string `json:"tags"`
	Metadata map[string]string `json:"metadata"`
}

func TestJSONParsedBack(t *testing.T) {
	for _, name := range []string{"out.json", "out.json.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			o, err := New("json="+path, Params{})
			if err != nil {
				t.Fatal(err)
			}
			if o.Description() != "json ("+path+")" {
				t.Errorf("Description() = %q", o.Description())
			}
			samples := testSamples(metrics.NewRegistry())
			run(t, o, samples[:2], samples[2:])
			raw := readMaybeGzip(t, path)
			var lines []jsonLine
			sc := bufio.NewScanner(bytes.NewReader(raw))
			for sc.Scan() {
				var l jsonLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				lines = append(lines, l)
			}
			// Metric http_reqs, Point, Metric http_req_duration, Point, Point, Point
			types := []string{}
			for _, l := range lines {
				types = append(types, l.Type+":"+l.Metric)
			}
			want := "Metric:http_reqs Point:http_reqs Metric:http_req_duration Point:http_req_duration Point:http_reqs Point:http_req_duration"
			if got := strings.Join(types, " "); got != want {
				t.Fatalf("lines = %s\nwant    %s", got, want)
			}
			var def metricData
			if err := json.Unmarshal(lines[0].Data, &def); err != nil {
				t.Fatal(err)
			}
			if def.Name != "http_reqs" || def.Type != "counter" || def.Contains != "default" || len(def.Thresholds) != 2 ||
				string(def.Thresholds[0]) != `"count>0"` || string(def.Thresholds[1]) != `{"threshold":"rate<10","abortOnFail":true}` ||
				len(def.Submetrics) != 1 || def.Submetrics[0].Suffix != "status:200" || def.Submetrics[0].Tags["status"] != "200" {
				t.Errorf("metric definition = %s", lines[0].Data)
			}
			var def2 map[string]any
			_ = json.Unmarshal(lines[2].Data, &def2)
			if def2["submetrics"] != nil || len(def2["thresholds"].([]any)) != 0 || def2["contains"] != "time" {
				t.Errorf("definition without thresholds = %s", lines[2].Data)
			}
			for i, idx := range []int{1, 3, 4, 5} {
				var p pointData
				if err := json.Unmarshal(lines[idx].Data, &p); err != nil {
					t.Fatal(err)
				}
				s := samples[i]
				if !p.Time.Equal(s.Time) || p.Value != s.Value || len(p.Tags) != s.Tags.Len() {
					t.Errorf("point %d = %+v, want %v %v %v", i, p, s.Time, s.Value, s.Tags.Map())
				}
				for k, v := range s.Tags.Map() {
					if p.Tags[k] != v {
						t.Errorf("point %d tag %s = %q, want %q", i, k, p.Tags[k], v)
					}
				}
				if len(s.Metadata) != len(p.Metadata) || p.Metadata["vu"] != s.Metadata["vu"] {
					t.Errorf("point %d metadata = %v, want %v", i, p.Metadata, s.Metadata)
				}
			}
			// the exact line format: tags sorted, metadata after tags
			first := strings.SplitN(string(raw), "\n", 3)[1]
			wantLine := `{"metric":"http_reqs","type":"Point","data":{"time":"2026-01-01T10:00:00.123456789Z","value":1,"tags":{"group":"","kind":"pro\"be","method":"GET","name":"http://h/x","scenario":"default","status":"200","url":"http://h/x?a=1,2","zone":"eu"},"metadata":{"iter":"7","vu":"3"}}}`
			if first != wantLine {
				t.Errorf("point line\n got %s\nwant %s", first, wantLine)
			}
		})
	}
}

func TestJSONStdout(t *testing.T) {
	var buf bytes.Buffer
	o, err := New("json", Params{Stdout: &buf})
	if err != nil {
		t.Fatal(err)
	}
	run(t, o, testSamples(metrics.NewRegistry()))
	if n := strings.Count(buf.String(), "\n"); n != 6 {
		t.Errorf("%d lines on stdout, want 6:\n%s", n, buf.String())
	}
}

func TestCSVParsedBack(t *testing.T) {
	for _, name := range []string{"out.csv", "out.csv.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			o, err := New("csv="+path, Params{})
			if err != nil {
				t.Fatal(err)
			}
			samples := testSamples(metrics.NewRegistry())
			run(t, o, samples)
			records, err := csv.NewReader(bytes.NewReader(readMaybeGzip(t, path))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(records) != 1+len(samples) {
				t.Fatalf("%d records, want %d", len(records), 1+len(samples))
			}
			header := records[0]
			col := map[string]int{}
			for i, h := range header {
				col[h] = i
			}
			for _, h := range []string{"metric_name", "timestamp", "metric_value", "status", "url", "extra_tags", "metadata"} {
				if _, ok := col[h]; !ok {
					t.Errorf("header lacks %q: %v", h, header)
				}
			}
			r := records[1]
			if r[col["metric_name"]] != "http_reqs" || r[col["timestamp"]] != "1767261600" || r[col["metric_value"]] != "1" ||
				r[col["status"]] != "200" || r[col["url"]] != "http://h/x?a=1,2" || r[col["extra_tags"]] != `kind=pro"be&zone=eu` ||
				r[col["metadata"]] != "iter=7&vu=3" {
				t.Errorf("row 1 = %q", r)
			}
			if r := records[2]; r[col["metric_value"]] != "12.345678" {
				t.Errorf("row 2 value = %q", r[col["metric_value"]])
			}
			if r := records[4]; r[col["extra_tags"]] != "note=line\nbreak \u2028 é" {
				t.Errorf("row 4 extra_tags = %q", r[col["extra_tags"]])
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string
	}{
		{"json", ""},
		{"json=a.json", ""},
		{"csv=a.csv", ""},
		{"csv", "needs a file"},
		{"influxdb=http://x", `unknown output type "influxdb"`},
		{"cloud", `unknown output type "cloud"`},
		{"=x", "missing output type"},
		{"", "missing output type"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := New(tc.spec, Params{Stdout: io.Discard})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("New(%q): %v", tc.spec, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("New(%q) error = %v, want %q", tc.spec, err, tc.wantErr)
			}
		})
	}
	outs, err := NewAll([]string{"json=a.json", "csv=b.csv.gz", "json"}, Params{Stdout: io.Discard})
	if err != nil || len(outs) != 3 {
		t.Fatalf("NewAll = %d outputs, %v", len(outs), err)
	}
	if _, err := NewAll([]string{"json", "statsd"}, Params{Stdout: io.Discard}); err == nil {
		t.Error("NewAll accepted an unknown type")
	}
}

func TestStartFailsOnBadPath(t *testing.T) {
	o, _ := New("json="+filepath.Join(t.TempDir(), "missing", "dir", "x.json"), Params{})
	if err := o.Start(context.Background(), nil); err == nil {
		t.Error("Start succeeded in a missing directory")
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 0.1, 1e-7, 1.5e-9, 123456789.125, 1e21, 1e20, -3e-7, 12.345678} {
		want, _ := json.Marshal(v)
		if got := string(appendFloat(nil, v)); got != string(want) {
			t.Errorf("appendFloat(%v) = %s, encoding/json %s", v, got, want)
		}
	}
}

// cpuTime returns the process's CPU time so far (0 where unavailable).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerSample adds ns/sample and cpu-ns/sample (process CPU time, less
// sensitive to a loaded machine than wall time).
func reportPerSample(b *testing.B, startCPU time.Duration, samples int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samples), "ns/sample")
	b.ReportMetric(float64(cpuTime()-startCPU)/float64(b.N*samples), "cpu-ns/sample")
}

func BenchmarkJSONAddSamples(b *testing.B) {
	reg := metrics.NewRegistry()
	samples := testSamples(reg)
	o := &jsonOutput{dest: destination{stdout: io.Discard}}
	if err := o.Start(context.Background(), describe); err != nil {
		b.Fatal(err)
	}
	start := cpuTime()
	for b.Loop() {
		_ = o.AddSamples(samples)
	}
	reportPerSample(b, start, len(samples))
}

func BenchmarkCSVAddSamples(b *testing.B) {
	reg := metrics.NewRegistry()
	samples := testSamples(reg)
	o := &csvOutput{dest: destination{stdout: io.Discard}}
	if err := o.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	start := cpuTime()
	for b.Loop() {
		_ = o.AddSamples(samples)
	}
	reportPerSample(b, start, len(samples))
}

func TestAppendTimeMatchesRFC3339Nano(t *testing.T) {
	var c encodeCache
	berlin := time.FixedZone("CET", 3600)
	base := time.Date(2026, 3, 1, 23, 59, 59, 0, berlin)
	for _, tm := range []time.Time{
		base, base.Add(1), base.Add(120 * time.Millisecond), base.Add(999_999_999), base.Add(time.Second),
		base.Add(time.Second + 100), time.Unix(0, 0), time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC),
	} {
		want := tm.UTC().Format(time.RFC3339Nano)
		if got := string(c.appendTime(nil, tm)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// appendString must write what encoding/json writes (HTML escaping off),
// byte for byte: the journal's and internal/output's copies are pinned to
// the same oracle by this test, present in both packages.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \\`, "ctl \x00\x01\x1f\x7f", "nl \n cr \r tab \t",
		"line sep \u2028 para sep \u2029", "é ü 漢 🙂", "bad \xff utf8 \xc3", "html <&> stays",
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(appendString(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("appendString(%q) = %s, encoding/json writes %s", s, got, want.String())
		}
	}
}
