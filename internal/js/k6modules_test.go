package js_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
	"github.com/tallyhq/tally/modules/modulestest"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        string
		wantResult  any
		passes      map[string]int64 // check path -> passes
		fails       map[string]int64
		wantThrow   string
		extraTagKey string
	}{
		{name: "functions and literals in insertion order",
			body:       `return check(5, { 'is five': (v) => v === 5, 'literal': 1, 'falsy': 0, 'zero?': (v) => v === 0 })`,
			wantResult: false,
			passes:     map[string]int64{"::is five": 1, "::literal": 1},
			fails:      map[string]int64{"::falsy": 1, "::zero?": 1}},
		{name: "all pass returns true", body: `return check(null, { a: () => true, b: 'yes' })`, wantResult: true,
			passes: map[string]int64{"::a": 1, "::b": 1}},
		{name: "extra tags", body: `return check(1, { tagged: true }, { kind: 'x' })`, wantResult: true,
			passes: map[string]int64{"::tagged": 1}, extraTagKey: "kind"},
		{name: "a throwing entry records a fail, skips the rest and rethrows",
			body:      `return check(1, { ok: true, boom: () => { throw new Error('inside check') }, never: true })`,
			passes:    map[string]int64{"::ok": 1},
			fails:     map[string]int64{"::boom": 1},
			wantThrow: "inside check"},
		{name: "the same functions again, in turn and under other names",
			body: `const A = { a: (v) => v === 1 }, B = { b: (v) => v === 2 }, C = { c: (v) => v === 3, a2: A.a };
			const r = [];
			for (const v of [1, 2, 3]) r.push(check(v, A), check(v, B), check(v, C));
			return r.join(',')`,
			wantResult: "true,false,false,false,true,false,false,false,false",
			passes:     map[string]int64{"::a": 1, "::b": 1, "::c": 1, "::a2": 1},
			fails:      map[string]int64{"::a": 2, "::b": 2, "::c": 2, "::a2": 2}},
		{name: "async callbacks are refused", body: `return check(1, { a: async () => true })`, wantThrow: "async"},
		{name: ":: in a name is refused", body: `return check(1, { 'a::b': true })`, wantThrow: "must not contain"},
		{name: "checks inside groups", body: `return group('g', () => check(1, { inner: true }))`, wantResult: true,
			passes: map[string]int64{"::g::inner": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, map[string]string{"main.js": `
import { check, group } from 'k6';
export default function () {
  try { globalThis.result = (() => { ` + tc.body + ` })(); } catch (e) { globalThis.thrown = String(e); }
}`})
			v := e.VU(1)
			v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
			if tc.wantThrow != "" {
				if th, _ := v.Global("thrown").(string); !strings.Contains(th, tc.wantThrow) {
					t.Errorf("thrown = %q, want %q", th, tc.wantThrow)
				}
			} else if got := v.Global("result"); got != tc.wantResult {
				t.Errorf("result = %v (thrown %v)", got, v.Global("thrown"))
			}
			counts := map[string][2]int64{}
			collect(e.RootGroup().Data(), counts)
			for path, n := range tc.passes {
				if counts[path][0] != n {
					t.Errorf("%s passes = %d, want %d", path, counts[path][0], n)
				}
			}
			for path, n := range tc.fails {
				if counts[path][1] != n {
					t.Errorf("%s fails = %d, want %d", path, counts[path][1], n)
				}
			}
			var wantSamples int
			for _, n := range tc.passes {
				wantSamples += int(n)
			}
			for _, n := range tc.fails {
				wantSamples += int(n)
			}
			samples := e.Samples().Find("checks")
			if len(samples) != wantSamples {
				t.Errorf("%d checks samples, want %d", len(samples), wantSamples)
			}
			for _, s := range samples {
				if _, ok := s.Tags.Get("check"); !ok {
					t.Errorf("check sample without check tag: %v", s.Tags)
				}
				if tc.extraTagKey != "" {
					if _, ok := s.Tags.Get(tc.extraTagKey); !ok {
						t.Errorf("extra tag missing: %v", s.Tags)
					}
				}
			}
		})
	}
}

