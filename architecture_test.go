package tally_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tallyhq/tally/"

// importRule forbids the packages under dir (tests included) to import
// any package whose path starts with one of the forbidden prefixes.
type importRule struct {
	dir       string   // relative to the repository root
	forbidden []string // import paths without the module prefix
	why       string
}

// rules are the layering rules of docs/architecture.md that a test can check.
var rules = []importRule{
	{"extension", []string{"internal/"},
		"extensions use the public API (modules, modules/modulestest, metrics) only, like one outside this repository"},
	{"docs/example-extension", []string{"internal/"},
		"the example extension shows what an outside author can build"},
}

// TestImportRules parses the import clauses of every Go file (tests
// included) and fails on each import a rule forbids.
func TestImportRules(t *testing.T) {
	for _, r := range rules {
		err := filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range r.forbidden {
					if strings.HasPrefix(p, module+bad) {
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
}
