package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// mergeScript does 3,000 iterations (so trends leave the exact range and
// use the sketch), with a check in a group, a custom counter and a trend
// with a sub-metric threshold; p(99)<90 fails on purpose.
const mergeScript = `
import { check, group } from 'k6';
import { Trend, Counter } from 'k6/metrics';
import exec from 'k6/execution';
const t = new Trend('work', true);
const c = new Counter('units');
export const options = {
  scenarios: { a: { executor: 'shared-iterations', vus: 6, iterations: 3000 } },
  thresholds: { work: ['p(95)<1000', 'p(99)<90'], 'work{kind:odd}': ['max<1000'], units: ['count==3000'] },
};
export default function () {
  const i = exec.scenario.iterationInTest;
  group('g', () => {
    t.add((i * 7919) % 100 + (i % 7) / 10, { kind: i % 2 ? 'odd' : 'even' });
    c.add(1);
    check(i, { 'not a multiple of 3': (v) => v % 3 != 0 });
  });
}
`

func readExport(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestMergeEqualsSingleInstance runs the same test as one instance and as
// three segments, merges the three states, and compares the summaries.
func TestMergeEqualsSingleInstance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "s.js", mergeScript)
	single := tally(t, dir, "run", "-q", "-e", "RUN_ID=r1", "--summary-export", "single.json", "s.js")
	if single.code != 99 {
		t.Fatalf("single run: exit %d, want 99\n%s", single.code, single.stderr)
	}
	segs := []string{"0:1/3", "1/3:2/3", "2/3:1"}
	var wg sync.WaitGroup
	runs := make([]run, len(segs))
	for i, seg := range segs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = tally(t, dir, "run", "-q", "-e", "RUN_ID=r1", "--execution-segment", seg,
				"--execution-segment-sequence", "0,1/3,2/3,1", "--out", "summary-state=state-"+string(rune('a'+i))+".json", "s.js")
		}()
	}
	wg.Wait()
	for i, r := range runs {
		if r.code != 0 && r.code != 99 {
			t.Fatalf("instance %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	merged := tally(t, dir, "merge", "--summary-export", "merged.json", "state-c.json", "state-a.json", "state-b.json")
	if merged.code != 99 || !strings.Contains(merged.stderr, "p(99)<90") {
		t.Fatalf("merge: exit %d, want 99 naming p(99)<90\n%s\n%s", merged.code, merged.stdout, merged.stderr)
	}
	if !strings.Contains(merged.stdout, "✗ 'p(99)<90'") || !strings.Contains(merged.stdout, "✓ 'count==3000' count=3000") {
		t.Errorf("merged text summary lacks the thresholds:\n%s", merged.stdout)
	}
	s, m := readExport(t, filepath.Join(dir, "single.json")), readExport(t, filepath.Join(dir, "merged.json"))
	if sg, mg := s["root_group"], m["root_group"]; !jsonEqual(sg, mg) {
		t.Errorf("root_group differs:\nsingle %v\nmerged %v", sg, mg)
	}
	sm, mm := s["metrics"].(map[string]any), m["metrics"].(map[string]any)
	for _, name := range []string{"work", "work{kind:odd}", "units", "checks", "iterations"} {
		a, b := sm[name].(map[string]any), mm[name].(map[string]any)
		if a == nil || b == nil {
			t.Fatalf("%s missing: single %v merged %v", name, a, b)
		}
		for k, v := range a {
			if k == "rate" || k == "thresholds" {
				continue // rates depend on each run's duration
			}
			x, y := v.(float64), b[k].(float64)
			if math.Abs(x-y) > 0.005*math.Abs(x)+1e-9 {
				t.Errorf("%s %s: single %v, merged %v (beyond the sketch's 0.5 %%)", name, k, x, y)
			}
		}
		if !jsonEqual(a["thresholds"], b["thresholds"]) {
			t.Errorf("%s thresholds: single %v, merged %v", name, a["thresholds"], b["thresholds"])
		}
	}

	missing := tally(t, dir, "merge", "state-a.json", "state-c.json")
	if missing.code != 104 || !strings.Contains(missing.stderr, "1/3:2/3") {
		t.Errorf("merge with a missing segment: exit %d, want 104 naming it\n%s", missing.code, missing.stderr)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestExecutionSegmentIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "s.js", `export const options = { iterations: 9, vus: 3 };
export default function () {}`)
	r := tally(t, dir, "run", "-q", "--execution-segment-sequence", "0,1/3,2/3,1", "--execution-segment-index", "1", "s.js")
	if r.code != 0 || !strings.Contains(r.stdout, "iterations") || !strings.Contains(r.stdout, ": 3 ") {
		t.Errorf("index 1 of three: exit %d, want 3 iterations\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--execution-segment-sequence", "0,1/2,1", "--execution-segment-index", "2"}, "out of range"},
		{[]string{"--execution-segment-index", "0"}, "needs --execution-segment-sequence"},
		{[]string{"--execution-segment", "0:1/2", "--execution-segment-sequence", "0,1/2,1", "--execution-segment-index", "0"}, "not both"},
	} {
		r := tally(t, dir, append(append([]string{"run", "-q"}, c.args...), "s.js")...)
		if r.code != 255 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want 255 with %q\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
}
