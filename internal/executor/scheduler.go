package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/internal/progress"
	"github.com/tallyhq/tally/metrics"
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Scenarios are the validated scenario configs (see Derive).
	Scenarios []Config
	// Segment is this instance's execution segment in k6 syntax ("1/2:1");
	// "" runs the whole test.
	Segment string
	// Sequence is the execution segment sequence ("0,1/2,1"); "" derives
	// it from Segment.
	Sequence string
	// NewVU initializes VUs; required.
	NewVU NewVUFunc
	// Samples receives vus, vus_max and dropped_iterations samples; nil
	// discards them.
	Samples metrics.Pusher
	// Builtin are the run's built-in metrics; nil disables the samples above.
	Builtin *metrics.Builtin
	// RunTags (--tag, options.tags) go on every sample the scheduler emits.
	RunTags *metrics.TagSet
	// SystemTags are the enabled system tags; the scenario tag is added to
	// Scenario.Tags only when TagScenario is enabled.
	SystemTags metrics.SystemTagSet
	// Logger receives warnings (e.g. maxVUs reached); nil discards them.
	Logger *slog.Logger
	// Progress says where live progress goes; the zero value shows none.
	Progress progress.Config
	// GaugeInterval is how often vus and vus_max are sampled; 0 = 1s.
	GaugeInterval time.Duration
}

// Scheduler runs the scenarios of a test on this instance: it initializes
// the VU pool, starts every scenario at its startTime, emits the vus and
// vus_max gauges, and shows progress.
type Scheduler struct {
	cfg       SchedulerConfig
	tuple     *Tuple
	state     *State
	pool      *pool
	runs      []*scenarioRun
	scenarios []*Scenario
	planned   int64
	maxVUs    int64
	runOnce   sync.Once
	inited    atomic.Bool
}

type scenarioRun struct {
	cfg    Config
	sc     *Scenario
	exec   executor // nil when the scenario has no work on this instance
	status atomicString
}

// NewScheduler validates the segment settings and plans the VUs. Errors
// about the segment are *SegmentError.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.NewVU == nil {
		return nil, errors.New("scheduler: NewVU is required")
	}
	if cfg.Samples == nil {
		cfg.Samples = metrics.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GaugeInterval <= 0 {
		cfg.GaugeInterval = time.Second
	}
	seg, err := ParseSegment(cfg.Segment)
	if err != nil {
		return nil, err
	}
	seq, err := ParseSequence(cfg.Sequence)
	if err != nil {
		return nil, err
	}
	tuple, err := NewTuple(seg, seq)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, tuple: tuple, state: &State{}}
	s.pool = newPool(cfg.NewVU, tuple, s.state)
	env := &runEnv{pool: s.pool, state: s.state, samples: cfg.Samples, builtin: cfg.Builtin,
		runTags: cfg.RunTags, logger: cfg.Logger}

	cfgs := append([]Config(nil), cfg.Scenarios...)
	sort.SliceStable(cfgs, func(i, j int) bool {
		a, b := cfgs[i].Common().StartTime, cfgs[j].Common().StartTime
		if a != b {
			return a < b
		}
		return cfgs[i].Name() < cfgs[j].Name()
	})
	var plans []planned
	for _, c := range cfgs {
		cc := c.Common()
		tags := metrics.NewTagSet(cc.Tags)
		if cfg.SystemTags.Has(metrics.TagScenario) {
			tags = tags.With("scenario", c.Name())
		}
		sc := &Scenario{Name: c.Name(), Executor: c.Type(), Exec: cc.Exec, Env: cc.Env, Tags: tags}
		r := &scenarioRun{cfg: c, sc: sc}
		steps, unplanned := c.requirement(tuple)
		if hasWork(steps, unplanned) {
			plans = append(plans, planned{offset: cc.StartTime.D(), steps: steps})
			s.maxVUs += unplanned
			r.exec = c.newExecutor(tuple, env, sc)
			r.status.Store("waiting")
		} else {
			r.status.Store("skipped")
		}
		s.runs = append(s.runs, r)
		s.scenarios = append(s.scenarios, sc)
	}
	s.planned = peakVUs(plans)
	s.maxVUs += s.planned
	return s, nil
}

func hasWork(steps []step, unplanned int64) bool {
	if unplanned > 0 {
		return true
	}
	for _, st := range steps {
		if st.vus > 0 {
			return true
		}
	}
	return false
}

// State returns the run-wide counters.
func (s *Scheduler) State() *State { return s.state }

// Scenarios returns the run-time view of every scenario, ordered by
// startTime then name. Scenarios without work on this instance are
// included; they never start.
func (s *Scheduler) Scenarios() []*Scenario { return s.scenarios }

// PlannedVUs returns the number of VUs Init initializes: the peak number of
// VUs the scenarios need at the same time.
func (s *Scheduler) PlannedVUs() int64 { return s.planned }

