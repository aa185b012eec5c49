package metricsengine

import (
	"fmt"
	"sort"
	"time"

	"github.com/tallyhq/tally/metrics"
)

// MetricState is the mergeable end-of-run aggregate of one metric: its
// whole-metric sink, its sub-metrics' sinks by thresholds key, and, when the
// engine collected the breakdown, its sinks per group path and per scenario.
// States of several instances of a run merge into the state one instance
// running the whole test would have had (see ImportStates).
type MetricState struct {
	Name       string                `json:"name"`
	Type       string                `json:"type"`
	Contains   string                `json:"contains"`
	Sink       *SinkState            `json:"sink,omitempty"`
	Submetrics map[string]*SinkState `json:"submetrics,omitempty"`
	Groups     map[string]*SinkState `json:"groups,omitempty"`
	Scenarios  map[string]*SinkState `json:"scenarios,omitempty"`
}

// SinkState is one aggregate; exactly one field is set, by metric type.
// Trends carry their exact values (up to metrics.ExactTrendLimit) or their
// DDSketch.
type SinkState struct {
	Counter *metrics.CounterSink `json:"counter,omitempty"`
	Gauge   *GaugeState          `json:"gauge,omitempty"`
	Rate    *metrics.RateSink    `json:"rate,omitempty"`
	Trend   *metrics.TrendSink   `json:"trend,omitempty"`
}