// TestCheckTags: a check's samples carry the VU's tags of the moment (its
// group here) and the check's name, however often the same check runs.
func TestCheckTags(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import { check, group } from 'k6';
export default function () {
  for (let n = 0; n < 2; n++) {
    check(1, { a: true, b: true });
    group('g', () => check(1, { a: true }));
    check(1, { a: true }, { kind: 'x' + n });
  }
}`})
	e.VU(1).Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	var got []string
	for _, s := range e.Samples().Find("checks") {
		c, _ := s.Tags.Get("check")
		g, _ := s.Tags.Get("group")
		k, _ := s.Tags.Get("kind")
		got = append(got, c+"@"+g+"/"+k)
	}
	want := "a@/,b@/,a@::g/,a@/x0,a@/,b@/,a@::g/,a@/x1"
	if strings.Join(got, ",") != want {
		t.Errorf("checks samples %s, want %s", strings.Join(got, ","), want)
	}
}

// collect maps check paths to passes/fails.
func collect(g *summary.GroupData, out map[string][2]int64) {
	for _, c := range g.Checks {
		out[c.Path] = [2]int64{c.Passes, c.Fails}
	}
	for _, sub := range g.Groups {
		collect(sub, out)
	}
}

func TestGroup(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import { group } from 'k6';
import exec from 'k6/execution';
export default function () {
  const r = group('outer', () => {
    globalThis.innerTag = group('inner', () => exec.vu.tags.group);
    return 42;
  });
  try { group('throws', () => { throw new Error('x'); }); } catch (e) {}
  globalThis.after = exec.vu.tags.group;
  let bad = [];
  for (const f of [() => group('a::b', () => 1), () => group('as', async () => 1)]) { try { f(); } catch (e) { bad.push(String(e)); } }
  globalThis.result = r;
  globalThis.bad = bad.join('|');
  globalThis.numberName = group(7, () => exec.vu.tags.group);
}`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if v.Global("result") != int64(42) || v.Global("innerTag") != "::outer::inner" || v.Global("after") != "" {
		t.Errorf("result %v, inner tag %v, tag after %v", v.Global("result"), v.Global("innerTag"), v.Global("after"))
	}
	if got := v.Global("numberName"); got != "::7" {
		t.Errorf("group(7, fn) runs in group %v, want ::7", got)
	}
	if b := v.Global("bad").(string); !strings.Contains(b, "must not contain") || !strings.Contains(b, "async") {
		t.Errorf("bad groups: %s", b)
	}
	var paths []string
	for _, s := range e.Samples().Find("group_duration") {
		g, _ := s.Tags.Get("group")
		paths = append(paths, g)
	}
	if strings.Join(paths, ",") != "::outer::inner,::outer,::throws,::7" {
		t.Errorf("group_duration samples for %v", paths)
	}
	if its := e.Samples().Find("iterations"); len(its) != 1 {
		t.Fatal("no iteration sample")
	} else if g, _ := its[0].Tags.Get("group"); g != "" {
		t.Errorf("iteration sample in group %q", g)
	}
}

func TestSleepAndFail(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import { sleep, fail, randomSeed } from 'k6';
export default function () {
  const t0 = Date.now(); sleep(0.05); globalThis.slept = Date.now() - t0;
  const t1 = Date.now(); sleep(); sleep(null); sleep(-1); sleep('0.02'); globalThis.sleptArgs = Date.now() - t1;
  randomSeed(7); const a = Math.random(); randomSeed(7); globalThis.same = a === Math.random();
  fail('failed on purpose');
}`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if s := v.Global("slept").(int64); s < 45 {
		t.Errorf("slept %d ms", s)
	}
	if s := v.Global("sleptArgs").(int64); s < 15 || s > 2000 {
		t.Errorf("sleep(), sleep(null), sleep(-1) and sleep('0.02') slept %d ms in all, want about 20", s)
	}
	if v.Global("same") != true {
		t.Error("randomSeed does not make Math.random deterministic")
	}
	if !strings.Contains(e.Logs(), "failed on purpose") {
		t.Errorf("fail() message not logged: %s", e.Logs())
	}
	// sleep returns early when the iteration is interrupted
	e2 := mustEnv(t, map[string]string{"main.js": "import { sleep } from 'k6';\nexport default function () { sleep(60); }"})
	w := e2.VU(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	w.RunIteration(ctx, &executor.Iteration{Scenario: modulestest.Scenario{Name: "s", Exec: "default"}.Executor()})
	if time.Since(start) > 5*time.Second {
		t.Error("sleep did not return on interrupt")
	}
}

func TestCustomMetrics(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
const c = new Counter('my_counter'), c2 = new Counter('my_counter');
const g = new Gauge('my_gauge'), r = new Rate('my_rate'), tr = new Trend('my_trend', true);
export default function () {
  globalThis.same = c.name === c2.name;
  globalThis.results = [c.add(1), c.add(true), c.add(2.5, { kind: 'x' }), c.add(NaN), c.add(null), c.add(), g.add(3), r.add(false), tr.add('12')].join(',');
  let threw = false; try { new Counter('late_counter'); } catch (e) { threw = true; }
  globalThis.lateThrew = threw;
  c.note = 'n'; const keys = Object.keys(c).join();
  let ro = false; try { (function () { 'use strict'; c.name = 'x'; })(); } catch (e) { ro = e instanceof TypeError; }
  let notMetric = ''; try { c.add.call({}, 1); } catch (e) { notMetric = String(e); }
  globalThis.shape = [keys, c.note, ro, c.name, 'add' in c, c.hasOwnProperty('add'), c.add === g.add, notMetric.includes('must be called on a metric')].join();
}`})
	v := e.VU(1)
	if m := e.Registry().Get("my_trend"); m == nil || m.Type != metrics.Trend || m.Contains != metrics.Time {
		t.Fatalf("trend registration: %+v", m)
	}
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if got := v.Global("results"); got != "true,true,true,false,false,false,true,true,true" {
		t.Errorf("add results = %v", got)
	}
	if got := v.Global("shape"); got != "note,n,true,my_counter,true,false,true,true" {
		t.Errorf("metric object: %v", got)
	}
	if v.Global("lateThrew") != true || v.Global("same") != true {
		t.Errorf("lateThrew %v same %v", v.Global("lateThrew"), v.Global("same"))
	}
	if sum, n := e.Samples().Sum("my_counter", nil); sum != 4.5 || n != 3 {
		t.Errorf("counter sum %v over %d samples", sum, n)
	}
	if sum, _ := e.Samples().Sum("my_counter", map[string]string{"kind": "x", "scenario": "s"}); sum != 2.5 {
		t.Errorf("tagged counter sum %v", sum)
	}
	if sum, _ := e.Samples().Sum("my_trend", nil); sum != 12 {
		t.Errorf("trend got %v", sum)
	}
	if strings.Count(e.Logs(), "not a number") != 3 {
		t.Errorf("NaN/null/missing values must warn: %s", e.Logs())
	}
}

