package executor

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/options"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	raw := map[string]json.RawMessage{
		"si":  json.RawMessage(`{"executor": "shared-iterations", "vus": 2, "iterations": 10}`),
		"pvi": json.RawMessage(`{"executor": "per-vu-iterations", "vus": 1, "iterations": 1, "maxDuration": "30s"}`),
		"cv":  json.RawMessage(`{"executor": "constant-vus", "vus": 10, "duration": "1m", "gracefulStop": "5s"}`),
		"rv":  json.RawMessage(`{"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "10s", "target": 20}, {"duration": "20s", "target": 5}], "exec": "other"}`),
		"car": json.RawMessage(`{"executor": "constant-arrival-rate", "rate": 50, "duration": "2m", "preAllocatedVUs": 10, "maxVUs": 100, "startTime": "30s"}`),
		"rar": json.RawMessage(`{"executor": "ramping-arrival-rate", "startRate": 1, "timeUnit": "1m", "stages": [{"duration": "1m", "target": 60}], "preAllocatedVUs": 5}`),
	}
	cfgs, err := Derive(options.Options{Scenarios: raw}, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"si":  "10 iterations shared among 2 VUs (maxDuration: 10m0s, gracefulStop: 30s)",
		"pvi": "1 iteration for each of 1 VU (maxDuration: 30s, gracefulStop: 30s)",
		"cv":  "10 looping VUs for 1m0s (gracefulStop: 5s)",
		"rv":  "Up to 20 looping VUs for 30s over 2 stages (gracefulRampDown: 30s, exec: other, gracefulStop: 30s)",
		"car": "50.00 iterations/s for 2m0s (maxVUs: 10-100, startTime: 30s, gracefulStop: 30s)",
		"rar": "Up to 60.00 iterations/m for 1m0s over 1 stage (maxVUs: 5-5, gracefulStop: 30s)",
	}
	for _, c := range cfgs {
		if got := Describe(c); got != want[c.Name()] {
			t.Errorf("%s: %q, want %q", c.Name(), got, want[c.Name()])
		}
	}
	// si: the default maxDuration 10m + 30s graceful stop is the longest.
	if got := MaxDuration(cfgs); got != 10*time.Minute+30*time.Second {
		t.Errorf("MaxDuration = %s, want 10m30s", got)
	}
	// without it, car: 30s start + 2m + 30s graceful stop.
	var rest []Config
	for _, c := range cfgs {
		if c.Name() != "si" {
			rest = append(rest, c)
		}
	}
	if got := MaxDuration(rest); got != 3*time.Minute {
		t.Errorf("MaxDuration without si = %s, want 3m0s", got)
	}
	for _, tc := range []struct {
		cfgs   []Config
		maxVUs int64
		want   string
	}{
		{rest[:1], 1, "1 scenario, 1 max VU, "},
		{rest, 60, fmt.Sprintf("%d scenarios, 60 max VUs, 3m0s max duration (incl. graceful stop)", len(rest))},
	} {
		if got := DescribePlan(tc.cfgs, tc.maxVUs); !strings.HasPrefix(got, tc.want) {
			t.Errorf("DescribePlan(%d scenarios, %d) = %q, want %q...", len(tc.cfgs), tc.maxVUs, got, tc.want)
		}
	}
}
