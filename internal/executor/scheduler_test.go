package executor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tallyhq/tally/internal/progress"
	"github.com/tallyhq/tally/metrics"
)

func TestPlannedVUs(t *testing.T) {
	tests := []struct {
		name      string
		scenarios string
		planned   int64
		max       int64
	}{
		{"side by side", `{"a":{"executor":"constant-vus","vus":3,"duration":"2s"},"b":{"executor":"per-vu-iterations","vus":2}}`, 5, 5},
		{"sequential reuse", `{"a":{"executor":"constant-vus","vus":3,"duration":"2s","gracefulStop":"1s"},
			"b":{"executor":"constant-vus","vus":2,"duration":"2s","startTime":"3s"}}`, 3, 3},
		{"overlap through gracefulStop", `{"a":{"executor":"constant-vus","vus":3,"duration":"2s"},
			"b":{"executor":"constant-vus","vus":2,"duration":"2s","startTime":"3s"}}`, 5, 5},
		{"arrival rate unplanned", `{"a":{"executor":"constant-arrival-rate","rate":5,"duration":"2s","preAllocatedVUs":2,"maxVUs":10}}`, 2, 10},
		{"ramping peak", `{"a":{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"2s","target":6},{"duration":"2s","target":0}]},
			"b":{"executor":"constant-vus","vus":1,"duration":"1s"}}`, 7, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, tc.scenarios), NewVU: newRecorder(nil).newVU})
			if err != nil {
				t.Fatal(err)
			}
			if s.PlannedVUs() != tc.planned || s.MaxVUs() != tc.max {
				t.Errorf("planned/max = %d/%d, want %d/%d", s.PlannedVUs(), s.MaxVUs(), tc.planned, tc.max)
			}
		})
	}
}

func TestMultipleScenarios(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// case 28, plus startTime, env and tags
		r := runScenarios(t, t.Context(), `{
			"alpha":{"executor":"shared-iterations","vus":2,"iterations":5,"exec":"alpha","tags":{"k":"v"}},
			"beta":{"executor":"per-vu-iterations","vus":2,"iterations":3,"exec":"beta","env":{"X":"1"},"startTime":"1s"}}`,
			"", "", nil)
		perScenario := map[string]int{}
		var betaEarly bool
		for _, it := range r.rec.iters {
			perScenario[it.scenario]++
			if it.scenario == "beta" && it.start < time.Second {
				betaEarly = true
			}
		}
		if perScenario["alpha"] != 5 || perScenario["beta"] != 6 {
			t.Errorf("iterations per scenario %v, want alpha 5, beta 6", perScenario)
		}
		if betaEarly {
			t.Error("beta started before its startTime")
		}
		// VUs are planned by maxDuration (10m): alpha's 2 cannot be lent to beta
		if len(r.rec.created) != 4 {
			t.Errorf("%d VUs created, want 4", len(r.rec.created))
		}
		scs := r.sched.Scenarios()
		if len(scs) != 2 || scs[0].Name != "alpha" || scs[1].Name != "beta" {
			t.Fatalf("scenarios %v", scs)
		}
		if got := scs[0].Tags.String(); got != "k:v,scenario:alpha" {
			t.Errorf("alpha tags %q", got)
		}
		if scs[1].Exec != "beta" || scs[1].Env["X"] != "1" || scs[1].Executor != "per-vu-iterations" {
			t.Errorf("beta = %+v", scs[1])
		}
		if d := scs[1].StartTime().Sub(scs[0].StartTime()); d != time.Second {
			t.Errorf("beta started %v after alpha, want 1s", d)
		}
		if p := scs[0].Progress(); p != 1 {
			t.Errorf("alpha progress %v, want 1", p)
		}
	})
}

func TestVUsReusedAcrossScenarios(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := runScenarios(t, t.Context(), `{
			"a":{"executor":"constant-vus","vus":3,"duration":"1s","gracefulStop":"200ms"},
			"b":{"executor":"constant-vus","vus":2,"duration":"1s","startTime":"1200ms"}}`, "", "",
			func(uint64, *Iteration) time.Duration { return 110 * time.Millisecond })
		if len(r.rec.created) != 3 {
			t.Errorf("%d VUs created, want 3", len(r.rec.created))
		}
		if c, i := r.rec.counts(); c != 50 || i != 0 {
			t.Errorf("completed/interrupted = %d/%d, want 50/0", c, i)
		}
	})
}

func TestScenarioTagFollowsSystemTags(t *testing.T) {
	s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, `{"a":{"executor":"per-vu-iterations","tags":{"k":"v"}}}`),
		NewVU: newRecorder(nil).newVU, SystemTags: metrics.DefaultSystemTags &^ metrics.SystemTagSet(metrics.TagScenario)})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Scenarios()[0].Tags.String(); got != "k:v" {
		t.Errorf("tags %q, want k:v", got)
	}
}

