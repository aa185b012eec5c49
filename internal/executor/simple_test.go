package executor

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestSimpleExecutors(t *testing.T) {
	tests := []struct {
		name                   string
		scenarios              string
		iterDur                time.Duration
		completed, interrupted int
		dropped                float64
		elapsed                time.Duration
	}{
		{"shared 3 VUs 10 iterations", `{"a":{"executor":"shared-iterations","vus":3,"iterations":10}}`,
			100 * time.Millisecond, 10, 0, 0, 400 * time.Millisecond},
		{"per-vu 3x4", `{"a":{"executor":"per-vu-iterations","vus":3,"iterations":4}}`,
			100 * time.Millisecond, 12, 0, 0, 400 * time.Millisecond},
		{"constant-vus 2 VUs 1s", `{"a":{"executor":"constant-vus","vus":2,"duration":"1s"}}`,
			300 * time.Millisecond, 8, 0, 0, 1200 * time.Millisecond},
		{"constant-vus gracefulStop 0 interrupts", `{"a":{"executor":"constant-vus","vus":2,"duration":"1s","gracefulStop":0}}`,
			300 * time.Millisecond, 6, 2, 0, time.Second},
		// 0.6s iterations, maxDuration 1s (measured on k6): gracefulStop 0 → 1 done + 1 dropped
		{"per-vu maxDuration gracefulStop 0", `{"a":{"executor":"per-vu-iterations","iterations":3,"maxDuration":"1s","gracefulStop":"0s"}}`,
			600 * time.Millisecond, 1, 1, 1, time.Second},
		// gracefulStop 1s → 2 done + 1 dropped
		{"per-vu maxDuration gracefulStop 1s", `{"a":{"executor":"per-vu-iterations","iterations":3,"maxDuration":"1s","gracefulStop":"1s"}}`,
			600 * time.Millisecond, 2, 0, 1, 1200 * time.Millisecond},
		{"shared maxDuration gracefulStop 0", `{"a":{"executor":"shared-iterations","iterations":3,"maxDuration":"1s","gracefulStop":"0s"}}`,
			600 * time.Millisecond, 1, 1, 1, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := runScenarios(t, t.Context(), tc.scenarios, "", "", func(uint64, *Iteration) time.Duration { return tc.iterDur })
				c, i := r.rec.counts()
				if c != tc.completed || i != tc.interrupted {
					t.Errorf("completed/interrupted = %d/%d, want %d/%d", c, i, tc.completed, tc.interrupted)
				}
				if got := r.rec.sum(r.builtin.DroppedIterations); got != tc.dropped {
					t.Errorf("dropped = %v, want %v", got, tc.dropped)
				}
				if r.elapsed != tc.elapsed {
					t.Errorf("elapsed = %v, want %v", r.elapsed, tc.elapsed)
				}
				st := r.sched.State()
				if st.IterationsCompleted.Load() != int64(c) || st.IterationsInterrupted.Load() != int64(i) {
					t.Errorf("state counts %d/%d, fake VUs saw %d/%d", st.IterationsCompleted.Load(), st.IterationsInterrupted.Load(), c, i)
				}
				if st.VUsActive.Load() != 0 {
					t.Errorf("VUsActive = %d after the run", st.VUsActive.Load())
				}
			})
		})
	}
}

func TestRunHardStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		r := runScenarios(t, ctx, `{"a":{"executor":"constant-vus","vus":2,"duration":"1m"}}`, "", "",
			func(uint64, *Iteration) time.Duration { return time.Second })
		if r.err != nil {
			t.Errorf("Run = %v after a hard stop, want nil", r.err)
		}
		if r.elapsed != 1500*time.Millisecond {
			t.Errorf("elapsed = %v, want 1.5s", r.elapsed)
		}
		c, i := r.rec.counts()
		if c != 2 || i != 2 {
			t.Errorf("completed/interrupted = %d/%d, want 2/2", c, i)
		}
	})
}

func TestEachLoopKeepsItsVU(t *testing.T) {
	// Instant iterations: a loop that finishes before another has started
	// must not lend its VU to it (case 02: VU ids 1..3, 4 iterations each).
	for _, cfg := range []string{
		`{"executor":"per-vu-iterations","vus":3,"iterations":4}`,
		`{"executor":"constant-vus","vus":3,"duration":"1s"}`,
	} {
		synctest.Test(t, func(t *testing.T) {
			r := runScenarios(t, t.Context(), `{"a":`+cfg+`}`, "", "", func(_ uint64, it *Iteration) time.Duration {
				if it.Scenario.Executor == "constant-vus" {
					return 100 * time.Millisecond
				}
				return 0
			})
			per := map[uint64]int{}
			for _, it := range r.rec.iters {
				per[it.vu]++
			}
			if len(per) != 3 {
				t.Errorf("%s: iterations per VU %v, want 3 VUs", cfg, per)
			}
		})
	}
}
