package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		outs    []string
		env     map[string]string
		want    Config
		rest    []string
		wantErr string
	}{
		{name: "off by default", outs: []string{"json=x.json"}, rest: []string{"json=x.json"},
			want: Config{Host: "127.0.0.1", Port: 5665, Period: 10 * time.Second}},
		{name: "k6 variables", env: map[string]string{"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_HOST": "::1",
			"K6_WEB_DASHBOARD_PORT": "0", "K6_WEB_DASHBOARD_PERIOD": "2s", "K6_WEB_DASHBOARD_OPEN": "false",
			"K6_WEB_DASHBOARD_EXPORT": "r.html"},
			want: Config{Enabled: true, Host: "::1", Port: 0, Period: 2 * time.Second, Export: "r.html"}},
		{name: "out spec overrides the environment", outs: []string{"csv=a.csv", "web-dashboard=port=-1&export=b.html"},
			env:  map[string]string{"K6_WEB_DASHBOARD_EXPORT": "a.html"},
			want: Config{Enabled: true, Host: "127.0.0.1", Port: -1, Period: 10 * time.Second, Export: "b.html"},
			rest: []string{"csv=a.csv"}},
		{name: "export alone", env: map[string]string{"K6_WEB_DASHBOARD_EXPORT": "r.html"},
			want: Config{Host: "127.0.0.1", Port: 5665, Period: 10 * time.Second, Export: "r.html"}},
		{name: "bad port", env: map[string]string{"K6_WEB_DASHBOARD_PORT": "http"}, wantErr: "K6_WEB_DASHBOARD_PORT=\"http\": want a port number"},
		{name: "bad period", env: map[string]string{"K6_WEB_DASHBOARD_PERIOD": "10"}, wantErr: "want a duration"},
		{name: "bad bool", env: map[string]string{"K6_WEB_DASHBOARD": "maybe"}, wantErr: "K6_WEB_DASHBOARD=\"maybe\""},
		{name: "unknown key", outs: []string{"web-dashboard=colour=red"}, wantErr: "unknown setting \"colour\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := ParseConfig(tt.outs, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
			if strings.Join(rest, ",") != strings.Join(tt.rest, ",") {
				t.Errorf("rest = %v, want %v", rest, tt.rest)
			}
		})
	}
	if (Config{Export: "x"}).Serves() || !(Config{Export: "x"}).Active() || (Config{Enabled: true, Port: -1}).Serves() {
		t.Error("Active/Serves")
	}
}

func samples(b *metrics.Builtin, n int) metrics.Samples {
	var out metrics.Samples
	now := time.Now()
	for i := 0; i < n; i++ {
		tags := metrics.NewTagSet(map[string]string{"name": "home"})
		out = append(out, metrics.Sample{Metric: b.HTTPReqs, Time: now, Value: 1, Tags: tags},
			metrics.Sample{Metric: b.HTTPReqDuration, Time: now, Value: float64(i), Tags: tags})
	}
	return out
}

// readEvent reads one server-sent event.
func readEvent(t *testing.T, r *bufio.Reader) (string, map[string]any) {
	t.Helper()
	var name string
	var data []byte
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading events: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("event %s: %v", name, err)
			}
			return name, m
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:]...)
		}
	}
}

// A browser that never reads does not hold up the samples, the updates or
// the end of the run; one that reads gets updates and the final state.
func TestServerStallingBrowserDoesNotBlock(t *testing.T) {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	d := New(Config{Enabled: true, Host: "127.0.0.1", Port: 0, Period: 100 * time.Millisecond}, Params{Script: "t.js"})
	if err := d.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	d.SetThresholds(func() []Threshold {
		return []Threshold{{Metric: "http_reqs", Source: "count>0", OK: true, Evaluated: true, Value: 3}}
	})
	// The page.
	res, err := http.Get(d.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	_, _ = page.ReadFrom(res.Body)
	res.Body.Close()
	if !strings.Contains(page.String(), "uPlot") || strings.Contains(page.String(), "/*DATA*/") {
		t.Fatal("page lacks uPlot or still has placeholders")
	}
	// A stalled browser: subscribes with a tiny receive buffer and never reads.
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(1024)
	_, _ = conn.Write([]byte("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"))
	// A reading browser.
	res, err = http.Get(d.URL() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(res.Body)
	name, first := readEvent(t, r)
	if name != "update" || first["run"].(map[string]any)["script"] != "t.js" {
		t.Fatalf("first event %s %v", name, first)
	}
	start := time.Now()
	for i := 0; i < 200; i++ {
		if err := d.AddSamples(samples(b, 500)); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("adding samples took %v with a stalled browser", el)
	}
	var last map[string]any
	for { // updates keep coming while samples are added
		name, last = readEvent(t, r)
		if tot := last["snapshot"].(map[string]any)["totals"].(map[string]any); tot["http_reqs"].(float64) == 100000 {
			break
		}
	}
	ths := last["thresholds"].([]any)
	if len(ths) != 1 || ths[0].(map[string]any)["source"] != "count>0" {
		t.Errorf("thresholds %v", ths)
	}
	done := make(chan struct{})
	var report []byte
	go func() {
		defer close(done)
		report, err = d.Finish(context.Background(), &Final{Status: "passed", Metrics: map[string]*summary.MetricData{}})
	}()
	for name != "final" {
		name, last = readEvent(t, r)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Finish hangs on the stalled browser")
	}
	if err != nil || report != nil {
		t.Errorf("Finish without export = %d bytes, %v", len(report), err)
	}
	if last["final"].(map[string]any)["status"] != "passed" {
		t.Errorf("final %v", last["final"])
	}
	if _, err := http.Get(d.URL() + "/"); err == nil {
		t.Error("server still up after Finish")
	}
}

func TestReportWithoutServer(t *testing.T) {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	d := New(Config{Port: -1, Export: "r.html"}, Params{Script: "t.js"})
	if err := d.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if d.URL() != "" {
		t.Fatal("serving although disabled")
	}
	_ = d.AddSamples(samples(b, 10))
	_ = d.Stop()
	report, err := d.Finish(context.Background(), &Final{Status: "failed", Message: "thresholds crossed",
		Metrics: map[string]*summary.MetricData{"http_reqs": {Type: "counter", Values: map[string]float64{"count": 10}}},
		Verdicts: []*modules.Verdict{{Title: "ledger", Outcome: "fail", Headline: "ledger: FAIL </script><b>",
			Findings: []modules.VerdictFinding{{Subject: "account a", Kind: "lost_update", Text: "expected 5; seen 0"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(report)
	i := strings.Index(s, `<script type="application/json" id="tally-data">`)
	j := strings.Index(s[i:], "</script>")
	data := s[i+len(`<script type="application/json" id="tally-data">`) : i+j]
	var p map[string]any
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		t.Fatalf("embedded data: %v", err)
	}
	if p["kind"] != "final" || !strings.Contains(data, `lost_update`) || strings.Contains(data, "</script>") {
		t.Errorf("embedded data %s", data)
	}
	// Nothing to fetch: no src/href/url() to another origin (the browser
	// test also watches the network).
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import`).FindString(s); m != "" {
		t.Errorf("report refers to another origin: %q", m)
	}
}
