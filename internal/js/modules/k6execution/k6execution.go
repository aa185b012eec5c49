// Package k6execution implements the `k6/execution` JS module: information
// about the VU, the scenario and the test instance, and test.abort/fail.
package k6execution

import (
	"fmt"
	"strconv"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/modules"
)

// InstanceInfo is the state of this instance of the test.
type InstanceInfo struct {
	IterationsCompleted    uint64
	IterationsInterrupted  uint64
	VUsActive              int64
	VUsInitialized         int64
	CurrentTestRunDuration time.Duration
}

// Controller is what the module needs from the running test.
type Controller interface {
	// Abort stops the whole test (exit code 108).
	Abort(reason string)
	// Fail marks the test as failed (exit code 110) and lets it go on.
	Fail(reason string)
	// TestOptions returns the consolidated options in JSON form.
	TestOptions() map[string]any
	// Instance returns the instance's execution counters.
	Instance() InstanceInfo
}

// AbortError is the interrupt value test.abort() raises in the runtime.
type AbortError struct{ Reason string }

func (e *AbortError) Error() string {
	if e.Reason == "" {
		return "test aborted"
	}
	return "test aborted: " + e.Reason
}

// Module is the per-run root of k6/execution.
type Module struct{ ctl Controller }

// New returns the module reading and steering the run through ctl.
func New(ctl Controller) *Module { return &Module{ctl: ctl} }

// NewModuleInstance returns the module for one VU.
func (m *Module) NewModuleInstance(vu modules.VU) modules.Instance {
	return &instance{vu: vu, ctl: m.ctl}
}

type instance struct {
	vu         modules.VU
	ctl        Controller
	obj        *sobek.Object
	tags       sobek.Value
	metricsObj sobek.Value
}

func (i *instance) Exports() modules.Exports {
	if i.obj == nil {
		i.obj = i.vu.Runtime().NewDynamicObject(&lazyObject{keys: sectionNames, get: i.section, fixed: true})
	}
	return modules.Exports{Default: i.obj}
}

func (i *instance) throw(format string, args ...any) {
	panic(i.vu.Runtime().NewGoError(fmt.Errorf(format, args...)))
}

func (i *instance) state(what string) *vustate.State {
	var st *vustate.State
	if p, ok := i.vu.(vustate.Provider); ok {
		st = p.FullState()
	}
	if st == nil {
		i.throw("getting %s information in the init context is not supported", what)
	}
	return st
}

// sectionNames are the keys of the module's default export.
var sectionNames = []string{"vu", "scenario", "instance", "test"}

// lazyObject is a read-only JS object whose properties are computed when
// read: VUs pay only for what the script uses, and getters always see the
// current state.
type lazyObject struct {
	keys []string
	get  func(key string) sobek.Value
	// cache holds the values computed so far when fixed, in the order first
	// read: a few at most (a map cost every VU ~0.3 KiB per object).
	cache []cachedValue
	fixed bool // cache computed values (sections and functions never change)
}

// cachedValue is a computed property of a fixed lazyObject.
type cachedValue struct {
	key string
	val sobek.Value
}

func (o *lazyObject) Get(key string) sobek.Value {
	for _, c := range o.cache {
		if c.key == key {
			return c.val
		}
	}
	v := o.get(key)
	if o.fixed && v != nil {
		o.cache = append(o.cache, cachedValue{key: key, val: v})
	}
	return v
}

func (o *lazyObject) Set(string, sobek.Value) bool { return false }

func (o *lazyObject) Has(key string) bool {
	for _, k := range o.keys {
		if k == key {
			return true
		}
	}
	return false
}

func (o *lazyObject) Delete(string) bool { return false }
func (o *lazyObject) Keys() []string     { return o.keys }

func (i *instance) lazy(keys []string, fixed bool, get func(string) sobek.Value) sobek.Value {
	return i.vu.Runtime().NewDynamicObject(&lazyObject{keys: keys, get: get, fixed: fixed})
}

// section returns one of exec.vu, exec.scenario, exec.instance, exec.test,
// each a lazyObject whose getters read the run when the script reads them.
func (i *instance) section(name string) sobek.Value {
	switch name {
	case "vu":
		return i.vuSection()
	case "scenario":
		return i.scenarioSection()
	case "instance":
		return i.instanceSection()
	case "test":
		return i.testSection()
	}
	return nil
}

