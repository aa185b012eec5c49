package js

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/ast"
	"github.com/grafana/sobek/file"
	"github.com/grafana/sobek/token"
	"github.com/grafana/sobek/unistring"
)

// An entry script is evaluated in every VU as plain functions instead of as
// sobek ES modules when its import graph allows: the entry script and every
// file it imports, directly or not, each compiled as a function. sobek runs
// every module body as an async function: each runtime that evaluates one
// makes the Promise constructor with its statics and prototype, promise
// capabilities, the async function prototype and the evaluation state, and
// every named or default import keeps a reflection-wrapped getter function
// in the module scope: 28.7 KiB of the 49.9 KiB of an initialized VU of
// bench/vus100.js, 62 of the 190 KiB of one of scripts/race.js
// (BenchmarkVUInit).
//
// Each function is compiled once from its module's syntax tree, so
// positions in errors and stack traces are the file's own. Its body is the
// module's statements with the import declarations dropped and the export
// keywords removed; it takes the imported values as arguments, binds them
// as consts under their local names before the first statement runs
// (imports are immutable, as in a module), and returns the exports. It is
// strict, as module code is, and called with an undefined this. The files
// are evaluated once per VU, depth first in the order of their import
// declarations (imports before importers), as ES modules are, but for
// files that only declare, which are evaluated when first needed
// (plainlazy.go); a namespace import of a file is an object made once per VU
// (see namespace). An
// imported file's function returns its exported values, which its importers
// take as arguments; the entry script's returns a function that reads its
// exported bindings, which the VU calls once the init context's promise
// jobs and callbacks ran (when it read a module's bindings). The module
// records are still parsed and linked as before, so syntax and import
// errors and the export names are what they were; errors and stack traces
// differ only in the bytecode offsets of top-level frames (TestPlainForm,
// TestPlainFormFiles).
//
// Graphs that need module semantics keep them, silently: a cycle, a
// CommonJS file, a re-export, a namespace import of a Go module, top-level
// await, import.meta and import(), any mention of arguments (top-level code
// would see the function's arguments object), and in an imported file an
// exported binding assigned anywhere after its declaration (its importers
// would not see the new value: a live binding), eval, or promise jobs (see
// fileModuleOnly).

// plainScript is the entry script and the files it imports, each compiled
// as a function, with the Go modules they import: the units in evaluation
// order (imports before importers, the entry script last).
type plainScript struct {
	units      []plainUnit
	namespaces bool // some unit's namespace is imported
}

// plainUnit is one module of the plain form: a Go module (g) or a file
// compiled as a function (prog) that takes its imports as arguments and
// returns its exports: an array of them for an imported file, a function
// that reads them for the entry script.
type plainUnit struct {
	url     string // the module's URL or name
	g       *goModuleRecord
	prog    *sobek.Program
	imports []plainImport // the function's arguments, in order
	exports []string      // the export names, in the order of the returned array
	nsOrder []int         // the exports' indexes in the order of a namespace's keys
	lazy    bool          // evaluated when its namespace is first read (plainlazy.go)
}

// plainImport is one imported binding: units[unit]'s export name (at index
// idx of a file's exports), or with ns the file's namespace.
type plainImport struct {
	unit int
	name string
	idx  int
	ns   bool
}

// moduleOnly matches what needs the module form: import() and import.meta
// (a script cannot have them), and arguments (top-level code would see the
// wrapper's arguments object where a module has none).
var moduleOnly = regexp.MustCompile(`\bimport\s*[(.]|\barguments\b`)

// fileModuleOnly matches what else needs the module form in an imported
// file: a direct eval could assign an exported binding where assigns does
// not look; and promise jobs. sobek runs the jobs queued by a call from Go
// when it returns: the plain form calls every file's function from Go, so a
// file's promise reactions would run before its importers' code, where ES
// modules run them all after the entry script's top level. A file that
// mentions promises, async functions or queueMicrotask keeps the module
// form. (Timers are the event loop's, which runs after the entry script in
// either form.)
var fileModuleOnly = regexp.MustCompile(`\beval\b|\bPromise\b|\.(then|catch|finally)\b|\basync\b|\bawait\b|\bqueueMicrotask\b`)

// parsedModule is an ES module's syntax tree and source, kept while the
// plain form is compiled.
type parsedModule struct {
	body *ast.Program
	src  string
}

