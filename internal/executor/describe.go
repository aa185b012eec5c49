package executor

import (
	"fmt"
	"strings"
	"time"
)

// Describe returns one line describing a scenario as the start banner shows
// it: its size and executor, then its stop settings, e.g.
// "10 looping VUs for 30s (gracefulStop: 30s)". The sizes are the
// scenario's own (the whole test, not an execution segment's share).
func Describe(c Config) string {
	cc := c.Common()
	var what string
	extra := []string{}
	switch x := c.(type) {
	case *SharedIterationsConfig:
		what = fmt.Sprintf("%d %s shared among %d %s", x.Iterations, plural(x.Iterations, "iteration"), x.VUs, plural(x.VUs, "VU"))
		extra = append(extra, "maxDuration: "+durString(x.MaxDuration.D()))
	case *PerVUIterationsConfig:
		what = fmt.Sprintf("%d %s for each of %d %s", x.Iterations, plural(x.Iterations, "iteration"), x.VUs, plural(x.VUs, "VU"))
		extra = append(extra, "maxDuration: "+durString(x.MaxDuration.D()))
	case *ConstantVUsConfig:
		what = fmt.Sprintf("%d looping %s for %s", x.VUs, plural(x.VUs, "VU"), durString(x.Duration.D()))
	case *RampingVUsConfig:
		peak := x.StartVUs
		for _, s := range x.Stages {
			peak = max(peak, s.Target)
		}
		what = fmt.Sprintf("Up to %d looping %s for %s over %d %s", peak, plural(peak, "VU"), durString(x.RegularDuration()),
			len(x.Stages), plural(int64(len(x.Stages)), "stage"))
		extra = append(extra, "gracefulRampDown: "+durString(x.GracefulRampDown.D()))
	case *ConstantArrivalRateConfig:
		what = fmt.Sprintf("%s iterations/%s for %s", rate(x.Rate), unit(x.TimeUnit.D()), durString(x.Duration.D()))
		extra = append(extra, fmt.Sprintf("maxVUs: %d-%d", x.PreAllocatedVUs, max(x.MaxVUs, x.PreAllocatedVUs)))
	case *RampingArrivalRateConfig:
		peak := x.StartRate
		for _, s := range x.Stages {
			peak = max(peak, s.Target)
		}
		what = fmt.Sprintf("Up to %s iterations/%s for %s over %d %s", rate(peak), unit(x.TimeUnit.D()), durString(x.RegularDuration()),
			len(x.Stages), plural(int64(len(x.Stages)), "stage"))
		extra = append(extra, fmt.Sprintf("maxVUs: %d-%d", x.PreAllocatedVUs, max(x.MaxVUs, x.PreAllocatedVUs)))
	default:
		what = c.Type()
	}
	if cc.Exec != "" && cc.Exec != DefaultExec {
		extra = append(extra, "exec: "+cc.Exec)
	}
	if cc.StartTime > 0 {
		extra = append(extra, "startTime: "+durString(cc.StartTime.D()))
	}
	extra = append(extra, "gracefulStop: "+durString(cc.GracefulStop.D()))
	return what + " (" + strings.Join(extra, ", ") + ")"
}

// DescribePlan returns the start banner's line about a set of scenarios
// as a whole, e.g. "2 scenarios, 60 max VUs, 10m30s max duration (incl.
// graceful stop)"; maxVUs is the most VUs they need at once.
func DescribePlan(cfgs []Config, maxVUs int64) string {
	n := int64(len(cfgs))
	return fmt.Sprintf("%d %s, %d max %s, %s max duration (incl. graceful stop)",
		n, plural(n, "scenario"), maxVUs, plural(maxVUs, "VU"), MaxDuration(cfgs))
}

// MaxDuration returns the longest a set of scenarios can take, graceful
// stops included: the latest startTime + regular duration + gracefulStop
// (+ gracefulRampDown for ramping-vus).
func MaxDuration(cfgs []Config) time.Duration {
	var longest time.Duration
	for _, c := range cfgs {
		cc := c.Common()
		d := cc.StartTime.D() + c.RegularDuration() + cc.GracefulStop.D()
		if r, ok := c.(*RampingVUsConfig); ok {
			d += r.GracefulRampDown.D()
		}
		longest = max(longest, d)
	}
	return longest
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func rate(n int64) string { return fmt.Sprintf("%d.00", n) }

// unit names a timeUnit: "s" for 1s, "m" for 1m, else the duration.
func unit(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "m"
	case time.Hour:
		return "h"
	}
	return durString(d)
}

// durString writes d as Go and k6 do (30s, 1m0s, 1h30m0s).
func durString(d time.Duration) string { return d.String() }
