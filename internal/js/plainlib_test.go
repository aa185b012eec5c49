package js

import (
	"context"
	"testing"

	"github.com/grafana/sobek"
)

// plainLib is a graph of files: c.js is imported by a.js and b.js (a
// diamond), each module records when it ran.
var plainLib = map[string]string{
	"/scripts/lib/c.js": `globalThis.order = (globalThis.order || '') + 'c';
export const C = 'c';
export function shout(s) { return s.toUpperCase() }
export default class Base { kind() { return 'base' } }
`,
	"/scripts/lib/a.js": `import Base, { C as see, shout } from './c.js';
globalThis.order += 'a';
const hidden = 1;
export { hidden as visible, see };
export default function named() { return shout(see) }
export class A extends Base { kind() { return 'a:' + super.kind() } }
`,
	"/scripts/lib/b.js": `import { shout } from './c.js';
import * as c from './c.js';
globalThis.order += 'b';
export default [1, 2, 3].map((x) => x * 2).join();
export const same = c.shout === shout;
export const ns = c;
export const t = typeof this;
`,
}

// TestPlainFormFiles: an entry script that imports files, each of which
// would have a plain form, is evaluated as functions with the exports,
// evaluation order, errors and semantics of ES modules.
func TestPlainFormFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"imports", map[string]string{"/scripts/main.js": `import run, { A, visible } from './lib/a.js';
import doubled, { same, t } from './lib/b.js';
import { sleep } from 'k6';
globalThis.order += 'main';
export const order = globalThis.order;
export const values = [run(), new A().kind(), visible, doubled, same, t, typeof sleep].join();
export default run;
`}},
		{"namespace", map[string]string{"/scripts/main.js": `import * as c from './lib/c.js';
import { ns } from './lib/b.js';
let assigned = 'none';
try { c.C = 'other' } catch (e) { assigned = e.name }
let added = 'none';
let deleted = 'none';
try { delete c.C } catch (e) { deleted = e.name }
try { c.extra = 1 } catch (e) { added = e.name }
export const facts = [Object.keys(c), Object.prototype.toString.call(c), Object.getPrototypeOf(c), c === ns, c.C, assigned, added,
  Object.isExtensible(c), deleted, 'missing' in c, typeof c.default].join('|');
export default function () {}
`}},
		{"lazy namespace", map[string]string{"/scripts/main.js": `import * as d from './lib/decl.js';
import { viaB } from './lib/uses.js';
let assigned = 'none';
try { d.N = 2 } catch (e) { assigned = e.name }
let added = 'none';
try { d.extra = 1 } catch (e) { added = e.name }
let deleted = 'none';
try { delete d.N } catch (e) { deleted = e.name }
export const facts = [Object.keys(d), Object.prototype.toString.call(d), d === viaB, d.N, d.up('x'), assigned,
  added, deleted, 'missing' in d, 'N' in d, typeof d.default, d.missing, JSON.stringify(d)].join('|');
export default function () { return d.up('y') }
`,
			"/scripts/lib/decl.js": "import { shout } from './c.js';\nexport const N = 1;\nlet unset;\nexport { unset };\nexport function up(s) { return shout(s) + N }\nfunction hidden() {}\n",
			"/scripts/lib/uses.js": "import * as d from './decl.js';\nexport const viaB = d;\n"}},
		{"lazy file importing a lazy file", map[string]string{"/scripts/main.js": "import * as d from './lib/decl.js';\nexport const r = d.twice('a');\nexport default function () { return d.twice('b') }\n",
			"/scripts/lib/decl.js": "import { once } from './once.js';\nexport function twice(s) { return once(s) + once(s) }\n",
			"/scripts/lib/once.js": "export const SEP = '-';\nexport function once(s) { return s + SEP }\n"}},
		{"a throw in a file", map[string]string{"/scripts/main.js": "import { x } from './lib/bad.js';\nexport default function () {}\n",
			"/scripts/lib/bad.js": "export const x = 1;\nfunction fail() {\n  throw new Error('bad lib');\n}\nfail();\n"}},
		{"a throw in an imported function", map[string]string{"/scripts/main.js": "import { fail } from './lib/bad.js';\n\nfail('init');\nexport default function () {}\n",
			"/scripts/lib/bad.js": "export function fail(s) {\n  null[s];\n}\n"}},
		{"abort in a file", map[string]string{"/scripts/main.js": "import './lib/stop.js';\nexport default function () {}\n",
			"/scripts/lib/stop.js": "import exec from 'k6/execution';\nexec.test.abort('from lib');\n"}},
		{"require relative to the file", map[string]string{"/scripts/main.js": "import { v } from './lib/req.js';\nexport const w = v;\nexport default function () {}\n",
			"/scripts/lib/req.js": "const m = require('./m.js');\nexport const v = m.v;\n",
			"/scripts/lib/m.js":   "module.exports = { v: 'lib/m.js' };\n",
			"/scripts/m.js":       "module.exports = { v: 'm.js' };\n"}},
		{"strict and this in a file", map[string]string{"/scripts/main.js": "import { e, t } from './lib/s.js';\nexport const r = e + t;\nexport default function () {}\n",
			"/scripts/lib/s.js": "let e0 = 'none';\ntry { undeclared = 1 } catch (x) { e0 = x.name }\nexport const e = e0;\nexport const t = typeof this;\n"}},
		{"a file's timer", map[string]string{"/scripts/main.js": "import { box } from './lib/p.js';\nexport const early = box.v;\nexport let late = 'unset';\nsetTimeout(() => { late = box.v }, 0);\nexport default function () {}\n",
			"/scripts/lib/p.js": "export const box = { v: 'pending' };\nsetTimeout(() => { box.v = 'settled' }, 0);\n"}},
		{"one module by two paths", map[string]string{"/scripts/main.js": "import { n } from './lib/count.js';\nimport { n as m } from './lib/../lib/count.js';\nexport const r = n + m + globalThis.count;\nexport default function () {}\n",
			"/scripts/lib/count.js": "globalThis.count = (globalThis.count || 0) + 1;\nexport const n = 'n';\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{}
			for k, v := range plainLib {
				files[k] = v
			}
			for k, v := range tc.files {
				files[k] = v
			}
			if r := newFilesRunner(t, files, false); r.plain == nil {
				t.Fatal("no plain form")
			}
			plain := describeRunner(t, newFilesRunner(t, files, false))
			module := describeRunner(t, newFilesRunner(t, files, true))
			if plain != module {
				t.Errorf("plain form:\n%s\nmodule:\n%s", plain, module)
			}
			t.Log(plain)
		})
	}
}

