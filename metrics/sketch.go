package metrics

import (
	"encoding/binary"
	"fmt"
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

// trendEncodingVersion is the first byte of TrendSink.MarshalBinary's output.
const trendEncodingVersion = 1

// MarshalBinary encodes the sink so that another process (another instance
// of a distributed run) can decode and merge it: a version byte, the count,
// sum, min and max, then either the exact values or the DDSketch in its
// standard encoding (index mapping included).
func (t *TrendSink) MarshalBinary() ([]byte, error) {
	b := []byte{trendEncodingVersion}
	b = binary.AppendVarint(b, t.count)
	for _, f := range []float64{t.sum, t.min, t.max} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	if t.sketch == nil {
		b = append(b, 0)
		b = binary.AppendUvarint(b, uint64(len(t.values)))
		for _, v := range t.values {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b, nil
	}
	b = append(b, 1)
	t.sketch.sk.Encode(&b, false)
	return b, nil
}

// UnmarshalBinary replaces t with a sink encoded by MarshalBinary.
func (t *TrendSink) UnmarshalBinary(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("decode trend: %s", what) }
	if len(b) == 0 || b[0] != trendEncodingVersion {
		return bad("unknown encoding version")
	}
	b = b[1:]
	count, n := binary.Varint(b)
	if n <= 0 || count < 0 {
		return bad("bad count")
	}
	b = b[n:]
	if len(b) < 25 {
		return bad("truncated")
	}
	var out TrendSink
	out.count = count
	out.sum = math.Float64frombits(binary.LittleEndian.Uint64(b))
	out.min = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
	out.max = math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))
	mode := b[24]
	b = b[25:]
	switch mode {
	case 0:
		nv, n := binary.Uvarint(b)
		if n <= 0 || nv > ExactTrendLimit || int64(nv) != count || uint64(len(b)-n) != 8*nv {
			return bad("bad exact values")
		}
		b = b[n:]
		out.values = make([]float64, nv)
		for i := range out.values {
			out.values[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case 1:
		provider := func() store.Store { return store.NewCollapsingLowestDenseStore(TrendSketchMaxBins) }
		sk, err := ddsketch.DecodeDDSketch(b, provider, nil)
		if err != nil {
			return fmt.Errorf("decode trend sketch: %w", err)
		}
		if sk.IndexMapping == nil || !sk.IndexMapping.Equals(trendMapping) {
			return bad("sketch uses another index mapping")
		}
		sk.IndexMapping = trendMapping
		out.sketch = &trendSketch{sk: sk}
	default:
		return bad("unknown mode")
	}
	*t = out
	return nil
}