// vuSection is exec.vu: this VU's ids, iterations, tags and metrics.
func (i *instance) vuSection() sobek.Value {
	rt := i.vu.Runtime()
	return i.lazy([]string{"idInInstance", "idInTest", "iterationInInstance", "iterationInScenario", "tags", "metrics"}, false,
		func(k string) sobek.Value {
			switch k {
			case "idInInstance":
				return rt.ToValue(i.state("VU").VUID)
			case "idInTest":
				return rt.ToValue(i.state("VU").VUIDInTest)
			case "iterationInInstance":
				return rt.ToValue(i.state("VU").Iteration())
			case "iterationInScenario":
				return rt.ToValue(i.scenarioState().IterationInScenario)
			case "tags":
				return i.tagsObject()
			case "metrics":
				return i.vuMetricsObject()
			}
			return nil
		})
}

// vuMetricsObject is exec.vu.metrics (tags and metadata), made once per VU.
func (i *instance) vuMetricsObject() sobek.Value {
	if i.metricsObj == nil {
		md := i.vu.Runtime().NewDynamicObject(&metadataObject{i: i})
		i.metricsObj = i.lazy([]string{"tags", "metadata"}, true, func(k string) sobek.Value {
			switch k {
			case "tags":
				return i.tagsObject()
			case "metadata":
				return md
			}
			return nil
		})
	}
	return i.metricsObj
}

// scenarioSection is exec.scenario: the running scenario and its
// iteration counters.
func (i *instance) scenarioSection() sobek.Value {
	rt := i.vu.Runtime()
	return i.lazy([]string{"name", "executor", "startTime", "progress", "iterationInInstance", "iterationInTest"}, false,
		func(k string) sobek.Value {
			switch k {
			case "name":
				return rt.ToValue(i.scenarioState().Scenario.Name)
			case "executor":
				return rt.ToValue(i.scenarioState().Scenario.Executor)
			case "startTime":
				return rt.ToValue(i.scenarioState().Scenario.StartTime().UnixMilli())
			case "progress":
				return rt.ToValue(i.scenarioState().Scenario.Progress())
			case "iterationInInstance":
				return rt.ToValue(i.scenarioState().Iter.InInstance)
			case "iterationInTest":
				return rt.ToValue(i.scenarioState().Iter.InTest)
			}
			return nil
		})
}

// instanceSection is exec.instance: this instance's counters, asked of
// the controller at each read.
func (i *instance) instanceSection() sobek.Value {
	rt := i.vu.Runtime()
	info := func() InstanceInfo {
		i.state("instance")
		return i.ctl.Instance()
	}
	return i.lazy([]string{"iterationsCompleted", "iterationsInterrupted", "vusActive", "vusInitialized", "currentTestRunDuration"}, false,
		func(k string) sobek.Value {
			switch k {
			case "iterationsCompleted":
				return rt.ToValue(info().IterationsCompleted)
			case "iterationsInterrupted":
				return rt.ToValue(info().IterationsInterrupted)
			case "vusActive":
				return rt.ToValue(info().VUsActive)
			case "vusInitialized":
				return rt.ToValue(info().VUsInitialized)
			case "currentTestRunDuration":
				return rt.ToValue(float64(info().CurrentTestRunDuration) / float64(time.Millisecond))
			}
			return nil
		})
}

// testSection is exec.test: abort(), fail() (the same function objects at
// every read) and the consolidated options.
func (i *instance) testSection() sobek.Value {
	rt := i.vu.Runtime()
	var abort, fail sobek.Value
	return i.lazy([]string{"abort", "fail", "options"}, false, func(k string) sobek.Value {
		switch k {
		case "abort":
			if abort == nil {
				abort = rt.ToValue(i.abort)
			}
			return abort
		case "fail":
			if fail == nil {
				fail = rt.ToValue(i.fail)
			}
			return fail
		case "options":
			return i.options()
		}
		return nil
	})
}

func (i *instance) tagsObject() sobek.Value {
	if i.tags == nil {
		i.tags = i.vu.Runtime().NewDynamicObject(&tagsObject{i: i})
	}
	return i.tags
}

func (i *instance) scenarioState() *vustate.State {
	st := i.state("scenario")
	if st.Scenario == nil || st.Iter == nil {
		i.throw("scenario information is only available while a scenario runs (not in setup, teardown or handleSummary)")
	}
	return st
}

// abort implements test.abort(reason?).
func (i *instance) abort(call sobek.FunctionCall) sobek.Value {
	reason := ""
	if a := call.Argument(0); !sobek.IsUndefined(a) && !sobek.IsNull(a) {
		reason = a.String()
	}
	i.vu.Runtime().Interrupt(&AbortError{Reason: reason})
	if p, ok := i.vu.(vustate.Provider); ok {
		if st := p.FullState(); st != nil {
			st.AbortRequested = true
		}
	}
	if i.ctl != nil {
		i.ctl.Abort(reason)
	}
	return sobek.Undefined()
}

