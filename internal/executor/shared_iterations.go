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

// SharedIterationsConfig configures the shared-iterations executor: VUs VUs
// share a pool of Iterations iterations; the scenario ends when all are done
// or after MaxDuration.
type SharedIterationsConfig struct {
	CommonConfig
	VUs         int64            `json:"vus"`
	Iterations  int64            `json:"iterations"`
	MaxDuration options.Duration `json:"maxDuration"`
	presence
}

func newSharedIterationsConfig(name string) *SharedIterationsConfig {
	return &SharedIterationsConfig{CommonConfig: newCommon(name, SharedIterationsType), VUs: 1,
		Iterations: 1, MaxDuration: options.Duration(DefaultMaxDuration)}
}

func (c *SharedIterationsConfig) keys() []string { return []string{"vus", "iterations", "maxDuration"} }

// RegularDuration returns MaxDuration.
func (c *SharedIterationsConfig) RegularDuration() time.Duration { return c.MaxDuration.D() }

func (c *SharedIterationsConfig) validate(errs *configErrors) {
	if c.VUs <= 0 {
		errs.add("vus", "must be greater than 0, got %d", c.VUs)
	}
	if c.Iterations <= 0 {
		errs.add("iterations", "must be greater than 0, got %d", c.Iterations)
	} else if c.Iterations < c.VUs {
		errs.add("iterations", "must be at least the number of VUs (%d), got %d", c.VUs, c.Iterations)
	}
	if c.MaxDuration.D() < MinDuration {
		errs.add("maxDuration", "must be at least %s, got %s", MinDuration, c.MaxDuration)
	}
}

// scaled returns this instance's VUs and iterations, and the tuple that
// numbers its iterations (iterations are split by the instances' VU shares).
func (c *SharedIterationsConfig) scaled(t *Tuple) (vus, iters int64, iterTuple *Tuple) {
	vus = t.Scale(c.VUs)
	iterTuple = t.shareTuple(c.VUs)
	if vus == 0 || iterTuple == nil {
		return 0, 0, nil
	}
	return vus, iterTuple.Scale(c.Iterations), iterTuple
}

func (c *SharedIterationsConfig) requirement(t *Tuple) ([]step, int64) {
	vus, iters, _ := c.scaled(t)
	if iters == 0 {
		return nil, 0
	}
	return constantPlan(vus, c.MaxDuration.D(), c.GracefulStop.D()), 0
}

func (c *SharedIterationsConfig) newExecutor(t *Tuple, env *runEnv, sc *Scenario) executor {
	vus, iters, iterTuple := c.scaled(t)
	e := &sharedIterations{base: newBase(env, sc, iterTuple), cfg: c, vus: vus, total: iters}
	sc.SetProgress(e.progress)
	return e
}

type sharedIterations struct {
	base
	cfg        *SharedIterationsConfig
	vus, total int64
	done       atomic.Int64
}

func (e *sharedIterations) progress() float64 {
	return fraction(float64(e.done.Load()), float64(e.total))
}

func (e *sharedIterations) bar() progress.Bar {
	return progress.Bar{Fraction: e.progress(),
		Time:   fmtDur(e.elapsed()) + "/" + fmtDur(e.cfg.MaxDuration.D()),
		Detail: fmt.Sprintf("%d VUs, %d/%d shared iterations", e.vus, e.done.Load(), e.total)}
}

func (e *sharedIterations) run(ctx context.Context, start time.Time) {
	e.markStart(start)
	hardCtx, regCtx, cancel := stopContexts(ctx, start, e.cfg.MaxDuration.D(), e.cfg.GracefulStop.D())
	defer cancel()

	var claimed, started atomic.Int64
	var wg sync.WaitGroup
	for _, vu := range e.acquireAll(hardCtx, e.vus) {
		wg.Go(func() {
			defer e.release(vu)
			for running(hardCtx, regCtx) && claimed.Add(1) <= e.total {
				started.Add(1)
				e.runIteration(hardCtx, vu)
				e.done.Add(1)
			}
		})
	}
	wg.Wait()
	e.dropped(ctx, e.total-started.Load())
}
