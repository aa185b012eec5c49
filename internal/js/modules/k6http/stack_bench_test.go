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

// BenchmarkAsideStack reports the goroutine stack a request adds in a run
// of many VUs (its round trip on the VU's goroutine, a first dial on a
// goroutine of its own): stackKiB/VU is the growth of the process's
// goroutine stacks, with collections off (none is shrunk), divided by the
// VUs, each of which runs one request on a goroutine of its own and parks.
// Each VU's goroutine has first grown to the 8 KiB a VU of a run has for its
// JS, and sends from inside two callbacks (as from a group() callback's
// function): 0 means the request fit in that stack. "dial" is a VU's first
// request (a new connection), "reused" a request on a kept-alive one.
// Stacks come in powers of two, so the figure moves in steps.
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

// asideStack runs a request on n goroutines grown to 8 KiB, one per VU, as
// in a run of many VUs, and returns the stack bytes they and any goroutine
// they started hold beyond that, in KiB per VU.
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
	prog := sobek.MustCompile("bench.js", `[0].map(() => [0].map(() => http.get(URL)))`, false)
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var grown, ran, parked sync.WaitGroup
	start, release := make(chan struct{}), make(chan struct{})
	for _, v := range vus {
		grown.Add(1)
		ran.Add(1)
		parked.Add(1)
		go func() {
			defer parked.Done()
			growStack(10) // ~5 KiB of frames: the stack is 8 KiB from here on
			grown.Done()
			<-start
			if _, err := v.rt.RunProgram(prog); err != nil {
				b.Error(err)
			}
			ran.Done()
			<-release
		}()
	}
	grown.Wait()
	before := stackBytes()
	b.StartTimer()
	close(start)
	ran.Wait()
	after := stackBytes()
	close(release)
	parked.Wait()
	return (float64(after) - float64(before)) / float64(n) / 1024
}

// growStack uses about n*0.5 KiB of stack.
//
//go:noinline
func growStack(n int) byte {
	var buf [480]byte
	buf[n%len(buf)] = byte(n)
	if n > 0 {
		return growStack(n-1) + buf[len(buf)-1-n%len(buf)]
	}
	return buf[0]
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
