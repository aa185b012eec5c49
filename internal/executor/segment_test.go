package executor

import (
	"errors"
	"reflect"
	"sort"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseSegment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "0:1"}, {"1/2", "0:1/2"}, {"1/2:1", "1/2:1"}, {"0.25:50%", "1/4:1/2"}, {"1/3:2/3", "1/3:2/3"},
		{" 0 : 1 ", "0:1"},
	}
	for _, tc := range tests {
		s, err := ParseSegment(tc.in)
		if err != nil || s.String() != tc.want {
			t.Errorf("ParseSegment(%q) = %v, %v; want %s", tc.in, s, err, tc.want)
		}
	}
	for _, bad := range []string{"1:1/2", "x", "0:2", "-1/2:1", "1/2:1/2", "1/0", "1e-1"} {
		_, err := ParseSegment(bad)
		var se *SegmentError
		if !errors.As(err, &se) {
			t.Errorf("ParseSegment(%q) error = %v, want *SegmentError", bad, err)
		}
	}
}

func TestParseSequence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0,1/3,2/3,1", "0,1/3,2/3,1"}, {"1/2", "0,1/2,1"}, {"0,0.5,1", "0,1/2,1"}, {"", ""},
	}
	for _, tc := range tests {
		q, err := ParseSequence(tc.in)
		if err != nil || q.String() != tc.want {
			t.Errorf("ParseSequence(%q) = %v, %v; want %s", tc.in, q, err, tc.want)
		}
	}
	for _, bad := range []string{"0,1/2,1/2,1", "0,2/3,1/3,1", "0,x,1"} {
		if _, err := ParseSequence(bad); err == nil {
			t.Errorf("ParseSequence(%q) succeeded", bad)
		}
	}
	seg, _ := ParseSegment("1/4:1/2")
	seq, _ := ParseSequence("0,1/2,1")
	if _, err := NewTuple(seg, seq); err == nil {
		t.Error("a segment outside the sequence was accepted")
	}
}

func tuples(t testing.TB, seq string) []*Tuple {
	t.Helper()
	q, err := ParseSequence(seq)
	if err != nil {
		t.Fatal(err)
	}
	var out []*Tuple
	for i := 0; i+1 < len(q); i++ {
		tu, err := NewTuple(Segment{From: q[i], To: q[i+1]}, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tu)
	}
	return out
}

func owned(tu *Tuple, n int64) []int64 {
	var out []int64
	for i := int64(0); i < n; i++ {
		if tu.Owns(i) {
			out = append(out, i)
		}
	}
	return out
}

func TestStriping(t *testing.T) {
	tests := []struct {
		seq  string
		want [][]int64 // owned indices below 6, per segment
	}{
		{"0,1/2,1", [][]int64{{0, 2, 4}, {1, 3, 5}}},
		{"0,1/3,1", [][]int64{{1, 4}, {0, 2, 3, 5}}}, // the larger segment owns 0,2 of each 3
		{"0,1/3,2/3,1", [][]int64{{0, 3}, {1, 4}, {2, 5}}},
		{"0,1/4,1", [][]int64{{1, 5}, {0, 2, 3, 4}}},
	}
	for _, tc := range tests {
		ts := tuples(t, tc.seq)
		for i, tu := range ts {
			if got := owned(tu, 6); !reflect.DeepEqual(got, tc.want[i]) {
				t.Errorf("%s segment %d owns %v, want %v", tc.seq, i, got, tc.want[i])
			}
			for k, g := range owned(tu, 6) {
				if tu.Global(int64(k)) != g {
					t.Errorf("%s segment %d: Global(%d) = %d, want %d", tc.seq, i, k, tu.Global(int64(k)), g)
				}
			}
		}
	}
}

func TestScaleSumsToWhole(t *testing.T) {
	for _, seq := range []string{"0,1/2,1", "0,1/3,2/3,1", "0,0.1,0.35,0.5,1", "0,1/7,3/7,1", "0,1/100,1"} {
		ts := tuples(t, seq)
		for q := int64(0); q < 250; q++ {
			var sum int64
			for _, tu := range ts {
				sum += tu.Scale(q)
				if int64(len(owned(tu, q))) != tu.Scale(q) {
					t.Fatalf("%s: Scale(%d) = %d, owned %d", seq, q, tu.Scale(q), len(owned(tu, q)))
				}
			}
			if sum != q {
				t.Fatalf("%s: shares of %d sum to %d", seq, q, sum)
			}
		}
		// shared-iterations: iterations split by VU shares, also summing up
		for vus := int64(1); vus < 12; vus++ {
			for iters := vus; iters < 40; iters++ {
				var sum int64
				seen := map[int64]bool{}
				for _, tu := range ts {
					st := tu.shareTuple(vus)
					if st == nil {
						continue
					}
					n := st.Scale(iters)
					sum += n
					for k := int64(0); k < n; k++ {
						g := st.Global(k)
						if seen[g] || g >= iters {
							t.Fatalf("%s vus %d iters %d: index %d reused or out of range", seq, vus, iters, g)
						}
						seen[g] = true
					}
				}
				if sum != iters {
					t.Fatalf("%s vus %d: iterations %d split into %d", seq, vus, iters, sum)
				}
			}
		}
	}
}

