package js

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/js/webglobals"
)

// setGlobals defines the globals of the init context: __VU, __ENV, __ITER,
// global and console are read through the global object's prototype
// (lazyGlobals), as the globals made on first use are. A property set on
// sobek's global object makes it copy the names of all its built-ins into a
// property map of its own, about 1 KiB per VU; with none set, it keeps
// sharing them.
func (v *VU) setGlobals() error {
	v.envBase = v.r.cfg.Env
	v.globals = &lazyGlobals{v: v}
	v.setEnv(nil)
	return v.rt.GlobalObject().SetPrototype(v.rt.NewDynamicObject(v.globals))
}

// lazyGlobalNames are the globals made when a script first reads them. Most
// scripts use few or none of them, and made up front they cost every VU
// about 20 KiB (crypto alone, with crypto.subtle, is 11 KiB).
var lazyGlobalNames = append([]string{"open", "require", "setTimeout", "setInterval", "clearTimeout", "clearInterval"},
	webglobals.Names...)

// fixedGlobalNames are the globals lazyGlobals holds itself (see
// lazyGlobals.fixed).
var fixedGlobalNames = []string{"__VU", "__ENV", "__ITER", "global", "console"}

// lazyGlobals is the prototype of a VU's global object (and inherits from
// Object.prototype). Reading one of lazyGlobalNames that is not a property
// of the global object yet makes it and defines it there, so from then on
// it is an ordinary global: scripts can assign and delete it as before.
//
// The fixed globals (fixedGlobalNames) stay here: __VU, __ENV (the
// running scenario's), __ITER (the iteration running, undefined outside
// one), global and console (made at the first read). A script that assigns
// one through globalThis (or in sloppy code) defines a global of its own
// that hides this one, as it would replace it. As for the globals made on
// first use, what differs from an own property of the global object is
// reflection on globalThis and strict code: Object.getOwnPropertyNames and
// hasOwnProperty do not see it, deleting it leaves it readable, and a bare
// assignment in strict code (an ES module) throws a ReferenceError, since
// sobek's strict assignment to a global checks own properties only.
type lazyGlobals struct {
	v         *VU
	made      uint32 // bit i: lazyGlobalNames[i] was made (or deleted)
	env       *sobek.Object
	console   *sobek.Object
	iterating bool // __ITER is the VU's iteration
}

// fixed returns the value of the fixed global key, or nil when key is not
// one.
func (l *lazyGlobals) fixed(key string) sobek.Value {
	switch key {
	case "__VU":
		return l.v.rt.ToValue(l.v.id)
	case "__ENV":
		return l.env
	case "__ITER":
		if !l.iterating {
			return sobek.Undefined()
		}
		return l.v.rt.ToValue(l.v.iter)
	case "global":
		return l.v.rt.GlobalObject()
	case "console":
		if l.console == nil {
			l.console = l.v.rt.NewDynamicObject(&consoleObject{v: l.v})
		}
		return l.console
	}
	return nil
}

func (l *lazyGlobals) pending(key string) (bit uint32, ok bool) {
	for i, n := range lazyGlobalNames {
		if n == key {
			bit = 1 << i
			return bit, l.made&bit == 0
		}
	}
	return 0, false
}

func (l *lazyGlobals) Get(key string) sobek.Value {
	if val := l.fixed(key); val != nil {
		return val
	}
	bit, ok := l.pending(key)
	if !ok {
		return nil
	}
	l.made |= bit
	val := l.v.newGlobal(key)
	_ = l.v.rt.Set(key, val)
	return val
}

// Set is reached only by writing to the prototype object itself; the value
// becomes the global.
func (l *lazyGlobals) Set(key string, val sobek.Value) bool {
	bit, _ := l.pending(key)
	l.made |= bit
	return l.v.rt.Set(key, val) == nil
}

func (l *lazyGlobals) Has(key string) bool {
	if l.fixed(key) != nil {
		return true
	}
	_, ok := l.pending(key)
	return ok
}

