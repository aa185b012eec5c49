package promrw_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/internal/output/promrw"
	"github.com/tallyhq/tally/metrics"
)

func samples(reg *metrics.Registry, n int) metrics.Samples {
	reqs, dur := reg.Get(metrics.HTTPReqsName), reg.Get(metrics.HTTPReqDurationName)
	tags := metrics.NewTagSet(map[string]string{"name": "deduct", "url": "http://x/users/1", "status": "200"})
	out := make(metrics.Samples, 0, 2*n)
	for i := range n {
		out = append(out, metrics.Sample{Metric: reqs, Value: 1, Tags: tags, Time: time.Now()},
			metrics.Sample{Metric: dur, Value: float64(i % 100), Tags: tags, Time: time.Now()})
	}
	return out
}

func config(url string, interval time.Duration) promrw.Config {
	return promrw.Config{ServerURL: url, PushInterval: interval, TrendStats: []string{"p(99)", "count"},
		MaxSeries: 100, Labels: map[string]string{"instance": "i1"}}
}

// TestWritesSeries decodes what the output sends: snappy-compressed protobuf with the k6 names, the
// instance label, no url label, and time trends in seconds.
func TestWritesSeries(t *testing.T) {
	var mu sync.Mutex
	var last prompb.WriteRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, b)
		if err != nil {
			t.Errorf("not snappy: %v", err)
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			t.Errorf("not a WriteRequest: %v", err)
		}
		mu.Lock()
		last = req
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	o := promrw.NewWithConfig(config(srv.URL+"/api/v1/write", time.Hour), nil)
	if err := o.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	_ = o.AddSamples(samples(reg, 200))
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	got := map[string]float64{}
	for _, ts := range last.Timeseries {
		name := ""
		for _, l := range ts.Labels {
			switch l.Name {
			case "__name__":
				name = l.Value
			case "url":
				t.Errorf("series %v carries the url label", ts.Labels)
			case "instance":
				if l.Value != "i1" {
					t.Errorf("instance label %q", l.Value)
				}
			}
		}
		got[name] = ts.Samples[0].Value
	}
	if got["k6_http_reqs_total"] != 200 || got["k6_http_req_duration_count"] != 200 {
		t.Errorf("series %v: want 200 requests", got)
	}
	if v := got["k6_http_req_duration_p99"]; v < 0.09 || v > 0.1 {
		t.Errorf("p99 = %v, want about 0.099 s (99 ms in seconds)", v)
	}
	if st := o.Stats(); st.Written != 1 || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestSlowReceiverNeverBlocks: with a receiver that never answers, AddSamples
// stays non-blocking, snapshots are dropped and counted, and Stop gives up
// within its bound. Counts, not timings, decide (the machine may be busy):
// the receiver holds every request until the test ends.
func TestSlowReceiverNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	o := promrw.NewWithConfig(config(srv.URL, 10*time.Millisecond), nil)
	if err := o.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// 200 batches and then more until a snapshot was dropped: with a stuck
	// receiver, AddSamples never waits, so this ends; a blocking output
	// would hang here and fail at the bound below.
	added := make(chan struct{})
	go func() {
		defer close(added)
		for i := 0; i < 200; i++ {
			_ = o.AddSamples(samples(reg, 100))
		}
		for i := 0; i < 2000 && o.Stats().Dropped == 0; i++ {
			_ = o.AddSamples(samples(reg, 1))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-added:
	case <-time.After(60 * time.Second):
		t.Fatal("AddSamples waited for the stuck receiver")
	}
	if st := o.Stats(); st.Dropped == 0 {
		t.Errorf("stats %+v: want dropped snapshots", st)
	}
	stopStart := time.Now()
	_ = o.Stop()
	if d := time.Since(stopStart); d > 30*time.Second {
		t.Errorf("Stop took %s with a stuck receiver (its bound is 5 s)", d)
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{}
	p := output.Params{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Instance: "0:1/2", RunID: "r"}
	c, err := promrw.ParseConfig(p)
	if err != nil || c.ServerURL != promrw.DefaultServerURL || c.PushInterval != 5*time.Second || c.TrendStats[0] != "p(99)" ||
		c.Labels["instance"] != "0:1/2" || c.Labels["run_id"] != "r" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for k, v := range map[string]string{
		"K6_PROMETHEUS_RW_SERVER_URL":    "localhost:9090",
		"K6_PROMETHEUS_RW_PUSH_INTERVAL": "soon",
		"K6_PROMETHEUS_RW_TREND_STATS":   "p(101)",
		"K6_PROMETHEUS_RW_HEADERS":       "nocolon",
	} {
		env = map[string]string{k: v}
		if _, err := promrw.ParseConfig(p); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	if got := promrw.MetricNames("http_req_duration", metrics.Trend, []string{"p(99.9)", "avg"}); got[0] != "k6_http_req_duration_p999" || got[1] != "k6_http_req_duration_avg" {
		t.Errorf("names %v", got)
	}
}

// BenchmarkAddSamples is the output's cost on the flusher goroutine per sample (an HTTP request's
// samples: reqs and duration of one endpoint, 8 tags), with a receiver that discards everything.
func BenchmarkAddSamples(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	o := promrw.NewWithConfig(config(srv.URL, time.Second), nil)
	if err := o.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	batch := samples(reg, 500)
	b.ResetTimer()
	for range b.N {
		_ = o.AddSamples(batch)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/sample")
	_ = o.Stop()
}