func TestGauges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(func(uint64, *Iteration) time.Duration { return 110 * time.Millisecond })
		builtin := metrics.RegisterBuiltin(metrics.NewRegistry())
		runTags := metrics.NewTagSet(map[string]string{"env": "ci"})
		s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, `{
			"a":{"executor":"constant-vus","vus":2,"duration":"3500ms"},
			"b":{"executor":"constant-vus","vus":3,"duration":"1500ms","tags":{"x":"y"}}}`),
			NewVU: rec.newVU, Samples: rec, Builtin: builtin, RunTags: runTags, SystemTags: metrics.DefaultSystemTags})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		var vus, vusMax []float64
		for _, smp := range rec.samples {
			switch smp.Metric {
			case builtin.VUs:
				vus = append(vus, smp.Value)
			case builtin.VUsMax:
				vusMax = append(vusMax, smp.Value)
			default:
				continue
			}
			if !smp.Tags.Equal(runTags) {
				t.Errorf("%s tags %q, want only the run tags", smp.Metric.Name, smp.Tags)
			}
		}
		// samples at 1s, 2s, 3s (the run ends at ~3.5s)
		if want := []float64{5, 2, 2}; !equalF(vus, want) {
			t.Errorf("vus = %v, want %v", vus, want)
		}
		if want := []float64{5, 5, 5}; !equalF(vusMax, want) {
			t.Errorf("vus_max = %v, want %v", vusMax, want)
		}
	})
}