func TestSharedArray(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import { SharedArray } from 'k6/data';
globalThis.builds = (globalThis.builds || 0);
const data = new SharedArray('users', () => { globalThis.builds++; return [{ name: 'ann', tags: ['a'] }, { name: 'bob' }, 3]; });
export default function () {
  const r = [];
  r.push(data.length, data[0].name, data[2], data[5] === undefined, data.map((x) => typeof x).join('/'), Array.isArray(data));
  for (const f of [() => { data[0] = 1; }, () => { data.length = 0; }, () => { data[0].name = 'x'; }, () => { data[0].tags.push('b'); }]) {
    try { f(); r.push('no-throw'); } catch (e) { r.push(e instanceof TypeError); }
  }
  r.push(data[0].name);
  let late = false; try { new SharedArray('late', () => []); } catch (e) { late = true; }
  r.push(late);
  globalThis.result = r.join(',');
}`})
	a, b := e.VU(1), e.VU(2)
	a.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	want := "3,ann,3,true,object/object/number,true,true,true,true,true,ann,true"
	if got := a.Global("result"); got != want {
		t.Errorf("result = %v, want %v", got, want)
	}
	if a.Global("builds") != int64(1) || b.Global("builds") != int64(0) {
		t.Errorf("the array must be built once per run: %v %v", a.Global("builds"), b.Global("builds"))
	}
	bad := mustEnv(t, map[string]string{"main.js": "import { SharedArray } from 'k6/data';\nnew SharedArray('x', () => 5);\nexport default function () {}"})
	if _, err := bad.Runner().NewVU(context.Background(), 1, 1); err == nil || !strings.Contains(err.Error(), "must return an array") {
		t.Errorf("non-array: %v", err)
	}
}

// counterModule is the example extension of docs/extensions.md.
type counterModule struct{ n int64 }

type counterInstance struct {
	root *counterModule
	vu   modules.VU
	m    *metrics.Metric
}

func (r *counterModule) NewModuleInstance(vu modules.VU) modules.Instance {
	return &counterInstance{root: r, vu: vu, m: vu.InitEnv().Registry.MustNew("counter_increments", metrics.Counter)}
}

func (i *counterInstance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"inc": func() int64 {
			if st := i.vu.State(); st != nil {
				st.Samples.Push(metrics.Samples{{Metric: i.m, Time: time.Now(), Value: 1, Tags: st.Tags()}})
			}
			i.root.n++
			return i.root.n
		},
		"value": func() int64 { return i.root.n },
	}}
}

func init() {
	modules.Register("k6/x/testcounter", func() modules.Module { return &counterModule{} })
}

func TestNativeExtension(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import counter from 'k6/x/testcounter';
import { inc } from 'k6/x/testcounter';
export default function () { counter.inc(); globalThis.v = inc(); }`})
	a, b := e.VU(1), e.VU(2)
	sc := modulestest.Scenario{Name: "s", Exec: "default"}
	a.Run(sc, 1)
	b.Run(sc, 1)
	if b.Global("v") != int64(4) {
		t.Errorf("state must be shared by the VUs of a run: %v", b.Global("v"))
	}
	if sum, _ := e.Samples().Sum("counter_increments", map[string]string{"scenario": "s"}); sum != 4 {
		t.Errorf("samples: %v", sum)
	}
	// a new run starts from a fresh module
	e2 := mustEnv(t, map[string]string{"main.js": "import c from 'k6/x/testcounter';\nexport default function () { globalThis.v = c.inc(); }"})
	w := e2.VU(1)
	w.Run(sc, 1)
	if w.Global("v") != int64(1) {
		t.Errorf("state leaked between runs: %v", w.Global("v"))
	}
}

