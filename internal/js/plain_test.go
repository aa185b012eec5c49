package js

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/metrics"
)

// newPlainRunner compiles script as the entry script /scripts/main.js; with
// module set it is evaluated as an ES module even when it has a plain form.
func newPlainRunner(t *testing.T, script string, module bool) *Runner {
	t.Helper()
	return newFilesRunner(t, map[string]string{"/scripts/main.js": script}, module)
}

// newFilesRunner compiles files["/scripts/main.js"] as the entry script,
// with the other files importable; a file not in files reads as
// "export const x = 1;". With module set the script is evaluated as ES
// modules even when it has a plain form.
func newFilesRunner(t *testing.T, files map[string]string, module bool) *Runner {
	t.Helper()
	reg := metrics.NewRegistry()
	r, err := New(Config{Path: "/scripts/main.js", Source: []byte(files["/scripts/main.js"]), Registry: reg,
		Builtin: metrics.RegisterBuiltin(reg), Root: groups.NewRoot(),
		ReadFile: func(p string) ([]byte, error) {
			if src, ok := files[p]; ok {
				return []byte(src), nil
			}
			return []byte("export const x = 1;\n"), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if module {
		r.plain = nil
	}
	return r
}

// pcs are the bytecode offsets in stack frames, which differ between the
// two forms.
var pcs = regexp.MustCompile(`:(\d+):(\d+)\(\d+\)`)

// describe runs the init context of script in a VU and describes what it
// left: the error, or the exports with their types and names.
func describe(t *testing.T, script string, module bool) string {
	t.Helper()
	return describeRunner(t, newPlainRunner(t, script, module))
}

// describeRunner is describe for a compiled runner.
func describeRunner(t *testing.T, r *Runner) string {
	t.Helper()
	v, err := r.NewVU(context.Background(), 1, 1)
	if err != nil {
		return "error: " + pcs.ReplaceAllString(err.Error(), ":$1:$2")
	}
	defer v.Release()
	var out []string
	for i, name := range v.exports.names {
		val := v.exports.vals[i]
		if val == nil {
			out = append(out, name+"=<nil>")
			continue
		}
		d := name + "=" + val.String()
		if obj, ok := val.(*sobek.Object); ok {
			if _, fn := sobek.AssertFunction(val); fn {
				d = name + "=function " + obj.Get("name").String()
			}
		}
		out = append(out, d)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// TestPlainForm: an entry script that imports only Go modules is evaluated
// as a function, with the exports, errors and semantics of the module.
func TestPlainForm(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, script string }{
		{"exports", `import http from 'k6/http';
import { check as c, sleep } from 'k6';
export const options = { vus: 2 };
export let n = 1; n++;
export var v = typeof http.get + typeof c + typeof sleep;
function helper() { return 1 }
export { helper as h, helper };
export class C {}
export function setup() {}
export default function () {}
`},
		{"default expression", "export default () => 1;\n"},
		{"default value", "export default [1, 2].map((x) => x * 2).join();\n"},
		{"default named function", "export default function main() {}\nexport const same = main.name;\n"},
		{"default named class", "export default class K {}\n"},
		{"hoisting", "import { sleep } from 'k6';\nexport const r = f();\nfunction f() { return typeof sleep }\nexport default function () {}\n"},
		{"this is undefined", "export const t = typeof this;\nexport default function () { return this }\n"},
		{"strict", "export let e = 'none';\ntry { undeclared = 1 } catch (x) { e = x.name }\nexport default function () {}\n"},
		{"import is immutable", "import { sleep } from 'k6';\nsleep = 1;\nexport default function () {}\n"},
		{"exception", "import { check } from 'k6';\nfunction f() {\n  throw new Error('boom');\n}\nf();\nexport default function () {}\n"},
		{"thrown string", "throw 'plain';\n"},
		{"thrown object", "throw { code: 1 };\n"},
		{"type error", "null.x;\n"},
		{"missing export", "import { nope } from 'k6';\nexport default function () {}\n"},
		{"abort", "import exec from 'k6/execution';\nexec.test.abort('stop');\nexport default function () {}\n"},
		{"promise in init", "export let s = 'pending';\nPromise.resolve(1).then(() => { s = 'settled' });\nexport default function () { return s }\n"},
		{"export re-export of import", "import { sleep } from 'k6';\nexport { sleep };\nexport default function () {}\n"},
		{"async and generator exports", "export default async function () {}\nexport async function setup() {}\nexport function* gen() { yield 1 }\n"},
		{"top-level scope", "var a = 1;\nlet b = 2;\n{ function inner() {} }\nexport const t = typeof inner + typeof globalThis.a + typeof globalThis.b;\nexport default function () { return a + b }\n"},
		{"side-effect import", "import 'k6/metrics';\nexport default function () {}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if r := newPlainRunner(t, tc.script, false); r.plain == nil {
				t.Fatal("no plain form")
			}
			plain, module := describe(t, tc.script, false), describe(t, tc.script, true)
			if plain != module {
				t.Errorf("plain form:\n%s\nmodule:\n%s", plain, module)
			}
		})
	}
}

// TestPlainFormNotUsed: scripts that need module semantics are evaluated
// as modules.
func TestPlainFormNotUsed(t *testing.T) {
	t.Parallel()
	for _, script := range []string{
		"import * as k6 from 'k6';\nexport default function () {}\n",
		"export { sleep } from 'k6';\nexport default function () {}\n",
		"export * from 'k6';\nexport default function () {}\n",
		"await 1;\nexport default function () {}\n",
		"export const u = import.meta.url;\nexport default function () {}\n",
		"export default function () { return import('k6') }\n",
		"export const a = typeof arguments;\nexport default function () {}\n",
		"export const { a, b } = { a: 1, b: 2 };\nexport default function () {}\n",
		"export default class {}\n",
		// An error the module form reports.
		"import { sleep } from 'k6';\nvar sleep = 1;\nexport default function () {}\n",
	} {
		if r := newPlainRunner(t, script, false); r.plain != nil {
			t.Errorf("plain form for %q", script)
		}
	}
}
