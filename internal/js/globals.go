package js

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/grafana/sobek"
)

// setGlobals defines the globals of the init context.
func (v *VU) setGlobals() error {
	rt := v.rt
	v.envBase = v.r.cfg.Env
	if err := rt.Set("__VU", v.id); err != nil {
		return err
	}
	v.setEnv(nil)
	_ = rt.Set("__ITER", sobek.Undefined())
	_ = rt.Set("global", rt.GlobalObject())
	_ = rt.Set("open", v.open)
	_ = rt.Set("require", v.require)
	return rt.Set("console", v.console())
}

// setEnv defines __ENV as the base environment overridden by extra.
func (v *VU) setEnv(extra map[string]string) {
	obj := v.rt.NewObject()
	for k, val := range v.envBase {
		_ = obj.Set(k, val)
	}
	for k, val := range extra {
		_ = obj.Set(k, val)
	}
	_ = v.rt.Set("__ENV", obj)
}

// open implements open(path[, "b"]).
func (v *VU) open(path string, mode ...string) sobek.Value {
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
	if len(mode) > 0 && mode[0] == "b" {
		return v.rt.ToValue(v.rt.NewArrayBuffer(append([]byte(nil), data...)))
	}
	return v.rt.ToValue(string(data))
}

// require implements CommonJS require() for built-in and native modules.
func (v *VU) require(name string) sobek.Value {
	if v.initEnv == nil {
		panic(v.rt.NewGoError(errors.New("require() can only be called in the init context")))
	}
	if isFileSpecifier(name) {
		panic(v.rt.NewGoError(fmt.Errorf("require(%q): files must be imported with ES module syntax (import ... from %q)", name, name)))
	}
	rec, err := v.r.resolve(nil, name)
	if err != nil {
		panic(v.rt.NewGoError(err))
	}
	g, ok := rec.(*goModuleRecord)
	if !ok {
		panic(v.rt.NewGoError(fmt.Errorf("require(%q): not a module", name)))
	}
	return newGoModuleInstance(v.rt, v.moduleInstance(g).Exports()).GetBindingValue("default")
}

// console returns the console object: lines go to the run's log.
func (v *VU) console() *sobek.Object {
	obj := v.rt.NewObject()
	logAt := func(level string) func(sobek.FunctionCall) sobek.Value {
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
	for _, name := range []string{"log", "info", "debug", "warn", "error"} {
		_ = obj.Set(name, logAt(name))
	}
	_ = obj.Set("trace", logAt("debug"))
	return obj
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
