package executor

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tallyhq/tally/metrics"
)

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

func TestArrivalRate(t *testing.T) {
	tests := []struct {
		name                   string
		scenario               string
		iterDur                time.Duration
		starts                 []time.Duration // nil: not checked
		completed, interrupted int
		dropped                float64
		created                int
		elapsed                time.Duration
	}{
		{"10/s for 1s starts 11, also at 1s",
			`{"executor":"constant-arrival-rate","rate":10,"duration":"1s","preAllocatedVUs":2,"maxVUs":4}`, ms(50),
			[]time.Duration{0, ms(100), ms(200), ms(300), ms(400), ms(500), ms(600), ms(700), ms(800), ms(900), ms(1000)},
			11, 0, 0, 2, ms(1050)},
		{"timeUnit 1m", `{"executor":"constant-arrival-rate","rate":60,"timeUnit":"1m","duration":"3s","preAllocatedVUs":1}`, ms(10),
			[]time.Duration{0, ms(1000), ms(2000), ms(3000)}, 4, 0, 0, 1, ms(3010)},
		{"drops when no VU is idle", `{"executor":"constant-arrival-rate","rate":10,"duration":"1s","preAllocatedVUs":1}`, ms(250),
			[]time.Duration{0, ms(300), ms(600), ms(900)}, 4, 0, 7, 1, ms(1150)},
		{"unplanned VUs on demand", `{"executor":"constant-arrival-rate","rate":10,"duration":"1s","preAllocatedVUs":1,"maxVUs":3}`, ms(250),
			nil, 9, 0, 2, 3, ms(1250)},
		{"graceful stop cuts long iterations", `{"executor":"constant-arrival-rate","rate":1,"duration":"2s","preAllocatedVUs":3,"gracefulStop":"500ms"}`, ms(2000),
			[]time.Duration{0, ms(1000), ms(2000)}, 1, 2, 0, 3, ms(2500)},
		{"ramping 0→20/s over 1s then 20/s for 0.5s starts 20",
			`{"executor":"ramping-arrival-rate","preAllocatedVUs":5,"stages":[{"duration":"1s","target":20},{"duration":"500ms","target":20}]}`, ms(10),
			nil, 20, 0, 0, 5, ms(1510)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := runScenarios(t, t.Context(), `{"a":`+tc.scenario+`}`, "", "",
					func(uint64, *Iteration) time.Duration { return tc.iterDur })
				if tc.starts != nil {
					if got := r.rec.starts(); !reflect.DeepEqual(got, tc.starts) {
						t.Errorf("starts = %v, want %v", got, tc.starts)
					}
				}
				c, i := r.rec.counts()
				if c != tc.completed || i != tc.interrupted {
					t.Errorf("completed/interrupted = %d/%d, want %d/%d", c, i, tc.completed, tc.interrupted)
				}
				if got := r.rec.sum(r.builtin.DroppedIterations); got != tc.dropped {
					t.Errorf("dropped = %v, want %v", got, tc.dropped)
				}
				if len(r.rec.created) != tc.created {
					t.Errorf("%d VUs created, want %d", len(r.rec.created), tc.created)
				}
				if r.elapsed != tc.elapsed {
					t.Errorf("elapsed %v, want %v", r.elapsed, tc.elapsed)
				}
				if a := r.sched.State().VUsActive.Load(); a != 0 {
					t.Errorf("VUsActive = %d after the run", a)
				}
			})
		})
	}
}

func TestRampingArrivalSchedule(t *testing.T) {
	// 0→20/s over 1s: n starts by t = √(n/10); then 20/s: n = 10 + 20(t−1).
	c := mustConfigs(t, `{"a":{"executor":"ramping-arrival-rate","preAllocatedVUs":1,
		"stages":[{"duration":"1s","target":20},{"duration":"500ms","target":20}]}}`)[0].(*RampingArrivalRateConfig)
	rc := c.curve()
	if rc.count() != 20 {
		t.Fatalf("count = %d, want 20", rc.count())
	}
	for n := 1; n <= 20; n++ {
		var want float64
		if n <= 10 {
			want = sqrt(float64(n) / 10)
		} else {
			want = 1 + float64(n-10)/20
		}
		if got := rc.at(float64(n)).Seconds(); abs(got-want) > 1e-6 {
			t.Errorf("start %d at %.6fs, want %.6fs", n, got, want)
		}
	}
	// a falling rate and a timeUnit: 120→0 per minute over 3s = 2/s → 0
	c = mustConfigs(t, `{"a":{"executor":"ramping-arrival-rate","startRate":120,"timeUnit":"1m","preAllocatedVUs":1,
		"stages":[{"duration":"3s","target":0}]}}`)[0].(*RampingArrivalRateConfig)
	rc = c.curve()
	if rc.count() != 3 {
		t.Fatalf("count = %d, want 3", rc.count())
	}
	// ∫ = 2t − t²/3 = n → t = 3 − √(9 − 3n)
	for n := 1; n <= 3; n++ {
		want := 3 - sqrt(9-3*float64(n))
		if got := rc.at(float64(n)).Seconds(); abs(got-want) > 1e-6 {
			t.Errorf("falling: start %d at %.6fs, want %.6fs", n, got, want)
		}
	}
}

func TestArrivalRateWarnsAtMaxVUs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		rec := newRecorder(func(uint64, *Iteration) time.Duration { return 1100 * time.Millisecond })
		builtin := metrics.RegisterBuiltin(metrics.NewRegistry())
		s, err := NewScheduler(SchedulerConfig{
			Scenarios: mustConfigs(t, `{"a":{"executor":"constant-arrival-rate","rate":5,"duration":"1s","preAllocatedVUs":1,"maxVUs":2}}`),
			NewVU:     rec.newVU, Samples: rec, Builtin: builtin, SystemTags: metrics.DefaultSystemTags,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)), RunTags: metrics.NewTagSet(map[string]string{"run": "x"}),
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.MaxVUs() != 2 || s.PlannedVUs() != 1 {
			t.Errorf("MaxVUs/PlannedVUs = %d/%d, want 2/1", s.MaxVUs(), s.PlannedVUs())
		}
		if err := s.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(logs.String(), "not enough VUs"); n != 1 {
			t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
		}
		// slots at 0, .2, .4, .6, .8, 1.0 with 2 VUs busy 1.1s each: 2 run, 4 dropped
		if got := rec.sum(builtin.DroppedIterations); got != 4 {
			t.Errorf("dropped = %v, want 4", got)
		}
		for _, smp := range rec.samples {
			if smp.Metric != builtin.DroppedIterations {
				continue
			}
			if want := "run:x,scenario:a"; smp.Tags.String() != want {
				t.Errorf("dropped_iterations tags %q, want %q", smp.Tags, want)
			}
		}
	})
}
