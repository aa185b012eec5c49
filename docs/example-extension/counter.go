// Package counter is an example k6/x/counter extension, built against tally's
// public extension API only (modules and metrics): a counter shared by every
// VU of a run, a metric sample per increment, and the instance's execution
// segment for scripts that run as one share of a distributed test.
//
// counter_test.go tests it the way extension authors should, through
// modules/modulestest; docs/extensions.md walks through it.
package counter

import (
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// ImportPath is the name scripts import the module by.
const ImportPath = "k6/x/counter"

func init() { modules.Register(ImportPath, func() modules.Module { return &root{} }) }

// root is the per-run module, shared by every VU of one run.
type root struct{ n atomic.Int64 }

// NewModuleInstance registers the module's metric (every VU may ask: the
// registry returns the same metric) and binds the instance to its VU.
func (r *root) NewModuleInstance(vu modules.VU) modules.Instance {
	m := vu.InitEnv().Registry.MustNew("counter_increments", metrics.Counter)
	return &instance{r: r, vu: vu, m: m}
}

// instance is the module as one VU sees it.
type instance struct {
	r  *root
	vu modules.VU
	m  *metrics.Metric
}

// Exports are inc(), value() and segment().
func (i *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"inc":     i.inc,
		"value":   func() int64 { return i.r.n.Load() },
		"segment": i.segment,
	}}
}

// inc adds one to the shared counter and, outside the init context, pushes a
// counter_increments sample with the VU's current tags.
func (i *instance) inc() int64 {
	if st := i.vu.State(); st != nil {
		st.Samples.Push(metrics.Samples{{Metric: i.m, Time: time.Now(), Value: 1, Tags: st.Tags()}})
	}
	return i.r.n.Add(1)
}

// segment returns the instance's execution segment ("" when it runs the
// whole test); it throws in the init context, where there is no state yet.
func (i *instance) segment() string {
	st := i.vu.State()
	if st == nil {
		panic(i.vu.Runtime().NewTypeError("counter.segment() is not available in the init context"))
	}
	return st.Instance.ExecutionSegment
}
