// Package k6 implements the `k6` JS module: check, group, sleep, fail and
// randomSeed.
package k6

import (
	"errors"
	"fmt"
	"math/rand"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// Module is the per-run root of the k6 module.
type Module struct{}

// New returns the module.
func New() *Module { return &Module{} }

// NewModuleInstance returns the module for one VU.
func (*Module) NewModuleInstance(vu modules.VU) modules.Instance { return &instance{vu: vu} }

type instance struct {
	vu modules.VU

	// The tags of each check's samples, by check name, for the VU's tags
	// checkBase: the same checks run every iteration, and deriving their
	// tags again cost two allocations a check.
	checkBase *metrics.TagSet
	checkTags map[string]*metrics.TagSet

	// The last check functions called, as Go callables (sobek makes a
	// closure for each): a script's checks are mostly the same few functions.
	// sleep() forgets them: a function made in the iteration (an object
	// literal's) would otherwise keep itself and the scope it closes over
	// (the responses of the function that called check) alive while the VU
	// sleeps.
	checkFns [2]checkFn
	nextFn   int
}

// checkFn is a check function (not async) and its callable.
type checkFn struct {
	obj *sobek.Object
	fn  sobek.Callable
}

// checkCallable returns the callable of check entry, if entry is a function;
// it panics with a TypeError for an async function (named name).
func (i *instance) checkCallable(rt *sobek.Runtime, entry sobek.Value, name string) (sobek.Callable, bool) {
	obj, ok := entry.(*sobek.Object)
	if !ok {
		return nil, false
	}
	for k := range i.checkFns {
		if i.checkFns[k].obj == obj {
			return i.checkFns[k].fn, true
		}
	}
	fn, ok := sobek.AssertFunction(entry)
	if !ok {
		return nil, false
	}
	if isAsync(entry) {
		panic(rt.NewTypeError(fmt.Sprintf("check %q: async functions are not supported in check()", name)))
	}
	i.checkFns[i.nextFn] = checkFn{obj, fn}
	i.nextFn = (i.nextFn + 1) % len(i.checkFns)
	return fn, true
}

// maxCheckTags bounds checkTags (a script may name checks after values).
const maxCheckTags = 64

// checkTagsFor returns base with the check tag set to name.
func (i *instance) checkTagsFor(base *metrics.TagSet, name string) *metrics.TagSet {
	if base != i.checkBase || len(i.checkTags) >= maxCheckTags {
		i.checkBase = base
		clear(i.checkTags)
	}
	if t, ok := i.checkTags[name]; ok {
		return t
	}
	t := base.With("check", name)
	if i.checkTags == nil {
		i.checkTags = make(map[string]*metrics.TagSet, 4)
	}
	i.checkTags[name] = t
	return t
}

// Exports returns check, group, sleep, fail and randomSeed.
func (i *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"check":      i.check,
		"group":      i.group,
		"sleep":      i.sleep,
		"fail":       i.fail,
		"randomSeed": i.randomSeed,
	}}
}

func (i *instance) state(fn string) *vustate.State {
	p, ok := i.vu.(vustate.Provider)
	var st *vustate.State
	if ok {
		st = p.FullState()
	}
	if st == nil {
		panic(i.vu.Runtime().NewGoError(fmt.Errorf("%s() can only be called outside the init context (in setup, the default function, teardown or handleSummary)", fn)))
	}
	return st
}

func isAsync(v sobek.Value) bool {
	obj, ok := v.(*sobek.Object)
	if !ok {
		return false
	}
	if p := obj.Prototype(); p != nil && p.ClassName() == "Function" {
		// An ordinary function or arrow: its prototype is Function.prototype
		// (a function itself), while AsyncFunction.prototype is a plain
		// object. Reading constructor would make the Function constructor
		// in every VU that calls group().
		return false
	}
	ctor := obj.Get("constructor")
	if ctor == nil {
		return false
	}
	co, ok := ctor.(*sobek.Object)
	if !ok {
		return false
	}
	name := co.Get("name")
	return name != nil && name.String() == "AsyncFunction"
}

