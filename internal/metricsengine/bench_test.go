package metricsengine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/metrics"
)

// benchEngine returns a started engine with the built-in metrics, the
// thresholds of a typical profile (two of them on sub-metrics) and 200
// tagged series (100 URLs × 2 statuses).
func benchEngine(b *testing.B, outs ...metricsengine.Output) (*metricsengine.Engine, *metrics.Builtin, []*metrics.TagSet) {
	return benchEngineConfig(b, metricsengine.Config{Outputs: outs})
}

func benchEngineConfig(b *testing.B, cfg metricsengine.Config) (*metricsengine.Engine, *metrics.Builtin, []*metrics.TagSet) {
	b.Helper()
	reg := metrics.NewRegistry()
	bi := metrics.RegisterBuiltin(reg)
	th := map[string]any{
		"http_req_duration":                []string{"p(95)<500", "p(99)<1500"},
		"http_req_failed":                  []string{"rate<0.01"},
		"http_req_duration{scenario:race}": []string{"p(95)<800"},
		"http_reqs{status:500}":            []string{"count<10"},
	}
	raw := map[string]json.RawMessage{}
	for k, v := range th {
		raw[k], _ = json.Marshal(v)
	}
	cfg.Registry, cfg.Thresholds = reg, raw
	eng, err := metricsengine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	eng.Start(context.Background(), nil)
	b.Cleanup(func() { _ = eng.Stop(context.Background()) })
	return eng, bi, series(200)
}

// series returns n realistic HTTP tag sets.
func series(n int) []*metrics.TagSet {
	out := make([]*metrics.TagSet, n)
	for i := range out {
		status := "200"
		if i%2 == 1 {
			status = "500"
		}
		scenario := "normal"
		if i%3 == 0 {
			scenario = "race"
		}
		url := "http://127.0.0.1:8080/api/v1/search/" + strconv.Itoa(i/2)
		out[i] = metrics.NewTagSet(map[string]string{
			"method": "POST", "url": url, "name": url, "status": status, "proto": "HTTP/1.1",
			"scenario": scenario, "group": "", "expected_response": strconv.FormatBool(status == "200"),
		})
	}
	return out
}

// request returns the samples of one HTTP round trip on series tags.
func request(bi *metrics.Builtin, tags *metrics.TagSet, v float64) metrics.Samples {
	return metrics.Samples{
		{Metric: bi.HTTPReqs, Value: 1, Tags: tags},
		{Metric: bi.HTTPReqDuration, Value: v, Tags: tags},
		{Metric: bi.HTTPReqBlocked, Value: v / 100, Tags: tags},
		{Metric: bi.HTTPReqConnecting, Value: 0, Tags: tags},
		{Metric: bi.HTTPReqTLSHandshaking, Value: 0, Tags: tags},
		{Metric: bi.HTTPReqSending, Value: v / 50, Tags: tags},
		{Metric: bi.HTTPReqWaiting, Value: v * 0.9, Tags: tags},
		{Metric: bi.HTTPReqReceiving, Value: v / 20, Tags: tags},
		{Metric: bi.HTTPReqFailed, Value: 0, Tags: tags},
	}
}

