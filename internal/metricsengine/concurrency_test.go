package metricsengine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/metrics"
)

// Many goroutines push concurrently while thresholds are evaluated every
// millisecond and a json output streams to a file: every sample is counted
// exactly once, the trend statistics match, and every sample reaches the
// output. Run with -race.
func TestConcurrentPush(t *testing.T) {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	g := reg.MustNew("queue_depth", metrics.Gauge)
	path := filepath.Join(t.TempDir(), "out.json")
	out, err := output.New("json="+path, output.Params{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := metricsengine.New(metricsengine.Config{
		Registry: reg, Outputs: []metricsengine.Output{out}, EvaluationInterval: time.Millisecond,
		Thresholds: thresholdsJSON(t, map[string]any{
			"http_req_duration":                 []string{"p(95)<1000", "max<=1000"},
			"http_req_duration{scenario:race}":  []string{"avg<1000"},
			"http_reqs{status:500}":             []string{"count<1000000"},
			"http_req_failed":                   []string{"rate<1"},
			"queue_depth":                       []string{"value>=0"},
			"http_reqs{scenario:race,vu:never}": []string{"count==0"},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(context.Background(), func(err error) { t.Errorf("abort: %v", err) })

	const workers, perWorker = 32, 250
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			scenario := "race"
			if w%2 == 1 {
				scenario = "normal"
			}
			status := "200"
			if w%4 == 3 {
				status = "500"
			}
			tags := metrics.NewTagSet(map[string]string{"scenario": scenario, "status": status,
				"expected_response": strconv.FormatBool(status == "200")})
			for i := 0; i < perWorker; i++ {
				failed := 0.0
				if status == "500" {
					failed = 1
				}
				batch := metrics.Samples{
					{Metric: b.HTTPReqs, Value: 1, Tags: tags},
					{Metric: b.HTTPReqDuration, Value: float64(1 + (w*perWorker+i)%1000), Tags: tags},
					{Metric: b.HTTPReqFailed, Value: failed, Tags: tags},
				}
				if w == 0 {
					batch = append(batch, metrics.Sample{Metric: g, Value: float64(i)})
				}
				eng.Push(batch)
			}
		}(w)
	}
	wg.Wait()
	if err := eng.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if eng.EvaluateThresholds() {
		t.Errorf("thresholds failed: %v", eng.FailedThresholds())
	}
	sum := eng.SummaryMetrics(time.Second, []string{"count", "min", "max", "avg", "med"})
	total := float64(workers * perWorker)
	expect(t, sum, map[string]map[string]any{
		"http_reqs":                                 {"count": total},
		"http_reqs{status:500}":                     {"count": total / 4},
		"http_req_failed":                           {"passes": total / 4, "fails": total * 3 / 4},
		"http_req_duration":                         {"count": total, "min": 1, "max": 1000, "avg": 500.5},
		"http_req_duration{scenario:race}":          {"count": total / 2},
		"http_req_duration{expected_response:true}": {"count": total * 3 / 4},
		"queue_depth":                               {"value": perWorker - 1, "min": 0, "max": perWorker - 1},
		"http_reqs{scenario:race,vu:never}":         {"count": 0},
	})

	if med := sum["http_req_duration"].Values["med"]; med < 500.5*0.99 || med > 500.5*1.01 {
		t.Errorf("med = %v, want 500.5 ± 1%%", med)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct{ Type, Metric string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		counts[l.Type+":"+l.Metric]++
	}
	want := map[string]int{
		"Metric:http_reqs": 1, "Metric:http_req_duration": 1, "Metric:http_req_failed": 1, "Metric:queue_depth": 1,
		"Point:http_reqs": int(total), "Point:http_req_duration": int(total), "Point:http_req_failed": int(total),
		"Point:queue_depth": perWorker,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("output lines = %v\nwant %v", counts, want)
	}

	// pushing after Stop neither panics nor blocks
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100_000; i++ {
			eng.Push(metrics.Samples{{Metric: b.HTTPReqs, Value: 1}})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Push blocked after Stop")
	}
}

// A stalled output applies back-pressure: pushers wait once the shards'
// buffers are full instead of buffering without bound, and nothing is
// dropped once the output moves again.
func TestStalledOutputBackPressure(t *testing.T) {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	stalled := &gatedOutput{gate: make(chan struct{})}
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, Outputs: []metricsengine.Output{stalled}})
	if err != nil {
		t.Fatal(err)
	}
	metricsengine.SetBuffer(eng, 16, 64)
	eng.Start(context.Background(), nil)
	var pushed atomic.Int64
	var wg sync.WaitGroup
	const workers, per = 16, 2000
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				eng.Push(metrics.Samples{{Metric: b.Iterations, Value: 1}})
				pushed.Add(1)
			}
		}()
	}
	// wait until pushing stalls
	last := int64(-1)
	for stable := 0; stable < 5; {
		time.Sleep(20 * time.Millisecond)
		if n := pushed.Load(); n == last {
			stable++
		} else {
			stable, last = 0, n
		}
	}
	bound := int64(metricsengine.BufferBound(eng))
	if last >= workers*per || last > bound {
		t.Errorf("%d samples pushed while the output was stalled; bound %d", last, bound)
	}
	close(stalled.gate)
	wg.Wait()
	if err := eng.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stalled.samples.Load(); got != workers*per {
		t.Errorf("output got %d samples, want %d", got, workers*per)
	}
}

