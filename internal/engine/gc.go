package engine

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// gcPercentFor returns the garbage collector's target percentage for a run
// with vus VUs. Most of the heap of a run with many VUs is their long-lived
// JS runtimes; the default target (100 %: the heap may double between
// collections) would then double the memory of every VU. Collecting sooner
// costs little CPU there, because such runs spend most time waiting.
// Runs of up to 200 VUs go for throughput: their live heap is small (about
// 90 MB for race.js's 200 VUs) and every collection marks all of it, so
// they collect half as often (200 %: race.js quick 6-8 % less CPU per
// request for about 35 % more peak RSS, docs/benchmarks.md).
func gcPercentFor(vus int64) int {
	switch {
	case vus <= 200:
		return 200
	case vus >= 800:
		return 25
	default:
		return int(100 * 200 / vus)
	}
}

// tuneGC applies gcPercentFor unless the user set GOGC themselves.
func (r *run) tuneGC(vus int64) {
	if !r.cfg.TuneGC {
		return
	}
	if _, set := r.cfg.Getenv("GOGC"); set {
		return
	}
	if p := gcPercentFor(vus); p != 100 {
		debug.SetGCPercent(p)
		r.log.Debug("garbage collector target adjusted to the number of VUs", "GOGC", p, "vus", vus)
	}
}

// returnAbove is the free heap above which the memory the scenarios' VUs
// held is given back to the system when they are released. Below it, giving
// it back costs more than it saves: returning ~80 MB (normal.js quick's 150
// VUs) took ~0.12 s of CPU on the 2-core benchmark machine, a third of
// the run's budget at 80 µs per request, and teardown then faults the pages
// in again; the peak RSS, reached while the VUs ran, is the same either way.
const returnAbove = 256 << 20

// collectReleased collects what the released VUs held, so that teardown
// reuses that memory instead of growing the heap, and gives it back to the
// system (debug.FreeOSMemory) when more than above bytes of the heap are
// then free (returnAbove in a run). It reports whether it gave the memory
// back.
func collectReleased(above uint64) bool {
	runtime.GC()
	if freeHeap() <= above {
		return false
	}
	debug.FreeOSMemory()
	return true
}

// freeHeap returns the heap memory that is free and not yet returned to the
// system.
func freeHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
