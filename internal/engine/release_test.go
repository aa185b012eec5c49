package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/modules"
)

// releaseModule counts the VUs whose instances were released, so that a
// script's teardown can see how many of them were dropped before it ran.
type releaseModule struct{ released atomic.Int64 }

type releaseInstance struct{ m *releaseModule }

func (m *releaseModule) NewModuleInstance(modules.VU) modules.Instance { return &releaseInstance{m: m} }

func (i *releaseInstance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{"released": func() int64 { return i.m.released.Load() }}}
}

func (i *releaseInstance) Release() { i.m.released.Add(1) }

func init() {
	modules.Register("k6/x/enginereleasetest", func() modules.Module { return &releaseModule{} })
}

// TestScenarioVUsReleasedBeforeTeardown: when every scenario has ended, the
// scenarios' VUs are released before teardown runs (on a VU of its own),
// also those an arrival-rate scenario added on demand; teardown still gets
// the setup data, and the summary and handleSummary still see every metric
// and check of the scenarios.
func TestScenarioVUsReleasedBeforeTeardown(t *testing.T) {
	t.Parallel()
	r := runScript(t, context.Background(), `
import { check } from 'k6';
import { released } from 'k6/x/enginereleasetest';
export const options = {
  scenarios: {
    a: { executor: 'per-vu-iterations', vus: 4, iterations: 2 },
    b: { executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: '1s',
         preAllocatedVUs: 1, maxVUs: 3, startTime: '100ms' },
  },
};
export function setup() { return { n: 7 }; }
export default function () { check(1, { one: (v) => v === 1 }); }
export function teardown(data) {
  console.log('TEARDOWN released=' + released() + ' setup=' + data.n);
}
export function handleSummary(data) {
  return { stdout: 'CHECKS ' + data.metrics.checks.values.passes + ' ITERS ' + data.metrics.iterations.values.count + '\n' };
}`, options.Options{})
	if r.code != 0 {
		t.Fatalf("exit %d: %v %s", r.code, r.err, r.stderr)
	}
	// 4 VUs of a (b starts while a may still run, so it may add up to 3),
	// plus the setup VU released after setup.
	var released, setup int
	for _, line := range strings.Split(r.stderr, "\n") {
		if i := strings.Index(line, "TEARDOWN released="); i >= 0 {
			_, _ = fmt.Sscanf(line[i:], "TEARDOWN released=%d setup=%d", &released, &setup)
		}
	}
	if released < 1+4 || released > 1+4+3 || setup != 7 {
		t.Errorf("teardown saw %d released instances and setup data %d; want 5-8 and 7\n%s", released, setup, r.stderr)
	}
	var checks, iters int
	if _, err := fmt.Sscanf(r.stdout[max(0, strings.Index(r.stdout, "CHECKS")):], "CHECKS %d ITERS %d", &checks, &iters); err != nil || checks != iters || checks <= 8 {
		t.Errorf("handleSummary: %d checks passed, %d iterations (%v); want equal and more than a's 8\n%s", checks, iters, err, r.stdout)
	}
}
