package executor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/progress"
)

// ConstantVUsConfig configures the constant-vus executor: VUs VUs run
// iterations back to back for Duration.
type ConstantVUsConfig struct {
	CommonConfig
	VUs      int64            `json:"vus"`
	Duration options.Duration `json:"duration"`
	presence
}

func newConstantVUsConfig(name string) *ConstantVUsConfig {
	return &ConstantVUsConfig{CommonConfig: newCommon(name, ConstantVUsType), VUs: 1}
}

func (c *ConstantVUsConfig) keys() []string { return []string{"vus", "duration"} }

// RegularDuration returns Duration.
func (c *ConstantVUsConfig) RegularDuration() time.Duration { return c.Duration.D() }

func (c *ConstantVUsConfig) validate(errs *configErrors) {
	if c.VUs <= 0 {
		errs.add("vus", "must be greater than 0, got %d", c.VUs)
	}
	if !c.presence["duration"] {
		errs.add("duration", "is required, e.g. duration: '30s'")
	} else if c.Duration.D() < MinDuration {
		errs.add("duration", "must be at least %s, got %s", MinDuration, c.Duration)
	}
}

func (c *ConstantVUsConfig) requirement(t *Tuple) ([]step, int64) {
	return constantPlan(t.Scale(c.VUs), c.Duration.D(), c.GracefulStop.D()), 0
}

func (c *ConstantVUsConfig) newExecutor(t *Tuple, env *runEnv, sc *Scenario) executor {
	e := &constantVUs{base: newBase(env, sc, t), cfg: c, vus: t.Scale(c.VUs)}
	sc.SetProgress(e.progress)
	return e
}

type constantVUs struct {
	base
	cfg *ConstantVUsConfig
	vus int64
}

func (e *constantVUs) progress() float64 {
	return fraction(float64(e.elapsed()), float64(e.cfg.Duration.D()))
}

func (e *constantVUs) bar() progress.Bar {
	return progress.Bar{Fraction: e.progress(),
		Time:   fmtDur(min(e.elapsed(), e.cfg.Duration.D())) + "/" + fmtDur(e.cfg.Duration.D()),
		Detail: fmt.Sprintf("%d VUs, %d iterations", e.vus, e.iters.count())}
}

func (e *constantVUs) run(ctx context.Context, start time.Time) {
	e.markStart(start)
	hardCtx, regCtx, cancel := stopContexts(ctx, start, e.cfg.Duration.D(), e.cfg.GracefulStop.D())
	defer cancel()

	var wg sync.WaitGroup
	for _, vu := range e.acquireAll(hardCtx, e.vus) {
		wg.Go(func() {
			defer e.release(vu)
			for running(hardCtx, regCtx) {
				e.runIteration(hardCtx, vu)
			}
		})
	}
	wg.Wait()
}
