package js

import (
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/grafana/sobek"
)

// PanicError is a Go panic recovered while running script code: a bug in a
// module or in tally. The VU that hit it carries on; the iteration counts as
// failed.
type PanicError struct {
	Value   any    // what was passed to panic
	Where   string // the module function that panicked, when known
	GoStack []byte // the goroutine's stack where the panic was recovered
}

func (e *PanicError) Error() string {
	where := ""
	if e.Where != "" {
		where = " in " + e.Where
	}
	return fmt.Sprintf("internal error%s: Go panic: %v (a bug in tally or in the module; the iteration was counted as failed)", where, e.Value)
}

// recovered turns a recovered panic value into the error the call
// returns; an error already raised by the script's runtime stays as it is.
func (v *VU) recovered(x any) error {
	if err, ok := x.(error); ok && isSobekValue(x) {
		return err
	}
	var pe *PanicError
	if e, ok := x.(*PanicError); ok {
		pe = e
	} else {
		pe = &PanicError{Value: x, GoStack: debug.Stack()}
	}
	v.logger.Debug("recovered a Go panic", "panic", fmt.Sprint(pe.Value), "go_stack", string(pe.GoStack))
	return pe
}

// isSobekValue reports whether a panic value is the runtime's own way of
// throwing a JS exception (a JS value, an *Exception, an interrupt, or one
// of its internal error types), which must propagate untouched.
func isSobekValue(x any) bool {
	if _, ok := x.(sobek.Value); ok {
		return true
	}
	t := reflect.TypeOf(x)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.PkgPath() == "github.com/grafana/sobek"
}

// guardExport wraps a Go function a module exports so that a Go panic in it
// becomes a JS exception raised at the script's call site (its stack shows
// the script position), logged with the Go stack. Other exports are
// returned as they are.
func (i *goModuleInstance) guardExport(name string, x any) any {
	where := i.module + "." + name + "()"
	switch f := x.(type) {
	case func(sobek.FunctionCall) sobek.Value:
		return func(call sobek.FunctionCall) sobek.Value {
			defer i.rethrow(where)
			return f(call)
		}
	case func(sobek.ConstructorCall) *sobek.Object:
		return func(call sobek.ConstructorCall) *sobek.Object {
			defer i.rethrow(where)
			return f(call)
		}
	}
	if x == nil || reflect.TypeOf(x).Kind() != reflect.Func {
		return x
	}
	fn, ok := sobek.AssertFunction(i.rt.ToValue(x))
	if !ok {
		return x
	}
	return func(call sobek.FunctionCall) sobek.Value {
		defer i.rethrow(where)
		ret, err := fn(call.This, call.Arguments...)
		if err != nil {
			panic(err)
		}
		return ret
	}
}

// rethrow, deferred in a guarded export, turns a Go panic into a GoError
// thrown at the script's call site.
func (i *goModuleInstance) rethrow(where string) {
	x := recover()
	if x == nil {
		return
	}
	if isSobekValue(x) {
		panic(x)
	}
	pe := &PanicError{Value: x, Where: where, GoStack: debug.Stack()}
	if i.logger != nil {
		i.logger.Debug("recovered a Go panic in "+where, "panic", fmt.Sprint(x), "go_stack", string(pe.GoStack))
	}
	panic(i.rt.NewGoError(pe))
}