// gatedOutput blocks in AddSamples until gate is closed.
type gatedOutput struct {
	gate    chan struct{}
	samples atomic.Int64
}

func (o *gatedOutput) Description() string                               { return "gated" }
func (o *gatedOutput) Start(context.Context, metrics.DescribeFunc) error { return nil }
func (o *gatedOutput) AddSamples(b metrics.Samples) error {
	<-o.gate
	o.samples.Add(int64(len(b)))
	return nil
}
func (o *gatedOutput) Stop() error { return nil }

// countingOutput counts what it receives.
type countingOutput struct{ samples int }

func (o *countingOutput) Description() string                               { return "counting" }
func (o *countingOutput) Start(context.Context, metrics.DescribeFunc) error { return nil }
func (o *countingOutput) AddSamples(b metrics.Samples) error                { o.samples += len(b); return nil }
func (o *countingOutput) Stop() error                                       { return nil }

// An output that fails surfaces its error at Stop; the others keep going.
func TestOutputErrorReportedAtStop(t *testing.T) {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	good := &countingOutput{}
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, Outputs: []metricsengine.Output{failingOutput{}, good}})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(context.Background(), nil)
	for i := 0; i < 10; i++ {
		eng.Push(metrics.Samples{{Metric: b.Iterations, Value: 1}})
	}
	err = eng.Stop(context.Background())
	if err == nil {
		t.Fatal("Stop() = nil, want the output's error")
	}
	if good.samples != 10 {
		t.Errorf("healthy output got %d samples", good.samples)
	}
}

type failingOutput struct{}

func (failingOutput) Description() string                               { return "failing" }
func (failingOutput) Start(context.Context, metrics.DescribeFunc) error { return nil }
func (failingOutput) AddSamples(metrics.Samples) error                  { return fmt.Errorf("disk full") }
func (failingOutput) Stop() error                                       { return nil }

// Batches a VU pushes in time order reach the outputs in time order, even
// though they land in different shards.
func TestOutputTimeOrder(t *testing.T) {
	reg := metrics.NewRegistry()
	b := metrics.RegisterBuiltin(reg)
	rec := &recordingOutput{}
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, Outputs: []metricsengine.Output{rec}})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(context.Background(), nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 20_000; i++ {
		eng.Push(metrics.Samples{{Metric: b.Iterations, Value: 1, Time: base.Add(time.Duration(i) * time.Microsecond)}})
	}
	if err := eng.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.times) != 20_000 {
		t.Fatalf("%d samples", len(rec.times))
	}
	for i := 1; i < len(rec.times); i++ {
		if rec.times[i].Before(rec.times[i-1]) {
			t.Fatalf("sample %d at %v came after %v", i, rec.times[i], rec.times[i-1])
		}
	}
}

type recordingOutput struct{ times []time.Time }

func (o *recordingOutput) Description() string                               { return "recording" }
func (o *recordingOutput) Start(context.Context, metrics.DescribeFunc) error { return nil }
func (o *recordingOutput) AddSamples(b metrics.Samples) error {
	for _, s := range b {
		o.times = append(o.times, s.Time)
	}
	return nil
}
func (o *recordingOutput) Stop() error { return nil }