// Delete is reached only by deleting from the prototype object itself: a
// fixed global stays.
func (l *lazyGlobals) Delete(key string) bool {
	bit, _ := l.pending(key)
	l.made |= bit
	return true
}

func (l *lazyGlobals) Keys() []string {
	keys := append([]string(nil), fixedGlobalNames...)
	for _, n := range lazyGlobalNames {
		if _, ok := l.pending(n); ok {
			keys = append(keys, n)
		}
	}
	return keys
}

// newGlobal makes the global name, one of lazyGlobalNames.
func (v *VU) newGlobal(name string) sobek.Value {
	switch name {
	case "open":
		return v.rt.ToValue(func(call sobek.FunctionCall) sobek.Value {
			mode := ""
			if len(call.Arguments) > 1 {
				mode = call.Argument(1).String()
			}
			return v.open(call.Argument(0).String(), mode)
		})
	case "require":
		return v.rt.ToValue(func(call sobek.FunctionCall) sobek.Value {
			return v.require(call.Argument(0).String(), v.callerDir())
		})
	}
	if fn, ok := v.timerFunctions()[name]; ok {
		return v.rt.ToValue(fn)
	}
	return webglobals.New(v.rt, name)
}

// consoleObject creates the console methods when first used.
type consoleObject struct {
	v       *VU
	methods map[string]sobek.Value
}

var consoleMethods = []string{"debug", "error", "info", "log", "trace", "warn"}

func (c *consoleObject) Get(key string) sobek.Value {
	if m, ok := c.methods[key]; ok {
		return m
	}
	level := key
	switch key {
	case "log", "info", "warn", "error", "debug":
	case "trace":
		level = "debug"
	default:
		return nil
	}
	if c.methods == nil {
		c.methods = map[string]sobek.Value{}
	}
	m := c.v.rt.ToValue(c.v.logAt(level))
	c.methods[key] = m
	return m
}

func (c *consoleObject) Set(key string, val sobek.Value) bool {
	if c.methods == nil {
		c.methods = map[string]sobek.Value{}
	}
	c.methods[key] = val
	return true
}

func (c *consoleObject) Has(key string) bool { return c.Get(key) != nil }
func (c *consoleObject) Delete(key string) bool {
	delete(c.methods, key)
	return true
}
func (c *consoleObject) Keys() []string { return consoleMethods }

// setEnv defines __ENV as the base environment overridden by extra. The
// object reads the run's shared maps instead of copying them into every VU;
// what the script assigns stays in the VU.
func (v *VU) setEnv(extra map[string]string) {
	v.globals.env = v.rt.NewDynamicObject(&envObject{rt: v.rt, base: v.envBase, extra: extra})
}

// envObject is __ENV: base (system environment and -e values) overridden by
// the running scenario's env, overridden by the script's own assignments.
type envObject struct {
	rt          *sobek.Runtime
	base, extra map[string]string
	own         map[string]sobek.Value
	deleted     map[string]bool
}

func (e *envObject) Get(key string) sobek.Value {
	if v, ok := e.own[key]; ok {
		return v
	}
	if e.deleted[key] {
		return nil
	}
	if v, ok := e.extra[key]; ok {
		return e.rt.ToValue(v)
	}
	if v, ok := e.base[key]; ok {
		return e.rt.ToValue(v)
	}
	return nil
}

func (e *envObject) Set(key string, val sobek.Value) bool {
	if e.own == nil {
		e.own = map[string]sobek.Value{}
	}
	e.own[key] = val
	delete(e.deleted, key)
	return true
}

func (e *envObject) Has(key string) bool { return e.Get(key) != nil }

func (e *envObject) Delete(key string) bool {
	delete(e.own, key)
	if e.deleted == nil {
		e.deleted = map[string]bool{}
	}
	e.deleted[key] = true
	return true
}

