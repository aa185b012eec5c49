package metrics

import (
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// Trend memory bounds. A TrendSink keeps its values exactly up to
// ExactTrendLimit of them, then folds them into a DDSketch whose quantiles are
// within TrendRelativeAccuracy of the exact order statistics and whose size
// is at most 2×TrendSketchMaxBins counters, whatever the number of samples.
const (
	// ExactTrendLimit is the number of values a trend keeps verbatim; up to
	// it every statistic is exact (8 KiB of values, about a sketch's size).
	ExactTrendLimit = 1024
	// TrendRelativeAccuracy is the sketch's relative accuracy α: a quantile
	// it returns is within α·|v| of an exact order statistic v.
	TrendRelativeAccuracy = 0.005
	// TrendSketchMaxBins bounds the bins of each of the sketch's two stores
	// (positive and negative values). With α = 0.5 % that covers a ratio of
	// about 10^17 between the smallest and the largest value before the
	// lowest bins are merged.
	TrendSketchMaxBins = 4096
)

// trendMapping is shared by every sketch: sketches can only be merged when
// their mappings are equal, and the mapping is immutable.
var trendMapping = func() mapping.IndexMapping {
	m, err := mapping.NewCubicallyInterpolatedMapping(TrendRelativeAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

// trendSketch is the bounded-memory half of a TrendSink.
type trendSketch struct {
	sk *ddsketch.DDSketch
}

func newTrendSketch() *trendSketch {
	return &trendSketch{sk: ddsketch.NewDDSketch(trendMapping,
		store.NewCollapsingLowestDenseStore(TrendSketchMaxBins),
		store.NewCollapsingLowestDenseStore(TrendSketchMaxBins))}
}

// add records v; NaN and values beyond ±1.8e308 cannot be tracked and are
// left out of the quantiles (they still count in count, sum, min and max).
func (s *trendSketch) add(v float64) { _ = s.sk.Add(v) }

func (s *trendSketch) merge(o *trendSketch) { _ = s.sk.MergeWith(o.sk) }

func (s *trendSketch) copy() *trendSketch { return &trendSketch{sk: s.sk.Copy()} }

func (s *trendSketch) count() float64 { return s.sk.GetCount() }

// valueAtRank returns the approximate value of the order statistic of
// 0-based rank r (an integer in [0, count)).
func (s *trendSketch) valueAtRank(r float64) float64 {
	neg := s.sk.GetNegativeValueStore()
	negCount := neg.TotalCount()
	switch {
	case r < negCount:
		return -s.sk.Value(neg.KeyAtRank(negCount - 1 - r))
	case r < negCount+s.sk.GetZeroCount():
		return 0
	default:
		return s.sk.Value(s.sk.GetPositiveValueStore().KeyAtRank(r - negCount - s.sk.GetZeroCount()))
	}
}

// quantile interpolates linearly between the two order statistics around
// q·(n−1), as the exact computation does; lo and hi clamp the result to the
// exact extremes.
func (s *trendSketch) quantile(q, lo, hi float64) float64 {
	n := s.count()
	if n == 0 {
		return 0
	}
	idx := q * (n - 1)
	fl := math.Floor(idx)
	v := s.valueAtRank(fl)
	if frac := idx - fl; frac > 0 {
		v += (s.valueAtRank(fl+1) - v) * frac
	}
	return math.Min(math.Max(v, lo), hi)
}