// MaxVUs returns the planned VUs plus every VU the arrival-rate scenarios
// may initialize on demand (up to their maxVUs).
func (s *Scheduler) MaxVUs() int64 { return s.maxVUs }

// Init initializes the planned VUs, several at a time. An error of NewVU is
// returned unchanged.
func (s *Scheduler) Init(ctx context.Context) error {
	if !s.inited.CompareAndSwap(false, true) {
		return errors.New("scheduler: Init called twice")
	}
	return s.pool.init(ctx, s.planned)
}

// Run runs every scenario, each starting at its startTime relative to
// Run's start, and returns when all have ended. When ctx is done the run
// stops at once: scenarios not started yet never start, in-flight
// iterations are interrupted (their VU returns false) and Run returns as
// soon as every VU has given up; the caller knows why it cancelled ctx, so
// that is not an error. Run may be called once; a second call returns an
// error.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.inited.Load() {
		return errors.New("scheduler: Run called before Init")
	}
	err := errors.New("scheduler: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Scheduler) run(ctx context.Context) error {
	start := time.Now()
	s.state.MarkStarted(start)

	aux, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	var auxWG sync.WaitGroup
	auxWG.Add(2)
	go func() { defer auxWG.Done(); s.emitGauges(aux) }()
	go func() {
		defer auxWG.Done()
		progress.New(s.cfg.Progress, s.header, s.bars).Run(aux)
	}()

	var wg sync.WaitGroup
	for _, r := range s.runs {
		if r.exec == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := start.Add(r.cfg.Common().StartTime.D())
			if !sleepUntil(ctx, at) {
				r.status.Store("stopped")
				return
			}
			r.sc.SetStartTime(time.Now())
			r.status.Store("running")
			r.exec.run(ctx, at)
			r.exec.finish()
			if ctx.Err() != nil {
				r.status.Store("stopped")
			} else {
				r.status.Store("done")
			}
		}()
	}
	wg.Wait()
	stopAux()
	auxWG.Wait()
	return nil
}

// ReleaseVUs drops the pool's VUs once Run has returned, so that what they
// hold (JS runtimes, connections) can be freed before teardown runs on a VU
// of its own. A VU that has a Release method (the JS VU) is released first.
// It returns how many VUs it dropped; the scheduler hands out none after it.
func (s *Scheduler) ReleaseVUs() int {
	return s.pool.releaseAll()
}

// emitGauges samples vus and vus_max every GaugeInterval.
func (s *Scheduler) emitGauges(ctx context.Context) {
	if s.cfg.Builtin == nil {
		return
	}
	t := time.NewTicker(s.cfg.GaugeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.cfg.Samples.Push(metrics.Samples{
				{Metric: s.cfg.Builtin.VUs, Time: now, Value: float64(s.state.VUsActive.Load()), Tags: s.cfg.RunTags},
				{Metric: s.cfg.Builtin.VUsMax, Time: now, Value: float64(s.state.VUsInitialized.Load()), Tags: s.cfg.RunTags},
			})
		}
	}
}

func (s *Scheduler) header() string {
	return fmt.Sprintf("elapsed %s  VUs %d active, %d initialized  iterations %d completed, %d interrupted",
		fmtDur(s.state.CurrentTestRunDuration()), s.state.VUsActive.Load(), s.state.VUsInitialized.Load(),
		s.state.IterationsCompleted.Load(), s.state.IterationsInterrupted.Load())
}

func (s *Scheduler) bars() []progress.Bar {
	out := make([]progress.Bar, 0, len(s.runs))
	for _, r := range s.runs {
		var b progress.Bar
		if r.exec != nil {
			b = r.exec.bar()
		} else {
			b.Detail = "no work in this execution segment"
		}
		b.Name = r.sc.Name
		b.State = r.status.Load()
		if b.State == "running" && !r.sc.StartTime().IsZero() && time.Since(r.sc.StartTime()) > r.cfg.RegularDuration() {
			b.State = "stopping" // in its gracefulStop
		}
		out = append(out, b)
	}
	return out
}

// sleepUntil waits until t; it returns false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// waiter sleeps until points in time with one reusable timer (the
// arrival-rate slot loop waits thousands of times per second).
type waiter struct{ t *time.Timer }

func newWaiter() *waiter {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{t: t}
}

// until waits until at; it returns false when ctx ended first. A time in
// the past returns at once, so a late loop catches up without drifting.
func (w *waiter) until(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	w.t.Reset(d)
	select {
	case <-ctx.Done():
		w.t.Stop()
		return false
	case <-w.t.C:
		return true
	}
}

func (w *waiter) stop() { w.t.Stop() }

// atomicString is a string safe for concurrent use.
type atomicString struct {
	mu sync.Mutex
	s  string
}

func (a *atomicString) Store(s string) { a.mu.Lock(); a.s = s; a.mu.Unlock() }
func (a *atomicString) Load() string   { a.mu.Lock(); defer a.mu.Unlock(); return a.s }
