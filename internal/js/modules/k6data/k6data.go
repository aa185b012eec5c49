// Package k6data implements the `k6/data` JS module: SharedArray, a
// read-only array built once per run and shared by all VUs.
package k6data

import (
	"fmt"
	"sync"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/modules"
)

// Module is the per-run root of k6/data; it owns the run's shared arrays.
type Module struct {
	mu     sync.Mutex
	arrays map[string]*shared
}

// shared is one SharedArray: every element stored as its JSON encoding.
type shared struct {
	elems []string
}

// New returns the module.
func New() *Module { return &Module{arrays: map[string]*shared{}} }

// NewModuleInstance returns the module for one VU.
func (m *Module) NewModuleInstance(vu modules.VU) modules.Instance { return &instance{m: m, vu: vu} }

type instance struct {
	m  *Module
	vu modules.VU
}

// Exports returns SharedArray.
func (i *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{"SharedArray": i.sharedArray}}
}

func (i *instance) sharedArray(call sobek.ConstructorCall) *sobek.Object {
	rt := i.vu.Runtime()
	if i.vu.InitEnv() == nil {
		panic(rt.NewGoError(fmt.Errorf("new SharedArray() can only be called in the init context (at the top level of the script)")))
	}
	name := call.Argument(0)
	if sobek.IsUndefined(name) || name.String() == "" {
		panic(rt.NewTypeError("new SharedArray() needs a non-empty name as its first argument"))
	}
	fn, ok := sobek.AssertFunction(call.Argument(1))
	if !ok {
		panic(rt.NewTypeError("new SharedArray() needs a function returning an array as its second argument"))
	}
	s, err := i.m.get(name.String(), func() (*shared, error) { return build(rt, fn) })
	if err != nil {
		panic(rt.NewGoError(fmt.Errorf("SharedArray %q: %w", name.String(), err)))
	}
	return rt.NewDynamicArray(&view{rt: rt, s: s})
}

// get returns the array called name, building it once per run.
func (m *Module) get(name string, build func() (*shared, error)) (*shared, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.arrays[name]; ok {
		return s, nil
	}
	s, err := build()
	if err != nil {
		return nil, err
	}
	m.arrays[name] = s
	return s, nil
}

func build(rt *sobek.Runtime, fn sobek.Callable) (*shared, error) {
	v, err := fn(sobek.Undefined())
	if err != nil {
		return nil, err
	}
	obj, ok := v.(*sobek.Object)
	if !ok || obj.ClassName() != "Array" {
		return nil, fmt.Errorf("the function must return an array")
	}
	jsonObj := rt.Get("JSON").ToObject(rt)
	stringify, _ := sobek.AssertFunction(jsonObj.Get("stringify"))
	n := int(obj.Get("length").ToInteger())
	s := &shared{elems: make([]string, n)}
	for k := 0; k < n; k++ {
		e, err := stringify(jsonObj, obj.Get(fmt.Sprint(k)))
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", k, err)
		}
		if sobek.IsUndefined(e) {
			s.elems[k] = "null"
			continue
		}
		s.elems[k] = e.String()
	}
	return s, nil
}

// view is one VU's read-only view of a shared array.
type view struct {
	rt    *sobek.Runtime
	s     *shared
	parse sobek.Callable
	json  sobek.Value
}

func (v *view) Len() int { return len(v.s.elems) }

func (v *view) Get(idx int) sobek.Value {
	if idx < 0 || idx >= len(v.s.elems) {
		return sobek.Undefined()
	}
	if v.parse == nil {
		obj := v.rt.Get("JSON").ToObject(v.rt)
		v.parse, _ = sobek.AssertFunction(obj.Get("parse"))
		v.json = obj
	}
	val, err := v.parse(v.json, v.rt.ToValue(v.s.elems[idx]))
	if err != nil {
		panic(err)
	}
	freeze(v.rt, val)
	return val
}

func (v *view) Set(int, sobek.Value) bool {
	panic(v.rt.NewTypeError("SharedArray is immutable"))
}

func (v *view) SetLen(int) bool {
	panic(v.rt.NewTypeError("SharedArray is immutable"))
}

func freeze(rt *sobek.Runtime, v sobek.Value) {
	obj, ok := v.(*sobek.Object)
	if !ok {
		return
	}
	for _, k := range obj.Keys() {
		freeze(rt, obj.Get(k))
	}
	f, _ := sobek.AssertFunction(rt.Get("Object").ToObject(rt).Get("freeze"))
	_, _ = f(sobek.Undefined(), obj)
}
