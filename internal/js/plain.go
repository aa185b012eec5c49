package js

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/ast"
	"github.com/grafana/sobek/file"
	"github.com/grafana/sobek/token"
	"github.com/grafana/sobek/unistring"
)

// An entry script that imports only Go modules (k6, k6/http, native
// extensions), by name or by default, is evaluated in every VU as a plain
// function instead of as a sobek ES module. sobek runs every module body as
// an async function: each runtime that evaluates one makes the Promise
// constructor with its statics and prototype, promise capabilities, the
// async function prototype and the evaluation state, and every named or
// default import keeps a reflection-wrapped getter function in the module
// scope: 28.7 KiB of the 49.9 KiB of an initialized VU of bench/vus100.js
// (BenchmarkVUInit).
//
// The function is compiled once from the module's syntax tree, so positions
// in errors and stack traces are the script's own. Its body is the module's
// statements with the import declarations dropped and the export keywords
// removed; it takes the imported values as arguments, binds them as consts
// under their local names before the first statement runs (imports are
// immutable, as in the module), and returns a function that reads the
// exported bindings, which the VU calls once the init context's promise
// jobs and callbacks ran (when it read a module's bindings). It is strict,
// as module code is, and called with an undefined this. The module record
// is still parsed and linked as before, so syntax and import errors and the
// export names are what they were; errors and stack traces differ only in
// the bytecode offsets of top-level frames (TestPlainForm).
//
// Scripts that need module semantics keep them: imports of files (which may
// form cycles and have live bindings), namespace imports, re-exports,
// top-level await, import.meta and import(), and any mention of arguments
// (top-level code would see the function's arguments object) all evaluate
// the script as an ES module.

// plainScript is the entry script compiled as a function.
type plainScript struct {
	prog    *sobek.Program
	imports []plainImport // the function's arguments, in order
	mods    []*goModuleRecord
	exports []string // the export names, in the order of the returned array
}

// plainImport is one imported binding: mods[mod]'s export name.
type plainImport struct {
	mod  int
	name string
}

// moduleOnly matches what needs the module form: import() and import.meta
// (a script cannot have them), and arguments (top-level code would see the
// wrapper's arguments object where a module has none).
var moduleOnly = regexp.MustCompile(`\bimport\s*[(.]|\barguments\b`)

// plainForm compiles the entry script body as a function, or returns nil
// when it has to be evaluated as an ES module. r.modMu is held.
func (r *Runner) plainForm(body *ast.Program, src string, rec *sobek.SourceTextModuleRecord) *plainScript {
	if body == nil || body.HasTLA || moduleOnly.MatchString(src) {
		return nil
	}
	p := &plainScript{}
	modIdx := map[*goModuleRecord]int{}
	locals := map[string]string{} // export name -> local binding
	var prefix []*ast.Binding
	stmts := make([]ast.Statement, 0, len(body.Body)+2)
	for _, st := range body.Body {
		switch st := st.(type) {
		case *ast.ImportDeclaration:
			if !r.plainImports(p, st, modIdx, &prefix) {
				return nil
			}
		case *ast.ExportDeclaration:
			decl, ok := plainExport(st, locals)
			if !ok {
				return nil
			}
			if decl != nil {
				stmts = append(stmts, decl)
			}
		default:
			stmts = append(stmts, st)
		}
	}
	// Without re-exports the names are the module's own: GetExportedNames
	// resolves nothing (r.modMu is held).
	var exportNames []string
	rec.GetExportedNames(func(n []string) { exportNames = n })
	ret := &ast.ArrayLiteral{}
	for _, name := range exportNames {
		local, ok := locals[name]
		if !ok {
			return nil
		}
		p.exports = append(p.exports, name)
		ret.Value = append(ret.Value, &ast.Identifier{Name: unistring.NewFromString(local)})
	}
	// The exports are read once the init context's promise jobs and
	// callbacks ran, as a module's bindings are: the function returns a
	// function that reads them.
	stmts = append(stmts, &ast.ReturnStatement{Argument: &ast.ArrowFunctionLiteral{
		ParameterList: &ast.ParameterList{}, Body: &ast.ExpressionBody{Expression: ret},
	}})
	if len(prefix) > 0 {
		stmts = append([]ast.Statement{&ast.LexicalDeclaration{Idx: prefix[0].Target.Idx0(), Token: token.CONST, List: prefix}}, stmts...)
	}
	params := &ast.ParameterList{}
	for i := range p.imports {
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
		return nil
	}
	p.prog = prog
	return p
}

