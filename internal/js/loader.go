package js

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/ast"
	"github.com/grafana/sobek/parser"
	"github.com/grafana/sobek/unistring"

	"github.com/tallyhq/tally/modules"
)

// fileURL returns the file:// URL scripts and stack traces use for path.
func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// isFileSpecifier reports whether an import names a file rather than a
// built-in or native module.
func isFileSpecifier(s string) bool {
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/") ||
		strings.HasPrefix(s, "file://")
}

// UnknownModuleError reports an import of a module tally does not have.
type UnknownModuleError struct {
	Specifier string
	From      string
	// Builtins are the built-in module names, for the hint.
	Builtins []string
}

func (e *UnknownModuleError) Error() string {
	hint := ""
	if strings.HasPrefix(e.Specifier, modules.Prefix) {
		avail := strings.Join(modules.Names(), ", ")
		if avail == "" {
			avail = "none"
		}
		hint = "; native modules must be compiled into tally (see docs/extensions.md); this binary has: " + avail
	} else if strings.HasPrefix(e.Specifier, "http://") || strings.HasPrefix(e.Specifier, "https://") {
		name := path.Base(strings.SplitN(strings.SplitN(e.Specifier, "?", 2)[0], "#", 2)[0])
		if name == "" || name == "." || name == "/" {
			name = "module.js"
		}
		hint = fmt.Sprintf("; tally never fetches modules over the network: download the file once "+
			"(e.g. curl -fsSL -o vendor/%s '%s'), keep it next to the script and import it by relative path "+
			"(import ... from './vendor/%s'); ES module and CommonJS files both work", name, e.Specifier, name)
	} else {
		hint = "; built-in modules are " + strings.Join(e.Builtins, ", ") +
			"; files are imported with a relative path such as ./lib.js"
	}
	return fmt.Sprintf("unknown module %q imported from %s%s", e.Specifier, e.From, hint)
}

// resolve is the HostResolveImportedModule callback: it returns the shared
// record of a file, built-in or native module. Files and native modules are
// loaded while compiling, so afterwards resolution only reads caches.
func (r *Runner) resolve(referrer any, specifier string) (sobek.ModuleRecord, error) {
	r.modMu.Lock()
	defer r.modMu.Unlock()
	return r.resolveLocked(referrer, specifier)
}

func (r *Runner) resolveLocked(referrer any, specifier string) (sobek.ModuleRecord, error) {
	from := r.url
	if rec, ok := referrer.(sobek.ModuleRecord); ok {
		if u, ok := r.urls[rec]; ok {
			from = u
		}
	}
	if !isFileSpecifier(specifier) {
		if rec, ok := r.records[specifier]; ok {
			return rec, nil
		}
		rec, err := r.goModule(specifier)
		if err != nil {
			return nil, &UnknownModuleError{Specifier: specifier, From: from, Builtins: r.builtinNames()}
		}
		r.records[specifier] = rec
		return rec, nil
	}
	path, err := r.resolvePath(from, specifier)
	if err != nil {
		return nil, err
	}
	if rec, ok := r.records[path]; ok {
		return rec, nil
	}
	src, err := r.readSource(path)
	if err != nil {
		return nil, fmt.Errorf("import %q from %s: %w", specifier, from, err)
	}
	return r.loadFileModule(path, src)
}

// resolvePath turns a file specifier into an absolute path, relative to the
// importing module's URL.
func (r *Runner) resolvePath(fromURL, specifier string) (string, error) {
	if strings.HasPrefix(specifier, "file://") {
		u, err := url.Parse(specifier)
		if err != nil {
			return "", fmt.Errorf("invalid module URL %q: %w", specifier, err)
		}
		return filepath.FromSlash(u.Path), nil
	}
	if strings.HasPrefix(specifier, "/") {
		return filepath.Clean(specifier), nil
	}
	base := r.dir
	if u, err := url.Parse(fromURL); err == nil && u.Scheme == "file" {
		base = filepath.Dir(filepath.FromSlash(u.Path))
	}
	return filepath.Join(base, filepath.FromSlash(specifier)), nil
}

// parseMain compiles the entry script and, recursively, the modules it
// imports, so that every error surfaces before a VU starts; it also compiles
// the script's plain form when it has one (plain.go).
func (r *Runner) parseMain(path string, src []byte) (*sobek.SourceTextModuleRecord, *plainScript, error) {
	js, err := scriptSource(path, src)
	if err != nil {
		return nil, nil, err
	}
	u := fileURL(path)
	// As sobek.ParseModule, keeping the syntax tree.
	body, err := sobek.Parse(u, string(js), parser.IsModule)
	var rec *sobek.SourceTextModuleRecord
	if err == nil {
		rec, err = sobek.ModuleFromAST(body, r.resolve)
	}
	if err != nil {
		return nil, nil, withTypeScriptHint(path, src, err)
	}
	r.parsed = map[*sobek.SourceTextModuleRecord]parsedModule{rec: {body: body, src: string(js)}}
	defer func() { r.parsed = nil }()
	if err := r.register(path, u, rec); err != nil {
		return nil, nil, err
	}
	r.exportLocals = exportLocals(body)
	return rec, r.plainForm(rec), nil
}

