package metricsengine

import (
	"time"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
)

// MetricData is one metric or sub-metric at the end of the test: its values
// by statistic ("count", "rate", "p(95)"...) and the result of each of its
// thresholds. The summary package has the same shape as MetricData,
// what handleSummary receives; runstate.SummaryMetrics converts. The engine
// owns its results, rather than filling the summary's types, so that the
// package that aggregates and the package that renders do not depend on each
// other.
type MetricData struct {
	Type     string
	Contains string
	Values   map[string]float64
	// Thresholds maps each threshold expression as written to its result;
	// nil when the metric has no thresholds.
	Thresholds map[string]ThresholdResult
}

// ThresholdResult is the outcome of one threshold expression at the last
// evaluation. Its fields are those of ThresholdResult, in the same
// order, so that one converts to the other.
type ThresholdResult struct {
	OK bool
	// Aggregation is the statistic the expression reads ("p(95)", "count").
	Aggregation string
	// Value is the statistic's value at the last evaluation.
	Value float64
	// Order is the expression's position in the metric's threshold list.
	Order int
}

// Breakdown is the run's metrics split by group and by scenario.
type Breakdown struct {
	Groups    map[string]map[string]*MetricData // by group path ("::a::b")
	Scenarios map[string]map[string]*MetricData // by scenario name
}

// SummaryMetrics returns the metrics of the handleSummary data: every metric
// with samples or thresholds, every sub-metric with thresholds under its
// thresholds key as written, http_req_duration{expected_response:true} when
// it has samples, and the threshold results of the last evaluation (call
// EvaluateThresholds first). elapsed is the test run duration (counter
// rates); trendStats are the trend statistics to compute (validate them with
// summary.ValidateTrendStats; nil means options.DefaultSummaryTrendStats).
func (e *Engine) SummaryMetrics(elapsed time.Duration, trendStats []string) map[string]*MetricData {
	if trendStats == nil {
		trendStats = options.DefaultSummaryTrendStats
	}
	snap := e.collect()
	out := map[string]*MetricData{}
	entry := func(name string, m *metrics.Metric, sink metrics.Sink) *MetricData {
		if d, ok := out[name]; ok {
			return d
		}
		d := &MetricData{
			Type:     m.Type.String(),
			Contains: m.Contains.String(),
			Values:   metrics.Values(publicSink(m.Type, sink), elapsed, trendStats),
		}
		out[name] = d
		return d
	}
	for _, m := range e.reg.All() {
		if m.Index < len(snap.main) && snap.main[m.Index] != nil && !snap.main[m.Index].IsEmpty() {
			entry(m.Name, m, snap.main[m.Index])
		}
	}
	for _, sub := range e.subs {
		sink := snap.subs[sub.idx]
		if len(sub.sets) > 0 || (sink != nil && !sink.IsEmpty()) {
			entry(sub.key, sub.parent, sink)
		}
	}
	e.thMu.Lock()
	defer e.thMu.Unlock()
	order := map[string]int{}
	for _, st := range e.states {
		m := st.set.Metric
		name := m.Name
		var sink metrics.Sink
		if st.sub != nil {
			name = st.sub.key
			sink = snap.subs[st.sub.idx]
		} else if m.Index < len(snap.main) {
			sink = snap.main[m.Index]
		}
		d := entry(name, m, sink)
		if d.Thresholds == nil {
			d.Thresholds = map[string]ThresholdResult{}
		}
		ok := st.ok || !st.evaluated
		d.Thresholds[st.th.Source] = ThresholdResult{
			OK: ok, Aggregation: st.th.AggName, Value: st.value, Order: order[name],
		}
		order[name]++
	}
	return out
}

// SummaryBreakdown returns every metric's aggregate per group path and per
// scenario name, in the form of SummaryMetrics (without thresholds), for the
// full text summary (runstate.SummaryBreakdown converts it). It returns nil
// unless the engine was created with Config.Breakdown.
func (e *Engine) SummaryBreakdown(elapsed time.Duration, trendStats []string) *Breakdown {
	if !e.breakdown {
		return nil
	}
	if trendStats == nil {
		trendStats = options.DefaultSummaryTrendStats
	}
	all := e.reg.All()
	out := &Breakdown{Groups: map[string]map[string]*MetricData{}, Scenarios: map[string]map[string]*MetricData{}}
	for i, byValue := range e.mergedBreakdown(len(all)) {
		dst := out.Groups
		if i == 1 {
			dst = out.Scenarios
		}
		for value, sinks := range byValue {
			for idx, sink := range sinks {
				if sink == nil || sink.IsEmpty() {
					continue
				}
				m := all[idx]
				if dst[value] == nil {
					dst[value] = map[string]*MetricData{}
				}
				dst[value][m.Name] = &MetricData{Type: m.Type.String(), Contains: m.Contains.String(),
					Values: metrics.Values(publicSink(m.Type, sink), elapsed, trendStats)}
			}
		}
	}
	return out
}

// mergedBreakdown merges the shards' per-group (index 0) and per-scenario
// (index 1) sinks; each slice is indexed by Metric.Index, n long.
func (e *Engine) mergedBreakdown(n int) [2]map[string][]metrics.Sink {
	all := e.reg.All()
	merged := [2]map[string][]metrics.Sink{{}, {}}
	for _, s := range e.shards {
		s.mu.Lock()
		for i, src := range [2]map[string]*breakSinks{s.groups, s.scenarios} {
			for value, bs := range src {
				dst := merged[i][value]
				if len(dst) < n {
					dst = append(dst, make([]metrics.Sink, n-len(dst))...)
				}
				for idx, sink := range bs.sinks {
					if idx < n && idx < len(all) {
						dst[idx] = mergeSink(all[idx].Type, dst[idx], sink)
					}
				}
				merged[i][value] = dst
			}
		}
		s.mu.Unlock()
	}
	return merged
}
