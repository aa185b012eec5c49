package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
)

// exactP is the reference: linear interpolation between the closest ranks
// of the sorted values (k6's formula).
func exactP(sorted []float64, q float64) (v, lo, hi float64) {
	n := len(sorted)
	idx := q * float64(n-1)
	l, h := int(math.Floor(idx)), int(math.Ceil(idx))
	return sorted[l] + (sorted[h]-sorted[l])*(idx-float64(l)), sorted[l], sorted[h]
}

type distribution struct {
	name string
	gen  func(r *rand.Rand) float64
}

var distributions = []distribution{
	{"uniform 1..1000ms", func(r *rand.Rand) float64 { return 1 + 999*r.Float64() }},
	{"exponential mean 120ms", func(r *rand.Rand) float64 { return 120 * r.ExpFloat64() }},
	{"lognormal latency", func(r *rand.Rand) float64 { return math.Exp(4 + 1.2*r.NormFloat64()) }},
	{"bimodal fast/slow", func(r *rand.Rand) float64 {
		if r.IntN(10) == 0 {
			return 2000 + 500*r.NormFloat64()*0.1
		}
		return 5 + r.Float64()
	}},
	{"pareto heavy tail", func(r *rand.Rand) float64 { return 10 / math.Pow(1-r.Float64(), 1/1.5) }},
	{"microseconds", func(r *rand.Rand) float64 { return 0.001 + 0.05*r.Float64() }},
	{"integers with ties", func(r *rand.Rand) float64 { return float64(r.IntN(20)) }},
	{"constant", func(*rand.Rand) float64 { return 42 }},
	{"mixed sign", func(r *rand.Rand) float64 { return 100 * r.NormFloat64() }},
}

// TestTrendSketchAccuracy is the accuracy property: for every distribution
// and size beyond the exact limit, p(90), p(95), p(99) (and others) are
// within 1 % of the exact value. More precisely the error is at most 1 % of
// the larger magnitude of the two order statistics interpolated between,
// which is a relative error of at most 1 % whenever both have the same sign
// (always, for durations).
func TestTrendSketchAccuracy(t *testing.T) {
	quantiles := []float64{0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999}
	worst := map[float64]float64{}
	for _, d := range distributions {
		for _, n := range []int{ExactTrendLimit + 1, 10_000, 60_000} {
			t.Run(fmt.Sprintf("%s/%d", d.name, n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 42))
				var sink TrendSink
				vals := make([]float64, n)
				for i := range vals {
					vals[i] = d.gen(r)
					sink.AddValue(vals[i])
				}
				if sink.IsExact() {
					t.Fatal("sink still exact beyond ExactTrendLimit")
				}
				sort.Float64s(vals)
				if sink.P(0) != vals[0] || sink.P(1) != vals[n-1] || sink.Min() != vals[0] || sink.Max() != vals[n-1] {
					t.Errorf("extremes not exact: P(0)=%v P(1)=%v, want %v %v", sink.P(0), sink.P(1), vals[0], vals[n-1])
				}
				for _, q := range quantiles {
					want, lo, hi := exactP(vals, q)
					got := sink.P(q)
					scale := math.Max(math.Abs(lo), math.Abs(hi))
					if err := math.Abs(got - want); err > 0.01*scale+1e-12 {
						t.Errorf("P(%v) = %v, exact %v: error %.4f%% of %v", q, got, want, 100*err/scale, scale)
					}
					if lo > 0 || hi < 0 {
						rel := math.Abs(got-want) / math.Abs(want)
						worst[q] = math.Max(worst[q], rel)
					}
				}
			})
		}
	}
	for _, q := range []float64{0.9, 0.95, 0.99} {
		t.Logf("worst relative error of p(%v) over all same-sign cases: %.3f%%", q*100, 100*worst[q])
	}
}

// Up to ExactTrendLimit values every statistic is exact.
func TestTrendSinkExactBelowLimit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var sink TrendSink
	vals := make([]float64, ExactTrendLimit)
	for i := range vals {
		vals[i] = r.ExpFloat64() * 100
		sink.AddValue(vals[i])
	}
	if !sink.IsExact() {
		t.Fatal("sink switched to the sketch at the limit")
	}
	sort.Float64s(vals)
	for _, q := range []float64{0, 0.001, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want, _, _ := exactP(vals, q)
		if got := sink.P(q); got != want {
			t.Errorf("P(%v) = %v, want exactly %v", q, got, want)
		}
	}
	// the conformance values
	var ten TrendSink
	for i := 1; i <= 10; i++ {
		ten.AddValue(float64(i))
	}
	for q, want := range map[float64]float64{0.9: 9.1, 0.95: 9.55, 0.5: 5.5, 0.999: 9.991} {
		if got := ten.P(q); math.Abs(got-want) > 1e-9 {
			t.Errorf("1..10: P(%v) = %v, want %v", q, got, want)
		}
	}
}

