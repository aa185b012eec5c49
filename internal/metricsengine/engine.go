// Package metricsengine aggregates the samples of a run: it receives every
// sample VUs produce (Push), keeps per-metric and per-sub-metric aggregates in
// bounded memory, evaluates thresholds every two seconds and at the end,
// streams samples to the outputs, and hands the end-of-test aggregates to the
// summary.
package metricsengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/thresholds"
	"github.com/tallyhq/tally/metrics"
)

// DefaultEvaluationInterval is how often thresholds are evaluated during a run.
const DefaultEvaluationInterval = 2 * time.Second

// ExpectedResponseSubmetric is the sub-metric every run registers.
const ExpectedResponseSubmetric = metrics.HTTPReqDurationName + "{expected_response:true}"

// Output buffering: Push hands batches to the output flusher once a shard
// holds flushBatchSamples of them, and waits when it holds maxPendingSamples.
const (
	flushInterval     = 100 * time.Millisecond
	flushBatchSamples = 4096
	maxPendingSamples = 16384
)

// Config configures an Engine.
type Config struct {
	// Registry holds the run's metrics, custom ones included.
	Registry *metrics.Registry
	// Thresholds is options.Thresholds as written in the script.
	Thresholds map[string]json.RawMessage
	// NoThresholds (--no-thresholds) skips parsing and evaluation.
	NoThresholds bool
	// Outputs receive every sample; the engine starts and stops them.
	Outputs []Output
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// EvaluationInterval is the period of threshold evaluation during the
	// run; 0 means DefaultEvaluationInterval.
	EvaluationInterval time.Duration
	// Breakdown also aggregates every metric per group and per scenario
	// (the "group" and "scenario" tags) for the full text summary
	// (--summary-mode=full); see SummaryBreakdown. It costs two tag lookups
	// and a map access per sample, so leave it off otherwise.
	Breakdown bool
}

// submetric is a tag-filtered view of a metric: one per thresholds key with
// a selector, plus http_req_duration{expected_response:true}.
type submetric struct {
	idx    int
	key    string // name in the summary: the thresholds key as written
	suffix string // text between the braces
	parent *metrics.Metric
	tags   *metrics.TagSet
	sets   []*thresholds.Set
}

// thresholdState is the last result of one threshold.
type thresholdState struct {
	th        *thresholds.Threshold
	set       *thresholds.Set
	sub       *submetric // nil for a whole-metric threshold
	ok        bool
	value     float64
	evaluated bool
}

// Engine is a run's metrics engine. Create it with New after the init
// context registered the custom metrics; then Start, Push (concurrently),
// Stop, EvaluateThresholds, SummaryMetrics.
type Engine struct {
	reg    *metrics.Registry
	log    *slog.Logger
	now    func() time.Time
	period time.Duration

	shards       []*shard
	breakdown    bool
	breakKeys    sync.Map     // breakKey → struct{}: distinct group/scenario values seen
	breakCount   atomic.Int64 // entries in breakKeys
	breakWarned  atomic.Bool
	subs         []*submetric
	subsByMetric [][]*submetric // by Metric.Index
	// gaugeSeq orders gauge samples across shards; padded so that its
	// writes do not invalidate the read-mostly fields around it.
	_        [64]byte
	gaugeSeq atomic.Uint64
	_        [64]byte

	sets   []*thresholds.Set
	thMu   sync.Mutex
	states []*thresholdState

	outputs     []Output
	hasOutputs  bool
	flushAt     int
	maxPending  int
	kick        chan struct{}
	epoch       atomic.Uint64 // flush epoch, advanced by the flusher
	flusherStop chan struct{}
	flusherDone chan struct{}
	outFailed   []bool // by output; owned by the flusher
	outErr      error  // output errors; owned by the flusher until it exits

	startOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
	started   time.Time
	stopped   time.Time
	timeMu    sync.Mutex
	cancel    context.CancelFunc
	done      sync.WaitGroup
	aborted   atomic.Bool
}

var _ metrics.Pusher = (*Engine)(nil)