// TestDefaultExportObject: the default export of a module with named
// exports is an object of those exports (converted when first read): the
// same values as the named imports, listed by Object.keys, and what the
// script assigns or deletes stays.
func TestDefaultExportObject(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
import counter from 'k6/x/testcounter';
import { inc, value } from 'k6/x/testcounter';
const r = [counter.inc === inc, counter.value === value, typeof counter.inc, Object.keys(counter).join('+'),
  'inc' in counter, 'nope' in counter, String(counter.nope), JSON.stringify(Object.keys({ ...counter }))];
counter.extra = 1;
delete counter.value;
r.push(Object.keys(counter).join('+'), String(counter.value), 'value' in counter, counter.extra);
export default function () { globalThis.result = r.join(','); }`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	want := `true,true,function,inc+value,true,false,undefined,["inc","value"],inc+extra,undefined,false,1`
	if got := v.Global("result"); got != want {
		t.Errorf("result =\n%v\nwant\n%v", got, want)
	}
}

// TestBindingValuesStable: an export of a Go module is converted once per
// VU and is then the same value wherever it is imported or read: in two
// modules, through a namespace, through the default export, on every read.
func TestBindingValuesStable(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{
		"lib.js": `import { check, sleep } from 'k6'; import http from 'k6/http';
export const got = [check, sleep, http];`,
		"main.js": `
import { got } from './lib.js';
import { check, sleep, group } from 'k6';
import * as k6 from 'k6';
import http from 'k6/http';
import counter, { inc } from 'k6/x/testcounter';
const r = [got[0] === check, got[1] === sleep, got[2] === http, k6.check === check, k6.group === group,
  counter.inc === inc, typeof k6.fail, typeof http.get];
export default function () { r.push(check === got[0], http === got[2], k6.sleep === sleep); globalThis.result = r.join(','); }`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 2)
	want := `true,true,true,true,true,true,function,function,true,true,true,true,true,true`
	if got := v.Global("result"); got != want {
		t.Errorf("result =\n%v\nwant\n%v", got, want)
	}
}

func TestRegisterRejectsBadNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"k6/x/testcounter", "ledger", "k6/x/"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			modules.Register(name, func() modules.Module { return &counterModule{} })
		}()
	}
}

// heapProbe is k6/x/heapprobe: live() is the live heap in KiB after a
// garbage collection.
type heapProbe struct{}

func (heapProbe) NewModuleInstance(modules.VU) modules.Instance { return heapProbe{} }

func (heapProbe) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{"live": func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc / 1024)
	}}}
}

func init() { modules.Register("k6/x/heapprobe", func() modules.Module { return heapProbe{} }) }

// TestSleepDropsDeadValues: while an iteration sleeps, what the calls that
// returned before it allocated (a burst's requests and responses) can be
// collected; what the iteration still uses is kept. Not parallel: it reads
// the live heap.
func TestSleepDropsDeadValues(t *testing.T) {
	e := mustEnv(t, map[string]string{"main.js": `
import { sleep } from 'k6';
import { live } from 'k6/x/heapprobe';
function burst(n) {
  const a = [];
  for (let i = 0; i < n; i++) a.push({ i, s: 'x' + i });
  let sum = 0;
  for (const x of a) sum += x.i;
  return sum;
}
export default function () {
  const kept = [];
  for (let i = 0; i < 20000; i++) kept.push({ i, s: 'k' + i });
  const before = live();
  const sum = burst(20000);
  sleep(0.001);
  globalThis.grewKiB = live() - before;
  globalThis.ok = sum === 199990000 && kept.length === 20000 && kept[19999].s === 'k19999';
}`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	if v.Global("ok") != true {
		t.Fatal("the iteration's own values changed across sleep()")
	}
	// 20,000 objects are ~2.5 MiB here; what sleep() leaves must be far less.
	if grew := v.Global("grewKiB").(int64); grew > 1024 {
		t.Errorf("the live heap during sleep() grew by %d KiB after a call that returned (its values are dead)", grew)
	}
}