// plainBuilder compiles the plain form of a module graph.
type plainBuilder struct {
	r     *Runner
	p     *plainScript
	units map[sobek.ModuleRecord]int // a module's unit, -1 while its imports are compiled
	// declares is, for each unit, whether it is a file whose top level only
	// declares (plainlazy.go).
	declares []bool
}

// plainForm compiles the entry script and the files it imports as
// functions, or returns nil when the graph has to be evaluated as ES
// modules. r.modMu is held, and every module of the graph is loaded.
func (r *Runner) plainForm(main *sobek.SourceTextModuleRecord) *plainScript {
	b := &plainBuilder{r: r, p: &plainScript{}, units: map[sobek.ModuleRecord]int{}}
	if _, ok := b.visit(main, true); !ok {
		return nil
	}
	b.p.markLazy(b.declares)
	return b.p
}

// visit returns rec's unit, compiling it (after its imports) the first time;
// false means the module form is needed (a cycle, a CommonJS file, a file
// that does not qualify).
func (b *plainBuilder) visit(rec sobek.ModuleRecord, entry bool) (int, bool) {
	if i, seen := b.units[rec]; seen {
		return i, i >= 0
	}
	var u plainUnit
	switch m := rec.(type) {
	case *goModuleRecord:
		u.g, u.url = m, m.name
	case *sobek.SourceTextModuleRecord:
		b.units[rec] = -1
		var ok bool
		if u, ok = b.file(m, entry); !ok {
			return -1, false
		}
		u.url = b.r.urls[m]
	default:
		return -1, false
	}
	b.units[rec] = len(b.p.units)
	b.p.units = append(b.p.units, u)
	b.declares = append(b.declares, u.prog != nil && declarative(b.r.parsed[rec.(*sobek.SourceTextModuleRecord)].body))
	return len(b.p.units) - 1, true
}

// file compiles an ES module's body as a function (plain.go's header).
func (b *plainBuilder) file(m *sobek.SourceTextModuleRecord, entry bool) (plainUnit, bool) {
	var u plainUnit
	pm, ok := b.r.parsed[m]
	body := pm.body
	if !ok || body.HasTLA || moduleOnly.MatchString(pm.src) || (!entry && fileModuleOnly.MatchString(pm.src)) {
		return u, false
	}
	locals := map[string]string{} // export name -> local binding
	var prefix []*ast.Binding
	stmts := make([]ast.Statement, 0, len(body.Body)+2)
	for _, st := range body.Body {
		switch st := st.(type) {
		case *ast.ImportDeclaration:
			if !b.imports(m, &u, st, &prefix) {
				return u, false
			}
		case *ast.ExportDeclaration:
			decl, ok := plainExport(st, locals)
			if !ok {
				return u, false
			}
			if decl != nil {
				stmts = append(stmts, decl)
			}
		default:
			stmts = append(stmts, st)
		}
	}
	ret, ok := b.exports(m, &u, locals, entry)
	if !ok {
		return u, false
	}
	stmts = append(stmts, ret)
	if len(prefix) > 0 {
		stmts = append([]ast.Statement{&ast.LexicalDeclaration{Idx: prefix[0].Target.Idx0(), Token: token.CONST, List: prefix}}, stmts...)
	}
	params := &ast.ParameterList{}
	for i := range u.imports {
		params.List = append(params.List, &ast.Binding{Target: &ast.Identifier{Name: unistring.String("#" + strconv.Itoa(i))}})
	}
	fn := &ast.FunctionLiteral{
		Function:        file.Idx(1),
		ParameterList:   params,
		Body:            &ast.BlockStatement{List: stmts},
		DeclarationList: body.DeclarationList,
	}
	prog, err := compilePlain(&ast.Program{Body: []ast.Statement{&ast.ExpressionStatement{Expression: fn}}, File: body.File})
	if err != nil {
		return u, false
	}
	u.prog = prog
	return u, true
}