// fail implements test.fail(reason?).
func (i *instance) fail(call sobek.FunctionCall) sobek.Value {
	reason := ""
	if a := call.Argument(0); !sobek.IsUndefined(a) && !sobek.IsNull(a) {
		reason = a.String()
	}
	if i.ctl != nil {
		i.ctl.Fail(reason)
	}
	return sobek.Undefined()
}

// options returns test.options: a frozen copy of the consolidated options.
func (i *instance) options() sobek.Value {
	rt := i.vu.Runtime()
	var o map[string]any
	if i.ctl != nil {
		o = i.ctl.TestOptions()
	}
	v := rt.ToValue(o)
	if o != nil {
		// convert to plain JS objects and freeze them deeply
		jsonObj := rt.Get("JSON").ToObject(rt)
		stringify, _ := sobek.AssertFunction(jsonObj.Get("stringify"))
		parse, _ := sobek.AssertFunction(jsonObj.Get("parse"))
		if s, err := stringify(jsonObj, v); err == nil {
			if p, err := parse(jsonObj, s); err == nil {
				v = p
			}
		}
		deepFreeze(rt, v)
	}
	return v
}

func deepFreeze(rt *sobek.Runtime, v sobek.Value) {
	obj, ok := v.(*sobek.Object)
	if !ok {
		return
	}
	for _, k := range obj.Keys() {
		deepFreeze(rt, obj.Get(k))
	}
	freeze, _ := sobek.AssertFunction(rt.Get("Object").ToObject(rt).Get("freeze"))
	_, _ = freeze(sobek.Undefined(), obj)
}

// tagsObject backs exec.vu.tags: reads see the VU's current tags, writes
// set script-defined tags.
type tagsObject struct{ i *instance }

func (t *tagsObject) Get(key string) sobek.Value {
	st := t.i.state("VU")
	if v, ok := st.TagCtx.Current().Get(key); ok {
		return t.i.vu.Runtime().ToValue(v)
	}
	return nil
}

func (t *tagsObject) Set(key string, val sobek.Value) bool {
	st := t.i.state("VU")
	if err := st.TagCtx.SetUser(key, exportTag(val)); err != nil {
		panic(t.i.vu.Runtime().NewTypeError(err.Error()))
	}
	return true
}

func (t *tagsObject) Has(key string) bool {
	_, ok := t.i.state("VU").TagCtx.Current().Get(key)
	return ok
}

func (t *tagsObject) Delete(key string) bool {
	t.i.state("VU").TagCtx.DeleteUser(key)
	return true
}

func (t *tagsObject) Keys() []string {
	var keys []string
	for _, tag := range t.i.state("VU").TagCtx.Current().Tags() {
		keys = append(keys, tag.Key)
	}
	return keys
}

func exportTag(v sobek.Value) any {
	if v == nil {
		return nil
	}
	switch x := v.Export().(type) {
	case string, bool, int64, float64:
		return x
	default:
		return v.Export()
	}
}

// metadataObject backs exec.vu.metrics.metadata.
type metadataObject struct{ i *instance }

func (m *metadataObject) Get(key string) sobek.Value {
	st := m.i.state("VU")
	if v, ok := st.Metadata[key]; ok {
		return m.i.vu.Runtime().ToValue(v)
	}
	return nil
}

func (m *metadataObject) Set(key string, val sobek.Value) bool {
	st := m.i.state("VU")
	var s string
	switch x := exportTag(val).(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		panic(m.i.vu.Runtime().NewTypeError(fmt.Sprintf("invalid value for metadata %q: only strings, numbers and booleans are allowed", key)))
	}
	md := make(map[string]string, len(st.Metadata)+1)
	for k, v := range st.Metadata {
		md[k] = v
	}
	md[key] = s
	st.Metadata = md
	return true
}

func (m *metadataObject) Has(key string) bool {
	_, ok := m.i.state("VU").Metadata[key]
	return ok
}

func (m *metadataObject) Delete(key string) bool {
	st := m.i.state("VU")
	if _, ok := st.Metadata[key]; !ok {
		return true
	}
	md := make(map[string]string, len(st.Metadata))
	for k, v := range st.Metadata {
		if k != key {
			md[k] = v
		}
	}
	if len(md) == 0 {
		md = nil
	}
	st.Metadata = md
	return true
}

func (m *metadataObject) Keys() []string {
	var keys []string
	for k := range m.i.state("VU").Metadata {
		keys = append(keys, k)
	}
	return keys
}
