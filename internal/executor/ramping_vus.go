package executor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/progress"
)

// RampingVUsConfig configures the ramping-vus executor: the number of
// looping VUs follows a line from StartVUs through each stage's Target.
// Rising, the line's floor is active; falling, its ceiling. VUs removed by a
// ramp-down finish their iteration within GracefulRampDown.
type RampingVUsConfig struct {
	CommonConfig
	StartVUs         int64            `json:"startVUs"`
	Stages           []Stage          `json:"stages"`
	GracefulRampDown options.Duration `json:"gracefulRampDown"`
	presence
}

func newRampingVUsConfig(name string) *RampingVUsConfig {
	return &RampingVUsConfig{CommonConfig: newCommon(name, RampingVUsType), StartVUs: 1,
		GracefulRampDown: options.Duration(DefaultGracefulRampDown)}
}

func (c *RampingVUsConfig) keys() []string { return []string{"startVUs", "stages", "gracefulRampDown"} }

// RegularDuration returns the sum of the stage durations.
func (c *RampingVUsConfig) RegularDuration() time.Duration { return stagesDuration(c.Stages) }

func (c *RampingVUsConfig) validate(errs *configErrors) {
	if c.StartVUs < 0 {
		errs.add("startVUs", "must not be negative, got %d", c.StartVUs)
	}
	if c.GracefulRampDown < 0 {
		errs.add("gracefulRampDown", "must not be negative, got %s", c.GracefulRampDown)
	}
	validateStages(errs, c.Stages)
	peak := c.StartVUs
	for _, s := range c.Stages {
		peak = max(peak, s.Target)
	}
	if peak <= 0 && len(c.Stages) > 0 {
		errs.add("stages", "startVUs or at least one stage target must be greater than 0")
	}
}

// rawSteps returns when the number of active VUs changes on this instance:
// the global count becomes u when the stage line reaches u, and the local
// count is this instance's share of it. The first step is at 0.
func (c *RampingVUsConfig) rawSteps(t *Tuple) []step {
	steps := []step{{0, t.Scale(c.StartVUs)}}
	add := func(at time.Duration, global int64) {
		v := t.Scale(global)
		if last := &steps[len(steps)-1]; last.vus != v {
			if last.at == at {
				last.vus = v
				if len(steps) > 1 && steps[len(steps)-2].vus == v {
					steps = steps[:len(steps)-1]
				}
				return
			}
			steps = append(steps, step{at, v})
		}
	}
	from := c.StartVUs
	var end time.Duration
	for _, s := range c.Stages {
		d, target := s.Duration.D(), s.Target
		end += d
		switch {
		case target == from:
		case d == 0:
			add(end, target)
		case target > from:
			diff := target - from
			for u := from + 1; u <= target; u++ {
				add(end-time.Duration(mulDiv(int64(d), target-u, diff)), u)
			}
		default:
			diff := from - target
			for u := from - 1; u >= target; u-- {
				add(end-time.Duration(mulDiv(int64(d), u-target, diff)), u)
			}
		}
		from = target
	}
	return steps
}

// requirement holds every VU for gracefulRampDown after it is ramped down
// (a ramped-down VU may still be finishing its iteration), and all of them
// until the end plus gracefulStop.
func (c *RampingVUsConfig) requirement(t *Tuple) ([]step, int64) {
	raw := c.rawSteps(t)
	end := c.RegularDuration() + c.GracefulStop.D()
	return holdSteps(raw, c.GracefulRampDown.D(), end), 0
}

// holdSteps returns the step function h(t) = max raw(s) for s in
// [t−hold, t], cut to 0 at end.
func holdSteps(raw []step, hold, end time.Duration) []step {
	// Candidate change points: every raw step and every step + hold.
	var times []time.Duration
	i, j := 0, 0
	for i < len(raw) || j < len(raw) {
		var next time.Duration
		if j >= len(raw) || (i < len(raw) && raw[i].at <= raw[j].at+hold) {
			next = raw[i].at
			i++
		} else {
			next = raw[j].at + hold
			j++
		}
		if next >= end {
			continue
		}
		if n := len(times); n == 0 || times[n-1] != next {
			times = append(times, next)
		}
	}
	var out []step
	var deque []int // indices into raw with decreasing vus
	lo, hi := 0, -1
	for _, at := range times {
		for hi+1 < len(raw) && raw[hi+1].at <= at {
			hi++
			for len(deque) > 0 && raw[deque[len(deque)-1]].vus <= raw[hi].vus {
				deque = deque[:len(deque)-1]
			}
			deque = append(deque, hi)
		}
		// lo = the last step at or before at−hold (its value still holds).
		for lo+1 <= hi && raw[lo+1].at <= at-hold {
			lo++
		}
		for len(deque) > 0 && deque[0] < lo {
			deque = deque[1:]
		}
		v := raw[deque[0]].vus
		if n := len(out); n == 0 || out[n-1].vus != v {
			out = append(out, step{at, v})
		}
	}
	if n := len(out); n > 0 && out[n-1].vus != 0 {
		out = append(out, step{end, 0})
	}
	return out
}

