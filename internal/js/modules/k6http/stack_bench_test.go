package k6http

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/options"
)

// BenchmarkAsideStack reports the goroutine stack a request leaves in a run
// of many VUs (its round trip on a worker of the run's pool): stackKiB/VU
// is the growth of the process's goroutine stacks, with collections off
// (none is shrunk), divided by the VUs, each of which has run one request
// on a goroutine of its own and is parked, as is its worker. "dial" is a
// VU's first request (a new connection), "reused" a request on a kept-alive
// one. Stacks come in powers of two, so the figure moves in steps: a
// worker whose round trip fits in 4 KiB instead of 8 saves 4 KiB.
func BenchmarkAsideStack(b *testing.B) {
	url := startBenchServer(b)
	for _, bc := range []struct{ name, warm string }{{"dial", ``}, {"reused", `http.get(URL)`}} {
		b.Run(bc.name, func(b *testing.B) {
			var perVU float64
			for range b.N {
				perVU = asideStack(b, url, bc.warm, 100)
			}
			b.ReportMetric(perVU, "stackKiB/VU")
		})
	}
}

// asideStack runs `http.get(URL)` on n fresh goroutines, one per VU, with
// round trips aside, and returns the stack bytes they and their workers
// hold, in KiB per VU.
func asideStack(b *testing.B, url, warm string, n int) float64 {
	b.StopTimer()
	vus := make([]*fakeVU, n)
	for i := range vus {
		vus[i] = benchVU(b, url, &countingPusher{}, false)
		if warm != "" {
			if _, err := vus[i].rt.RunString(warm); err != nil {
				b.Fatal(err)
			}
		}
		vus[i].mi.root.aside.many.Store(true)
	}
	prog := sobek.MustCompile("bench.js", `http.get(URL)`, false)
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := stackBytes()
	b.StartTimer()
	var ran, parked sync.WaitGroup
	release := make(chan struct{})
	for _, v := range vus {
		ran.Add(1)
		parked.Add(1)
		go func() {
			defer parked.Done()
			if _, err := v.rt.RunProgram(prog); err != nil {
				b.Error(err)
			}
			ran.Done()
			<-release
		}()
	}
	ran.Wait()
	grown := stackBytes() - before
	close(release)
	parked.Wait()
	b.StartTimer()
	return float64(grown) / float64(n) / 1024
}

func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkGetNewConnection is BenchmarkGet's h1/get with noConnectionReuse:
// every GET dials; "aside" as in a run of many VUs (the round trip on a
// worker, the dial on a goroutine of its own, see h1.acquire).
func BenchmarkGetNewConnection(b *testing.B) {
	url := startBenchServer(b)
	for _, aside := range []bool{false, true} {
		b.Run(map[bool]string{false: "on-VU", true: "aside"}[aside], func(b *testing.B) {
			noReuse := true
			v := newVU(b, withOptions(options.Options{NoConnectionReuse: &noReuse}))
			v.st.Samples = &countingPusher{}
			v.mi.root.aside.many.Store(aside)
			_ = v.rt.Set("URL", url)
			runScript(b, v, `http.get(URL)`, 1, "cpu-µs/op")
		})
	}
}
