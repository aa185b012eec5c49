package metrics

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sink aggregates the samples of one metric (or one sub-metric). Sinks are
// not safe for concurrent use; one aggregator goroutine owns them.
type Sink interface {
	// Add folds one sample into the aggregate.
	Add(s Sample)
	// IsEmpty reports whether no sample was added.
	IsEmpty() bool
}

// NewSink returns an empty sink for a metric of type t.
func NewSink(t MetricType) Sink {
	switch t {
	case Counter:
		return &CounterSink{}
	case Gauge:
		return &GaugeSink{}
	case Rate:
		return &RateSink{}
	default:
		return &TrendSink{}
	}
}

// CounterSink sums values.
type CounterSink struct {
	Sum   float64
	First time.Time // time of the first sample
	n     int64
}

// Add adds s.Value to the sum.
func (c *CounterSink) Add(s Sample) {
	if c.n == 0 {
		c.First = s.Time
	}
	c.n++
	c.Sum += s.Value
}

// IsEmpty reports whether no sample was added.
func (c *CounterSink) IsEmpty() bool { return c.n == 0 }

// Rate returns the sum per second of elapsed test time.
func (c *CounterSink) Rate(elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return c.Sum / elapsed.Seconds()
}

// Merge adds o's aggregate.
func (c *CounterSink) Merge(o *CounterSink) {
	if o.n == 0 {
		return
	}
	if c.n == 0 || o.First.Before(c.First) {
		c.First = o.First
	}
	c.n += o.n
	c.Sum += o.Sum
}

// GaugeSink keeps the last value and the extremes.
type GaugeSink struct {
	Value, Min, Max float64
	Last            time.Time
	set             bool
}

// Add records s.Value as the latest value.
func (g *GaugeSink) Add(s Sample) {
	if !g.set || s.Value < g.Min {
		g.Min = s.Value
	}
	if !g.set || s.Value > g.Max {
		g.Max = s.Value
	}
	g.Value = s.Value
	g.Last = s.Time
	g.set = true
}

// IsEmpty reports whether no sample was added.
func (g *GaugeSink) IsEmpty() bool { return !g.set }

// Merge folds o in; the later of the two last values wins.
func (g *GaugeSink) Merge(o *GaugeSink) {
	if !o.set {
		return
	}
	if !g.set {
		*g = *o
		return
	}
	g.Min = math.Min(g.Min, o.Min)
	g.Max = math.Max(g.Max, o.Max)
	if !o.Last.Before(g.Last) {
		g.Value, g.Last = o.Value, o.Last
	}
}

// RateSink counts non-zero samples ("passes") among all samples.
type RateSink struct {
	Trues, Total int64
}

// Add counts s; a non-zero value is a pass.
func (r *RateSink) Add(s Sample) {
	r.Total++
	if s.Value != 0 {
		r.Trues++
	}
}

// IsEmpty reports whether no sample was added.
func (r *RateSink) IsEmpty() bool { return r.Total == 0 }

// Rate returns passes/total, or 0 without samples.
func (r *RateSink) Rate() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Trues) / float64(r.Total)
}

// Merge adds o's counts.
func (r *RateSink) Merge(o *RateSink) { r.Trues += o.Trues; r.Total += o.Total }

// TrendStat computes one statistic of a trend.
type TrendStat func(*TrendSink) float64

// ParseTrendStat parses a trend statistic name as used by
// summaryTrendStats and thresholds: avg, min, med, max, count, p(N) with
// 0 ≤ N ≤ 100.
func ParseTrendStat(name string) (TrendStat, error) {
	switch name {
	case "avg":
		return (*TrendSink).Avg, nil
	case "min":
		return (*TrendSink).Min, nil
	case "med":
		return (*TrendSink).Med, nil
	case "max":
		return (*TrendSink).Max, nil
	case "count":
		return func(t *TrendSink) float64 { return float64(t.Count()) }, nil
	}
	if strings.HasPrefix(name, "p(") && strings.HasSuffix(name, ")") {
		p, err := strconv.ParseFloat(strings.TrimSpace(name[2:len(name)-1]), 64)
		if err != nil || p < 0 || p > 100 || math.IsNaN(p) {
			return nil, fmt.Errorf("invalid percentile %q: use p(N) with 0 <= N <= 100", name)
		}
		return func(t *TrendSink) float64 { return t.P(p / 100) }, nil
	}
	return nil, fmt.Errorf("unknown trend statistic %q: use avg, min, med, max, count or p(N)", name)
}

