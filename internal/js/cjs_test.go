package js_test

import (
	"strings"
	"testing"
)

// A jslib-style helper file in UMD form (CommonJS when module exists), as
// vendored libraries are often written.
const umdHelper = `(function (root, factory) {
  if (typeof module === 'object' && module.exports) { module.exports = factory(); }
  else { root.helpers = factory(); }
})(this, function () {
  function randomIntBetween(min, max) { return Math.floor(Math.random() * (max - min + 1) + min); }
  function randomItem(list) { return list[randomIntBetween(0, list.length - 1)]; }
  return { randomIntBetween: randomIntBetween, randomItem: randomItem };
});
`

// The same helpers as an ES module, the other form jslib files come in.
const esmHelper = `export function randomIntBetween(min, max) { return Math.floor(Math.random() * (max - min + 1) + min); }
export function randomItem(list) { return list[randomIntBetween(0, list.length - 1)]; }
export default { randomIntBetween, randomItem };
`

func TestCommonJS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string // globalThis.got after one iteration
	}{
		{name: "require with exports.x and module.exports.y",
			files: map[string]string{"main.js": `const lib = require('./lib.js');
export default function () { globalThis.got = lib.add(1, 2) + ',' + lib.name + ',' + lib.same; }`,
				"lib.js": `exports.add = (a, b) => a + b; module.exports.name = 'lib'; exports.same = exports === module.exports;`},
			want: "3,lib,true"},
		{name: "module.exports replaced, nested require relative to the requiring file",
			files: map[string]string{"main.js": `const a = require('./lib/a.js');
export default function () { globalThis.got = a.twice(4) + ',' + a.dir.endsWith('lib'); }`,
				"lib/a.js": `const b = require('./b.js'); module.exports = { twice: (n) => b.add(n, n), dir: __dirname };`,
				"lib/b.js": `exports.add = (x, y) => x + y;`},
			want: "8,true"},
		{name: "the cache returns the same object",
			files: map[string]string{"main.js": `const a = require('./c.js'); const b = require('./c.js');
export default function () { a.n++; globalThis.got = String(a === b) + ',' + b.n + ',' + b.loads; }`,
				"c.js": `globalThis.loads = (globalThis.loads || 0) + 1; exports.n = 0; exports.loads = globalThis.loads;`},
			want: "true,1,1"},
		{name: "import of a CommonJS file: default and statically known names",
			files: map[string]string{"main.js": `import lib, { add } from './lib.js';
export default function () { globalThis.got = add(2, 3) + ',' + lib.name; }`,
				"lib.js": `exports.add = (a, b) => a + b;
exports.name = 'lib';`},
			want: "5,lib"},
		{name: "import and require share one instance per VU",
			files: map[string]string{"main.js": `import lib from './lib.js';
const again = require('./lib.js');
export default function () { globalThis.got = String(lib === again); }`,
				"lib.js": `module.exports = { x: 1 };`},
			want: "true"},
		{name: "vendored jslib UMD file, imported",
			files: map[string]string{"main.js": `import helpers from './vendor/helpers.js';
export default function () { const n = helpers.randomIntBetween(3, 3); globalThis.got = n + ',' + helpers.randomItem(['only']); }`,
				"vendor/helpers.js": umdHelper},
			want: "3,only"},
		{name: "vendored jslib UMD file, required",
			files: map[string]string{"main.js": `const { randomIntBetween } = require('./vendor/helpers.js');
export default function () { globalThis.got = String(randomIntBetween(7, 7)); }`,
				"vendor/helpers.js": umdHelper},
			want: "7"},
		{name: "vendored jslib ES module file",
			files: map[string]string{"main.js": `import { randomItem } from './vendor/utils.js';
import utils from './vendor/utils.js';
export default function () { globalThis.got = randomItem(['x']) + utils.randomIntBetween(1, 1); }`,
				"vendor/utils.js": esmHelper},
			want: "x1"},
		{name: "CommonJS requiring a built-in module",
			files: map[string]string{"main.js": `const enc = require('./b64.js');
export default function () { globalThis.got = enc('hi'); }`,
				"b64.js": `const encoding = require('k6/encoding'); module.exports = (s) => encoding.b64encode(s);`},
			want: "aGk="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, tc.files)
			v := e.VU(1)
			v.Iterate(1)
			if got := v.Global("got"); got != tc.want {
				t.Errorf("got %v, want %q (logs: %s)", got, tc.want, e.Logs())
			}
		})
	}
}

func TestCommonJSErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing required file",
			map[string]string{"main.js": "const x = require('./nope.js');\nexport default function () {}\n"},
			[]string{`require("./nope.js")`, "does not exist"}},
		{"exception inside a required file keeps its file and line",
			map[string]string{"main.js": "const x = require('./bad.js');\nexport default function () {}\n",
				"bad.js": "exports.a = 1;\nthrow new Error('broken library');\n"},
			[]string{"broken library", "bad.js:2"}},
		{"syntax error in a required file",
			map[string]string{"main.js": "const x = require('./bad.js');\nexport default function () {}\n",
				"bad.js": "module.exports = {;\n"},
			[]string{"SyntaxError", "bad.js"}},
		{"requiring an ES module",
			map[string]string{"main.js": "import './esm.js';\nconst x = require('./esm.js');\nexport default function () {}\n",
				"esm.js": "export const a = 1;\n"},
			[]string{"is an ES module", "import"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := newEnv(t, tc.files, nil)
			if err == nil {
				_, err = e.NewVU(1)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRequireOutsideInit(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `require('./lib.js');
export default function () { try { require('./lib.js'); globalThis.got = 'no'; } catch (e) { globalThis.got = String(e); } }`,
		"lib.js": "exports.a = 1;"})
	v := e.VU(1)
	v.Iterate(1)
	if got, _ := v.Global("got").(string); !strings.Contains(got, "only be called in the init context") {
		t.Errorf("got %q", got)
	}
}