func equalF(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestInitErrorUnchanged(t *testing.T) {
	boom := errors.New("boom")
	s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, `{"a":{"executor":"per-vu-iterations","vus":8}}`),
		NewVU: func(_ context.Context, id, _ uint64) (VU, error) {
			if id == 5 {
				return nil, boom
			}
			return &fakeVU{id: id}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(t.Context()); err != boom {
		t.Errorf("Init = %v, want the NewVU error itself", err)
	}
}

func TestHardStopEveryExecutor(t *testing.T) {
	tests := []struct {
		cfg       string
		noDropped bool // iteration executors record nothing dropped on a hard stop
	}{
		{`{"executor":"shared-iterations","vus":2,"iterations":100}`, true},
		{`{"executor":"per-vu-iterations","vus":2,"iterations":100}`, true},
		{`{"executor":"constant-vus","vus":2,"duration":"1m"}`, true},
		{`{"executor":"ramping-vus","stages":[{"duration":"1m","target":4}]}`, true},
		{`{"executor":"constant-arrival-rate","rate":2,"duration":"1m","preAllocatedVUs":1,"maxVUs":5}`, false},
		{`{"executor":"ramping-arrival-rate","startRate":2,"stages":[{"duration":"1m","target":4}],"preAllocatedVUs":1,"maxVUs":5}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.cfg, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
				defer cancel()
				r := runScenarios(t, ctx, `{"a":`+tc.cfg+`}`, "", "", func(uint64, *Iteration) time.Duration { return time.Second })
				if r.err != nil || r.elapsed != 2500*time.Millisecond {
					t.Errorf("Run = %v after %v, want nil after 2.5s", r.err, r.elapsed)
				}
				if _, i := r.rec.counts(); i == 0 {
					t.Error("no iteration was interrupted")
				}
				if got := r.rec.sum(r.builtin.DroppedIterations); tc.noDropped && got != 0 {
					t.Errorf("dropped %v on a hard stop", got)
				}
				if a := r.sched.State().VUsActive.Load(); a != 0 {
					t.Errorf("VUsActive = %d after the run", a)
				}
			})
		})
	}
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := runScenarios(t, t.Context(), `{"a":{"executor":"per-vu-iterations"}}`, "", "", nil)
		if err := r.sched.Run(t.Context()); err == nil {
			t.Error("second Run succeeded")
		}
		if err := r.sched.Init(t.Context()); err == nil {
			t.Error("second Init succeeded")
		}
	})
	s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, `{"a":{"executor":"per-vu-iterations"}}`), NewVU: newRecorder(nil).newVU})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err == nil {
		t.Error("Run before Init succeeded")
	}
}

func TestSkippedScenario(t *testing.T) {
	// 1 VU split in halves: the second half has no VU, so no work.
	synctest.Test(t, func(t *testing.T) {
		r := runScenarios(t, t.Context(), `{"a":{"executor":"constant-vus","vus":1,"duration":"1s"}}`, "1/2:1", "", nil)
		if c, _ := r.rec.counts(); c != 0 || r.elapsed != 0 || r.sched.PlannedVUs() != 0 {
			t.Errorf("%d iterations in %v with %d VUs; want a skipped scenario", c, r.elapsed, r.sched.PlannedVUs())
		}
	})
}

func TestProgressOutput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		rec := newRecorder(nil)
		s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, `{
			"a":{"executor":"shared-iterations","vus":2,"iterations":10},
			"b":{"executor":"constant-vus","vus":1,"duration":"1s"}}`),
			Segment: "1/2:1", NewVU: rec.newVU, Progress: progress.Config{Out: &out, NoColor: true}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		// one final plain line (the run is shorter than the 5s interval)
		got := out.String()
		for _, want := range []string{"iterations 5 completed", "a done 100% (00.5s/10m00s, 1 VUs, 5/5 shared iterations)",
			"b skipped 0%", "no work in this execution segment"} {
			if !strings.Contains(got, want) {
				t.Errorf("progress %q lacks %q", got, want)
			}
		}
		if strings.Count(got, "\n") != 1 {
			t.Errorf("%d lines, want 1", strings.Count(got, "\n"))
		}
	})
}

func TestProgressMidRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		rec := newRecorder(func(uint64, *Iteration) time.Duration { return 110 * time.Millisecond })
		s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, `{
			"si":{"executor":"shared-iterations","vus":2,"iterations":20},
			"pv":{"executor":"per-vu-iterations","vus":2,"iterations":10},
			"cv":{"executor":"constant-vus","vus":1,"duration":"2s"},
			"rv":{"executor":"ramping-vus","stages":[{"duration":"2s","target":3}]},
			"car":{"executor":"constant-arrival-rate","rate":10,"duration":"2s","preAllocatedVUs":1,"maxVUs":3},
			"rar":{"executor":"ramping-arrival-rate","startRate":10,"stages":[{"duration":"2s","target":10}],"preAllocatedVUs":2}}`),
			NewVU: rec.newVU, Progress: progress.Config{Out: &out, NoColor: true, LineInterval: 1150 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		var mid []float64
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(time.Second + 5*time.Millisecond)
			for _, sc := range s.Scenarios() {
				mid = append(mid, sc.Progress())
			}
		}()
		if err := s.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-done
		// car, cv, pv, rar, rv, si: time-based ones are half done at 1s;
		// iteration-based ones count completed iterations (pv 9+9 of 20,
		// si 18 of 20 at 1s with 2 VUs and 110ms iterations)
		want := []float64{0.5025, 0.5025, 0.9, 0.5025, 0.5025, 0.9}
		for i, w := range want {
			if abs(mid[i]-w) > 1e-9 {
				t.Errorf("%s progress at 1s = %v, want %v", s.Scenarios()[i].Name, mid[i], w)
			}
		}
		first, _, _ := strings.Cut(out.String(), "\n")
		// the first line comes at 1.15s, away from any step or iteration end
		for _, frag := range []string{"si done 100%", "20/20 shared iterations", "pv done 100%", "20/20 iterations (10 each)",
			"cv running", "1 VUs, 11 iterations", "rv running", "2/3 VUs", "car running", "10/1s,", "rar running", "up to 10/1s,"} {
			if !strings.Contains(first, frag) {
				t.Errorf("first status line %q lacks %q", first, frag)
			}
		}
	})
}

func TestProgressShowsGracefulStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		rec := newRecorder(func(uint64, *Iteration) time.Duration { return 1500 * time.Millisecond })
		s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, `{"a":{"executor":"constant-vus","duration":"1s"}}`),
			NewVU: rec.newVU, Progress: progress.Config{Out: &out, NoColor: true, LineInterval: 1200 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "a stopping 100%") || !strings.Contains(lines[1], "a done 100%") {
			t.Errorf("progress lines %q", lines)
		}
	})
}

// TestReleaseVUs: once Run has returned, ReleaseVUs drops every VU the run
// created (planned ones and those an arrival-rate scenario added on
// demand), releasing each exactly once, also after an interrupted run.
func TestReleaseVUs(t *testing.T) {
	for _, interrupt := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if interrupt {
				time.AfterFunc(1500*time.Millisecond, cancel)
			}
			r := runScenarios(t, ctx, `{
				"ramp":{"executor":"ramping-vus","stages":[{"duration":"2s","target":3},{"duration":"1s","target":0}]},
				"rate":{"executor":"constant-arrival-rate","rate":20,"timeUnit":"1s","duration":"2s",
					"preAllocatedVUs":1,"maxVUs":4,"startTime":"1s"}}`,
				"", "", func(uint64, *Iteration) time.Duration { return 300 * time.Millisecond })
			if r.err != nil {
				t.Fatal(r.err)
			}
			if n := r.sched.ReleaseVUs(); n != len(r.rec.created) || n < 4 {
				t.Errorf("interrupt %v: ReleaseVUs dropped %d VUs, created %d (want all, at least 4)", interrupt, n, len(r.rec.created))
			}
			for _, v := range r.rec.vus {
				if v.released != 1 {
					t.Errorf("interrupt %v: VU %d released %d times, want once", interrupt, v.id, v.released)
				}
			}
			if n := r.sched.ReleaseVUs(); n != 0 {
				t.Errorf("a second ReleaseVUs dropped %d VUs, want 0", n)
			}
		})
	}
}