// exports records m's export names in u and returns the function's last
// statement: the entry script's exports are read once the init context's
// promise jobs and callbacks ran, as a module's bindings are, so it returns
// a function that reads them; an imported file returns them at once, which
// its importers see as the module's bindings only if none is ever assigned
// after its declaration (else false: the module form keeps them live).
func (b *plainBuilder) exports(m *sobek.SourceTextModuleRecord, u *plainUnit, locals map[string]string, entry bool) (ast.Statement, bool) {
	// Without re-exports the names are the module's own: GetExportedNames
	// resolves nothing (r.modMu is held).
	var names []string
	m.GetExportedNames(func(n []string) { names = n })
	ret := &ast.ArrayLiteral{}
	bound := map[string]bool{}
	for _, name := range names {
		local, ok := locals[name]
		if !ok {
			return nil, false
		}
		u.exports = append(u.exports, name)
		bound[local] = true
		ret.Value = append(ret.Value, &ast.Identifier{Name: unistring.NewFromString(local)})
	}
	if entry {
		return &ast.ReturnStatement{Argument: &ast.ArrowFunctionLiteral{
			ParameterList: &ast.ParameterList{}, Body: &ast.ExpressionBody{Expression: ret},
		}}, true
	}
	if assigns(b.r.parsed[m].body, bound) {
		return nil, false
	}
	u.nsOrder = make([]int, len(u.exports))
	for i := range u.nsOrder {
		u.nsOrder[i] = i
	}
	sort.SliceStable(u.nsOrder, func(i, j int) bool { return u.exports[u.nsOrder[i]] < u.exports[u.nsOrder[j]] })
	return &ast.ReturnStatement{Argument: ret}, true
}

// imports adds an import declaration's bindings to u: arguments of the
// function bound as consts under their local names (prefix). The imported
// module is compiled first. false means the module form is needed.
func (b *plainBuilder) imports(m *sobek.SourceTextModuleRecord, u *plainUnit, st *ast.ImportDeclaration, prefix *[]*ast.Binding) bool {
	spec := st.ModuleSpecifier
	if st.FromClause != nil {
		spec = st.FromClause.ModuleSpecifier
	}
	dep, err := b.r.resolveLocked(m, spec.String())
	if err != nil {
		return false
	}
	di, ok := b.visit(dep, false)
	if !ok {
		return false
	}
	c := st.ImportClause
	if c == nil {
		return true
	}
	d := &b.p.units[di]
	bind := func(local unistring.String, imp plainImport) {
		arg := &ast.Identifier{Name: unistring.String("#" + strconv.Itoa(len(u.imports))), Idx: st.Idx}
		u.imports = append(u.imports, imp)
		*prefix = append(*prefix, &ast.Binding{Target: &ast.Identifier{Name: local, Idx: st.Idx}, Initializer: arg})
	}
	if c.NameSpaceImport != nil {
		if d.g != nil {
			return false // a Go module's namespace
		}
		b.p.namespaces = true
		bind(c.NameSpaceImport.ImportedBinding, plainImport{unit: di, ns: true})
	}
	importBindings(c, func(local unistring.String, name string) {
		imp := plainImport{unit: di, name: name}
		if d.g == nil {
			if imp.idx = slices.Index(d.exports, name); imp.idx < 0 {
				ok = false // the module form reports the missing export
			}
		}
		bind(local, imp)
	})
	return ok
}

// compilePlain compiles the wrapper; the compiler's panics on a tree it
// does not expect are returned as errors (the script then stays a module).
func compilePlain(prg *ast.Program) (p *sobek.Program, err error) {
	defer func() {
		if x := recover(); x != nil {
			p, err = nil, fmt.Errorf("%v", x)
		}
	}()
	return sobek.CompileAST(prg, true)
}

