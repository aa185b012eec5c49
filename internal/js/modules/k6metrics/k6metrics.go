// Package k6metrics implements the `k6/metrics` JS module: the Counter,
// Gauge, Rate and Trend constructors for custom metrics.
package k6metrics

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// Module is the per-run root of k6/metrics.
type Module struct{}

// New returns the module.
func New() *Module { return &Module{} }

// NewModuleInstance returns the module for one VU.
func (*Module) NewModuleInstance(vu modules.VU) modules.Instance { return &instance{vu: vu} }

type instance struct {
	vu    modules.VU
	proto *sobek.Object // the prototype of the VU's metric objects, with add
}

// Exports returns the four metric constructors.
func (i *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"Counter": i.constructor(metrics.Counter),
		"Gauge":   i.constructor(metrics.Gauge),
		"Rate":    i.constructor(metrics.Rate),
		"Trend":   i.constructor(metrics.Trend),
	}}
}

func (i *instance) constructor(t metrics.MetricType) func(sobek.ConstructorCall) *sobek.Object {
	return func(call sobek.ConstructorCall) *sobek.Object {
		rt := i.vu.Runtime()
		env := i.vu.InitEnv()
		if env == nil {
			panic(rt.NewGoError(fmt.Errorf("metrics must be declared in the init context (at the top level of the script), not in setup, iterations or teardown")))
		}
		nameArg := call.Argument(0)
		if sobek.IsUndefined(nameArg) {
			panic(rt.NewTypeError(fmt.Sprintf("new %s() needs a metric name", ctorName(t))))
		}
		contains := metrics.Default
		if call.Argument(1).ToBoolean() {
			contains = metrics.Time
		}
		m, err := env.Registry.New(nameArg.String(), t, contains)
		if err != nil {
			panic(rt.NewGoError(err))
		}
		obj := rt.NewDynamicObject(&metricObject{m: m, rt: rt})
		_ = obj.SetPrototype(i.metricProto())
		return obj
	}
}

// metricProto returns the prototype of the VU's metric objects: one add
// function for all of them instead of one per metric object.
func (i *instance) metricProto() *sobek.Object {
	if i.proto == nil {
		rt := i.vu.Runtime()
		i.proto = rt.NewObject()
		_ = i.proto.Set("add", func(c sobek.FunctionCall) sobek.Value {
			mo, ok := c.This.Export().(*metricObject)
			if !ok {
				panic(rt.NewTypeError("add() must be called on a metric (e.g. counter.add(1))"))
			}
			return rt.ToValue(i.add(mo.m, c))
		})
	}
	return i.proto
}

// metricObject is a metric as a script sees it: a read-only name and add()
// from its prototype, plus whatever the script assigns.
type metricObject struct {
	m      *metrics.Metric
	rt     *sobek.Runtime
	extra  map[string]sobek.Value
	extraK []string // keys of extra, in the order assigned
}

func (o *metricObject) Get(key string) sobek.Value {
	if key == "name" {
		return o.rt.ToValue(o.m.Name)
	}
	return o.extra[key]
}

func (o *metricObject) Set(key string, val sobek.Value) bool {
	if key == "name" {
		return false
	}
	if o.extra == nil {
		o.extra = map[string]sobek.Value{}
	}
	if _, had := o.extra[key]; !had {
		o.extraK = append(o.extraK, key)
	}
	o.extra[key] = val
	return true
}

func (o *metricObject) Has(key string) bool {
	_, ok := o.extra[key]
	return ok || key == "name"
}

func (o *metricObject) Delete(key string) bool {
	if key == "name" {
		return false
	}
	if _, had := o.extra[key]; had {
		delete(o.extra, key)
		o.extraK = slices.DeleteFunc(o.extraK, func(k string) bool { return k == key })
	}
	return true
}

// Keys lists what the script assigned: name is not enumerable.
func (o *metricObject) Keys() []string { return o.extraK }

func ctorName(t metrics.MetricType) string {
	switch t {
	case metrics.Counter:
		return "Counter"
	case metrics.Gauge:
		return "Gauge"
	case metrics.Rate:
		return "Rate"
	}
	return "Trend"
}

// add implements metric.add(value, tags?).
func (i *instance) add(m *metrics.Metric, call sobek.FunctionCall) bool {
	rt := i.vu.Runtime()
	p, _ := i.vu.(vustate.Provider)
	var st *vustate.State
	if p != nil {
		st = p.FullState()
	}
	if st == nil {
		panic(rt.NewGoError(fmt.Errorf("%s.add(): samples cannot be added in the init context", m.Name)))
	}
	arg := call.Argument(0)
	var v float64
	switch {
	case sobek.IsUndefined(arg) || sobek.IsNull(arg):
		v = math.NaN()
	default:
		switch x := arg.Export().(type) {
		case bool:
			if x {
				v = 1
			}
		default:
			v = arg.ToFloat()
		}
	}
	if math.IsNaN(v) {
		msg := fmt.Sprintf("%s.add(%s): the value is not a number, no sample was added", m.Name, describe(arg))
		if st.Throw {
			panic(rt.NewTypeError(msg))
		}
		st.Logger.Warn(msg)
		return false
	}
	tags := st.TagCtx.Current()
	if extra := call.Argument(1); !sobek.IsUndefined(extra) && !sobek.IsNull(extra) {
		obj := extra.ToObject(rt)
		mm := make(map[string]string, len(obj.Keys()))
		for _, k := range obj.Keys() {
			mm[k] = obj.Get(k).String()
		}
		tags = tags.Merge(metrics.NewTagSet(mm))
	}
	st.Samples.Push(metrics.Samples{{Metric: m, Time: time.Now(), Value: v, Tags: tags, Metadata: st.Metadata}})
	return true
}

func describe(v sobek.Value) string {
	if v == nil || sobek.IsUndefined(v) {
		return "undefined"
	}
	return v.String()
}
