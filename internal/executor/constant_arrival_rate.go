package executor

import (
	"fmt"
	"time"

	"github.com/tallyhq/tally/internal/options"
)

// ConstantArrivalRateConfig configures the constant-arrival-rate executor:
// Rate iterations per TimeUnit start for Duration, iteration i at
// i·TimeUnit/Rate (including the one at exactly Duration), independent of
// how long iterations take.
type ConstantArrivalRateConfig struct {
	CommonConfig
	Rate            int64            `json:"rate"`
	TimeUnit        options.Duration `json:"timeUnit"`
	Duration        options.Duration `json:"duration"`
	PreAllocatedVUs int64            `json:"preAllocatedVUs"`
	MaxVUs          int64            `json:"maxVUs"`
	presence
}

func newConstantArrivalRateConfig(name string) *ConstantArrivalRateConfig {
	return &ConstantArrivalRateConfig{CommonConfig: newCommon(name, ConstantArrivalRateType),
		TimeUnit: options.Duration(DefaultTimeUnit)}
}

func (c *ConstantArrivalRateConfig) keys() []string {
	return []string{"rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"}
}

// RegularDuration returns Duration.
func (c *ConstantArrivalRateConfig) RegularDuration() time.Duration { return c.Duration.D() }

func (c *ConstantArrivalRateConfig) validate(errs *configErrors) {
	switch {
	case !c.presence["rate"]:
		errs.add("rate", "is required: the number of iterations to start per timeUnit")
	case c.Rate <= 0:
		errs.add("rate", "must be greater than 0, got %d", c.Rate)
	}
	if c.TimeUnit.D() <= 0 {
		errs.add("timeUnit", "must be greater than 0, got %s", c.TimeUnit)
	}
	switch {
	case !c.presence["duration"]:
		errs.add("duration", "is required, e.g. duration: '30s'")
	case c.Duration.D() < MinDuration:
		errs.add("duration", "must be at least %s, got %s", MinDuration, c.Duration)
	}
	validateArrivalVUs(errs, c.presence, &c.PreAllocatedVUs, &c.MaxVUs)
}

// globalSlots returns the number of iteration starts of the whole test:
// those at i·timeUnit/rate ≤ duration.
func (c *ConstantArrivalRateConfig) globalSlots() int64 {
	return mulDiv(int64(c.Duration), c.Rate, int64(c.TimeUnit)) + 1
}

func (c *ConstantArrivalRateConfig) requirement(t *Tuple) ([]step, int64) {
	pre, maxVUs := t.Scale(c.PreAllocatedVUs), t.Scale(c.MaxVUs)
	return constantPlan(pre, c.Duration.D(), c.GracefulStop.D()), maxVUs - pre
}

func (c *ConstantArrivalRateConfig) newExecutor(t *Tuple, env *runEnv, sc *Scenario) executor {
	e := &arrivalRate{base: newBase(env, sc, t), regular: c.Duration.D(), gracefulStop: c.GracefulStop.D(),
		slots: t.Scale(c.globalSlots()), pre: t.Scale(c.PreAllocatedVUs), maxVUs: t.Scale(c.MaxVUs),
		rateText: fmt.Sprintf("%d/%s", c.Rate, c.TimeUnit)}
	e.slotAt = func(k int64) time.Duration {
		return time.Duration(mulDiv(t.Global(k), int64(c.TimeUnit), c.Rate))
	}
	sc.SetProgress(e.progress)
	return e
}
