package executor

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/tallyhq/tally/internal/options"
)

// RampingArrivalRateConfig configures the ramping-arrival-rate executor:
// the start rate (iterations per TimeUnit) moves linearly from StartRate
// through each stage's Target; the n-th iteration (n ≥ 1) starts when the
// integral of the rate reaches n.
type RampingArrivalRateConfig struct {
	CommonConfig
	StartRate       int64            `json:"startRate"`
	TimeUnit        options.Duration `json:"timeUnit"`
	Stages          []Stage          `json:"stages"`
	PreAllocatedVUs int64            `json:"preAllocatedVUs"`
	MaxVUs          int64            `json:"maxVUs"`
	presence
}

func newRampingArrivalRateConfig(name string) *RampingArrivalRateConfig {
	return &RampingArrivalRateConfig{CommonConfig: newCommon(name, RampingArrivalRateType),
		TimeUnit: options.Duration(DefaultTimeUnit)}
}

func (c *RampingArrivalRateConfig) keys() []string {
	return []string{"startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs"}
}

// RegularDuration returns the sum of the stage durations.
func (c *RampingArrivalRateConfig) RegularDuration() time.Duration { return stagesDuration(c.Stages) }

func (c *RampingArrivalRateConfig) validate(errs *configErrors) {
	if c.StartRate < 0 {
		errs.add("startRate", "must not be negative, got %d", c.StartRate)
	}
	if c.TimeUnit.D() <= 0 {
		errs.add("timeUnit", "must be greater than 0, got %s", c.TimeUnit)
	}
	validateStages(errs, c.Stages)
	validateArrivalVUs(errs, c.presence, &c.PreAllocatedVUs, &c.MaxVUs)
}

// rateCurve is the integral of a piecewise linear rate, inverted: it tells
// when the cumulative number of iteration starts reaches n.
type rateCurve struct {
	starts []float64 // stage start, seconds
	lens   []float64 // stage duration, seconds
	from   []float64 // rate at the stage start, per second
	to     []float64 // rate at the stage end, per second
	cum    []float64 // iterations before the stage
	total  float64
}

func (c *RampingArrivalRateConfig) curve() *rateCurve {
	unit := c.TimeUnit.D().Seconds()
	rc := &rateCurve{}
	var t, area float64
	prev := float64(c.StartRate) / unit
	for _, s := range c.Stages {
		d := s.Duration.D().Seconds()
		to := float64(s.Target) / unit
		rc.starts = append(rc.starts, t)
		rc.lens = append(rc.lens, d)
		rc.from = append(rc.from, prev)
		rc.to = append(rc.to, to)
		rc.cum = append(rc.cum, area)
		area += (prev + to) / 2 * d
		t += d
		prev = to
	}
	rc.total = area
	return rc
}

// count returns the number of starts in the whole test: ⌊∫rate⌋, with a
// little tolerance for rounding so an integral of exactly n yields n.
func (rc *rateCurve) count() int64 { return int64(math.Floor(rc.total + 1e-9)) }

// at returns the offset at which the integral of the rate reaches n.
func (rc *rateCurve) at(n float64) time.Duration {
	i := sort.Search(len(rc.cum), func(i int) bool {
		return rc.cum[i]+(rc.from[i]+rc.to[i])/2*rc.lens[i] >= n-1e-9
	})
	if i == len(rc.cum) {
		i = len(rc.cum) - 1
	}
	// skip zero-area stages (the search finds the first stage reaching n)
	m := max(n-rc.cum[i], 0)
	a, b, d := rc.from[i], rc.to[i], rc.lens[i]
	var tau float64
	switch {
	case d == 0:
		tau = 0
	case math.Abs(b-a) < 1e-12:
		tau = m / a
	default:
		disc := max(a*a+2*(b-a)/d*m, 0)
		den := a + math.Sqrt(disc)
		if den > 0 {
			tau = 2 * m / den
		}
	}
	tau = min(max(tau, 0), d)
	return time.Duration(math.Round((rc.starts[i] + tau) * 1e9))
}

func (c *RampingArrivalRateConfig) requirement(t *Tuple) ([]step, int64) {
	pre, maxVUs := t.Scale(c.PreAllocatedVUs), t.Scale(c.MaxVUs)
	return constantPlan(pre, c.RegularDuration(), c.GracefulStop.D()), maxVUs - pre
}

func (c *RampingArrivalRateConfig) newExecutor(t *Tuple, env *runEnv, sc *Scenario) executor {
	rc := c.curve()
	peak := c.StartRate
	for _, s := range c.Stages {
		peak = max(peak, s.Target)
	}
	e := &arrivalRate{base: newBase(env, sc, t), regular: c.RegularDuration(), gracefulStop: c.GracefulStop.D(),
		slots: t.Scale(rc.count()), pre: t.Scale(c.PreAllocatedVUs), maxVUs: t.Scale(c.MaxVUs),
		rateText: fmt.Sprintf("up to %d/%s", peak, c.TimeUnit)}
	e.slotAt = func(k int64) time.Duration { return min(rc.at(float64(t.Global(k)+1)), e.regular) }
	sc.SetProgress(e.progress)
	return e
}
