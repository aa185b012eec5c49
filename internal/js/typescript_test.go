package js_test

import (
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/js"
)

const tsHelper = `export interface Item { id: number; label: string }
export enum Level { Low = 1, High = 10 }
export function labels(items: Item[]): string[] { return items.map((i: Item): string => i.label); }
export class Tally {
  constructor(private readonly name: string, public total: number = 0) {}
  add(n: number): this { this.total += n; return this; }
  describe(): string { return ` + "`${this.name}=${this.total}`" + `; }
}
`

func TestTypeScriptImports(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{
		"main.js": `import { run } from './app.ts';
export default function () { globalThis.got = run(); }`,
		"app.ts": `import { labels, Level, Tally } from './lib/helper.ts';
import type { Item } from './lib/helper.ts';
const items: Item[] = [{ id: 1, label: 'a' }, { id: 2, label: 'b' }];
export function run(): string {
  const t = new Tally('sum').add(Level.High);
  return labels(items).join('') + ',' + t.describe() + ',' + Level[1] + ',' + (items[0] as unknown as { id: number }).id;
}`,
		"lib/helper.ts": tsHelper,
	})
	v := e.VU(1)
	v.Iterate(1)
	if got := v.Global("got"); got != "ab,sum=10,Low,1" {
		t.Errorf("got %v (logs: %s)", got, e.Logs())
	}
}

func TestTypeScriptErrorPositions(t *testing.T) {
	t.Parallel()
	// The exception is on line 7 of the .ts file; the compiled JavaScript
	// has fewer lines (the interface is gone), so only a source map gets it right.
	e := mustEnv(t, map[string]string{
		"main.js": `import { fail } from './app.ts';
export default function () { fail(); }`,
		"app.ts": `interface Big {
  a: number;
  b: string;
}

export function fail(): void {
  throw new Error('from ts');
}`,
	})
	v := e.VU(1)
	v.Iterate(1)
	if logs := e.Logs(); !strings.Contains(logs, "app.ts:7:") {
		t.Errorf("the stack does not point at app.ts line 7: %s", logs)
	}
}

func TestTypeScriptLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax error in a .ts import names the .ts line",
			map[string]string{"main.js": "import './app.ts';\nexport default function () {}\n",
				"app.ts": "const a: number = 1;\nlet b: = 2;\n"},
			[]string{"TypeScript error", "app.ts:2:8", "let b: = 2;"}},
		{"TypeScript in a .js file gets a rename hint",
			map[string]string{"main.js": "import './lib.js';\nexport default function () {}\n",
				"lib.js": "export const a: number = 1;\n"},
			[]string{"SyntaxError", "looks like TypeScript", "rename lib.js to lib.ts"}},
		{"plain JavaScript syntax errors get no hint",
			map[string]string{"main.js": "import './lib.js';\nexport default function () {}\n",
				"lib.js": "export const = 1;\n"},
			[]string{"SyntaxError"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := newEnv(t, tc.files, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.name == "plain JavaScript syntax errors get no hint" && strings.Contains(err.Error(), "TypeScript") {
				t.Errorf("unexpected hint: %v", err)
			}
		})
	}
}

func TestTypeScriptEntryScript(t *testing.T) {
	t.Parallel()
	src := "const n: number = 2;\nexport const options: { iterations: number } = { iterations: n };\nexport default function (): void {}\n"
	if _, err := js.New(js.Config{Path: "/scripts/main.ts", Source: []byte(src)}); err != nil {
		t.Fatalf("a valid .ts entry script: %v", err)
	}
	_, err := js.New(js.Config{Path: "/scripts/main.ts", Source: []byte("let b: = 2;\nexport default function () {}\n")})
	if err == nil || !strings.Contains(err.Error(), "main.ts:1:8") {
		t.Errorf("a broken .ts entry script: %v", err)
	}
}
