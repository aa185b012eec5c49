package js

import (
	"fmt"
	"sort"
	"sync"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/modules"
)

// goModuleRecord is the module record of a module written in Go (a built-in
// k6 module or a registered native extension). The record is shared by all
// VUs; Instantiate gives every runtime its own modules.Instance.
type goModuleRecord struct {
	r       *Runner
	name    string
	root    modules.Module
	mu      sync.Mutex
	names   []string // export names, learnt from the first instance
	learned bool
}

var (
	_ sobek.CyclicModuleRecord   = (*goModuleRecord)(nil)
	_ sobek.CyclicModuleInstance = (*goModuleInstance)(nil)
)

// goModule returns a new record for a built-in or registered module.
func (r *Runner) goModule(name string) (*goModuleRecord, error) {
	if f, ok := r.builtins[name]; ok {
		return &goModuleRecord{r: r, name: name, root: f()}, nil
	}
	if f, ok := modules.Lookup(name); ok {
		return &goModuleRecord{r: r, name: name, root: f()}, nil
	}
	return nil, fmt.Errorf("unknown module %q", name)
}

// Link does nothing: Go modules import nothing.
func (g *goModuleRecord) Link() error { return nil }

// InitializeEnvironment does nothing: there is nothing to compile.
func (g *goModuleRecord) InitializeEnvironment() error { return nil }

// RequestedModules returns nothing: Go modules import nothing.
func (g *goModuleRecord) RequestedModules() []string { return nil }

// Evaluate evaluates the module in rt.
func (g *goModuleRecord) Evaluate(rt *sobek.Runtime) *sobek.Promise {
	return rt.CyclicModuleRecordEvaluate(g, g.r.resolve)
}

// exportNames returns the module's export names. They are learnt from the
// instance of the VU that links the script first.
func (g *goModuleRecord) exportNames() []string {
	return g.learnNames(g.r.linkingVU)
}

// learnNames records the export names of vu's instance the first time a VU
// is available, and returns the names.
func (g *goModuleRecord) learnNames(vu *VU) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.learned && vu != nil {
		g.names = exportNames(vu.moduleInstance(g).Exports())
		g.learned = true
	}
	return g.names
}

func exportNames(e modules.Exports) []string {
	names := []string{"default"}
	if len(e.Named) > 0 {
		for n := range e.Named {
			names = append(names, n)
		}
	} else if m, ok := e.Default.(map[string]any); ok {
		for n := range m {
			names = append(names, n)
		}
	}
	sort.Strings(names[1:])
	return names
}

// GetExportedNames reports the module's export names.
func (g *goModuleRecord) GetExportedNames(callback func([]string), _ ...sobek.ModuleRecord) bool {
	callback(g.exportNames())
	return true
}

// ResolveExport resolves an imported name to this module's binding.
func (g *goModuleRecord) ResolveExport(name string, _ ...sobek.ResolveSetElement) (*sobek.ResolvedBinding, bool) {
	for _, n := range g.exportNames() {
		if n == name {
			return &sobek.ResolvedBinding{Module: g, BindingName: name}, false
		}
	}
	return nil, false
}

// Instantiate creates the instance of the VU that owns rt.
func (g *goModuleRecord) Instantiate(rt *sobek.Runtime) (sobek.CyclicModuleInstance, error) {
	vu := g.r.vuOf(rt)
	if vu == nil {
		return nil, fmt.Errorf("module %q instantiated outside a VU", g.name)
	}
	g.learnNames(vu)
	return newGoModuleInstance(rt, vu.moduleInstance(g).Exports()), nil
}

type goModuleInstance struct {
	values map[string]sobek.Value
}

func newGoModuleInstance(rt *sobek.Runtime, e modules.Exports) *goModuleInstance {
	values := map[string]sobek.Value{}
	named := e.Named
	if len(named) == 0 {
		if m, ok := e.Default.(map[string]any); ok {
			named = m
		}
	}
	for k, v := range named {
		values[k] = rt.ToValue(v)
	}
	switch d := e.Default.(type) {
	case nil:
		obj := rt.NewObject()
		for k, v := range values {
			_ = obj.Set(k, v)
		}
		values["default"] = obj
	case map[string]any:
		obj := rt.NewObject()
		for k := range d {
			_ = obj.Set(k, values[k])
		}
		values["default"] = obj
	default:
		values["default"] = rt.ToValue(d)
	}
	return &goModuleInstance{values: values}
}

// GetBindingValue returns an export.
func (i *goModuleInstance) GetBindingValue(name string) sobek.Value { return i.values[name] }

// HasTLA reports false: Go modules have no top-level await.
func (i *goModuleInstance) HasTLA() bool { return false }

// ExecuteModule does nothing: the instance was populated when created.
func (i *goModuleInstance) ExecuteModule(*sobek.Runtime, func(any) error, func(any) error) (sobek.CyclicModuleInstance, error) {
	return i, nil
}
