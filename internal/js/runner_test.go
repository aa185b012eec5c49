package js_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/js"
	"github.com/tallyhq/tally/internal/js/modules/k6execution"
	"github.com/tallyhq/tally/modules/modulestest"
)

// newEnv loads files["main.js"] from memory in /scripts; the other files are
// importable and openable relative to it.
func newEnv(t *testing.T, files, env map[string]string) (*modulestest.Runtime, error) {
	t.Helper()
	return modulestest.New(t, files["main.js"], modulestest.Options{Dir: "/scripts", Files: files, Env: env})
}

func mustEnv(t *testing.T, files map[string]string) *modulestest.Runtime {
	t.Helper()
	e, err := newEnv(t, files, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return e
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"syntax error names file, line and column",
			map[string]string{"main.js": "export default function () {\n  let x = ;\n}\n"},
			[]string{"SyntaxError", "main.js", "Line 2:11"}},
		{"syntax error in an imported file",
			map[string]string{"main.js": "import './lib/a.js';\nexport default function () {}\n", "lib/a.js": "export const = 1;\n"},
			[]string{"SyntaxError", "lib/a.js"}},
		{"unknown built-in module",
			map[string]string{"main.js": "import x from 'k6/nope';\nexport default function () {}\n"},
			[]string{`unknown module "k6/nope"`, "main.js", "built-in modules are", "k6/crypto", "k6/encoding"}},
		{"unknown native module",
			map[string]string{"main.js": "import x from 'k6/x/nope';\nexport default function () {}\n"},
			[]string{`unknown module "k6/x/nope"`, "docs/extensions.md"}},
		{"remote module",
			map[string]string{"main.js": "import x from 'https://example.invalid/lib/x.js?v=1';\nexport default function () {}\n"},
			[]string{"never fetches modules over the network", "curl -fsSL -o vendor/x.js 'https://example.invalid/lib/x.js?v=1'", "from './vendor/x.js'"}},
		{"missing imported file",
			map[string]string{"main.js": "import './missing.js';\nexport default function () {}\n"},
			[]string{`import "./missing.js"`, "does not exist"}},
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
		})
	}
}

func TestInitErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		script  string
		want    string
		aborted bool
	}{
		{"exception names the line", "export default function () {}\nthrow new Error('init failure');\n", "main.js:2:", false},
		{"missing named export", "import { nope } from 'k6';\nexport default function () {}\n", `does not provide an export named "nope"`, false},
		{"test.abort in init", "import exec from 'k6/execution';\nexec.test.abort('stop here');\nexport default function () {}\n", "stop here", true},
		{"open of a missing file", "const x = open('./none.txt');\nexport default function () {}\n", "does not exist", false},
		{"metric with a bad name", "import { Counter } from 'k6/metrics';\nnew Counter('1bad');\nexport default function () {}\n", "invalid metric name", false},
		{"metric redeclared with another type", "import { Counter, Trend } from 'k6/metrics';\nnew Counter('m_x');\nnew Trend('m_x');\nexport default function () {}\n", "already exists as a counter", false},
		{"check in init", "import { check } from 'k6';\ncheck(1, {a: true});\nexport default function () {}\n", "outside the init context", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, map[string]string{"main.js": tc.script})
			_, err := e.Runner().NewVU(context.Background(), 0, 0)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if _, ok := js.Aborted(err); ok != tc.aborted {
				t.Errorf("Aborted = %v, want %v", ok, tc.aborted)
			}
		})
	}
}

func TestModulesAndExports(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{
		"main.js": `
import def, { twice, NAME } from './lib/math.js';
import * as ns from './lib/math.js';
import { again } from './lib/reexport.js';
import http from 'k6/http';
import * as k6 from 'k6';
const k6req = require('k6');
export const options = { vus: 2, tags: { a: 'b' } };
export function other() { globalThis.ran = 'other'; }
export default function () {
  globalThis.result = [def(1), twice(2), NAME, ns.twice(5), again(3), typeof http.get, typeof k6.check, typeof k6req.sleep].join(',');
}`,
		"lib/math.js":     "export default function (x) { return x + 1; }\nexport function twice(x) { return 2 * x; }\nexport const NAME = 'math';\n",
		"lib/reexport.js": "export { twice as again } from './math.js';\n",
	})
	v := e.VU(1)
	sorted := append([]string(nil), e.Runner().Exports()...)
	sort.Strings(sorted)
	names := strings.Join(sorted, ",")
	if names != "default,options,other" {
		t.Errorf("exports = %s", names)
	}
	raw, err := v.OptionsJSON()
	if err != nil || string(raw) != `{"vus":2,"tags":{"a":"b"}}` {
		t.Errorf("options = %s, %v", raw, err)
	}
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if got := v.Global("result"); got != "2,4,math,10,6,function,function,function" {
		t.Errorf("result = %v", got)
	}
	v.Run(modulestest.Scenario{Name: "o", Exec: "other"}, 1)
	if got := v.Global("ran"); got != "other" {
		t.Errorf("exec function did not run: %v", got)
	}
}

