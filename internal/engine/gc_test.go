package engine

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vus  int64
		want int
	}{{1, 200}, {100, 200}, {200, 200}, {201, 99}, {300, 66}, {400, 50}, {800, 25}, {1000, 25}, {5000, 25}} {
		if got := gcPercentFor(tc.vus); got != tc.want {
			t.Errorf("gcPercentFor(%d) = %d, want %d", tc.vus, got, tc.want)
		}
	}
}

// garbage allocates n bytes in 64 KiB blocks, touches them and drops them.
func garbage(n int) {
	blocks := make([][]byte, 0, n>>16)
	for range n >> 16 {
		b := make([]byte, 64<<10)
		b[0], b[len(b)-1] = 1, 1
		blocks = append(blocks, b)
	}
	runtime.KeepAlive(blocks)
}

// TestCollectReleased: the memory of released VUs is collected and stays in
// the heap for teardown when little is free, and is returned to the system
// when more than the limit is free. Not parallel: it reads the heap's state.
func TestCollectReleased(t *testing.T) {
	garbage(48 << 20)
	if collectReleased(1 << 40) {
		t.Fatal("collectReleased returned memory below its limit")
	}
	if free := freeHeap(); free < 32<<20 {
		t.Errorf("free heap after a collection of 48 MiB of garbage: %d MiB, want at least 32 (kept)", free>>20)
	}
	garbage(48 << 20)
	if !collectReleased(16 << 20) {
		t.Fatal("collectReleased kept memory above its limit")
	}
	if free := freeHeap(); free > 16<<20 {
		t.Errorf("free heap after returning memory: %d MiB, want at most 16", free>>20)
	}
}

// BenchmarkCollectReleased: the CPU of releasing 64 MiB of VU memory before
// a teardown that allocates 64 MiB again: returned to the system (return:
// debug.FreeOSMemory, and teardown faults the pages in again) or kept in
// the heap (keep: one collection), as collectReleased does below returnAbove.
//
//	go test -run '^$' -bench CollectReleased -benchtime 20x ./internal/engine/
func BenchmarkCollectReleased(b *testing.B) {
	for _, bc := range []struct {
		name  string
		above uint64
	}{{"return", 0}, {"keep", 1 << 40}} {
		b.Run(bc.name, func(b *testing.B) {
			garbage(64 << 20)
			t0 := processCPU()
			for range b.N {
				garbage(64 << 20) // the VUs' memory
				collectReleased(bc.above)
				garbage(64 << 20) // teardown's
			}
			b.ReportMetric(float64((processCPU()-t0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU returns the process's user+sys CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
