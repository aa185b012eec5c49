package tally_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tallyhq/tally/"

// importRule forbids the packages under dir (tests included; only dir
// itself when flat) to import any package whose path starts with one of
// the forbidden prefixes (module-relative, or a full path with a dot).
type importRule struct {
	dir       string // relative to the repository root
	flat      bool
	forbidden []string
	why       string
}

// rules are the layering rules of docs/architecture.md that a test can check.
var rules = []importRule{
	{"extension", false, []string{"internal/"},
		"extensions use the public API (modules, modules/modulestest, metrics) only, like one outside this repository"},
	{"docs/example-extension", false, []string{"internal/"},
		"the example extension shows what an outside author can build"},
	{"extension/ledger", true, []string{"internal/", "modules", "metrics", "github.com/grafana/sobek"},
		"the ledger core is pure Go: it knows nothing of the runner or of JS (ledgerjs is its binding)"},
	{"creditd", false, []string{"internal/", "extension/", "modules", "metrics"},
		"creditd, the system under test, shares no code with the runner or the oracle that judges it"},
	{"metrics", false, []string{"internal/"}, "metrics is public: extensions build on it"},
	{"modules", true, []string{"internal/"}, "modules is the public extension API"},
	{"internal/executor", false, []string{"internal/js", "internal/engine", "github.com/grafana/sobek"},
		"executors schedule VUs through the two-method executor.VU seam and know no JS"},
	{"internal/summary", false, []string{"internal/js", "internal/engine", "internal/metricsengine", "internal/executor"},
		"summary renders data it is given; it does not reach into the run"},
	{"internal/output", false, []string{"internal/js", "internal/engine", "internal/metricsengine", "internal/summary"},
		"outputs receive samples; they do not reach into the run"},
}

// codeRules are rules for the non-test files only: the package's code must
// not depend on the forbidden packages, but its tests may drive them end to
// end (the metrics engine's tests feed a real json output).
var codeRules = []importRule{
	{"internal/metricsengine", true, []string{"internal/output", "internal/summary"},
		"the metrics engine aggregates; it owns its Output interface and its results, and the sinks and the summary that render them are wired by the run"},
}

// TestImportRules parses the import clauses of every Go file (tests
// included, except for codeRules) and fails on each import a rule forbids.
func TestImportRules(t *testing.T) {
	for _, r := range rules {
		checkImports(t, r, false)
	}
	for _, r := range codeRules {
		checkImports(t, r, true)
	}
}

// checkImports fails on each import of r.dir's Go files that r forbids.
func checkImports(t *testing.T, r importRule, skipTests bool) {
	t.Helper()
	err := filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if r.flat && path != r.dir {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || skipTests && strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range r.forbidden {
				full := bad
				if !strings.Contains(strings.SplitN(bad, "/", 2)[0], ".") {
					full = module + bad
				}
				if strings.HasPrefix(p, full) {
					t.Errorf("%s imports %s: %s", path, p, r.why)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", r.dir, err)
	}
}

// maxFuncLines bounds the length of every non-test function, from its func
// line to its closing brace: a function that needs more does several things,
// and reads better split by the shape of its input (issue 15).
const maxFuncLines = 80

// TestFunctionLength fails listing every non-test function of the
// repository that is maxFuncLines lines or longer, the longest first.
func TestFunctionLength(t *testing.T) {
	type long struct {
		where string
		lines int
	}
	var found []long
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start := fset.Position(fn.Pos())
			if n := fset.Position(fn.End()).Line - start.Line + 1; n >= maxFuncLines {
				found = append(found, long{fmt.Sprintf("%s:%d %s", path, start.Line, funcName(fn)), n})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].lines > found[j].lines })
	for _, l := range found {
		t.Errorf("%s is %d lines (at most %d): split it by the shape of its input", l.where, l.lines, maxFuncLines-1)
	}
}

// funcName names a function as its callers see it: F, T.M or (*T).M.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	star := ""
	if s, ok := typ.(*ast.StarExpr); ok {
		typ, star = s.X, "*"
	}
	switch x := typ.(type) {
	case *ast.IndexExpr:
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	name := "?"
	if id, ok := typ.(*ast.Ident); ok {
		name = id.Name
	}
	if star != "" {
		return "(*" + name + ")." + fn.Name.Name
	}
	return name + "." + fn.Name.Name
}