// check implements check(value, sets, tags?).
func (i *instance) check(call sobek.FunctionCall) sobek.Value {
	rt := i.vu.Runtime()
	st := i.state("check")
	value := call.Argument(0)
	setsArg := call.Argument(1)
	if sobek.IsUndefined(setsArg) || sobek.IsNull(setsArg) {
		panic(rt.NewTypeError("check() needs an object of checks as its second argument, e.g. check(res, { 'status is 200': (r) => r.status === 200 })"))
	}
	sets := setsArg.ToObject(rt)
	base := st.TagCtx.Current()
	extraTags := false
	if extra := call.Argument(2); !sobek.IsUndefined(extra) && !sobek.IsNull(extra) {
		base = base.Merge(tagsFrom(rt, extra))
		extraTags = true
	}
	now := time.Now()
	all := true
	names := sets.Keys()
	samples := make(metrics.Samples, 0, len(names))
	defer func() { st.Samples.Push(samples) }()
	checkOn := st.SystemTags.Has(metrics.TagCheck)
	for _, name := range names {
		entry := sets.Get(name)
		c, err := st.Group.Check(name)
		if err != nil {
			panic(rt.NewGoError(err))
		}
		tags := base
		switch {
		case checkOn && extraTags: // a set of its own each call: not cached
			tags = base.With("check", name)
		case checkOn:
			tags = i.checkTagsFor(base, name)
		}
		pass := false
		if fn, ok := i.checkCallable(rt, entry, name); ok {
			res, err := fn(sobek.Undefined(), value)
			if err != nil {
				c.Fails.Add(1)
				samples = append(samples, metrics.Sample{Metric: st.Builtin.Checks, Time: now, Value: 0, Tags: tags, Metadata: st.Metadata})
				panic(err)
			}
			pass = res.ToBoolean()
		} else {
			pass = entry.ToBoolean()
		}
		v := 0.0
		if pass {
			v = 1
			c.Passes.Add(1)
		} else {
			all = false
			c.Fails.Add(1)
		}
		samples = append(samples, metrics.Sample{Metric: st.Builtin.Checks, Time: now, Value: v, Tags: tags, Metadata: st.Metadata})
	}
	return rt.ToValue(all)
}

// tagsFrom converts a JS object of tags.
func tagsFrom(rt *sobek.Runtime, v sobek.Value) *metrics.TagSet {
	obj := v.ToObject(rt)
	m := map[string]string{}
	for _, k := range obj.Keys() {
		m[k] = obj.Get(k).String()
	}
	return metrics.NewTagSet(m)
}

// optString and optFloat convert an argument as sobek converts the
// parameters of a Go function: undefined and null become "" and 0. group
// and sleep take sobek.FunctionCall instead of Go parameters: one native
// function per VU instead of two (a reflect wrapper and its guard), and no
// reflect frames on the stack a VU sleeps on.
func optString(v sobek.Value) string {
	if sobek.IsUndefined(v) || sobek.IsNull(v) {
		return ""
	}
	return v.String()
}

func optFloat(v sobek.Value) float64 {
	if sobek.IsUndefined(v) || sobek.IsNull(v) {
		return 0
	}
	return v.ToFloat()
}

// group implements group(name, fn).
func (i *instance) group(call sobek.FunctionCall) sobek.Value {
	name, fnv := optString(call.Argument(0)), call.Argument(1)
	rt := i.vu.Runtime()
	st := i.state("group")
	fn, ok := sobek.AssertFunction(fnv)
	if !ok {
		panic(rt.NewTypeError("group() needs a function as its second argument"))
	}
	if isAsync(fnv) {
		panic(rt.NewTypeError(fmt.Sprintf("group %q: async functions are not supported in group()", name)))
	}
	g, err := st.Group.Group(name)
	if err != nil {
		panic(rt.NewGoError(err))
	}
	parent := st.Group
	st.SetGroup(g)
	start := time.Now()
	res, err := fn(sobek.Undefined())
	end := time.Now()
	tags := st.TagCtx.Current()
	st.SetGroup(parent)
	st.Samples.Push(metrics.Samples{{Metric: st.Builtin.GroupDuration, Time: end,
		Value: float64(end.Sub(start)) / float64(time.Millisecond), Tags: tags, Metadata: st.Metadata}})
	if err != nil {
		panic(err)
	}
	return res
}

// sleep implements sleep(seconds): it returns early when the VU stops.
func (i *instance) sleep(call sobek.FunctionCall) sobek.Value {
	i.sleepFor(optFloat(call.Argument(0)))
	return sobek.Undefined()
}

func (i *instance) sleepFor(secs float64) {
	if secs <= 0 {
		return
	}
	dropDeadValues(i.vu.Runtime())
	i.checkFns, i.nextFn = [len(i.checkFns)]checkFn{}, 0
	d := time.Duration(secs * float64(time.Second))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-i.vu.Context().Done():
	}
}

// emptyProgram is run from inside a call by dropDeadValues.
var emptyProgram = sobek.MustCompile("", "", false)

// dropDeadValues lets the garbage collector have what the calls that have
// returned left on the runtime's stack: sobek does not clear a stack slot
// when its call returns, so until the iteration ends (or the slot is
// reused) a sleeping VU keeps, e.g., the responses of the burst it just
// sent. A program run from inside a call clears every slot above the
// caller's (RunProgram's nested path); only those slots are dead.
func dropDeadValues(rt *sobek.Runtime) {
	_, _ = rt.RunProgram(emptyProgram)
}

// fail implements fail(msg): it throws an error carrying msg.
func (i *instance) fail(msg sobek.Value) {
	m := ""
	if msg != nil && !sobek.IsUndefined(msg) {
		m = msg.String()
	}
	panic(i.vu.Runtime().NewGoError(errors.New(m)))
}

// randomSeed implements randomSeed(n): Math.random becomes deterministic.
func (i *instance) randomSeed(seed int64) {
	r := rand.New(rand.NewSource(seed))
	i.vu.Runtime().SetRandSource(r.Float64)
}
