package js_test

import (
	"context"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/modules/modulestest"
)

func TestTimers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		module bool // use k6/timers instead of the globals
		body   string
		want   string // globalThis.log after the iteration
	}{
		{name: "timeouts fire in due-time order after the sync code",
			body: `setTimeout(() => log.push('b'), 20); setTimeout(() => log.push('a'), 0); log.push('sync');`,
			want: "sync,a,b"},
		{name: "equal delays fire in registration order",
			body: `for (const n of [1, 2, 3]) setTimeout(() => log.push(n), 5);`,
			want: "1,2,3"},
		{name: "extra arguments reach the callback",
			body: `setTimeout((a, b) => log.push(a + b), 1, 'x', 'y');`,
			want: "xy"},
		{name: "intervals tick until cleared",
			body: `let n = 0; const id = setInterval(() => { n++; log.push('t' + n); if (n === 3) clearInterval(id); }, 2);`,
			want: "t1,t2,t3"},
		{name: "cleared timers never fire",
			body: `clearTimeout(setTimeout(() => log.push('no'), 1)); clearInterval(setInterval(() => log.push('no'), 1)); clearTimeout(undefined); clearTimeout(12345); log.push('done');`,
			want: "done"},
		{name: "k6/timers exports the same functions", module: true,
			body: `T.setTimeout(() => log.push('m'), 1); T.clearTimeout(T.setTimeout(() => log.push('no'), 1));`,
			want: "m"},
		{name: "timers and promises interleave",
			body: `setTimeout(() => log.push('timer'), 0); Promise.resolve().then(() => log.push('micro'));`,
			want: "micro,timer"},
		{name: "an async function awaiting a timer",
			body: `return (async () => { await new Promise((r) => setTimeout(r, 5)); log.push('after'); })();`,
			want: "after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imp := ""
			if tc.module {
				imp = "import * as T from 'k6/timers';\n"
			}
			e := mustEnv(t, map[string]string{"main.js": imp + `
export default function () {
  const log = [];
  globalThis.log = log;
  ` + tc.body + `
}`})
			v := e.VU(1)
			v.Iterate(1)
			got, _ := v.Runtime().RunString(`globalThis.log.join()`)
			if got.String() != tc.want {
				t.Errorf("log = %q, want %q (logs: %s)", got, tc.want, e.Logs())
			}
		})
	}
}

func TestTimerErrorsEndTheIteration(t *testing.T) {
	t.Parallel()
	for _, thrown := range []string{`new Error('boom in timer')`, `null`, `undefined`, `Symbol('s')`, `{ a: 1 }`, `42`} {
		t.Run(thrown, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, map[string]string{"main.js": `
export default function () {
  globalThis.after = false;
  setTimeout(() => { throw ` + thrown + `; }, 0);
  setTimeout(() => { globalThis.after = true; }, 5);
}`})
			v := e.VU(1)
			v.Iterate(2)
			if v.Global("after") != false {
				t.Error("the timer after the exception still ran")
			}
			if n := e.Runner().IterationErrors(); n != 2 {
				t.Errorf("iteration errors = %d, want 2 (logs: %s)", n, e.Logs())
			}
		})
	}
}

func TestTimersInterruptedWithTheIteration(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
export default function () { setInterval(() => {}, 1); setTimeout(() => {}, 60000); }
export function other() {}`})
	v := e.VU(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if v.RunIteration(ctx, &executor.Iteration{Scenario: modulestest.DefaultScenario.Executor()}) {
		t.Error("an iteration cut off by its context counted as complete")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the iteration took %v after its context ended", d)
	}
	// The next iteration starts with no timer left over: it ends at once.
	start = time.Now()
	if _, err := v.Runtime().RunString(`globalThis.x = 1`); err != nil {
		t.Fatal(err)
	}
	if !v.Once(context.Background(), modulestest.Scenario{Name: "other", Exec: "other"}) {
		t.Error("the next iteration was interrupted")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the next iteration took %v: timers of the interrupted one survived", d)
	}
}
