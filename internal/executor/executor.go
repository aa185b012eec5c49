package executor

// The executor contract: what the scheduler asks of each executor, and base,
// the part every executor shares (its scenario, the VU pool, iteration
// numbering, start and end times). The per-type files (constant_vus.go,
// ramping_vus.go, ...) hold the rest; state.go the run-wide counters.

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/internal/progress"
	"github.com/tallyhq/tally/metrics"
)

// executor runs one scenario on this instance.
type executor interface {
	// run blocks until the scenario ends: its regular duration and
	// graceful stop are over, or ctx is done (hard stop).
	run(ctx context.Context, start time.Time)
	// bar describes the scenario's progress for the progress display.
	bar() progress.Bar
	// finish freezes the elapsed time shown in bar; the scheduler calls it
	// when run returns.
	finish()
}

// runEnv is what executors get from the scheduler.
type runEnv struct {
	pool    *pool
	state   *State
	samples metrics.Pusher
	builtin *metrics.Builtin
	runTags *metrics.TagSet
	logger  *slog.Logger
}

// base holds what every executor needs.
type base struct {
	env   *runEnv
	sc    *Scenario
	tags  *metrics.TagSet // run tags + scenario tags, for dropped_iterations
	iters *segIndex
	start atomic.Int64 // unix nanos of the executor's start, 0 before
	end   atomic.Int64 // unix nanos of the executor's end, 0 before
}

func newBase(env *runEnv, sc *Scenario, iterTuple *Tuple) base {
	return base{env: env, sc: sc, tags: env.runTags.Merge(sc.Tags), iters: &segIndex{t: iterTuple}}
}

// markStart records the executor's start.
func (b *base) markStart(t time.Time) { b.start.Store(t.UnixNano()) }

func (b *base) finish() { b.end.Store(time.Now().UnixNano()) }

// elapsed returns the time since the executor started (0 before), or its
// whole run time once it finished.
func (b *base) elapsed() time.Duration {
	n := b.start.Load()
	if n == 0 {
		return 0
	}
	if e := b.end.Load(); e != 0 {
		return time.Duration(e - n)
	}
	return time.Since(time.Unix(0, n))
}

// runIteration runs one iteration of the scenario on vu and counts it.
func (b *base) runIteration(ctx context.Context, vu VU) bool {
	local, global := b.iters.next()
	ok := vu.RunIteration(ctx, &Iteration{Scenario: b.sc, InInstance: local, InTest: global})
	if ok {
		b.env.state.IterationsCompleted.Add(1)
	} else {
		b.env.state.IterationsInterrupted.Add(1)
	}
	return ok
}

// dropped emits one dropped_iterations sample of n, unless the run is being
// stopped (ctx done), when nothing more is recorded.
func (b *base) dropped(ctx context.Context, n int64) {
	if n <= 0 || b.env.builtin == nil || ctx.Err() != nil {
		return
	}
	b.env.samples.Push(metrics.Samples{{Metric: b.env.builtin.DroppedIterations, Time: time.Now(),
		Value: float64(n), Tags: b.tags}})
}

// acquire takes a VU from the pool for this executor.
func (b *base) acquire(ctx context.Context) (VU, error) {
	vu, err := b.env.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	b.env.state.VUsActive.Add(1)
	return vu, nil
}

// acquireAll takes n VUs, lowest ids first, before any of them runs, so
// each loop keeps its own VU (a loop that finished early cannot hand its VU
// to one that has not started). It returns fewer when ctx ends first.
func (b *base) acquireAll(ctx context.Context, n int64) []VU {
	vus := make([]VU, 0, n)
	for range n {
		vu, err := b.acquire(ctx)
		if err != nil {
			break
		}
		vus = append(vus, vu)
	}
	return vus
}

// release gives vu back to the pool.
func (b *base) release(vu VU) {
	b.env.state.VUsActive.Add(-1)
	b.env.pool.put(vu)
}

// stopContexts returns the two ends of a looping scenario that started at
// start and runs for regular: regCtx ends with the regular duration (no
// iteration starts after it), hardCtx gracefulStop later (iterations still
// running are interrupted). cancel releases both.
func stopContexts(ctx context.Context, start time.Time, regular, gracefulStop time.Duration) (hardCtx, regCtx context.Context, cancel func()) {
	end := start.Add(regular)
	hardCtx, cancelHard := context.WithDeadline(ctx, end.Add(gracefulStop))
	regCtx, cancelReg := context.WithDeadline(hardCtx, end)
	return hardCtx, regCtx, func() { cancelReg(); cancelHard() }
}

// running reports whether a looping executor may start another iteration:
// neither its hard stop nor the end of its regular duration has come.
// regular is a child of hard, and a parent is marked done a moment before
// its children, so both are checked.
func running(hard, regular context.Context) bool {
	return hard.Err() == nil && regular.Err() == nil
}

// segIndex numbers a scenario's iterations: the n-th local iteration gets
// the n-th global index the instance owns.
type segIndex struct {
	t *Tuple
	n atomic.Int64
}

func (s *segIndex) next() (local, global uint64) {
	k := s.n.Add(1) - 1
	return uint64(k), uint64(s.t.Global(k))
}

// count returns how many iterations were numbered so far.
func (s *segIndex) count() int64 { return s.n.Load() }

// fmtDur renders a duration compactly for progress bars: "1m05s", "4.2s".
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%04.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}

// fraction returns a/b clamped to 0..1 (0 when b ≤ 0).
func fraction(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	f := a / b
	switch {
	case f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}
