package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
)

// fakeVU runs iterations as plain Go: each iteration sleeps for the
// duration fn returns (0 = a tiny default so loops advance fake time).
type fakeVU struct {
	id, idInTest uint64
	rec          *recorder
	released     int
}

func (v *fakeVU) ID() uint64 { return v.id }

func (v *fakeVU) Release() {
	v.rec.mu.Lock()
	v.released++
	v.rec.mu.Unlock()
}

func (v *fakeVU) RunIteration(ctx context.Context, it *Iteration) bool {
	start := time.Now()
	v.rec.started(v, it, start)
	d := v.rec.iterDur(v, it)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		v.rec.finished(v, it, false)
		return false
	case <-t.C:
		v.rec.finished(v, it, true)
		return true
	}
}

// iterRecord is one iteration as a fake VU saw it.
type iterRecord struct {
	scenario            string
	vu, vuInTest        uint64
	inInstance, inTest  uint64
	start               time.Duration // since the recorder's origin
	completed, finished bool
}

// recorder collects what fake VUs did and the samples pushed.
type recorder struct {
	mu      sync.Mutex
	origin  time.Time
	dur     func(vu uint64, it *Iteration) time.Duration
	iters   []*iterRecord
	open    map[*Iteration]*iterRecord
	samples metrics.Samples
	created []uint64 // idInTest of every VU created
	vus     []*fakeVU
}

func newRecorder(dur func(vu uint64, it *Iteration) time.Duration) *recorder {
	if dur == nil {
		dur = func(uint64, *Iteration) time.Duration { return 100 * time.Millisecond }
	}
	return &recorder{origin: time.Now(), dur: dur, open: map[*Iteration]*iterRecord{}}
}

func (r *recorder) iterDur(v *fakeVU, it *Iteration) time.Duration { return r.dur(v.id, it) }

func (r *recorder) started(v *fakeVU, it *Iteration, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := &iterRecord{scenario: it.Scenario.Name, vu: v.id, vuInTest: v.idInTest,
		inInstance: it.InInstance, inTest: it.InTest, start: at.Sub(r.origin)}
	r.iters = append(r.iters, rec)
	r.open[it] = rec
}

func (r *recorder) finished(_ *fakeVU, it *Iteration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.open[it]
	delete(r.open, it)
	rec.finished, rec.completed = true, ok
}

func (r *recorder) newVU(_ context.Context, id, idInTest uint64) (VU, error) {
	v := &fakeVU{id: id, idInTest: idInTest, rec: r}
	r.mu.Lock()
	r.created = append(r.created, idInTest)
	r.vus = append(r.vus, v)
	r.mu.Unlock()
	return v, nil
}

func (r *recorder) Push(s metrics.Samples) {
	r.mu.Lock()
	r.samples = append(r.samples, s...)
	r.mu.Unlock()
}

// counts returns completed and interrupted iterations.
func (r *recorder) counts() (completed, interrupted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range r.iters {
		if it.completed {
			completed++
		} else {
			interrupted++
		}
	}
	return
}

// sum returns the total value of the samples of metric m.
func (r *recorder) sum(m *metrics.Metric) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s float64
	for _, x := range r.samples {
		if x.Metric == m {
			s += x.Value
		}
	}
	return s
}

func (r *recorder) starts() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, len(r.iters))
	for i, it := range r.iters {
		out[i] = it.start
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (r *recorder) inTests() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, 0, len(r.iters))
	for _, it := range r.iters {
		out = append(out, it.inTest)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// mustConfigs parses scenarios given as JSON text.
func mustConfigs(t testing.TB, scenarios string) []Config {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(scenarios), &raw); err != nil {
		t.Fatal(err)
	}
	cfgs, err := Derive(options.Options{Scenarios: raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfgs
}

// testRun is the outcome of running scenarios with fake VUs.
type testRun struct {
	rec     *recorder
	sched   *Scheduler
	builtin *metrics.Builtin
	elapsed time.Duration
	err     error
}

// runScenarios runs the scenarios on segment seg of sequence seq with fake
// VUs; call it inside a synctest bubble.
func runScenarios(t testing.TB, ctx context.Context, scenarios, seg, seq string, dur func(uint64, *Iteration) time.Duration) *testRun {
	t.Helper()
	rec := newRecorder(dur)
	builtin := metrics.RegisterBuiltin(metrics.NewRegistry())
	s, err := NewScheduler(SchedulerConfig{Scenarios: mustConfigs(t, scenarios), Segment: seg, Sequence: seq,
		NewVU: rec.newVU, Samples: rec, Builtin: builtin, SystemTags: metrics.DefaultSystemTags})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec.origin = start
	err = s.Run(ctx)
	return &testRun{rec: rec, sched: s, builtin: builtin, elapsed: time.Since(start), err: err}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func sqrt(x float64) float64 { return math.Sqrt(x) }
func abs(x float64) float64  { return math.Abs(x) }