// TestPlainFormFilesNotUsed: graphs with a file that needs module
// semantics are evaluated as ES modules, with the module form's results.
func TestPlainFormFilesNotUsed(t *testing.T) {
	t.Parallel()
	main := "import { n, bump } from './lib.js';\nexport const r = String(n);\nexport default function () { bump(); return n }\n"
	for name, lib := range map[string]string{
		"a live binding":               "export let n = 1;\nexport function bump() { n++ }\n",
		"an exported binding assigned": "export let n = 1;\nn = 2;\nexport function bump() {}\n",
		"destructuring assigns":        "export let n = 1;\nexport function bump() { [n] = [3] }\n",
		"a cycle":                      "import { r } from './main.js';\nexport const n = 1;\nexport function bump() { return r }\n",
		"arguments":                    "export const n = typeof arguments;\nexport function bump() {}\n",
		"eval":                         "export const n = eval('1');\nexport function bump() {}\n",
		"a re-export":                  "export { n } from './other.js';\nexport function bump() {}\n",
		"a Go module's namespace":      "import * as k6 from 'k6';\nexport const n = typeof k6.sleep;\nexport function bump() {}\n",
		"top-level await":              "export const n = await 1;\nexport function bump() {}\n",
		"promise jobs":                 "export const n = { v: 1 };\nPromise.resolve().then(() => { n.v = 2 });\nexport function bump() {}\n",
		"an async function":            "export const n = 1;\nexport async function bump() {}\n",
	} {
		files := map[string]string{"/scripts/main.js": main, "/scripts/lib.js": lib,
			"/scripts/other.js": "export const n = 'other';\n"}
		if r := newFilesRunner(t, files, false); r.plain != nil {
			t.Errorf("%s: plain form", name)
		}
	}
	for _, files := range []map[string]string{
		{"/scripts/main.js": "import { x } from './cjs.js';\nexport default function () {}\n", "/scripts/cjs.js": "exports.x = 1;\n"},
		{"/scripts/main.js": "import { nope } from './lib.js';\nexport default function () {}\n", "/scripts/lib.js": "export const x = 1;\n"},
	} {
		if r := newFilesRunner(t, files, false); r.plain != nil {
			t.Errorf("plain form for %q", files["/scripts/main.js"])
		}
	}
}

// TestPlainFormLazy: a file whose top level only declares and that is
// imported only as a namespace is evaluated when its namespace is first
// read; the others in order.
func TestPlainFormLazy(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"/scripts/main.js": `import * as lazy from './lazy.js';
import * as acts from './acts.js';
import * as named from './named.js';
import { f } from './named.js';
import * as cls from './cls.js';
import './effectless.js';
export const ns = lazy;
export default function () {}
`,
		"/scripts/lazy.js":       "import http from 'k6/http';\nimport { h } from './dep.js';\nimport { both } from './both.js';\nconst a = 1, b = 'x', c = true, d = null;\nvar e;\nexport function get() { return http }\nexport function dep() { return h() + both() }\n",
		"/scripts/dep.js":        "export function h() { return 'h' }\n",
		"/scripts/both.js":       "export function both() { return 'both' }\n",
		"/scripts/acts.js":       "import { both } from './both.js';\nexport const a = [both];\n",
		"/scripts/named.js":      "export function f() {}\n",
		"/scripts/cls.js":        "export class K {}\n",
		"/scripts/effectless.js": "function g() {}\n",
	}
	r := newFilesRunner(t, files, false)
	if r.plain == nil {
		t.Fatal("no plain form")
	}
	want := map[string]bool{"file:///scripts/lazy.js": true, "file:///scripts/effectless.js": true, "file:///scripts/dep.js": true}
	for _, u := range r.plain.units {
		if u.lazy != want[u.url] {
			t.Errorf("%s: lazy %v, want %v", u.url, u.lazy, want[u.url])
		}
	}
	v, err := r.NewVU(context.Background(), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	ns := v.exports.get("ns").(*sobek.Object)
	ln := ns.Export().(*lazyNamespace)
	if ln.vals[ln.unit].exports != nil {
		t.Fatal("lazy.js was evaluated in init")
	}
	if !ns.Get("get").Equals(ns.Get("get")) || ln.vals[ln.unit].exports == nil {
		t.Fatal("lazy.js was not evaluated once at the first read")
	}
	fn, _ := sobek.AssertFunction(ns.Get("dep"))
	if got, err := fn(sobek.Undefined()); err != nil || got.String() != "hboth" {
		t.Fatalf("dep() = %v, %v", got, err)
	}
}
