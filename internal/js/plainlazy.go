package js

import (
	"errors"
	"slices"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/ast"
)

// A file whose top level only declares (functions, and consts or variables
// of literal values) and that is imported only as a namespace
// (import * as accounts from './lib/accounts.js'), or by name only by files
// evaluated so, is evaluated by the plain form when its exports are first
// needed (its namespace read, or such an importer evaluated), not before its
// importers: its evaluation has no effect to order and cannot throw, so
// when it happens is not observable, and a VU that never reads the
// namespace never makes the module's function objects. race.js imports the
// modules of setup and teardown so (accounts.js, and audit.js, which imports
// accounts.js by name): the VUs of its scenario never make them
// (BenchmarkVUInit with scripts/race.js: 128.4 -> 118.7 KiB per VU).
//
// The namespace of such a file is a dynamic object (lazyNamespace). It
// differs from a module namespace only where code inspects the object
// itself: its prototype is a null-prototype object carrying
// Symbol.toStringTag "Module" (a namespace has none, and its own tag);
// Object.isExtensible reports true, Object.preventExtensions throws and
// property descriptors report configurable. Reading, enumerating and
// testing exports, and refusing assignments, new properties and deletions
// (TypeError in strict code) are as a namespace's (TestPlainFormFiles).

// declarative reports whether a file's top level only declares: import
// declarations, function declarations, consts, lets and variables of
// literal values (or none), and export lists, with export in front of them
// or not.
func declarative(body *ast.Program) bool {
	for _, st := range body.Body {
		if e, ok := st.(*ast.ExportDeclaration); ok {
			switch {
			case e.FromClause != nil || e.ExportFromClause != nil || e.IsDefault:
				return false
			case e.HoistableDeclaration != nil:
				st = e.HoistableDeclaration.FunctionDeclaration
			case e.LexicalDeclaration != nil:
				st = e.LexicalDeclaration
			case e.Variable != nil:
				st = e.Variable
			case e.NamedExports != nil:
				continue
			default:
				return false
			}
		}
		switch st := st.(type) {
		case *ast.ImportDeclaration, *ast.EmptyStatement:
		case *ast.FunctionDeclaration:
			if st == nil {
				return false
			}
		case *ast.LexicalDeclaration:
			if !literalBindings(st.List) {
				return false
			}
		case *ast.VariableStatement:
			if !literalBindings(st.List) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// literalBindings reports whether every binding is an identifier with a
// literal initializer or none.
func literalBindings(list []*ast.Binding) bool {
	for _, b := range list {
		if _, ok := b.Target.(*ast.Identifier); !ok {
			return false
		}
		switch b.Initializer.(type) {
		case nil, *ast.NumberLiteral, *ast.StringLiteral, *ast.BooleanLiteral, *ast.NullLiteral:
		default:
			return false
		}
	}
	return true
}

// markLazy marks the declarative files that are imported only as
// namespaces, or by name only by files marked so (or only for their
// effects, which they have none of).
func (p *plainScript) markLazy(declares []bool) {
	last := len(p.units) - 1
	for i := range p.units {
		p.units[i].lazy = declares[i] && i != last
	}
	for changed := true; changed; {
		changed = false
		for j := range p.units {
			for _, imp := range p.units[j].imports {
				if d := &p.units[imp.unit]; d.lazy && !imp.ns && !p.units[j].lazy {
					d.lazy, changed = false, true
				}
			}
		}
	}
}

// evalLazy evaluates a lazily evaluated file the first time its exports
// are needed (its namespace read, or a file that imports it by name
// evaluated).
func (v *VU) evalLazy(p *plainScript, vals []plainValues, unit int, seal sobek.Callable) error {
	d := &vals[unit]
	if d.exports != nil {
		return nil
	}
	u := &p.units[unit]
	args := make([]sobek.Value, len(u.imports))
	for j, imp := range u.imports {
		val, err := v.plainImport(p, vals, imp, seal)
		if err != nil {
			return err
		}
		args[j] = val
	}
	ret, err := v.runPlain(u.prog, args)
	if err != nil {
		return err
	}
	d.exports = readArray(v.rt, ret, len(u.exports))
	return nil
}

// lazyNamespace is the namespace of a lazily evaluated file in one VU
// (sobek.DynamicObject): the first read evaluates the file.
type lazyNamespace struct {
	v    *VU
	p    *plainScript
	vals []plainValues
	unit int
	seal sobek.Callable
}

// newLazyNamespace makes the namespace object of p.units[unit] for v.
func (v *VU) newLazyNamespace(p *plainScript, vals []plainValues, unit int, seal sobek.Callable) *sobek.Object {
	ns := v.rt.NewDynamicObject(&lazyNamespace{v: v, p: p, vals: vals, unit: unit, seal: seal})
	tag := v.rt.CreateObject(nil)
	_ = tag.DefineDataPropertySymbol(sobek.SymToStringTag, v.rt.ToValue("Module"), sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_FALSE)
	_ = ns.SetPrototype(tag)
	return ns
}

// Get returns an export, evaluating the file the first time. An error
// (only an interrupt can stop a declarative file) is thrown at the read.
func (n *lazyNamespace) Get(key string) sobek.Value {
	i := slices.Index(n.p.units[n.unit].exports, key)
	if i < 0 {
		return nil
	}
	if err := n.v.evalLazy(n.p, n.vals, n.unit, n.seal); err != nil {
		var ie *sobek.InterruptedError
		if errors.As(err, &ie) {
			n.v.rt.Interrupt(ie.Value())
		}
		panic(n.v.rt.NewGoError(err))
	}
	return n.vals[n.unit].exports[i]
}

// Set refuses: a namespace's properties cannot be assigned.
func (n *lazyNamespace) Set(string, sobek.Value) bool { return false }

// Has reports whether the file exports key.
func (n *lazyNamespace) Has(key string) bool { return slices.Contains(n.p.units[n.unit].exports, key) }

// Delete refuses for an export (true for another name, as for a namespace).
func (n *lazyNamespace) Delete(key string) bool { return !n.Has(key) }

// Keys returns the export names in a namespace's order.
func (n *lazyNamespace) Keys() []string {
	u := &n.p.units[n.unit]
	keys := make([]string, len(u.nsOrder))
	for i, k := range u.nsOrder {
		keys[i] = u.exports[k]
	}
	return keys
}