// BenchmarkPush measures the hot path: one op is one Push of a single
// sample (ns/op = ns per sample) from 1 or 1,000 goroutines, with ingest and
// the periodic threshold evaluation running. The "request" variants push
// the 9 samples of an HTTP round trip per op and report ns/sample.
func BenchmarkPush(b *testing.B) {
	for _, goroutines := range []int{1, 1000} {
		b.Run(fmt.Sprintf("sample/goroutines=%d", goroutines), func(b *testing.B) {
			eng, bi, tags := benchEngine(b)
			batches := make([]metrics.Samples, len(tags))
			for i, t := range tags {
				batches[i] = metrics.Samples{{Metric: bi.HTTPReqDuration, Value: float64(i%97) + 0.5, Tags: t}}
			}
			runPush(b, goroutines, 1, func(i int) { eng.Push(batches[i%len(batches)]) })
		})
		b.Run(fmt.Sprintf("request/goroutines=%d", goroutines), func(b *testing.B) {
			eng, bi, tags := benchEngine(b)
			batches := make([]metrics.Samples, len(tags))
			for i, t := range tags {
				batches[i] = request(bi, t, float64(i%97)+0.5)
			}
			runPush(b, goroutines, 9, func(i int) { eng.Push(batches[i%len(batches)]) })
		})
	}
	b.Run("request+breakdown/goroutines=1", func(b *testing.B) {
		eng, bi, tags := benchEngineConfig(b, metricsengine.Config{Breakdown: true})
		batches := make([]metrics.Samples, len(tags))
		for i, t := range tags {
			batches[i] = request(bi, t, float64(i%97)+0.5)
		}
		runPush(b, 1, 9, func(i int) { eng.Push(batches[i%len(batches)]) })
	})
	b.Run("request+json-output/goroutines=1000", func(b *testing.B) {
		out, err := output.New("json", output.Params{Stdout: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		eng, bi, tags := benchEngine(b, out)
		runPush(b, 1000, 9, func(i int) {
			// the engine keeps batches for the output: one per push
			eng.Push(request(bi, tags[i%len(tags)], float64(i%97)+0.5))
		})
	})
}

// runPush runs b.N calls of push spread over goroutines. Besides wall time
// it reports cpu-ns/op, the process's CPU time (user+system, all threads)
// per op: on a shared, loaded machine wall time inflates with other
// processes' load, CPU time much less.
func runPush(b *testing.B, goroutines, samplesPerOp int, push func(i int)) {
	b.ReportAllocs()
	start := cpuTime()
	defer func() {
		cpu := float64(cpuTime() - start)
		b.ReportMetric(cpu/float64(b.N), "cpu-ns/op")
		if samplesPerOp > 1 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samplesPerOp), "ns/sample")
			b.ReportMetric(cpu/float64(b.N*samplesPerOp), "cpu-ns/sample")
		}
	}()
	if goroutines == 1 {
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			push(i)
		}
		return
	}
	b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	var id sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		id.Lock()
		i := next * 7919
		next++
		id.Unlock()
		for pb.Next() {
			push(i)
			i++
		}
	})
}

// BenchmarkResidentMemory pushes a fixed number of samples (the size in the
// name, independent of b.N) of 200 tagged series, as HTTP round trips, from
// 8 goroutines, then reports the Go heap in use after a GC and the process's
// resident set. Run each size in its own process to compare RSS:
//
//	go test -run '^$' -bench 'ResidentMemory/samples=1M$' -benchtime 1x ./internal/metricsengine/
//	go test -run '^$' -bench 'ResidentMemory/samples=10M$' -benchtime 1x ./internal/metricsengine/
func BenchmarkResidentMemory(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("samples=%dM", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				eng, bi, tags := benchEngine(b)
				const workers = 8
				rounds := n / 9 / workers
				var wg sync.WaitGroup
				for w := 0; w < workers; w++ {
					wg.Add(1)
					go func(w int) {
						defer wg.Done()
						batch := make(metrics.Samples, 9)
						for i := 0; i < rounds; i++ {
							t := tags[(w*rounds+i)%len(tags)]
							// latencies spread over 1 ms .. 3 s
							v := 1 + float64((w*rounds+i)*7919%3_000_000)/1000
							copy(batch, request(bi, t, v))
							eng.Push(batch)
						}
					}(w)
				}
				wg.Wait()
				if err := eng.Stop(context.Background()); err != nil {
					b.Fatal(err)
				}
				eng.EvaluateThresholds()
				sum := eng.SummaryMetrics(time.Minute, nil)
				if got := sum["http_reqs"].Values["count"]; got != float64(rounds*workers) {
					b.Fatalf("http_reqs count %v, want %d", got, rounds*workers)
				}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
				b.ReportMetric(rssMiB(), "rss-MiB")
				runtime.KeepAlive(eng)
			}
		})
	}
}

// rssMiB reads the resident set size from /proc (0 where unavailable).
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime returns the process's CPU time so far (0 where unavailable).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