// plainExport returns the statement an export declaration becomes in the
// function (nil for a list of exports) and records the local binding of
// each name it exports; false means the module form is needed.
func plainExport(st *ast.ExportDeclaration, locals map[string]string) (ast.Statement, bool) {
	if st.FromClause != nil || st.ExportFromClause != nil {
		return nil, false // a re-export
	}
	bindings := func(list []*ast.Binding) bool {
		for _, b := range list {
			id, ok := b.Target.(*ast.Identifier)
			if !ok {
				return false // a destructuring export
			}
			locals[id.Name.String()] = id.Name.String()
		}
		return true
	}
	switch {
	case st.Variable != nil:
		return st.Variable, bindings(st.Variable.List)
	case st.LexicalDeclaration != nil:
		return st.LexicalDeclaration, bindings(st.LexicalDeclaration.List)
	case st.HoistableDeclaration != nil:
		fd := st.HoistableDeclaration.FunctionDeclaration
		if fd == nil || fd.Function.Name == nil {
			return nil, false
		}
		name := fd.Function.Name.Name.String()
		if st.IsDefault {
			locals["default"] = name
		} else {
			locals[name] = name
		}
		return fd, true
	case st.ClassDeclaration != nil:
		cls := st.ClassDeclaration.Class
		if cls.Name == nil {
			return nil, false // export default class {}
		}
		name := cls.Name.Name.String()
		if st.IsDefault {
			locals["default"] = name
		} else {
			locals[name] = name
		}
		return st.ClassDeclaration, true
	case st.AssignExpression != nil:
		// As sobek compiles export default EXPR: a const named default.
		a := st.AssignExpression
		locals["default"] = "default"
		return &ast.LexicalDeclaration{Idx: a.Idx0(), Token: token.CONST, List: []*ast.Binding{{
			Target: &ast.Identifier{Name: "default", Idx: a.Idx0()}, Initializer: a,
		}}}, true
	case st.NamedExports != nil:
		for _, s := range st.NamedExports.ExportsList {
			name := s.Alias
			if name == "" {
				name = s.IdentifierName
			}
			locals[name.String()] = s.IdentifierName.String()
		}
		return nil, true
	}
	return nil, false
}

// resolves reports whether every name imported from a Go module is one of
// its exports; their export names are known once the script is linked.
func (p *plainScript) resolves() bool {
	for _, u := range p.units {
		for _, imp := range u.imports {
			if g := p.units[imp.unit].g; g != nil {
				if b, _ := g.ResolveExport(imp.name); b == nil {
					return false
				}
			}
		}
	}
	return true
}

// plainValues is what one unit gave a VU's evaluation: a Go module's
// instance, or a file's exports and its namespace once made.
type plainValues struct {
	inst    sobek.ModuleInstance
	exports []sobek.Value
	ns      *sobek.Object
}

// evalPlain evaluates the plain form in v, every unit once in order, and
// returns the function that reads the entry script's exports
// (readPlainExports).
func (v *VU) evalPlain(p *plainScript) (sobek.Value, error) {
	vals := make([]plainValues, len(p.units))
	var seal sobek.Callable
	if p.namespaces {
		// Taken before any of the script's code runs.
		seal, _ = sobek.AssertFunction(v.rt.Get("Object").ToObject(v.rt).Get("preventExtensions"))
	}
	for i := range p.units {
		u := &p.units[i]
		if u.lazy {
			continue
		}
		if u.g != nil {
			inst, err := u.g.Instantiate(v.rt)
			if err != nil {
				return nil, err
			}
			vals[i].inst = inst
			continue
		}
		args := make([]sobek.Value, len(u.imports))
		for j, imp := range u.imports {
			val, err := v.plainImport(p, vals, imp, seal)
			if err != nil {
				return nil, err
			}
			args[j] = val
		}
		ret, err := v.runPlain(u.prog, args)
		if err != nil || i == len(p.units)-1 {
			return ret, err
		}
		vals[i].exports = readArray(v.rt, ret, len(u.exports))
	}
	return nil, errors.New("the plain form has no entry script")
}

// runPlain runs a unit's program and calls the function it evaluates to.
func (v *VU) runPlain(prog *sobek.Program, args []sobek.Value) (sobek.Value, error) {
	fnVal, err := v.rt.RunProgram(prog)
	if err != nil {
		return nil, err
	}
	fn, ok := sobek.AssertFunction(fnVal)
	if !ok {
		return nil, fmt.Errorf("a module's init function is %s", fnVal)
	}
	return fn(sobek.Undefined(), args...)
}

// plainImport returns the value of an imported binding.
func (v *VU) plainImport(p *plainScript, vals []plainValues, imp plainImport, seal sobek.Callable) (sobek.Value, error) {
	d := &vals[imp.unit]
	var val sobek.Value
	switch {
	case d.inst != nil:
		val = d.inst.GetBindingValue(imp.name)
	case imp.ns && p.units[imp.unit].lazy:
		if d.ns == nil {
			d.ns = v.newLazyNamespace(p, vals, imp.unit, seal)
		}
		val = d.ns
	case imp.ns:
		if d.ns == nil {
			ns, err := v.namespace(&p.units[imp.unit], d.exports, seal)
			if err != nil {
				return nil, err
			}
			d.ns = ns
		}
		val = d.ns
	default:
		if p.units[imp.unit].lazy {
			if err := v.evalLazy(p, vals, imp.unit, seal); err != nil {
				return nil, err
			}
		}
		val = d.exports[imp.idx]
	}
	if val == nil {
		val = sobek.Undefined()
	}
	return val, nil
}