// GaugeState is a gauge's last value and extremes.
type GaugeState struct {
	Value float64 `json:"value"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
}

// AdditiveGauges are the built-in gauges whose values are per-instance
// shares of a whole (active and allocated VUs): merged, instances' values
// add up. Any other gauge keeps the last value of the instance that ended
// last and the extremes of all.
var AdditiveGauges = map[string]bool{metrics.VUsName: true, metrics.VUsMaxName: true}

func stateOf(sink metrics.Sink) *SinkState {
	if sink == nil || sink.IsEmpty() {
		return nil
	}
	switch s := sink.(type) {
	case *metrics.CounterSink:
		c := *s
		return &SinkState{Counter: &c}
	case *gaugeSink:
		return &SinkState{Gauge: &GaugeState{Value: s.value, Min: s.min, Max: s.max}}
	case *metrics.RateSink:
		r := *s
		return &SinkState{Rate: &r}
	case *metrics.TrendSink:
		return &SinkState{Trend: s.Clone()}
	}
	return nil
}

// ExportState returns the aggregate of every metric with samples, sorted by
// name. Call it after Stop.
func (e *Engine) ExportState() []MetricState {
	snap := e.collect()
	all := e.reg.All()
	byIdx := map[int]*MetricState{}
	get := func(m *metrics.Metric) *MetricState {
		if ms, ok := byIdx[m.Index]; ok {
			return ms
		}
		ms := &MetricState{Name: m.Name, Type: m.Type.String(), Contains: m.Contains.String()}
		byIdx[m.Index] = ms
		return ms
	}
	for i, sink := range snap.main {
		if st := stateOf(sink); st != nil && i < len(all) {
			get(all[i]).Sink = st
		}
	}
	for _, sub := range e.subs {
		if st := stateOf(snap.subs[sub.idx]); st != nil {
			ms := get(sub.parent)
			if ms.Submetrics == nil {
				ms.Submetrics = map[string]*SinkState{}
			}
			ms.Submetrics[sub.key] = st
		}
	}
	if e.breakdown {
		merged := e.mergedBreakdown(len(all))
		for i, byValue := range merged {
			for value, sinks := range byValue {
				for idx, sink := range sinks {
					st := stateOf(sink)
					if st == nil {
						continue
					}
					ms := get(all[idx])
					dst := &ms.Groups
					if i == 1 {
						dst = &ms.Scenarios
					}
					if *dst == nil {
						*dst = map[string]*SinkState{}
					}
					(*dst)[value] = st
				}
			}
		}
	}
	out := make([]MetricState, 0, len(byIdx))
	for _, ms := range byIdx {
		out = append(out, *ms)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RegisterStateMetrics registers in reg every metric the states name that
// reg does not hold yet, and checks that the states agree with reg (and
// with each other) on each metric's type and value type.
func RegisterStateMetrics(reg *metrics.Registry, states [][]MetricState) error {
	for _, st := range states {
		for _, ms := range st {
			typ, err := parseType(ms.Type)
			if err != nil {
				return fmt.Errorf("metric %s: %w", ms.Name, err)
			}
			contains, err := parseContains(ms.Contains)
			if err != nil {
				return fmt.Errorf("metric %s: %w", ms.Name, err)
			}
			if m := reg.Get(ms.Name); m != nil {
				if m.Type != typ || m.Contains != contains {
					return fmt.Errorf("metric %s is a %s of %s values in one state and a %s of %s values in another",
						ms.Name, m.Type, m.Contains, typ, contains)
				}
				continue
			}
			if _, err := reg.New(ms.Name, typ, contains); err != nil {
				return fmt.Errorf("metric %s: %w", ms.Name, err)
			}
		}
	}
	return nil
}

func parseType(s string) (metrics.MetricType, error) {
	for _, t := range []metrics.MetricType{metrics.Counter, metrics.Gauge, metrics.Rate, metrics.Trend} {
		if t.String() == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown metric type %q", s)
}

func parseContains(s string) (metrics.ValueType, error) {
	for _, v := range []metrics.ValueType{metrics.Default, metrics.Time, metrics.Data} {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown value type %q", s)
}

// ImportStates folds the states of the instances of one run into the engine
// (created without outputs on a registry prepared by RegisterStateMetrics,
// with the run's thresholds) and fixes the test duration to elapsed, so that
// EvaluateThresholds, SummaryMetrics and SummaryBreakdown answer as for one
// instance that ran the whole test. states must be ordered by the end time
// of their instance: the last one's gauge values win, except for
// AdditiveGauges, whose values add up. A state whose sink does not fit its
// metric's type, or that names a sub-metric the engine does not have (the
// instances had other thresholds), is an error.
func (e *Engine) ImportStates(states [][]MetricState, elapsed time.Duration) error {
	s := e.shards[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	subByKey := map[string]*submetric{}
	for _, sub := range e.subs {
		subByKey[sub.key] = sub
	}
	for order, st := range states {
		seq := uint64(order + 1)
		for _, ms := range st {
			m := e.reg.Get(ms.Name)
			if m == nil {
				return fmt.Errorf("metric %s is not registered", ms.Name)
			}
			if m.Index >= len(s.main) {
				grown := make([]metrics.Sink, m.Index+1)
				copy(grown, s.main)
				s.main = grown
			}
			var err error
			if s.main[m.Index], err = importSink(m, s.main[m.Index], ms.Sink, seq); err != nil {
				return err
			}
			for key, ss := range ms.Submetrics {
				sub := subByKey[key]
				if sub == nil || sub.parent != m {
					return fmt.Errorf("sub-metric %s is not among this run's thresholds (the instances ran with other thresholds)", key)
				}
				if s.subs[sub.idx], err = importSink(m, s.subs[sub.idx], ss, seq); err != nil {
					return err
				}
			}
			for i, byValue := range [2]map[string]*SinkState{ms.Groups, ms.Scenarios} {
				if len(byValue) == 0 {
					continue
				}
				if !e.breakdown {
					break
				}
				dst := &s.groups
				if i == 1 {
					dst = &s.scenarios
				}
				if *dst == nil {
					*dst = map[string]*breakSinks{}
				}
				for value, ss := range byValue {
					bs := (*dst)[value]
					if bs == nil {
						bs = &breakSinks{}
						(*dst)[value] = bs
					}
					if m.Index >= len(bs.sinks) {
						grown := make([]metrics.Sink, m.Index+1)
						copy(grown, bs.sinks)
						bs.sinks = grown
					}
					if bs.sinks[m.Index], err = importSink(m, bs.sinks[m.Index], ss, seq); err != nil {
						return err
					}
				}
			}
		}
	}
	e.timeMu.Lock()
	e.started = time.Unix(0, 0)
	e.stopped = e.started.Add(elapsed)
	e.timeMu.Unlock()
	return nil
}

// importSink folds st into dst (nil: a new sink) for metric m.
func importSink(m *metrics.Metric, dst metrics.Sink, st *SinkState, seq uint64) (metrics.Sink, error) {
	if st == nil {
		return dst, nil
	}
	bad := func() (metrics.Sink, error) {
		return dst, fmt.Errorf("metric %s is a %s but its state holds another kind of aggregate", m.Name, m.Type)
	}
	if dst == nil {
		dst = newSink(m.Type)
	}
	switch d := dst.(type) {
	case *metrics.CounterSink:
		if st.Counter == nil {
			return bad()
		}
		d.Merge(st.Counter)
	case *metrics.RateSink:
		if st.Rate == nil {
			return bad()
		}
		d.Merge(st.Rate)
	case *metrics.TrendSink:
		if st.Trend == nil {
			return bad()
		}
		d.Merge(st.Trend)
	case *gaugeSink:
		g := st.Gauge
		if g == nil {
			return bad()
		}
		if AdditiveGauges[m.Name] && d.seq != 0 {
			d.value += g.Value
			d.min += g.Min
			d.max += g.Max
			d.seq = seq
			break
		}
		d.merge(&gaugeSink{value: g.Value, min: g.Min, max: g.Max, seq: seq})
	}
	return dst, nil
}