// plainImports adds an import declaration's bindings to p: arguments of the
// function bound as consts under their local names (prefix). false means the
// module form is needed (a file or namespace import).
func (r *Runner) plainImports(p *plainScript, st *ast.ImportDeclaration, modIdx map[*goModuleRecord]int, prefix *[]*ast.Binding) bool {
	spec := st.ModuleSpecifier
	if st.FromClause != nil {
		spec = st.FromClause.ModuleSpecifier
	}
	g, ok := r.records[spec.String()].(*goModuleRecord)
	if !ok || isFileSpecifier(spec.String()) {
		return false
	}
	mi, seen := modIdx[g]
	if !seen {
		mi = len(p.mods)
		modIdx[g] = mi
		p.mods = append(p.mods, g)
	}
	c := st.ImportClause
	if c == nil {
		return true
	}
	if c.NameSpaceImport != nil {
		return false
	}
	importBindings(c, func(local unistring.String, name string) {
		arg := &ast.Identifier{Name: unistring.String("#" + strconv.Itoa(len(p.imports))), Idx: st.Idx}
		p.imports = append(p.imports, plainImport{mod: mi, name: name})
		*prefix = append(*prefix, &ast.Binding{Target: &ast.Identifier{Name: local, Idx: st.Idx}, Initializer: arg})
	})
	return true
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

// resolves reports whether every imported name is an export of its module;
// the export names of Go modules are known once the script is linked.
func (p *plainScript) resolves() bool {
	for _, imp := range p.imports {
		if b, _ := p.mods[imp.mod].ResolveExport(imp.name); b == nil {
			return false
		}
	}
	return true
}

// evalPlain evaluates the entry script's plain form in v and returns the
// function that reads its exports (readPlainExports).
func (v *VU) evalPlain(p *plainScript) (sobek.Value, error) {
	fnVal, err := v.rt.RunProgram(p.prog)
	if err != nil {
		return nil, err
	}
	fn, ok := sobek.AssertFunction(fnVal)
	if !ok {
		return nil, fmt.Errorf("the script's init function is %s", fnVal)
	}
	insts := make([]sobek.ModuleInstance, len(p.mods))
	for i, g := range p.mods {
		inst, err := g.Instantiate(v.rt)
		if err != nil {
			return nil, err
		}
		insts[i] = inst
	}
	args := make([]sobek.Value, len(p.imports))
	for i, imp := range p.imports {
		val := insts[imp.mod].GetBindingValue(imp.name)
		if val == nil {
			val = sobek.Undefined()
		}
		args[i] = val
	}
	read, err := fn(sobek.Undefined(), args...)
	if err != nil {
		return nil, err
	}
	return read, nil
}

// readPlainExports calls the function evalPlain returned and returns the
// exports by name.
func (v *VU) readPlainExports(p *plainScript, read sobek.Value) (map[string]sobek.Value, error) {
	fn, ok := sobek.AssertFunction(read)
	if !ok {
		return nil, fmt.Errorf("the script's init function returned %s", read)
	}
	ret, err := fn(sobek.Undefined())
	if err != nil {
		return nil, err
	}
	arr := ret.ToObject(v.rt)
	exports := make(map[string]sobek.Value, len(p.exports))
	for i, name := range p.exports {
		exports[name] = arr.Get(strconv.Itoa(i))
	}
	return exports, nil
}
