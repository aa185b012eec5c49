package executor

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/internal/progress"
)

// arrivalRate is the engine of both arrival-rate executors: it starts local
// iteration slot k at offset slotAt(k) on an idle VU, or records a dropped
// iteration when none is idle and initializes another VU in the background
// while maxVUs allows.
type arrivalRate struct {
	base
	regular, gracefulStop time.Duration
	slots                 int64                       // local slots
	slotAt                func(k int64) time.Duration // offset of local slot k
	pre, maxVUs           int64
	rateText              string // for the progress bar

	owned     atomic.Int64 // VUs this executor holds
	busy      atomic.Int64 // VUs running an iteration
	drops     atomic.Int64
	requested int64     // VUs acquired or asked for; only the slot loop touches it
	lastYield time.Time // see takeIdle; only the slot loop touches it
	warnOnce  sync.Once
}

func (e *arrivalRate) progress() float64 {
	return fraction(float64(e.elapsed()), float64(e.regular))
}

func (e *arrivalRate) bar() progress.Bar {
	return progress.Bar{Fraction: e.progress(),
		Time: fmtDur(min(e.elapsed(), e.regular)) + "/" + fmtDur(e.regular),
		Detail: fmt.Sprintf("%s, %d/%d VUs busy (max %d), %d started, %d dropped", e.rateText,
			e.busy.Load(), e.owned.Load(), e.maxVUs, e.iters.count(), e.drops.Load())}
}

func (e *arrivalRate) run(ctx context.Context, start time.Time) {
	e.markStart(start)
	hardCtx, cancelHard := context.WithDeadline(ctx, start.Add(e.regular+e.gracefulStop))
	defer cancelHard()

	vus := &arrivalVUs{idle: make(chan VU, e.maxVUs)}
	for _, vu := range e.acquireAll(hardCtx, e.pre) {
		e.adopt(vus, vu)
	}
	e.requested = e.pre
	need := make(chan struct{}, max(e.maxVUs-e.pre, 0))
	initCtx, stopInit := context.WithCancel(hardCtx)
	initDone := make(chan struct{})
	go e.initUnplanned(initCtx, vus, need, initDone)

	e.startSlots(ctx, hardCtx, start, vus, need)
	sleepUntil(hardCtx, start.Add(e.regular))
	stopInit()
	<-initDone
	vus.iterations.Wait()
	vus.mu.Lock()
	defer vus.mu.Unlock()
	for _, vu := range vus.owned {
		e.release(vu)
	}
}

// arrivalVUs are the VUs of one arrival-rate run: the idle ones wait in
// idle, and every one adopted (planned or initialized during the run) is
// released when it ends.
type arrivalVUs struct {
	idle       chan VU
	mu         sync.Mutex
	owned      []VU
	iterations sync.WaitGroup // the iterations running
}

// adopt makes vu one of the run's VUs, idle.
func (e *arrivalRate) adopt(vus *arrivalVUs, vu VU) {
	vus.mu.Lock()
	vus.owned = append(vus.owned, vu)
	vus.mu.Unlock()
	e.owned.Add(1)
	vus.idle <- vu
}

// initUnplanned initializes unplanned VUs one at a time, one per request
// on need, until ctx ends or an initialization fails; it closes done when
// it returns.
func (e *arrivalRate) initUnplanned(ctx context.Context, vus *arrivalVUs, need <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-need:
		}
		vu, err := e.env.pool.newUnplanned(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.env.logger.Error("initializing a VU failed", "scenario", e.sc.Name, "error", err)
			}
			return
		}
		e.env.state.VUsActive.Add(1)
		e.adopt(vus, vu)
	}
}

// startSlots starts one iteration at each slot of the rate on an idle VU,
// until the last slot or until hardCtx ends. A slot that finds no idle VU
// is dropped.
func (e *arrivalRate) startSlots(ctx, hardCtx context.Context, start time.Time, vus *arrivalVUs, need chan<- struct{}) {
	wait := newWaiter()
	defer wait.stop()
	for k := int64(0); k < e.slots; k++ {
		at := start.Add(e.slotAt(k))
		if !wait.until(hardCtx, at) {
			return
		}
		vu := e.takeIdle(vus.idle)
		if vu == nil {
			e.drop(ctx, need)
			continue
		}
		e.busy.Add(1)
		vus.iterations.Add(1)
		go func() {
			defer vus.iterations.Done()
			e.runScheduled(hardCtx, vu, at)
			e.busy.Add(-1)
			vus.idle <- vu
		}()
	}
}

// drop counts a slot that found no idle VU and asks for one more VU, or,
// with maxVUs reached, warns once that the rate needs more.
func (e *arrivalRate) drop(ctx context.Context, need chan<- struct{}) {
	e.drops.Add(1)
	e.dropped(ctx, 1)
	if e.requested < e.maxVUs {
		e.requested++
		need <- struct{}{}
		return
	}
	e.warnOnce.Do(func() {
		e.env.logger.Warn("not enough VUs: all of maxVUs are busy, iterations are dropped; raise maxVUs or lower the rate",
			"scenario", e.sc.Name, "maxVUs", e.maxVUs)
	})
}

// takeIdle returns an idle VU, or nil. When none is idle it first yields
// the CPU, at most once per millisecond: after a stall the slot loop
// catches up in a burst, and VUs whose iterations already ended may not have
// had the CPU to say so yet. The limit keeps an overloaded loop from
// queueing behind every other goroutine at each start.
func (e *arrivalRate) takeIdle(idle chan VU) VU {
	select {
	case vu := <-idle:
		return vu
	default:
	}
	now := time.Now()
	if now.Sub(e.lastYield) < time.Millisecond {
		return nil
	}
	e.lastYield = now
	runtime.Gosched()
	select {
	case vu := <-idle:
		return vu
	default:
		return nil
	}
}

// runScheduled runs one iteration meant to start at scheduled.
func (e *arrivalRate) runScheduled(ctx context.Context, vu VU, scheduled time.Time) {
	local, global := e.iters.next()
	ok := vu.RunIteration(ctx, &Iteration{Scenario: e.sc, InInstance: local, InTest: global, Scheduled: scheduled})
	if ok {
		e.env.state.IterationsCompleted.Add(1)
	} else {
		e.env.state.IterationsInterrupted.Add(1)
	}
}

// validateVUs checks preAllocatedVUs and maxVUs, defaulting maxVUs to
// preAllocatedVUs.
func validateArrivalVUs(errs *configErrors, p presence, pre, maxVUs *int64) {
	switch {
	case !p["preAllocatedVUs"]:
		errs.add("preAllocatedVUs", "is required: the number of VUs to initialize before the test")
	case *pre < 0:
		errs.add("preAllocatedVUs", "must not be negative, got %d", *pre)
	}
	if !p["maxVUs"] {
		*maxVUs = *pre
	}
	switch {
	case *maxVUs < *pre:
		errs.add("maxVUs", "must be at least preAllocatedVUs (%d), got %d", *pre, *maxVUs)
	case *maxVUs <= 0 && *pre >= 0:
		errs.add("maxVUs", "at least one VU is needed: set preAllocatedVUs or maxVUs above 0")
	}
}
