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

// PerVUIterationsConfig configures the per-vu-iterations executor: each of
// VUs VUs runs Iterations iterations; the scenario ends when all are done or
// after MaxDuration.
type PerVUIterationsConfig struct {
	CommonConfig
	VUs         int64            `json:"vus"`
	Iterations  int64            `json:"iterations"`
	MaxDuration options.Duration `json:"maxDuration"`
	presence
}

func newPerVUIterationsConfig(name string) *PerVUIterationsConfig {
	return &PerVUIterationsConfig{CommonConfig: newCommon(name, PerVUIterationsType), VUs: 1,
		Iterations: 1, MaxDuration: options.Duration(DefaultMaxDuration)}
}

func (c *PerVUIterationsConfig) keys() []string { return []string{"vus", "iterations", "maxDuration"} }

// RegularDuration returns MaxDuration.
func (c *PerVUIterationsConfig) RegularDuration() time.Duration { return c.MaxDuration.D() }

func (c *PerVUIterationsConfig) validate(errs *configErrors) {
	if c.VUs <= 0 {
		errs.add("vus", "must be greater than 0, got %d", c.VUs)
	}
	if c.Iterations <= 0 {
		errs.add("iterations", "must be greater than 0, got %d", c.Iterations)
	}
	if c.MaxDuration.D() < MinDuration {
		errs.add("maxDuration", "must be at least %s, got %s", MinDuration, c.MaxDuration)
	}
}

func (c *PerVUIterationsConfig) requirement(t *Tuple) ([]step, int64) {
	return constantPlan(t.Scale(c.VUs), c.MaxDuration.D(), c.GracefulStop.D()), 0
}

func (c *PerVUIterationsConfig) newExecutor(t *Tuple, env *runEnv, sc *Scenario) executor {
	vus := t.Scale(c.VUs)
	e := &perVUIterations{base: newBase(env, sc, t), cfg: c, vus: vus, total: vus * c.Iterations}
	sc.SetProgress(e.progress)
	return e
}

type perVUIterations struct {
	base
	cfg        *PerVUIterationsConfig
	vus, total int64
	done       atomic.Int64
}

func (e *perVUIterations) progress() float64 {
	return fraction(float64(e.done.Load()), float64(e.total))
}

func (e *perVUIterations) bar() progress.Bar {
	return progress.Bar{Fraction: e.progress(),
		Time:   fmtDur(e.elapsed()) + "/" + fmtDur(e.cfg.MaxDuration.D()),
		Detail: fmt.Sprintf("%d VUs, %d/%d iterations (%d each)", e.vus, e.done.Load(), e.total, e.cfg.Iterations)}
}

func (e *perVUIterations) run(ctx context.Context, start time.Time) {
	e.markStart(start)
	hardCtx, regCtx, cancel := stopContexts(ctx, start, e.cfg.MaxDuration.D(), e.cfg.GracefulStop.D())
	defer cancel()

	var wg sync.WaitGroup
	for _, vu := range e.acquireAll(hardCtx, e.vus) {
		wg.Go(func() {
			defer e.release(vu)
			for i := int64(0); i < e.cfg.Iterations; i++ {
				if !running(hardCtx, regCtx) {
					e.dropped(ctx, e.cfg.Iterations-i)
					return
				}
				e.runIteration(hardCtx, vu)
				e.done.Add(1)
			}
		})
	}
	wg.Wait()
}