// register records a parsed ES module under its path and URL, then parses
// (recursively) the modules it imports.
func (r *Runner) register(path, u string, rec *sobek.SourceTextModuleRecord) error {
	r.records[path] = rec
	r.urls[rec] = u
	for _, req := range rec.RequestedModules() {
		if _, err := r.resolveLocked(rec, req); err != nil {
			return err
		}
	}
	return nil
}

// link links the module graph and compiles every module once. It runs the
// first time a VU evaluates the script (the options pass), because native
// modules learn their export names from that VU's instances.
func (r *Runner) link() error {
	r.linkOnce.Do(func() {
		defer func() {
			if x := recover(); x != nil {
				if err, ok := x.(error); ok {
					r.linkErr = err
					return
				}
				r.linkErr = fmt.Errorf("%v", x)
			}
		}()
		// Native modules learn their export names from the linking VU's
		// instances, before anything asks for them.
		r.modMu.Lock()
		var gms []*goModuleRecord
		for _, rec := range r.records {
			if g, ok := rec.(*goModuleRecord); ok {
				gms = append(gms, g)
			}
		}
		r.modMu.Unlock()
		for _, g := range gms {
			g.learnNames(r.linkingVU)
		}
		r.linkErr = r.main.Link()
		if r.linkErr == nil {
			var names []string
			r.main.GetExportedNames(func(n []string) { names = n })
			r.exportNames = names
		}
		if r.plain != nil && (r.linkErr != nil || !r.plain.resolves()) {
			// The module form reports the error (an import of a name the
			// module does not export is a SyntaxError when it evaluates).
			r.plain = nil
		}
	})
	return r.linkErr
}

// builtinNames returns the names of the built-in modules, sorted.
func (r *Runner) builtinNames() []string {
	names := make([]string, 0, len(r.builtins))
	for n := range r.builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// exportLocals maps the names a module exports under another name than its
// local binding's (export default function main() {}, export { a as b })
// to the local name. sobek's module instance keeps the getter of such an
// export under the local name, so that asking it for the export name finds
// nothing: a script whose default export is a named function would export
// no default function. Re-exports and exports of imported bindings are
// kept under the export name and are not listed.
func exportLocals(body *ast.Program) map[string]string {
	imported := map[unistring.String]bool{}
	for _, imp := range body.ImportEntries {
		if c := imp.ImportClause; c != nil {
			if c.NameSpaceImport != nil {
				imported[c.NameSpaceImport.ImportedBinding] = true
			}
			importBindings(c, func(local unistring.String, _ string) { imported[local] = true })
		}
	}
	var m map[string]string
	add := func(export string, local unistring.String) {
		if export != local.String() && !imported[local] {
			if m == nil {
				m = map[string]string{}
			}
			m[export] = local.String()
		}
	}
	for _, e := range body.ExportEntries {
		switch {
		case e.FromClause != nil || e.ExportFromClause != nil:
		case e.IsDefault && e.HoistableDeclaration != nil && e.HoistableDeclaration.FunctionDeclaration != nil:
			add("default", e.HoistableDeclaration.FunctionDeclaration.Function.Name.Name)
		case e.IsDefault && e.ClassDeclaration != nil && e.ClassDeclaration.Class.Name != nil:
			add("default", e.ClassDeclaration.Class.Name.Name)
		case e.NamedExports != nil:
			for _, s := range e.NamedExports.ExportsList {
				if s.Alias != "" {
					add(s.Alias.String(), s.IdentifierName)
				}
			}
		}
	}
	return m
}

// importBindings calls fn with the local name and the imported name of each
// binding of an import clause but a namespace import: the default one
// ("default"), then the named ones.
func importBindings(c *ast.ImportClause, fn func(local unistring.String, name string)) {
	if c.ImportedDefaultBinding != nil {
		fn(c.ImportedDefaultBinding.Name, "default")
	}
	if c.NamedImports != nil {
		for _, s := range c.NamedImports.ImportsList {
			local := s.Alias
			if local == "" {
				local = s.IdentifierName
			}
			fn(local, s.IdentifierName.String())
		}
	}
}
