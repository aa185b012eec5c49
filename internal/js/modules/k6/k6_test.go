package k6

import (
	"runtime"
	"testing"
	"weak"

	"github.com/grafana/sobek"
)

// TestSleepForgetsCheckFunctions checks that a VU asleep keeps no check
// function alive through the cache of check callables: the function of an
// object literal, gone with its iteration's scope, is collected once the
// VU sleeps; before it sleeps the cache still finds it.
func TestSleepForgetsCheckFunctions(t *testing.T) {
	v := newBenchVU(t)
	if _, err := v.rt.RunString(`var fn = (x) => x === 1; check(1, { one: fn });`); err != nil {
		t.Fatal(err)
	}
	obj, ok := v.rt.Get("fn").(*sobek.Object)
	if !ok {
		t.Fatal("fn is not an object")
	}
	wp := weak.Make(obj)
	obj = nil
	if _, err := v.rt.RunString(`check(1, { one: fn }); fn = undefined;`); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if wp.Value() == nil {
		t.Fatal("the check function was collected before the VU slept")
	}
	if _, err := v.rt.RunString(`sleep(0.001)`); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	if wp.Value() != nil {
		t.Fatal("a sleeping VU keeps the check function of its last check alive")
	}
	if v.n.Load() != 2 {
		t.Fatalf("%d check samples, want 2", v.n.Load())
	}
}