// segmentOutcome is what a segmented run produced, for comparison with the
// whole test.
type segmentOutcome struct {
	iterations, interrupted int
	dropped                 float64
	inTests                 []uint64
	starts                  []time.Duration
	vuIDs                   []uint64
}

func runOutcome(t *testing.T, scenario, seg, seq string, dur time.Duration) segmentOutcome {
	var o segmentOutcome
	synctest.Test(t, func(t *testing.T) {
		r := runScenarios(t, t.Context(), `{"s":`+scenario+`}`, seg, seq, func(uint64, *Iteration) time.Duration { return dur })
		o.iterations, o.interrupted = r.rec.counts()
		o.dropped = r.rec.sum(r.builtin.DroppedIterations)
		o.inTests = r.rec.inTests()
		o.starts = r.rec.starts()
		o.vuIDs = append(o.vuIDs, r.rec.created...)
	})
	return o
}

func TestSegmentsSumToWholeTest(t *testing.T) {
	scenarios := map[string]struct {
		cfg string
		dur time.Duration
		// exact: iteration numbers and start times must match the whole
		// test, not only the counts
		exact bool
	}{
		"shared-iterations":     {`{"executor":"shared-iterations","vus":5,"iterations":23}`, ms(100), false},
		"per-vu-iterations":     {`{"executor":"per-vu-iterations","vus":5,"iterations":3}`, ms(100), false},
		"constant-vus":          {`{"executor":"constant-vus","vus":5,"duration":"1s"}`, ms(110), false},
		"ramping-vus":           {`{"executor":"ramping-vus","startVUs":1,"stages":[{"duration":"2s","target":7},{"duration":"1s","target":2}]}`, ms(110), false},
		"constant-arrival-rate": {`{"executor":"constant-arrival-rate","rate":13,"duration":"2s","preAllocatedVUs":4}`, ms(30), true},
		"ramping-arrival-rate":  {`{"executor":"ramping-arrival-rate","startRate":3,"preAllocatedVUs":4,"stages":[{"duration":"1s","target":17},{"duration":"1s","target":0}]}`, ms(30), true},
	}
	for name, sc := range scenarios {
		whole := runOutcome(t, sc.cfg, "", "", sc.dur)
		if whole.iterations == 0 {
			t.Fatalf("%s: no iterations", name)
		}
		for _, seq := range []string{"0,1/2,1", "0,1/3,2/3,1", "0,1/4,1"} {
			t.Run(name+" "+seq, func(t *testing.T) {
				var sum segmentOutcome
				for _, tu := range tuples(t, seq) {
					o := runOutcome(t, sc.cfg, tu.Segment.String(), seq, sc.dur)
					sum.iterations += o.iterations
					sum.interrupted += o.interrupted
					sum.dropped += o.dropped
					sum.inTests = append(sum.inTests, o.inTests...)
					sum.starts = append(sum.starts, o.starts...)
					sum.vuIDs = append(sum.vuIDs, o.vuIDs...)
				}
				if sum.iterations != whole.iterations || sum.interrupted != whole.interrupted || sum.dropped != whole.dropped {
					t.Errorf("segments: %d/%d/%v iterations/interrupted/dropped, whole test %d/%d/%v",
						sum.iterations, sum.interrupted, sum.dropped, whole.iterations, whole.interrupted, whole.dropped)
				}
				sortU(sum.vuIDs)
				sortU(whole.vuIDs)
				if !reflect.DeepEqual(sum.vuIDs, whole.vuIDs) {
					t.Errorf("global VU ids %v, whole test %v", sum.vuIDs, whole.vuIDs)
				}
				sortU(sum.inTests)
				if !unique(sum.inTests) {
					t.Errorf("iterationInTest values repeat across segments: %v", sum.inTests)
				}
				if sc.exact {
					sort.Slice(sum.starts, func(i, j int) bool { return sum.starts[i] < sum.starts[j] })
					if !reflect.DeepEqual(sum.starts, whole.starts) {
						t.Errorf("start times %v, whole test %v", sum.starts, whole.starts)
					}
					if !reflect.DeepEqual(sum.inTests, whole.inTests) {
						t.Errorf("iterationInTest %v, whole test %v", sum.inTests, whole.inTests)
					}
				}
			})
		}
	}
}

func sortU(s []uint64) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }

func unique(sorted []uint64) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return false
		}
	}
	return true
}

func TestCase27ExecutionSegment(t *testing.T) {
	// per-vu-iterations 4 VUs × 2 iterations, instance 1/2:1 of 0,1/2,1:
	// local VUs 1,2 = global 2,4; iterationInTest 1,3,5,7.
	synctest.Test(t, func(t *testing.T) {
		r := runScenarios(t, t.Context(), `{"split":{"executor":"per-vu-iterations","vus":4,"iterations":2}}`,
			"1/2:1", "0,1/2,1", nil)
		var local, global, iters uint64
		for _, it := range r.rec.iters {
			local += it.vu
			global += it.vuInTest
			iters += it.inTest
		}
		if len(r.rec.iters) != 4 || local != 6 || global != 12 || iters != 16 {
			t.Errorf("%d iterations, sums local %d global %d iterationInTest %d; want 4, 6, 12, 16",
				len(r.rec.iters), local, global, iters)
		}
	})
}
