package js

import (
	"fmt"
	"log/slog"
	"slices"
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
	} else {
		switch d := e.Default.(type) {
		case map[string]any:
			for n := range d {
				names = append(names, n)
			}
		case *sobek.Object:
			names = append(names, d.Keys()...)
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
	return newGoModuleInstance(rt, g.name, vu.logger, vu.moduleInstance(g).Exports()), nil
}

// goModuleInstance is one runtime's instance of a Go module. Exports are
// converted to JS values only when the script uses them, which keeps VUs
// small and quick to create.
type goModuleInstance struct {
	rt     *sobek.Runtime
	module string
	logger *slog.Logger
	e      modules.Exports
	// values are the exports converted so far, in the order first used. A
	// script uses a few of a module's exports, so a list searched in order
	// is as quick as a map and costs a VU a fraction of one (a map per
	// module instance was ~0.3 KiB, four or more per VU).
	values []boundValue
}

// boundValue is an export converted to its JS value.
type boundValue struct {
	name  string
	value sobek.Value
}

func newGoModuleInstance(rt *sobek.Runtime, module string, logger *slog.Logger, e modules.Exports) *goModuleInstance {
	return &goModuleInstance{rt: rt, module: module, logger: logger, e: e}
}

// GetBindingValue returns an export, converting it on first use.
func (i *goModuleInstance) GetBindingValue(name string) sobek.Value {
	for _, b := range i.values {
		if b.name == name {
			return b.value
		}
	}
	var v sobek.Value
	if name == "default" {
		v = i.defaultValue()
	} else {
		v = i.named(name)
	}
	i.values = append(i.values, boundValue{name: name, value: v})
	return v
}

func (i *goModuleInstance) named(name string) sobek.Value {
	if x, ok := i.e.Named[name]; ok {
		return i.rt.ToValue(i.guardExport(name, x))
	}
	if len(i.e.Named) == 0 {
		switch d := i.e.Default.(type) {
		case map[string]any:
			if x, ok := d[name]; ok {
				return i.rt.ToValue(i.guardExport(name, x))
			}
		case *sobek.Object:
			return d.Get(name)
		}
	}
	return nil
}

func (i *goModuleInstance) defaultValue() sobek.Value {
	switch d := i.e.Default.(type) {
	case nil:
		return i.rt.NewDynamicObject(&defaultObject{i: i, names: sortedKeys(i.e.Named)})
	case map[string]any:
		return i.rt.NewDynamicObject(&defaultObject{i: i, names: sortedKeys(d)})
	default:
		return i.rt.ToValue(d)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// defaultObject is the default export of a Go module that exports names
// (import ledger from 'k6/x/ledger'): its properties are the module's
// exports, each converted when the script first reads it, the same value
// as the named import. A module with dozens of exports would otherwise
// cost every VU a function object per export it never calls. What the
// script assigns or deletes stays in the object.
type defaultObject struct {
	i       *goModuleInstance
	names   []string
	own     map[string]sobek.Value
	added   []string // keys of own that are not exports, in the order assigned
	deleted map[string]bool
}

func (d *defaultObject) export(key string) bool {
	n := sort.SearchStrings(d.names, key)
	return n < len(d.names) && d.names[n] == key
}

func (d *defaultObject) Get(key string) sobek.Value {
	if v, ok := d.own[key]; ok {
		return v
	}
	if d.deleted[key] || !d.export(key) {
		return nil
	}
	return d.i.GetBindingValue(key)
}

func (d *defaultObject) Set(key string, val sobek.Value) bool {
	if d.own == nil {
		d.own = map[string]sobek.Value{}
	}
	if _, had := d.own[key]; !had && !d.export(key) {
		d.added = append(d.added, key)
	}
	d.own[key] = val
	delete(d.deleted, key)
	return true
}

func (d *defaultObject) Has(key string) bool {
	_, own := d.own[key]
	return own || (!d.deleted[key] && d.export(key))
}

func (d *defaultObject) Delete(key string) bool {
	if _, had := d.own[key]; had && !d.export(key) {
		d.added = slices.DeleteFunc(d.added, func(k string) bool { return k == key })
	}
	delete(d.own, key)
	if d.export(key) {
		if d.deleted == nil {
			d.deleted = map[string]bool{}
		}
		d.deleted[key] = true
	}
	return true
}

// Keys lists the exports, then what the script added in the order added,
// as an ordinary object would.
func (d *defaultObject) Keys() []string {
	keys := make([]string, 0, len(d.names)+len(d.added))
	for _, k := range d.names {
		if !d.deleted[k] {
			keys = append(keys, k)
		}
	}
	return append(keys, d.added...)
}

// HasTLA reports false: Go modules have no top-level await.
func (i *goModuleInstance) HasTLA() bool { return false }

// ExecuteModule does nothing: exports are converted on demand.
func (i *goModuleInstance) ExecuteModule(*sobek.Runtime, func(any) error, func(any) error) (sobek.CyclicModuleInstance, error) {
	return i, nil
}