func TestEachVUHasItsOwnRuntime(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
let count = 0;
export default function () { count++; globalThis.seen = __VU + ':' + count + ':' + __ITER; }`})
	a, b := e.VU(1), e.VU(2)
	sc := modulestest.Scenario{Name: "s", Exec: "default"}
	a.Run(sc, 3)
	b.Run(sc, 1)
	if got := a.Global("seen"); got != "1:3:2" {
		t.Errorf("VU 1 saw %v", got)
	}
	if got := b.Global("seen"); got != "2:1:0" {
		t.Errorf("VU 2 saw %v", got)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	e, err := newEnv(t, map[string]string{"main.js": `
globalThis.initA = __ENV.A;
export default function () { globalThis.iterA = __ENV.A + '/' + __ENV.B + '/' + __ENV.C; }`},
		map[string]string{"A": "base", "B": "b"})
	if err != nil {
		t.Fatal(err)
	}
	v := e.VU(1)
	if got := v.Global("initA"); got != "base" {
		t.Errorf("init __ENV.A = %v", got)
	}
	sc := modulestest.Scenario{Name: "s", Exec: "default"}
	sc.Env = map[string]string{"A": "scenario", "C": "c"}
	v.Run(sc, 1)
	if got := v.Global("iterA"); got != "scenario/b/c" {
		t.Errorf("iteration env = %v", got)
	}
	v.Run(modulestest.Scenario{Name: "plain", Exec: "default"}, 1)
	if got := v.Global("iterA"); got != "base/b/undefined" {
		t.Errorf("env after leaving the scenario = %v", got)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{
		"main.js": `
const text = open('./data/a.txt');
const bin = open('data/a.txt', 'b');
if (__VU > 5) { open('data/late.txt'); }
export default function () {
  let threw = false;
  try { open('./data/a.txt'); } catch (e) { threw = true; }
  globalThis.result = [text, bin.byteLength, bin instanceof ArrayBuffer, threw].join(',');
}`,
		"data/a.txt":    "hello",
		"data/late.txt": "late",
	})
	v := e.VU(0)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if got := v.Global("result"); got != "hello,5,true,true" {
		t.Errorf("result = %v", got)
	}
	if _, err := e.Runner().NewVU(context.Background(), 6, 6); err == nil || !strings.Contains(err.Error(), "__VU == 0") {
		t.Errorf("a file first opened by a later VU must fail, got %v", err)
	}
}

func TestSetupData(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
export function setup() { return { n: 1, u: undefined, d: new Date(0), list: [1, 'a'] }; }
export default function (data) { data.n++; globalThis.seen = JSON.stringify(data); }
export function teardown(data) { globalThis.td = JSON.stringify(data); }`})
	if err := e.VU(0).RunSetup(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `{"d":"1970-01-01T00:00:00Z","list":[1,"a"],"n":1,"u":null}`
	if got := string(e.Runner().SetupData()); got != want {
		t.Fatalf("setup data = %s, want %s", got, want)
	}
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 2)
	if got := v.Global("seen"); got != `{"d":"1970-01-01T00:00:00Z","list":[1,"a"],"n":3,"u":null}` {
		t.Errorf("VU data after two iterations = %v (mutations must persist in the VU)", got)
	}
	td := e.VU(0)
	if err := td.RunTeardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := td.Global("td"); got != want {
		t.Errorf("teardown got %v, want a fresh copy", got)
	}
	if _, n := e.Samples().Sum("checks", nil); n != 0 {
		t.Errorf("unexpected checks")
	}
}

func TestSetupErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script string
		check        func(error) bool
	}{
		{"function in data", "export function setup() { return { f() {} }; }\nexport default function () {}",
			func(err error) bool { return errors.Is(err, js.ErrNotSerializable) }},
		{"exception", "export function setup() { throw new Error('boom'); }\nexport default function () {}",
			func(err error) bool {
				var se *js.ScriptError
				return errors.As(err, &se) && se.Phase == "setup" && strings.Contains(err.Error(), "main.js:1:")
			}},
		{"abort", "import exec from 'k6/execution';\nexport function setup() { exec.test.abort('nope'); }\nexport default function () {}",
			func(err error) bool { ae, ok := js.Aborted(err); return ok && ae.Reason == "nope" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, map[string]string{"main.js": tc.script})
			err := e.VU(0).RunSetup(context.Background())
			if err == nil || !tc.check(err) {
				t.Errorf("unexpected error %v", err)
			}
		})
	}
}

