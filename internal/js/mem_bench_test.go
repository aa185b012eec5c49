package js

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
)

// BenchmarkVUInit measures initializing VUs for the 100-line benchmark
// script (bench/vus100.js): time per VU and heap per VU.
func BenchmarkVUInit(b *testing.B) {
	script := os.Getenv("TALLY_BENCH_SCRIPT")
	if script == "" {
		script = "../../bench/vus100.js"
	}
	src, err := os.ReadFile(script)
	if err != nil {
		b.Skip(err)
	}
	reg := metrics.NewRegistry()
	r, err := New(Config{Path: script, Source: src, Registry: reg,
		Builtin: metrics.RegisterBuiltin(reg), Root: groups.NewRoot()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.NewVU(context.Background(), 0, 0); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	vus := make([]*VU, 0, b.N)
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := r.NewVU(context.Background(), uint64(i+1), uint64(i+1))
		if err != nil {
			b.Fatal(err)
		}
		vus = append(vus, v)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N)/1024, "KiB/VU")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/VU")
	if p := os.Getenv("TALLY_HEAP_PROFILE"); p != "" {
		f, _ := os.Create(p)
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	runtime.KeepAlive(vus)
}

// BenchmarkVUIterations measures what a VU of bench/vus100.js holds after
// iterations, beside what the initialized VU holds (BenchmarkVUInit): b.N
// VUs each run BENCH_ITERS iterations (default 10; think time BENCH_THINK
// seconds, default 0, at most 0.1; each VU's Math.random seeded with its id)
// against a local server, then the server's
// side of the connections is closed and the heap per VU measured after a
// collection. The VUs keep their keep-alive connections, as sleeping VUs of
// a run do. Reported: KiB/VU initialized, KiB/VU after the iterations.
func BenchmarkVUIterations(b *testing.B) {
	src, err := os.ReadFile("../../bench/vus100.js")
	if err != nil {
		b.Skip(err)
	}
	if os.Getenv("TALLY_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1024
	}
	iters := 10
	if n, err := strconv.Atoi(os.Getenv("BENCH_ITERS")); err == nil && n > 0 {
		iters = n
	}
	think := "0"
	if f, err := strconv.ParseFloat(os.Getenv("BENCH_THINK"), 64); err == nil && f > 0 && f <= 0.1 {
		think = os.Getenv("BENCH_THINK")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"remaining_credits":100,"charged":5}`))
	}))
	defer srv.Close()
	reg := metrics.NewRegistry()
	r, err := New(Config{Path: "vus100.js", Source: src, Registry: reg, Builtin: metrics.RegisterBuiltin(reg),
		Root: groups.NewRoot(), Env: map[string]string{"BASE_URL": srv.URL, "THINK": think, "VUS": "1"}})
	if err != nil {
		b.Fatal(err)
	}
	r.Configure(RunConfig{Options: &options.Options{}, SystemTags: metrics.DefaultSystemTags,
		RunTags: metrics.NewTagSet(nil), Samples: metrics.PusherFunc(func(metrics.Samples) {})})
	if _, err := r.NewVU(context.Background(), 0, 0); err != nil {
		b.Fatal(err)
	}
	sc := &executor.Scenario{Name: "mix", Executor: "constant-vus", Exec: "default"}
	runtime.GC()
	var before, inited, after runtime.MemStats
	runtime.ReadMemStats(&before)
	vus := make([]*VU, 0, b.N)
	for i := 0; i < b.N; i++ {
		v, err := r.NewVU(context.Background(), uint64(i+1), uint64(i+1))
		if err != nil {
			b.Fatal(err)
		}
		v.Runtime().SetRandSource(rand.New(rand.NewPCG(uint64(i), 1)).Float64)
		vus = append(vus, v)
	}
	runtime.GC()
	runtime.ReadMemStats(&inited)
	b.ResetTimer()
	for _, v := range vus {
		for range iters {
			if !v.RunIteration(context.Background(), &executor.Iteration{Scenario: sc}) {
				b.Fatal("an iteration did not complete")
			}
		}
	}
	b.StopTimer()
	srv.CloseClientConnections()
	time.Sleep(100 * time.Millisecond) // the server's connection goroutines end
	runtime.GC()
	runtime.GC() // net/http's server keeps its buffers in sync.Pools for one more cycle
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(inited.HeapAlloc-before.HeapAlloc)/float64(b.N)/1024, "initKiB/VU")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N)/1024, "KiB/VU")
	if p := os.Getenv("TALLY_HEAP_PROFILE"); p != "" {
		f, _ := os.Create(p)
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	runtime.KeepAlive(vus)
}
