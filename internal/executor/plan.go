package executor

import (
	"math/bits"
	"sort"
	"time"
)

// step says that from offset at (relative to a scenario's start) the
// scenario needs vus VUs, until the next step. A plan's last step has 0 VUs.
type step struct {
	at  time.Duration
	vus int64
}

// valueAt returns the VUs a plan needs at offset t.
func valueAt(steps []step, t time.Duration) int64 {
	i := sort.Search(len(steps), func(i int) bool { return steps[i].at > t })
	if i == 0 {
		return 0
	}
	return steps[i-1].vus
}

// planned is a scenario plan placed on the test's timeline.
type planned struct {
	offset time.Duration
	steps  []step
}

// peakVUs returns the largest number of VUs the plans need at the same time.
func peakVUs(plans []planned) int64 {
	var times []time.Duration
	for _, p := range plans {
		for _, s := range p.steps {
			times = append(times, p.offset+s.at)
		}
	}
	var peak int64
	for _, t := range times {
		var sum int64
		for _, p := range plans {
			if t >= p.offset {
				sum += valueAt(p.steps, t-p.offset)
			}
		}
		peak = max(peak, sum)
	}
	return peak
}

// constantPlan is the plan of an executor that holds vus VUs for its
// regular duration plus gracefulStop.
func constantPlan(vus int64, d, gracefulStop time.Duration) []step {
	if vus <= 0 {
		return nil
	}
	return []step{{0, vus}, {d + gracefulStop, 0}}
}

// mulDiv returns a·b/c for non-negative a, b and positive c, without
// intermediate overflow.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 1<<63 - 1
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}