// Values returns the aggregate of sink in k6's summary-data form: counter
// {count, rate}, gauge {value, min, max}, rate {rate, passes, fails}, trend one
// entry per name in trendStats (names must be valid for ParseTrendStat).
func Values(sink Sink, elapsed time.Duration, trendStats []string) map[string]float64 {
	switch s := sink.(type) {
	case *CounterSink:
		return map[string]float64{"count": s.Sum, "rate": s.Rate(elapsed)}
	case *GaugeSink:
		return map[string]float64{"value": s.Value, "min": s.Min, "max": s.Max}
	case *RateSink:
		return map[string]float64{"rate": s.Rate(), "passes": float64(s.Trues), "fails": float64(s.Total - s.Trues)}
	case *TrendSink:
		out := make(map[string]float64, len(trendStats))
		for _, name := range trendStats {
			if f, err := ParseTrendStat(name); err == nil {
				out[name] = f(s)
			}
		}
		return out
	}
	return nil
}

// TrendSink keeps the distribution of a trend's values in bounded memory.
// Count, sum, min and max are always exact. Up to ExactTrendLimit values are
// kept verbatim, so every statistic is exact; beyond that the values move into
// a DDSketch and quantiles (med, p(N)) are within TrendRelativeAccuracy
// (0.5 %) of the exact ones while memory stays constant. Sinks merge, exact or
// not, so results of several instances can be combined.
type TrendSink struct {
	count    int64
	sum      float64
	min, max float64
	values   []float64 // exact values while sketch is nil
	sorted   bool
	sketch   *trendSketch
}

// Add records s.Value.
func (t *TrendSink) Add(s Sample) { t.AddValue(s.Value) }

// AddValue records v.
func (t *TrendSink) AddValue(v float64) {
	if t.count == 0 || v < t.min {
		t.min = v
	}
	if t.count == 0 || v > t.max {
		t.max = v
	}
	t.count++
	t.sum += v
	if t.sketch != nil {
		t.sketch.add(v)
		return
	}
	t.values = append(t.values, v)
	t.sorted = false
	if len(t.values) > ExactTrendLimit {
		t.toSketch()
	}
}

// toSketch moves the exact values into a new sketch.
func (t *TrendSink) toSketch() {
	t.sketch = newTrendSketch()
	for _, v := range t.values {
		t.sketch.add(v)
	}
	t.values, t.sorted = nil, false
}

// IsEmpty reports whether no value was added.
func (t *TrendSink) IsEmpty() bool { return t.count == 0 }

// IsExact reports whether the sink still holds every value, so that its
// quantiles are exact.
func (t *TrendSink) IsExact() bool { return t.sketch == nil }

// Count returns the number of values.
func (t *TrendSink) Count() int64 { return t.count }

// Sum returns the sum of the values.
func (t *TrendSink) Sum() float64 { return t.sum }

// Min returns the smallest value (0 when empty).
func (t *TrendSink) Min() float64 { return t.min }

// Max returns the largest value (0 when empty).
func (t *TrendSink) Max() float64 { return t.max }

// Avg returns the mean (0 when empty).
func (t *TrendSink) Avg() float64 {
	if t.count == 0 {
		return 0
	}
	return t.sum / float64(t.count)
}

// Med returns the median, P(0.5).
func (t *TrendSink) Med() float64 { return t.P(0.5) }

// P returns the q-quantile (0 ≤ q ≤ 1), interpolating linearly between the
// two nearest ranks as k6 does. It returns 0 when empty. P(0) and P(1) are
// the exact min and max; other quantiles are exact while IsExact, else
// within TrendRelativeAccuracy. P sorts the exact values in place, so it is
// not safe to call concurrently with other methods.
func (t *TrendSink) P(q float64) float64 {
	if t.count == 0 {
		return 0
	}
	switch {
	case q <= 0 || math.IsNaN(q):
		return t.min
	case q >= 1:
		return t.max
	}
	if t.sketch != nil {
		return t.sketch.quantile(q, t.min, t.max)
	}
	n := len(t.values)
	if !t.sorted {
		sort.Float64s(t.values)
		t.sorted = true
	}
	idx := q * float64(n-1)
	lo := int(math.Floor(idx))
	hi := int(math.Ceil(idx))
	return t.values[lo] + (t.values[hi]-t.values[lo])*(idx-float64(lo))
}

// Merge folds o's values into t; o is not changed. The result stays exact
// while both are exact and hold at most ExactTrendLimit values together.
func (t *TrendSink) Merge(o *TrendSink) {
	if o == nil || o.count == 0 {
		return
	}
	if t.count == 0 || o.min < t.min {
		t.min = o.min
	}
	if t.count == 0 || o.max > t.max {
		t.max = o.max
	}
	t.count += o.count
	t.sum += o.sum
	if t.sketch == nil && o.sketch == nil && len(t.values)+len(o.values) <= ExactTrendLimit {
		t.values = append(t.values, o.values...)
		t.sorted = false
		return
	}
	if t.sketch == nil {
		t.toSketch()
	}
	if o.sketch != nil {
		t.sketch.merge(o.sketch)
		return
	}
	for _, v := range o.values {
		t.sketch.add(v)
	}
}

// Clone returns an independent copy of t.
func (t *TrendSink) Clone() *TrendSink {
	c := *t
	c.values = append([]float64(nil), t.values...)
	if t.sketch != nil {
		c.sketch = t.sketch.copy()
	}
	return &c
}