func TestSetupReturningUndefined(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `export function setup() {}
export default function (data) { globalThis.kind = typeof data; }`})
	if err := e.VU(0).RunSetup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Runner().SetupData() != nil {
		t.Errorf("setup data = %s", e.Runner().SetupData())
	}
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if got := v.Global("kind"); got != "undefined" {
		t.Errorf("VU got %v", got)
	}
}

func TestIterationSamplesAndErrors(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
export default function () { if (__ITER === 1) { throw new Error('bad iteration'); } }`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 3)
	if got, _ := e.Samples().Sum("iterations", map[string]string{"scenario": "s", "testid": "t1", "group": ""}); got != 3 {
		t.Errorf("iterations = %v, want 3 (an iteration that threw still counts)", got)
	}
	if _, n := e.Samples().Sum("iteration_duration", nil); n != 3 {
		t.Errorf("iteration_duration samples = %d", n)
	}
	if e.Runner().IterationErrors() != 1 {
		t.Errorf("iteration errors = %d", e.Runner().IterationErrors())
	}
	if !strings.Contains(e.Logs(), "bad iteration") || !strings.Contains(e.Logs(), "main.js:2:") {
		t.Errorf("the exception and its position were not logged: %s", e.Logs())
	}
}

func TestInterruptedIteration(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import { sleep } from 'k6';
export default function () { if (__ITER === 0) { sleep(30); } else { for (;;) {} } }`})
	v := e.VU(1)
	sc := modulestest.Scenario{Name: "s", Exec: "default"}
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		done := v.RunIteration(ctx, &executor.Iteration{Scenario: sc.Executor()})
		cancel()
		if done {
			t.Errorf("iteration %d reported as completed", i)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("iteration %d took %s to stop", i, d)
		}
	}
	if _, n := e.Samples().Sum("iterations", nil); n != 0 {
		t.Errorf("interrupted iterations must not be counted")
	}
	// the VU is usable afterwards
	e2 := mustEnv(t, map[string]string{"main.js": "export default function () { globalThis.ok = true; }"})
	w := e2.VU(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.RunIteration(ctx, &executor.Iteration{Scenario: sc.Executor()})
	w.Run(sc, 1)
	if w.Global("ok") != true {
		t.Errorf("VU unusable after an interrupt")
	}
}

func TestAbortInIteration(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import exec from 'k6/execution';
export default function () { try { exec.test.abort('enough'); } catch (e) { globalThis.caught = true; } globalThis.after = true; }`})
	v := e.VU(1)
	if !v.RunIteration(context.Background(), &executor.Iteration{Scenario: modulestest.Scenario{Name: "s", Exec: "default"}.Executor()}) {
		t.Error("the aborting iteration must count as completed")
	}
	if v.Global("caught") != nil || v.Global("after") != nil {
		t.Error("test.abort() must not be catchable and must stop the iteration")
	}
	if len(e.Aborted()) != 1 || e.Aborted()[0] != "enough" {
		t.Errorf("controller aborts = %v", e.Aborted())
	}
}

func TestAsyncIteration(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
export default async function () {
  const v = await new Promise((resolve) => resolve(41));
  globalThis.result = v + 1;
  if (__ITER === 1) { await Promise.reject(new Error('async failure')); }
}`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 2)
	if v.Global("result") != int64(42) {
		t.Errorf("result = %v", v.Global("result"))
	}
	if e.Runner().IterationErrors() != 1 || !strings.Contains(e.Logs(), "async failure") {
		t.Errorf("rejected promise not reported: %s", e.Logs())
	}
}

func TestEventLoopCallbacks(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
export default async function () { globalThis.result = await globalThis.later(5); }`})
	v := e.VU(1)
	_ = v.Runtime().Set("later", func(n int64) *sobek.Promise {
		p, resolve, _ := v.Runtime().NewPromise()
		enqueue := js.EventLoop(v.VU).RegisterCallback()
		go func() {
			time.Sleep(10 * time.Millisecond)
			enqueue(func() error { return resolve(n * 2) })
		}()
		return p
	})
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if v.Global("result") != int64(10) {
		t.Errorf("result = %v", v.Global("result"))
	}
}

func TestHandleSummary(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
export default function () {}
export function handleSummary(data) {
  return { stdout: 'n=' + data.metrics.iterations.values.count, 'out/report.bin': new Uint8Array([1, 2]).buffer, skipped: undefined };
}`})
	v := e.VU(0)
	outs, ok, err := v.RunHandleSummary(context.Background(), []byte(`{"metrics":{"iterations":{"values":{"count":3}}}}`))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if string(outs["stdout"]) != "n=3" || string(outs["out/report.bin"]) != "\x01\x02" || len(outs) != 2 {
		t.Errorf("outputs = %q", outs)
	}
}