// New parses and validates the thresholds against the registry and starts
// the outputs. Threshold errors (malformed expression, unknown aggregation,
// aggregation invalid for the metric type, unknown metric, malformed {}
// selector) carry exitcode.InvalidConfig and name the metric and the
// expression; they are reported before any output file is created. An
// output that cannot start (a file that cannot be created) carries
// exitcode.Other (255). When New succeeds the caller must call Stop.
func New(cfg Config) (*Engine, error) {
	if cfg.Registry == nil {
		return nil, errors.New("metrics engine: no registry")
	}
	e := &Engine{
		reg:        cfg.Registry,
		log:        cfg.Logger,
		now:        cfg.Now,
		period:     cfg.EvaluationInterval,
		breakdown:  cfg.Breakdown,
		outputs:    cfg.Outputs,
		hasOutputs: len(cfg.Outputs) > 0,
		flushAt:    flushBatchSamples,
		maxPending: maxPendingSamples,
		kick:       make(chan struct{}, 1),
		outFailed:  make([]bool, len(cfg.Outputs)),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.period <= 0 {
		e.period = DefaultEvaluationInterval
	}
	if !cfg.NoThresholds && len(cfg.Thresholds) > 0 {
		sets, warnings, err := thresholds.Parse(cfg.Thresholds)
		for _, w := range warnings {
			e.log.Warn(w)
		}
		if err != nil {
			return nil, exitcode.With(exitcode.InvalidConfig, err)
		}
		if err := thresholds.Resolve(sets, e.reg); err != nil {
			return nil, exitcode.With(exitcode.InvalidConfig, err)
		}
		e.sets = sets
	}
	e.buildSubmetrics()
	e.shards = newShards(len(e.subs))
	if err := e.startOutputs(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) buildSubmetrics() {
	byKey := map[string]*submetric{}
	addSub := func(key string, parent *metrics.Metric, tags *metrics.TagSet) *submetric {
		if sub, ok := byKey[key]; ok {
			return sub
		}
		suffix := ""
		if i := strings.IndexByte(key, '{'); i >= 0 {
			suffix = strings.TrimSuffix(strings.TrimSpace(key[i+1:]), "}")
		}
		sub := &submetric{idx: len(e.subs), key: key, suffix: suffix, parent: parent, tags: tags}
		byKey[key] = sub
		e.subs = append(e.subs, sub)
		return sub
	}
	if m := e.reg.Get(metrics.HTTPReqDurationName); m != nil {
		addSub(ExpectedResponseSubmetric, m, metrics.NewTagSet(map[string]string{"expected_response": "true"}))
	}
	for _, set := range e.sets {
		var sub *submetric
		if set.Tags != nil {
			sub = addSub(set.Key, set.Metric, set.Tags)
			sub.sets = append(sub.sets, set)
		}
		for _, th := range set.Thresholds {
			e.states = append(e.states, &thresholdState{th: th, set: set, sub: sub})
		}
	}
	e.subsByMetric = make([][]*submetric, e.reg.Len())
	for _, sub := range e.subs {
		i := sub.parent.Index
		if i >= len(e.subsByMetric) {
			grown := make([][]*submetric, i+1)
			copy(grown, e.subsByMetric)
			e.subsByMetric = grown
		}
		e.subsByMetric[i] = append(e.subsByMetric[i], sub)
	}
}

// Describe returns the thresholds and sub-metrics of m, as the json output's
// metric definition lines show them.
func (e *Engine) Describe(m *metrics.Metric) metrics.Description {
	var info metrics.Description
	for _, set := range e.sets {
		if set.Metric == m && set.Tags == nil {
			for _, th := range set.Thresholds {
				info.Thresholds = append(info.Thresholds, th.Raw)
			}
		}
	}
	if m.Index < len(e.subsByMetric) {
		for _, sub := range e.subsByMetric[m.Index] {
			info.Submetrics = append(info.Submetrics, metrics.Submetric{Name: sub.key, Suffix: sub.suffix, Tags: sub.tags})
		}
	}
	return info
}

// Start records the start of the test (the origin of elapsed time for
// counter rates and delayAbortEval) and starts the periodic threshold
// evaluation. When a threshold with abortOnFail fails in a periodic pass,
// after its delayAbortEval of elapsed time, abort is called once with an
// error carrying exitcode.ThresholdsFailed. Start returns at once; ctx ends
// the periodic evaluation early. Calling Start again does nothing.
func (e *Engine) Start(ctx context.Context, abort func(error)) {
	e.startOnce.Do(func() {
		e.timeMu.Lock()
		e.started = e.now()
		e.timeMu.Unlock()
		if len(e.states) == 0 {
			return
		}
		ctx, e.cancel = context.WithCancel(ctx)
		e.done.Add(1)
		go func() {
			defer e.done.Done()
			t := time.NewTicker(e.period)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := e.evaluatePeriodic(); err != nil && abort != nil && e.aborted.CompareAndSwap(false, true) {
						abort(err)
					}
				}
			}
		}()
	})
}

