package executor

import (
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestRampingVUsRawSteps(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		seg    string
		want   []step
		maxVUs int64
	}{
		{"up then down", `{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"4s","target":4},{"duration":"4s","target":0}]}`, "",
			[]step{{0, 0}, {1 * time.Second, 1}, {2 * time.Second, 2}, {3 * time.Second, 3}, {4 * time.Second, 4},
				{5 * time.Second, 3}, {6 * time.Second, 2}, {7 * time.Second, 1}, {8 * time.Second, 0}}, 4},
		{"jump", `{"executor":"ramping-vus","stages":[{"duration":"2s","target":1},{"duration":"0s","target":5},{"duration":"1s","target":5}]}`, "",
			[]step{{0, 1}, {2 * time.Second, 5}}, 5},
		{"half segment", `{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"4s","target":4},{"duration":"4s","target":0}]}`, "1/2:1",
			[]step{{0, 0}, {2 * time.Second, 1}, {4 * time.Second, 2}, {5 * time.Second, 1}, {7 * time.Second, 0}}, 2},
		{"first half segment", `{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"4s","target":4},{"duration":"4s","target":0}]}`, "0:1/2",
			[]step{{0, 0}, {1 * time.Second, 1}, {3 * time.Second, 2}, {6 * time.Second, 1}, {8 * time.Second, 0}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustConfigs(t, `{"r":`+tc.cfg+`}`)[0].(*RampingVUsConfig)
			seg, _ := ParseSegment(tc.seg)
			tup, err := NewTuple(seg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.rawSteps(tup); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("steps = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHoldSteps(t *testing.T) {
	s := time.Second
	raw := []step{{0, 4}, {1 * s, 6}, {2 * s, 1}, {10 * s, 0}}
	tests := []struct {
		hold, end time.Duration
		want      []step
	}{
		{5 * s, 40 * s, []step{{0, 4}, {1 * s, 6}, {7 * s, 1}, {15 * s, 0}}},
		{0, 40 * s, raw},
		{5 * s, 12 * s, []step{{0, 4}, {1 * s, 6}, {7 * s, 1}, {12 * s, 0}}},
		{30 * s, 32 * s, []step{{0, 4}, {1 * s, 6}, {32 * s, 0}}},
	}
	for _, tc := range tests {
		if got := holdSteps(raw, tc.hold, tc.end); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("hold %v end %v: %v, want %v", tc.hold, tc.end, got, tc.want)
		}
	}
}

// sampleVUs records State.VUsActive at the given offsets from now.
func sampleVUs(s *Scheduler, at []time.Duration) (wait func() []int64) {
	out := make([]int64, len(at))
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		for i, d := range at {
			time.Sleep(time.Until(start.Add(d)))
			out[i] = s.State().VUsActive.Load()
		}
	})
	return func() []int64 { wg.Wait(); return out }
}

func TestRampingVUsOverTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 110ms iterations never end exactly on a ramp step
		rec := newRecorder(func(uint64, *Iteration) time.Duration { return 110 * time.Millisecond })
		s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t,
			`{"r":{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"4s","target":4},{"duration":"4s","target":0}]}}`),
			NewVU: rec.newVU})
		if err != nil {
			t.Fatal(err)
		}
		if s.PlannedVUs() != 4 {
			t.Errorf("planned VUs = %d, want 4", s.PlannedVUs())
		}
		if err := s.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		var at []time.Duration
		for i := range 9 {
			at = append(at, time.Duration(i)*time.Second+550*time.Millisecond)
		}
		wait := sampleVUs(s, at)
		start := time.Now()
		if err := s.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		// floor of the line rising, ceiling falling
		if got, want := wait(), []int64{0, 1, 2, 3, 4, 3, 2, 1, 0}; !reflect.DeepEqual(got, want) {
			t.Errorf("VUs over time = %v, want %v", got, want)
		}
		// the last VU's last iteration starts at 7.93s
		if elapsed != 8040*time.Millisecond {
			t.Errorf("elapsed %v, want 8.04s", elapsed)
		}
		c, i := rec.counts()
		// VU k (1..4) starts iterations from k s until it is removed at
		// (9−k) s: ⌈(9−2k)/0.11⌉ iterations
		if c != 64+46+28+10 || i != 0 {
			t.Errorf("completed/interrupted = %d/%d, want 148/0", c, i)
		}
	})
}

func TestRampingVUsGracefulRampDown(t *testing.T) {
	// startVUs 2; at 1s one VU is removed (a 0s stage), while both are in
	// a 2s iteration; the scenario lasts 3.5s.
	const cfg = `{"r":{"executor":"ramping-vus","startVUs":2,"gracefulRampDown":%q,
		"stages":[{"duration":"1s","target":2},{"duration":"0s","target":1},{"duration":"2500ms","target":1}]}}`
	tests := []struct {
		rampDown               string
		completed, interrupted int
	}{
		{"500ms", 2, 1}, // the removed VU is cut at 1.5s
		{"2s", 3, 0},    // it may finish at 2s
		{"0s", 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.rampDown, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := runScenarios(t, t.Context(), sprintf(cfg, tc.rampDown), "", "",
					func(uint64, *Iteration) time.Duration { return 2 * time.Second })
				c, i := r.rec.counts()
				if c != tc.completed || i != tc.interrupted {
					t.Errorf("completed/interrupted = %d/%d, want %d/%d", c, i, tc.completed, tc.interrupted)
				}
				// the remaining VU finishes its 2s→4s iteration within gracefulStop
				if r.elapsed != 4*time.Second {
					t.Errorf("elapsed %v, want 4s", r.elapsed)
				}
			})
		})
	}
}

func TestRampingVUsResumeDuringRampDown(t *testing.T) {
	// 2 VUs, down to 1 at 1s, back to 2 at 1.5s (0s stages), 3s in total,
	// 2s iterations, gracefulRampDown 1s: VU 2 is not cut, it keeps looping.
	synctest.Test(t, func(t *testing.T) {
		r := runScenarios(t, t.Context(), `{"r":{"executor":"ramping-vus","startVUs":2,"gracefulRampDown":"1s","gracefulStop":"0s",
			"stages":[{"duration":"1s","target":2},{"duration":"0s","target":1},{"duration":"500ms","target":1},{"duration":"0s","target":2},{"duration":"1500ms","target":2}]}}`,
			"", "", func(uint64, *Iteration) time.Duration { return 2 * time.Second })
		c, i := r.rec.counts()
		// both VUs: 0–2s done, 2–4s cut at 3s
		if c != 2 || i != 2 {
			t.Errorf("completed/interrupted = %d/%d, want 2/2", c, i)
		}
		if len(r.rec.created) != 2 {
			t.Errorf("%d VUs created, want 2", len(r.rec.created))
		}
	})
}
