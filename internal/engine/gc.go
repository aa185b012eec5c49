package engine

import "runtime/debug"

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