// Stop ends the periodic evaluation, waits until every sample pushed before
// the call has reached the outputs, and flushes and closes the outputs. It
// returns the first output error. Later calls return the same result.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		e.timeMu.Lock()
		e.stopped = e.now()
		e.timeMu.Unlock()
		if e.cancel != nil {
			e.cancel()
		}
		e.done.Wait()
		e.stopErr = e.stopOutputs(ctx)
	})
	return e.stopErr
}

// elapsed returns the test time: from Start to Stop, or to now while running.
func (e *Engine) elapsed() time.Duration {
	e.timeMu.Lock()
	defer e.timeMu.Unlock()
	if e.started.IsZero() {
		return 0
	}
	end := e.stopped
	if end.IsZero() {
		end = e.now()
	}
	return end.Sub(e.started)
}

// evaluatePeriodic evaluates every threshold whose metric has samples and
// returns the abort error when an abortOnFail threshold failed past its
// delay.
func (e *Engine) evaluatePeriodic() error {
	snap := e.collect()
	elapsed := e.elapsed()
	e.thMu.Lock()
	defer e.thMu.Unlock()
	var aborting []string
	for _, st := range e.states {
		if e.evaluate(st, snap, elapsed, false) && !st.ok && st.th.AbortOnFail && elapsed >= st.th.DelayAbortEval {
			aborting = append(aborting, fmt.Sprintf("%q on %s", st.th.Source, st.set.Key))
		}
	}
	if len(aborting) == 0 {
		return nil
	}
	return exitcode.With(exitcode.ThresholdsFailed,
		fmt.Errorf("threshold %s failed and has abortOnFail set; stopping the test", strings.Join(aborting, ", ")))
}

// evaluate updates st from snap and reports whether it was evaluated.
func (e *Engine) evaluate(st *thresholdState, snap *snapshot, elapsed time.Duration, final bool) bool {
	var sink metrics.Sink
	if st.sub != nil {
		sink = snap.subs[st.sub.idx]
	} else if i := st.set.Metric.Index; i < len(snap.main) {
		sink = snap.main[i]
	}
	t := st.set.Metric.Type
	if sink != nil {
		sink = publicSink(t, sink)
	}
	ok, v, evaluated := st.th.Evaluate(t, sink, elapsed, final)
	if evaluated {
		st.ok, st.value, st.evaluated = ok, v, true
	}
	return evaluated
}

// EvaluateThresholds runs the final evaluation of every threshold over all
// samples pushed so far, at the test time from Start to Stop. Metrics
// without samples are evaluated as zeros, except that a Rate without
// samples passes. It reports whether any threshold failed; the caller maps
// that to exitcode.ThresholdsFailed.
func (e *Engine) EvaluateThresholds() (failed bool) {
	snap := e.collect()
	elapsed := e.elapsed()
	e.thMu.Lock()
	defer e.thMu.Unlock()
	for _, st := range e.states {
		e.evaluate(st, snap, elapsed, true)
		if !st.ok {
			failed = true
		}
	}
	return failed
}

// FailedThresholds returns "key: expression" for every threshold that
// failed at its last evaluation, sorted.
func (e *Engine) FailedThresholds() []string {
	e.thMu.Lock()
	defer e.thMu.Unlock()
	var out []string
	for _, st := range e.states {
		if st.evaluated && !st.ok {
			out = append(out, st.set.Key+": "+st.th.Source)
		}
	}
	sort.Strings(out)
	return out
}

// ThresholdStatus is one threshold at its last evaluation.
type ThresholdStatus struct {
	Metric    string  // the thresholds key as written, e.g. "http_req_duration{name:x}"
	Source    string  // the expression, e.g. "p(95)<500"
	OK        bool    // passed at the last evaluation
	Evaluated bool    // evaluated at least once (its metric had samples)
	Value     float64 // the statistic's value at the last evaluation
}

// ThresholdStatuses returns every threshold's state, in definition order.
// It is safe to call while the run goes on (the web dashboard polls it).
func (e *Engine) ThresholdStatuses() []ThresholdStatus {
	e.thMu.Lock()
	defer e.thMu.Unlock()
	out := make([]ThresholdStatus, 0, len(e.states))
	for _, st := range e.states {
		out = append(out, ThresholdStatus{Metric: st.set.Key, Source: st.th.Source, OK: st.ok || !st.evaluated,
			Evaluated: st.evaluated, Value: st.value})
	}
	return out
}
