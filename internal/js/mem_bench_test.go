package js

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/groups"
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
