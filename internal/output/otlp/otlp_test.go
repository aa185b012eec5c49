package otlp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/internal/output/otlp"
	"github.com/tallyhq/tally/metrics"
)

// receiver is an OTLP/HTTP collector that keeps the last request's metrics by name.
type receiver struct {
	mu      sync.Mutex
	metrics map[string]*metricpb.Metric
	res     map[string]string
	delay   time.Duration
	arrived chan struct{} // when set, told (without waiting) of every request
	hold    chan struct{} // when set, requests wait until it is closed or they are cancelled
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.arrived != nil {
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-req.Context().Done():
			return
		}
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			return
		}
	}
	b, _ := io.ReadAll(req.Body)
	var msg colmetricpb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = map[string]*metricpb.Metric{}
	r.res = map[string]string{}
	for _, rm := range msg.ResourceMetrics {
		for _, a := range rm.Resource.Attributes {
			r.res[a.Key] = a.Value.GetStringValue()
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				r.metrics[m.Name] = m
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	_, _ = w.Write(out)
}

func samples(reg *metrics.Registry, n int) metrics.Samples {
	tags := metrics.NewTagSet(map[string]string{"name": "deduct", "url": "http://x/u/1", "status": "200"})
	var out metrics.Samples
	for i := range n {
		out = append(out,
			metrics.Sample{Metric: reg.Get(metrics.HTTPReqsName), Value: 1, Tags: tags, Time: time.Now()},
			metrics.Sample{Metric: reg.Get(metrics.HTTPReqDurationName), Value: float64(i%50 + 1), Tags: tags, Time: time.Now()},
			metrics.Sample{Metric: reg.Get(metrics.HTTPReqFailedName), Value: float64(i % 10 / 9), Tags: tags, Time: time.Now()},
			metrics.Sample{Metric: reg.Get(metrics.VUsName), Value: 7, Time: time.Now()})
	}
	return out
}

func TestExportsOverOTLPHTTP(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	o := otlp.NewWithConfig(otlp.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), URLPath: "/v1/metrics", Insecure: true,
		ExportInterval: time.Hour, Prefix: "k6.", ServiceName: "tally",
		Attributes: map[string]string{"instance": "i2", "run_id": "r"}}, nil)
	if err := o.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	_ = o.AddSamples(samples(reg, 100))
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.res["service.name"] != "tally" || rcv.res["service.instance.id"] != "i2" {
		t.Errorf("resource %v", rcv.res)
	}
	reqs := rcv.metrics["k6.http_reqs"]
	if reqs == nil || reqs.GetSum() == nil {
		t.Fatalf("no k6.http_reqs sum among %d metrics", len(rcv.metrics))
	}
	dp := reqs.GetSum().DataPoints[0]
	if dp.GetAsDouble() != 100 {
		t.Errorf("k6.http_reqs = %v, want 100", dp.GetAsDouble())
	}
	got := map[string]string{}
	for _, a := range dp.Attributes {
		got[a.Key] = a.Value.GetStringValue()
	}
	if got["instance"] != "i2" || got["run_id"] != "r" || got["name"] != "deduct" || got["url"] != "" {
		t.Errorf("attributes %v: want instance, run_id and name, no url", got)
	}
	h := rcv.metrics["k6.http_req_duration"].GetHistogram()
	if h == nil || h.DataPoints[0].GetCount() != 100 || rcv.metrics["k6.http_req_duration"].Unit != "ms" {
		t.Errorf("k6.http_req_duration histogram: %v", rcv.metrics["k6.http_req_duration"])
	}
	occ := rcv.metrics["k6.http_req_failed.occurred"].GetSum().DataPoints[0].GetAsInt()
	tot := rcv.metrics["k6.http_req_failed.total"].GetSum().DataPoints[0].GetAsInt()
	if occ != 10 || tot != 100 {
		t.Errorf("http_req_failed occurred/total = %d/%d, want 10/100", occ, tot)
	}
	if g := rcv.metrics["k6.vus"].GetGauge(); g == nil || g.DataPoints[0].GetAsDouble() != 7 {
		t.Errorf("k6.vus gauge: %v", rcv.metrics["k6.vus"])
	}
}

// TestSlowCollectorNeverBlocks: recording goes on while an export hangs in
// the collector, and the failed exports are counted. The collector holds
// every request until the test ends, so a recording that waited for an
// export would never finish: no figure here depends on the machine's speed.
func TestSlowCollectorNeverBlocks(t *testing.T) {
	rcv := &receiver{arrived: make(chan struct{}, 1), hold: make(chan struct{})}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	defer close(rcv.hold)
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	o := otlp.NewWithConfig(otlp.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), URLPath: "/v1/metrics", Insecure: true,
		ExportInterval: 20 * time.Millisecond, Prefix: "k6."}, nil)
	if err := o.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	_ = o.AddSamples(samples(reg, 50))
	select {
	case <-rcv.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no export reached the collector")
	}
	// An export now hangs in the collector; 200 more batches are recorded.
	recorded := make(chan struct{})
	go func() {
		for range 200 {
			_ = o.AddSamples(samples(reg, 50))
		}
		close(recorded)
	}()
	select {
	case <-recorded:
	case <-time.After(30 * time.Second):
		t.Fatal("recording waited for the hanging export")
	}
	start := time.Now()
	_ = o.Stop()
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Stop took %s", d)
	}
	if st := o.Stats(); st.Failed == 0 {
		t.Errorf("stats %+v: want failed exports counted", st)
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{}
	p := output.Params{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Instance: "1/2:1"}
	c, err := otlp.ParseConfig(p)
	if err != nil || c.Endpoint != otlp.DefaultEndpoint || c.Prefix != "k6." || c.Attributes["instance"] != "1/2:1" {
		t.Fatalf("defaults %+v %v", c, err)
	}
	for k, v := range map[string]string{"K6_OTEL_EXPORTER_TYPE": "grpc", "K6_OTEL_HTTP_EXPORTER_ENDPOINT": "http://x:4318",
		"K6_OTEL_EXPORT_INTERVAL": "-1s", "K6_OTEL_HTTP_EXPORTER_INSECURE": "maybe", "K6_OTEL_HEADERS": "x"} {
		env = map[string]string{k: v}
		if _, err := otlp.ParseConfig(p); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}

// BenchmarkAddSamples is the output's cost on the flusher goroutine per sample (reqs, duration, failed
// and vus samples of one endpoint), with a collector that discards everything.
func BenchmarkAddSamples(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	o := otlp.NewWithConfig(otlp.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), URLPath: "/v1/metrics", Insecure: true,
		ExportInterval: time.Second, Prefix: "k6."}, nil)
	if err := o.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	batch := samples(reg, 250)
	b.ResetTimer()
	for range b.N {
		_ = o.AddSamples(batch)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/sample")
	_ = o.Stop()
}