func (c *RampingVUsConfig) newExecutor(t *Tuple, env *runEnv, sc *Scenario) executor {
	e := &rampingVUs{base: newBase(env, sc, t), cfg: c, steps: c.rawSteps(t)}
	for _, s := range e.steps {
		e.maxVUs = max(e.maxVUs, s.vus)
	}
	sc.SetProgress(e.progress)
	return e
}

type rampingVUs struct {
	base
	cfg     *RampingVUsConfig
	steps   []step
	maxVUs  int64
	current atomic.Int64 // scheduled VUs
}

func (e *rampingVUs) progress() float64 {
	return fraction(float64(e.elapsed()), float64(e.cfg.RegularDuration()))
}

func (e *rampingVUs) bar() progress.Bar {
	total := e.cfg.RegularDuration()
	return progress.Bar{Fraction: e.progress(),
		Time:   fmtDur(min(e.elapsed(), total)) + "/" + fmtDur(total),
		Detail: fmt.Sprintf("%d/%d VUs, %d iterations", e.current.Load(), e.maxVUs, e.iters.count())}
}

func (e *rampingVUs) run(ctx context.Context, start time.Time) {
	e.markStart(start)
	regular := e.cfg.RegularDuration()
	hardCtx, cancelHard := context.WithDeadline(ctx, start.Add(regular+e.cfg.GracefulStop.D()))
	defer cancelHard()

	var wg sync.WaitGroup
	handles := make([]*vuHandle, e.maxVUs)
	for i := range handles {
		handles[i] = &vuHandle{e: e, ctx: hardCtx, wg: &wg}
	}
	var cur int64
	for _, s := range e.steps {
		if s.at > regular || !sleepUntil(hardCtx, start.Add(s.at)) {
			break
		}
		for ; cur < s.vus; cur++ {
			handles[cur].start()
		}
		for ; cur > s.vus; cur-- {
			handles[cur-1].stop(e.cfg.GracefulRampDown.D())
		}
		e.current.Store(cur)
	}
	if sleepUntil(hardCtx, start.Add(regular)) {
		for _, h := range handles[:cur] {
			h.stop(-1)
		}
	}
	e.current.Store(0)
	wg.Wait()
}

// vuHandle is one slot of a ramping-vus executor. While started, it loops
// iterations on a VU from the pool; stopped, it finishes its iteration (cut
// after its graceful period) and returns the VU. Starting it again during
// that period resumes the loop.
type vuHandle struct {
	e   *rampingVUs
	ctx context.Context // the executor's hard-stop context
	wg  *sync.WaitGroup

	mu         sync.Mutex
	state      int // handleStopped, handleRunning or handleStopping
	stops      int // counts stop calls, so a stale cut timer does nothing
	cutTimer   *time.Timer
	cancelIter context.CancelFunc
}

const (
	handleStopped = iota
	handleRunning
	handleStopping
)

// start starts or resumes the loop. Only the executor's step loop calls
// start and stop, so they never race with each other.
func (h *vuHandle) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case handleStopped:
		// take the VU here, in step order, so VUs are handed out
		// lowest id first to the handles that start first
		h.mu.Unlock()
		vu, err := h.e.acquire(h.ctx)
		h.mu.Lock()
		if err != nil {
			return
		}
		h.state = handleRunning
		h.wg.Add(1)
		go h.loop(vu)
	case handleStopping:
		h.state = handleRunning
		if h.cutTimer != nil {
			h.cutTimer.Stop()
			h.cutTimer = nil
		}
	}
}

// stop lets the current iteration finish within grace (negative: until the
// executor's hard stop) and then returns the VU.
func (h *vuHandle) stop(grace time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != handleRunning {
		return
	}
	h.state = handleStopping
	h.stops++
	if grace >= 0 {
		n := h.stops
		h.cutTimer = time.AfterFunc(grace, func() { h.cut(n) })
	}
}

// cut interrupts the iteration of a handle still in the stop numbered n.
func (h *vuHandle) cut(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == handleStopping && h.stops == n && h.cancelIter != nil {
		h.cancelIter()
	}
}

func (h *vuHandle) loop(vu VU) {
	defer h.wg.Done()
	defer h.e.release(vu)
	for {
		h.mu.Lock()
		if h.state != handleRunning || h.ctx.Err() != nil {
			h.state = handleStopped
			if h.cutTimer != nil {
				h.cutTimer.Stop()
				h.cutTimer = nil
			}
			h.mu.Unlock()
			return
		}
		iterCtx, cancel := context.WithCancel(h.ctx)
		h.cancelIter = cancel
		h.mu.Unlock()

		h.e.runIteration(iterCtx, vu)
		cancel()

		h.mu.Lock()
		h.cancelIter = nil
		h.mu.Unlock()
	}
}