// namespace makes the namespace object of a file's exports: no prototype,
// the export names in order as enumerable data properties that cannot be
// assigned, deleted or redefined, Symbol.toStringTag "Module", and no new
// properties. A module namespace reports its properties as writable (each
// reads the module's binding) and is not frozen: Object.isFrozen is true
// here, false there.
func (v *VU) namespace(u *plainUnit, exports []sobek.Value, seal sobek.Callable) (*sobek.Object, error) {
	ns := v.rt.CreateObject(nil)
	for _, k := range u.nsOrder {
		if err := ns.DefineDataProperty(u.exports[k], exports[k], sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_TRUE); err != nil {
			return nil, err
		}
	}
	if err := ns.DefineDataPropertySymbol(sobek.SymToStringTag, v.rt.ToValue("Module"), sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_FALSE); err != nil {
		return nil, err
	}
	if seal == nil {
		return nil, errors.New("Object.preventExtensions is not a function")
	}
	if _, err := seal(sobek.Undefined(), ns); err != nil {
		return nil, err
	}
	return ns, nil
}

// readArray reads the first n elements of an array.
func readArray(rt *sobek.Runtime, arr sobek.Value, n int) []sobek.Value {
	obj := arr.ToObject(rt)
	vals := make([]sobek.Value, n)
	for k := range vals {
		vals[k] = obj.Get(strconv.Itoa(k))
	}
	return vals
}

// readPlainExports calls the function evalPlain returned and returns the
// entry script's exports by name.
func (v *VU) readPlainExports(p *plainScript, read sobek.Value) (exportValues, error) {
	fn, ok := sobek.AssertFunction(read)
	if !ok {
		return exportValues{}, fmt.Errorf("the script's init function returned %s", read)
	}
	ret, err := fn(sobek.Undefined())
	if err != nil {
		return exportValues{}, err
	}
	names := p.units[len(p.units)-1].exports
	arr := ret.ToObject(v.rt)
	vals := make([]sobek.Value, len(names))
	for i := range names {
		vals[i] = arr.Get(strconv.Itoa(i))
	}
	return exportValues{names: names, vals: vals}, nil
}

// assigns reports whether an assignment, an increment or decrement, or a
// for-in/of head anywhere in the tree may assign one of names. Scopes are
// not followed: a local of the same name counts too.
func assigns(node any, names map[string]bool) bool {
	if len(names) == 0 {
		return false
	}
	found := false
	walkAST(reflect.ValueOf(node), func(n any) {
		switch n := n.(type) {
		case *ast.AssignExpression:
			found = found || targets(n.Left, names)
		case *ast.UnaryExpression:
			if n.Operator == token.INCREMENT || n.Operator == token.DECREMENT {
				found = found || targets(n.Operand, names)
			}
		case *ast.ForIntoExpression:
			found = found || targets(n.Expression, names)
		}
	})
	return found
}

// targets reports whether an assignment target binds one of names.
func targets(e ast.Expression, names map[string]bool) bool {
	switch e := e.(type) {
	case *ast.Identifier:
		return names[e.Name.String()]
	case *ast.AssignExpression: // a target with a default value
		return targets(e.Left, names)
	case *ast.ArrayPattern:
		for _, el := range e.Elements {
			if targets(el, names) {
				return true
			}
		}
		return targets(e.Rest, names)
	case *ast.ObjectPattern:
		for _, prop := range e.Properties {
			switch prop := prop.(type) {
			case *ast.PropertyShort:
				if names[prop.Name.Name.String()] {
					return true
				}
			case *ast.PropertyKeyed:
				if targets(prop.Value, names) {
					return true
				}
			}
		}
		return targets(e.Rest, names)
	}
	return false
}

var fileType = reflect.TypeFor[*file.File]()

// walkAST calls fn once with every pointer to a struct reachable from v
// through exported fields, but the source file.
func walkAST(v reflect.Value, fn func(any)) {
	seen := map[any]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || v.Type() == fileType || !v.CanInterface() || seen[v.Interface()] {
				return
			}
			seen[v.Interface()] = true
			if v.Elem().Kind() == reflect.Struct {
				fn(v.Interface())
			}
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		}
	}
	walk(v)
}
