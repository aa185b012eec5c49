package js

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/parser"
)

// CommonJS files (vendored libraries using require, exports and
// module.exports) are compiled once, wrapped in a function, and evaluated
// once per VU: every VU has its own module cache, so module state is per VU
// as in k6. They are loaded by require() in the init context and by ES
// module imports (the default export is module.exports; names assigned as
// exports.NAME / module.exports.NAME are importable by name too).

// cjsWrapperStart keeps the file's lines where they are: the wrapper adds no
// line before the source.
const cjsWrapperStart = "(function (exports, require, module, __filename, __dirname) {"

var (
	cjsMarkers = regexp.MustCompile(`\bmodule\.exports\b|\bexports\.[A-Za-z_$]|\brequire\s*\(`)
	cjsNames   = regexp.MustCompile(`(?m)(?:^|[^.\w$])(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=[^=]`)
)

// cjsProgram is a compiled CommonJS file.
type cjsProgram struct {
	path  string
	prog  *sobek.Program
	names []string // statically assigned export names, sorted
}

// looksCommonJS reports whether src uses CommonJS.
func looksCommonJS(src []byte) bool { return cjsMarkers.Match(src) }

// compileCJS compiles src as a CommonJS module (cached per path).
func (r *Runner) compileCJS(path string, src []byte) (*cjsProgram, error) {
	r.cjsMu.Lock()
	defer r.cjsMu.Unlock()
	if p, ok := r.cjs[path]; ok {
		return p, nil
	}
	prog, err := sobek.Compile(fileURL(path), cjsWrapperStart+string(src)+"\n})", false)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, m := range cjsNames.FindAllSubmatch(src, -1) {
		n := string(m[1])
		if n != "default" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	p := &cjsProgram{path: path, prog: prog, names: names}
	r.cjs[path] = p
	return p, nil
}

// loadFileModule parses a file imported by an ES module: an ES module, or a
// CommonJS file when it has no import/export and uses CommonJS (also when
// it is not valid as an ES module but compiles as CommonJS, e.g. because of
// a top-level return).
func (r *Runner) loadFileModule(path string, orig []byte) (sobek.ModuleRecord, error) {
	src, err := scriptSource(path, orig)
	if err != nil {
		return nil, err
	}
	u := fileURL(path)
	// As sobek.ParseModule, keeping the syntax tree for the plain form.
	body, esmErr := sobek.Parse(u, string(src), parser.IsModule)
	var rec *sobek.SourceTextModuleRecord
	if esmErr == nil {
		rec, esmErr = sobek.ModuleFromAST(body, r.resolve)
	}
	if esmErr == nil && (len(rec.RequestedModules()) > 0 || hasExports(rec) || !looksCommonJS(src)) {
		if r.parsed != nil {
			r.parsed[rec] = parsedModule{body: body, src: string(src)}
		}
		if err := r.register(path, u, rec); err != nil {
			return nil, err
		}
		return rec, nil
	}
	if esmErr != nil && !looksCommonJS(src) {
		return nil, withTypeScriptHint(path, orig, esmErr)
	}
	p, err := r.compileCJS(path, src)
	if err != nil {
		if esmErr != nil {
			return nil, withTypeScriptHint(path, orig, esmErr)
		}
		return nil, err
	}
	c := &cjsModuleRecord{r: r, p: p}
	r.records[path] = c
	r.urls[c] = u
	return c, nil
}

func hasExports(rec *sobek.SourceTextModuleRecord) bool {
	has := false
	rec.GetExportedNames(func(names []string) { has = len(names) > 0 })
	return has
}

// requireFile implements require() of a local file for v: the VU's cached
// module.exports, or the file evaluated now.
func (v *VU) requireFile(path string) (sobek.Value, error) {
	if m, ok := v.cjs[path]; ok {
		return m.Get("exports"), nil
	}
	p, err := v.cjsProgramFor(path)
	if err != nil {
		return nil, err
	}
	rt := v.rt
	module := rt.NewObject()
	exports := rt.NewObject()
	_ = module.Set("exports", exports)
	_ = module.Set("id", path)
	_ = module.Set("filename", path)
	v.cjs[path] = module
	wrapper, err := rt.RunProgram(p.prog)
	if err != nil {
		delete(v.cjs, path)
		return nil, err
	}
	fn, ok := sobek.AssertFunction(wrapper)
	if !ok {
		delete(v.cjs, path)
		return nil, fmt.Errorf("%s: not a CommonJS module", path)
	}
	dir := filepath.Dir(path)
	req := rt.ToValue(func(call sobek.FunctionCall) sobek.Value {
		return v.require(call.Argument(0).String(), dir)
	})
	if _, err := fn(exports, exports, req, module, rt.ToValue(path), rt.ToValue(dir)); err != nil {
		delete(v.cjs, path)
		return nil, err
	}
	return module.Get("exports"), nil
}

// cjsProgramFor returns the compiled CommonJS file at path, reading it now
// when no import loaded it. ES module files cannot be required.
func (v *VU) cjsProgramFor(path string) (*cjsProgram, error) {
	v.r.cjsMu.Lock()
	p, ok := v.r.cjs[path]
	v.r.cjsMu.Unlock()
	if ok {
		return p, nil
	}
	v.r.modMu.Lock()
	rec, isESM := v.r.records[path].(*sobek.SourceTextModuleRecord)
	v.r.modMu.Unlock()
	if isESM && rec != nil {
		return nil, fmt.Errorf("%s is an ES module: import it (import ... from './%s') instead of require()-ing it", path, filepath.Base(path))
	}
	src, err := v.r.readSource(path)
	if err != nil {
		return nil, err
	}
	if !looksCommonJS(src) {
		if _, esmErr := sobek.ParseModule(fileURL(path), string(src), nil); esmErr == nil && strings.Contains(string(src), "export") {
			return nil, fmt.Errorf("%s is an ES module: import it (import ... from './%s') instead of require()-ing it", path, filepath.Base(path))
		}
	}
	return v.r.compileCJS(path, src)
}

// callerDir returns the directory of the script file that called the
// current native function, or the entry script's directory.
func (v *VU) callerDir() string {
	for _, f := range v.rt.CaptureCallStack(8, nil) {
		if u, err := url.Parse(f.SrcName()); err == nil && u.Scheme == "file" {
			return filepath.Dir(filepath.FromSlash(u.Path))
		}
	}
	return v.r.dir
}

// cjsModuleRecord is the module record of a CommonJS file imported by an
// ES module.
type cjsModuleRecord struct {
	r *Runner
	p *cjsProgram
}

var (
	_ sobek.CyclicModuleRecord   = (*cjsModuleRecord)(nil)
	_ sobek.CyclicModuleInstance = (*cjsModuleInstance)(nil)
)

// Link does nothing: require() loads dependencies when the file runs.
func (c *cjsModuleRecord) Link() error { return nil }

// InitializeEnvironment does nothing: the file is compiled already.
func (c *cjsModuleRecord) InitializeEnvironment() error { return nil }

// RequestedModules returns nothing: CommonJS files import nothing.
func (c *cjsModuleRecord) RequestedModules() []string { return nil }

// Evaluate evaluates the module in rt.
func (c *cjsModuleRecord) Evaluate(rt *sobek.Runtime) *sobek.Promise {
	return rt.CyclicModuleRecordEvaluate(c, c.r.resolve)
}

func (c *cjsModuleRecord) exportNames() []string { return append([]string{"default"}, c.p.names...) }

// GetExportedNames reports default plus the statically assigned names.
func (c *cjsModuleRecord) GetExportedNames(callback func([]string), _ ...sobek.ModuleRecord) bool {
	callback(c.exportNames())
	return true
}

// ResolveExport resolves an imported name to this module's binding.
func (c *cjsModuleRecord) ResolveExport(name string, _ ...sobek.ResolveSetElement) (*sobek.ResolvedBinding, bool) {
	for _, n := range c.exportNames() {
		if n == name {
			return &sobek.ResolvedBinding{Module: c, BindingName: name}, false
		}
	}
	return nil, false
}

// Instantiate creates the instance of the VU that owns rt.
func (c *cjsModuleRecord) Instantiate(rt *sobek.Runtime) (sobek.CyclicModuleInstance, error) {
	vu := c.r.vuOf(rt)
	if vu == nil {
		return nil, fmt.Errorf("module %s instantiated outside a VU", c.p.path)
	}
	return &cjsModuleInstance{v: vu, path: c.p.path}, nil
}

// cjsModuleInstance is one VU's instance of a CommonJS file.
type cjsModuleInstance struct {
	v       *VU
	path    string
	exports sobek.Value
}

// GetBindingValue returns module.exports (default) or one of its properties.
func (i *cjsModuleInstance) GetBindingValue(name string) sobek.Value {
	if i.exports == nil {
		return sobek.Undefined()
	}
	if name == "default" {
		return i.exports
	}
	if o, ok := i.exports.(*sobek.Object); ok {
		return o.Get(name)
	}
	return sobek.Undefined()
}

// HasTLA reports false: CommonJS has no top-level await.
func (i *cjsModuleInstance) HasTLA() bool { return false }

// ExecuteModule runs the file in the VU (or takes its cached exports).
func (i *cjsModuleInstance) ExecuteModule(*sobek.Runtime, func(any) error, func(any) error) (sobek.CyclicModuleInstance, error) {
	exp, err := i.v.requireFile(i.path)
	if err != nil {
		var ex *sobek.Exception
		if errors.As(err, &ex) {
			return nil, ex
		}
		return nil, err
	}
	i.exports = exp
	return i, nil
}
