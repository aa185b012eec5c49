package engine

import "runtime/debug"

// gcPercentFor returns the garbage collector's target percentage for a run
// with vus VUs. Most of the heap of a run with many VUs is their long-lived
// JS runtimes; the default target (100 %: the heap may double between
// collections) would then double the memory of every VU. Collecting sooner
// costs little CPU there, because such runs spend most time waiting.
// Runs of up to 200 VUs, which go for throughput (a lower target costs them
// 10-15 % more CPU), keep the default.
func gcPercentFor(vus int64) int {
	switch {
	case vus <= 200:
		return 100
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
	p := gcPercentFor(vus)
	if p != 100 {
		debug.SetGCPercent(p)
		r.log.Debug("garbage collector target adjusted to the number of VUs", "GOGC", p, "vus", vus)
	}
}