// Merging the sinks of parts gives the same statistics as one sink fed the
// whole, exact or sketched: trends of several instances combine.
func TestTrendSinkMerge(t *testing.T) {
	for _, parts := range [][]int{{10, 20}, {600, 600}, {5000, 3, 70_000}, {0, 2000}, {2000, 0}} {
		t.Run(fmt.Sprint(parts), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(len(parts))))
			var whole, merged TrendSink
			for _, n := range parts {
				var part TrendSink
				for i := 0; i < n; i++ {
					v := math.Exp(3 + r.NormFloat64())
					part.AddValue(v)
					whole.AddValue(v)
				}
				before := part.Clone()
				merged.Merge(&part)
				if part.Count() != before.Count() || part.P(0.9) != before.P(0.9) {
					t.Fatal("Merge changed its argument")
				}
			}
			if merged.Count() != whole.Count() || merged.Min() != whole.Min() || merged.Max() != whole.Max() ||
				math.Abs(merged.Sum()-whole.Sum()) > 1e-9*math.Abs(whole.Sum()) {
				t.Fatalf("merged count/min/max/sum differ: %d %v %v %v vs %d %v %v %v",
					merged.Count(), merged.Min(), merged.Max(), merged.Sum(), whole.Count(), whole.Min(), whole.Max(), whole.Sum())
			}
			if merged.IsExact() != whole.IsExact() {
				t.Fatalf("merged exact=%v, whole exact=%v", merged.IsExact(), whole.IsExact())
			}
			for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
				if a, b := merged.P(q), whole.P(q); math.Abs(a-b) > 1e-9*math.Abs(b) {
					t.Errorf("P(%v): merged %v, whole %v", q, a, b)
				}
			}
		})
	}
}

// The sketch's memory does not grow with the number of samples: once its
// bins cover the values' range, 400 thousand more values allocate nothing.
func TestTrendSketchMemoryIndependentOfCount(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var sink TrendSink
	for i := 0; i < 100_000; i++ {
		sink.AddValue(math.Exp(4 + 1.2*r.NormFloat64()))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 400_000; i++ {
		sink.AddValue(math.Exp(4 + 1.2*r.NormFloat64()))
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<10 {
		t.Errorf("400k more values allocated %d bytes", grown)
	}
	if sink.Count() != 500_000 {
		t.Errorf("count %d", sink.Count())
	}
}

func TestTrendSinkEdgeValues(t *testing.T) {
	var sink TrendSink
	for i := 0; i < 3000; i++ {
		sink.AddValue(0)
	}
	sink.AddValue(math.Inf(1)) // not trackable by the sketch: counted, not ranked
	sink.AddValue(1e-320)
	if got := sink.P(0.5); got != 0 {
		t.Errorf("P(0.5) of zeros = %v", got)
	}
	if sink.Count() != 3002 || !math.IsInf(sink.Max(), 1) {
		t.Errorf("count %d max %v", sink.Count(), sink.Max())
	}
	var empty TrendSink
	if empty.P(0.5) != 0 || empty.Med() != 0 || empty.Avg() != 0 {
		t.Error("empty sink statistics are not 0")
	}
}

func BenchmarkTrendSinkAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = math.Exp(4 + r.NormFloat64())
	}
	var sink TrendSink
	for i := 0; i < 2*ExactTrendLimit; i++ {
		sink.AddValue(vals[i%len(vals)])
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sink.AddValue(vals[i&4095])
	}
}

func BenchmarkTrendSinkP95(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var sink TrendSink
	for i := 0; i < 1_000_000; i++ {
		sink.AddValue(math.Exp(4 + r.NormFloat64()))
	}
	for b.Loop() {
		sink.P(0.95)
	}
}

// A sink survives encoding, exact or sketched, and decoded sinks merge:
// the way results of several instances are combined.
func TestTrendSinkBinaryRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 10, ExactTrendLimit, 50_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, uint64(n)))
			var a, b TrendSink
			for i := 0; i < n; i++ {
				a.AddValue(math.Exp(2 + r.NormFloat64()))
				b.AddValue(-r.Float64())
			}
			for _, src := range []*TrendSink{&a, &b} {
				enc, err := src.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				var dec TrendSink
				if err := dec.UnmarshalBinary(enc); err != nil {
					t.Fatal(err)
				}
				if dec.Count() != src.Count() || dec.Sum() != src.Sum() || dec.Min() != src.Min() || dec.Max() != src.Max() || dec.IsExact() != src.IsExact() {
					t.Fatalf("decoded %+v, want %+v", dec, src)
				}
				for _, q := range []float64{0.5, 0.9, 0.99} {
					if dec.P(q) != src.P(q) {
						t.Errorf("P(%v) = %v after decoding, want %v", q, dec.P(q), src.P(q))
					}
				}
			}
			encA, _ := a.MarshalBinary()
			var merged TrendSink
			if err := merged.UnmarshalBinary(encA); err != nil {
				t.Fatal(err)
			}
			merged.Merge(&b)
			if merged.Count() != int64(2*n) {
				t.Errorf("merged count %d", merged.Count())
			}
		})
	}
	var s TrendSink
	for _, bad := range [][]byte{nil, {0}, {1}, {1, 2, 0}, {9, 0, 0}} {
		if err := s.UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%v) = nil error", bad)
		}
	}
}
