package js_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/modules"
	"github.com/tallyhq/tally/modules/modulestest"
)

// panicModule is a native module whose functions panic, as a buggy module
// would: boom() directly (a guarded export), obj().boom() through a method
// of an object it returned (recovered by the VU).
type panicModule struct{}

type panicInstance struct{ vu modules.VU }

func (panicModule) NewModuleInstance(vu modules.VU) modules.Instance { return &panicInstance{vu: vu} }

func (i *panicInstance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"boom": func(call sobek.FunctionCall) sobek.Value { panic("module bug") },
		"add":  func(a, b int) int { var m map[string]int; m["x"] = a + b; return 0 },
		"obj": func(call sobek.FunctionCall) sobek.Value {
			o := i.vu.Runtime().NewObject()
			_ = o.Set("boom", func() { panic("method bug") })
			return o
		},
	}}
}

func init() { modules.Register("k6/x/paniccheck", func() modules.Module { return panicModule{} }) }

// TestGoPanicsAreRecovered: a Go panic in a module function (whatever its
// signature) or in a method of an object a module returned fails the
// iteration like an exception, is logged with the script position when the
// module function is an export, and the VU carries on.
func TestGoPanicsAreRecovered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, call, want string
		position         bool
	}{
		{"exported FunctionCall", "m.boom()", "Go panic: module bug", true},
		{"exported reflected function", "m.add(1, 2)", "assignment to entry in nil map", true},
		{"method of a returned object", "m.obj().boom()", "Go panic: method bug", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, map[string]string{"main.js": `import * as m from 'k6/x/paniccheck';
export default function () {
  if (__ITER % 2 === 0) { ` + tc.call + `; }
  globalThis.after = (globalThis.after || 0) + 1;
}`})
			v := e.VU(1)
			v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 4)
			if got, _ := e.Samples().Sum("iterations", nil); got != 4 {
				t.Errorf("iterations = %v, want 4", got)
			}
			if n := e.Runner().IterationErrors(); n != 2 {
				t.Errorf("iteration errors = %d, want 2", n)
			}
			if got := v.Global("after"); got != int64(2) {
				t.Errorf("iterations that ran to the end = %v, want 2 (the VU must carry on)", got)
			}
			logs := e.Logs()
			if !strings.Contains(logs, tc.want) {
				t.Errorf("the panic was not logged: %s", logs)
			}
			if tc.position && !strings.Contains(logs, "main.js:3:") {
				t.Errorf("the script position was not logged: %s", logs)
			}
		})
	}
}

// TestGoPanicInSetup: a Go panic in setup() is a setup error, not a crash.
func TestGoPanicInSetup(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `import * as m from 'k6/x/paniccheck';
export function setup() { m.obj().boom(); }
export default function () {}`})
	v, err := e.NewVU(0)
	if err != nil {
		t.Fatal(err)
	}
	err = v.RunSetup(context.Background())
	if err == nil || !strings.Contains(err.Error(), "setup() threw") || !strings.Contains(err.Error(), "method bug") {
		t.Fatalf("err = %v", err)
	}
}
