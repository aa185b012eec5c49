package counter_test

import (
	"strings"
	"testing"

	_ "github.com/tallyhq/tally/docs/example-extension" // registers k6/x/counter
	"github.com/tallyhq/tally/modules/modulestest"
)

const script = `
import counter from 'k6/x/counter';
import { inc } from 'k6/x/counter';
export default function () {
  counter.inc();
  globalThis.value = inc();
  globalThis.segment = counter.segment();
}`

// Two VUs of one run share the counter; every increment is a sample with
// the iteration's tags.
func TestCounterIsSharedByVUs(t *testing.T) {
	rt := modulestest.Must(t, script, modulestest.Options{})
	a, b := rt.VU(1), rt.VU(2)
	a.Iterate(1)
	b.Iterate(2)
	if got := b.Global("value"); got != int64(6) {
		t.Errorf("value after 3 iterations of 2 increments = %v, want 6", got)
	}
	sum, n := rt.Samples().Sum("counter_increments", map[string]string{"scenario": "default"})
	if sum != 6 || n != 6 {
		t.Errorf("counter_increments: sum %v over %d samples, want 6 over 6", sum, n)
	}
	if got := a.Global("segment"); got != "" {
		t.Errorf("segment of an undivided run = %q, want empty", got)
	}
}

// Each run gets its own counter: the module root is per run, not global.
func TestEachRunStartsAtZero(t *testing.T) {
	for range 2 {
		rt := modulestest.Must(t, script, modulestest.Options{})
		v := rt.VU(1)
		v.Iterate(1)
		if got := v.Global("value"); got != int64(2) {
			t.Fatalf("value = %v, want 2", got)
		}
	}
}

// An instance of a distributed run sees its execution segment.
func TestSegment(t *testing.T) {
	rt := modulestest.Must(t, script, modulestest.Options{ExecutionSegment: "1/2:1"})
	v := rt.VU(1)
	v.Iterate(1)
	if got := v.Global("segment"); got != "1/2:1" {
		t.Errorf("segment = %q, want 1/2:1", got)
	}
}

// The init context has no VU state: segment() throws a clear error.
func TestSegmentInInitContext(t *testing.T) {
	rt := modulestest.Must(t, `import counter from 'k6/x/counter';
counter.segment();
export default function () {}`, modulestest.Options{})
	_, err := rt.NewVU(1)
	if err == nil || !strings.Contains(err.Error(), "not available in the init context") {
		t.Fatalf("error = %v, want one about the init context", err)
	}
}

// Import and Eval call the module's functions without a script of one's
// own: named exports are globals, the default export is mod.
func TestImportEval(t *testing.T) {
	v := modulestest.Import(t, "k6/x/counter")
	if got := v.Eval(`inc(); mod.inc()`); got != int64(2) {
		t.Errorf("inc(); mod.inc() = %v, want 2", got)
	}
	if msg := v.Throws(`mod.nope()`); !strings.Contains(msg, "TypeError") {
		t.Errorf("mod.nope() threw %q, want a TypeError", msg)
	}
	if msg := v.Throws(`value()`); msg != "" {
		t.Errorf("value() threw %q", msg)
	}
}