func (e *envObject) Keys() []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]string{e.base, e.extra} {
		for k := range m {
			if !seen[k] && !e.deleted[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	for k := range e.own {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// open implements open(path[, "b"]).
func (v *VU) open(path string, mode string) sobek.Value {
	if v.initEnv == nil {
		panic(v.rt.NewGoError(errors.New("open() can only be called in the init context (the script's top level), not in setup, iterations or teardown")))
	}
	if path == "" {
		panic(v.rt.NewGoError(errors.New("open() needs a file path")))
	}
	if strings.HasPrefix(path, "file://") {
		path = strings.TrimPrefix(path, "file://")
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(v.r.dir, filepath.FromSlash(path))
	}
	data, err := v.r.openFile(path, v.first)
	if err != nil {
		panic(v.rt.NewGoError(fmt.Errorf("open: %w", err)))
	}
	if mode == "b" {
		return v.rt.ToValue(v.rt.NewArrayBuffer(append([]byte(nil), data...)))
	}
	return v.rt.ToValue(string(data))
}

// require implements CommonJS require() in the init context: built-in and
// native modules by name, local CommonJS files by path relative to dir (the
// directory of the requiring file).
func (v *VU) require(name, dir string) sobek.Value {
	if v.initEnv == nil {
		panic(v.rt.NewGoError(errors.New("require() can only be called in the init context (the script's top level), not in setup, iterations or teardown")))
	}
	if isFileSpecifier(name) {
		path := name
		if strings.HasPrefix(path, "file://") {
			p, err := v.r.resolvePath("", name)
			if err != nil {
				panic(v.rt.NewGoError(err))
			}
			path = p
		} else if !filepath.IsAbs(path) {
			path = filepath.Join(dir, filepath.FromSlash(path))
		}
		exp, err := v.requireFile(path)
		if err != nil {
			var ex *sobek.Exception
			if errors.As(err, &ex) {
				panic(ex)
			}
			panic(v.rt.NewGoError(fmt.Errorf("require(%q): %w", name, err)))
		}
		return exp
	}
	rec, err := v.r.resolve(nil, name)
	if err != nil {
		panic(v.rt.NewGoError(err))
	}
	g, ok := rec.(*goModuleRecord)
	if !ok {
		panic(v.rt.NewGoError(fmt.Errorf("require(%q): not a module", name)))
	}
	return newGoModuleInstance(v.rt, g.name, v.logger, v.moduleInstance(g).Exports()).GetBindingValue("default")
}

// logAt returns a console method logging at level.
func (v *VU) logAt(level string) func(sobek.FunctionCall) sobek.Value {
	return func(call sobek.FunctionCall) sobek.Value {
		msg := v.formatArgs(call.Arguments)
		l := v.logger
		switch level {
		case "debug":
			if v.r.cfg.Debug {
				l.Debug(msg, "source", "console")
			}
		case "warn":
			l.Warn(msg, "source", "console")
		case "error":
			l.Error(msg, "source", "console")
		default:
			l.Info(msg, "source", "console")
		}
		return sobek.Undefined()
	}
}

func (v *VU) formatArgs(args []sobek.Value) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = v.formatValue(a)
	}
	return strings.Join(parts, " ")
}

func (v *VU) formatValue(a sobek.Value) string {
	if a == nil || sobek.IsUndefined(a) {
		return "undefined"
	}
	obj, ok := a.(*sobek.Object)
	if !ok {
		return a.String()
	}
	if _, isFn := sobek.AssertFunction(obj); isFn {
		return a.String()
	}
	if e, isErr := obj.Export().(error); isErr {
		return e.Error()
	}
	if cls := obj.ClassName(); cls == "Error" {
		return a.String()
	}
	s, err := v.stringify(a)
	if err != nil {
		b, jerr := json.Marshal(obj.Export())
		if jerr != nil {
			return a.String()
		}
		return string(b)
	}
	return s
}