func TestExecutionModule(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import exec from 'k6/execution';
let initErr = '';
try { exec.vu.idInInstance; } catch (e) { initErr = String(e); }
globalThis.initErr = initErr;
export default function () {
  exec.vu.tags.mine = 7;
  exec.vu.metrics.metadata.trace = 'abc';
  let bad = false;
  try { exec.vu.tags.obj = {}; } catch (e) { bad = e instanceof TypeError; }
  globalThis.result = [exec.vu.idInInstance, exec.vu.idInTest, exec.vu.iterationInInstance, exec.vu.iterationInScenario,
    exec.scenario.name, exec.scenario.executor, exec.scenario.iterationInInstance, exec.scenario.iterationInTest,
    exec.vu.tags.scenario, exec.vu.tags.mine, bad, exec.instance.iterationsCompleted, exec.instance.vusInitialized,
    Object.isFrozen(exec.test.options), exec.test.options.scenarios.default.executor,
    exec.vu === exec.vu, exec.test === exec.test, Object.keys(exec).join('+')].join(',');
  exec.test.fail('marked');
}`})
	v := e.VU(4)
	if !strings.Contains(v.Global("initErr").(string), "init context") {
		t.Errorf("vu info in init must throw: %v", v.Global("initErr"))
	}
	sc := modulestest.Scenario{Name: "sc", Exec: "default"}
	v.RunIteration(context.Background(), &executor.Iteration{Scenario: sc.Executor(), InInstance: 5, InTest: 9})
	want := "4,4,0,0,sc,shared-iterations,5,9,sc,7,true,7,3,true,shared-iterations,true,true,vu+scenario+instance+test"
	if got := v.Global("result"); got != want {
		t.Errorf("result = %v, want %v", got, want)
	}
	its := e.Samples().Find("iterations")
	if len(its) != 1 {
		t.Fatalf("iterations samples: %d", len(its))
	}
	if mine, _ := its[0].Tags.Get("mine"); mine != "7" {
		t.Errorf("VU tag not on samples: %v", its[0].Tags)
	}
	if its[0].Metadata["trace"] != "abc" {
		t.Errorf("metadata not on samples: %v", its[0].Metadata)
	}
	if len(e.Failed()) != 1 || e.Failed()[0] != "marked" {
		t.Errorf("test.fail not forwarded: %v", e.Failed())
	}
	st := e.VU(0)
	if err := st.RunSetup(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestScenarioInfoOutsideScenario(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import exec from 'k6/execution';
export function setup() { let msg = ''; try { exec.scenario.name; } catch (e) { msg = String(e); } return msg; }
export default function () {}`})
	if err := e.VU(0).RunSetup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Runner().SetupData()), "only available while a scenario runs") {
		t.Errorf("setup data = %s", e.Runner().SetupData())
	}
}

var _ = k6execution.AbortError{}

// TestExportsUnderOtherNames: exports whose local binding has another name
// (a named default function or class, export { a as b }) are found; sobek
// keeps their getters under the local name.
func TestExportsUnderOtherNames(t *testing.T) {
	t.Parallel()
	for name, script := range map[string]string{
		"named default function": "export default function main() {}\n",
		"renamed to default":     "function run() {}\nexport { run as default };\n",
		"renamed twice":          "function run() {}\nexport { run as default, run as other };\n",
		"names swapped":          "function a() {}\nfunction b() {}\nexport { a as b, b as a };\nexport default a;\n",
		"renamed import":         "import { sleep as s } from 'k6';\nexport { s as other };\nexport default function () {}\n",
		"default class":          "export default class K {}\nexport function other() {}\n",
	} {
		for _, lib := range []string{"", "import { x } from './lib.js';\n"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := mustEnv(t, map[string]string{"main.js": lib + script, "lib.js": "export const x = 1;\n"})
				v, err := e.Runner().NewVU(context.Background(), 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, fn := range []string{"default", "other"} {
					if !v.ExportedFunction(fn) && (fn == "default" || strings.Contains(script, "other")) {
						t.Errorf("%s is not exported as a function", fn)
					}
				}
			})
		}
	}
}
