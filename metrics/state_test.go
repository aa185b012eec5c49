package metrics

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func TestSinkJSONRoundTrip(t *testing.T) {
	c := &CounterSink{}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Add(Sample{Value: 2, Time: t0})
	c.Add(Sample{Value: 3, Time: t0.Add(time.Second)})
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var c2 CounterSink
	if err := json.Unmarshal(b, &c2); err != nil {
		t.Fatal(err)
	}
	if c2.Sum != 5 || c2.IsEmpty() || !c2.First.Equal(t0) {
		t.Fatalf("counter round trip: %+v", c2)
	}
	for _, n := range []int{0, 10, ExactTrendLimit + 500} {
		tr := &TrendSink{}
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		for range n {
			tr.AddValue(rng.ExpFloat64() * 100)
		}
		b, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		var tr2 TrendSink
		if err := json.Unmarshal(b, &tr2); err != nil {
			t.Fatal(err)
		}
		for _, q := range []float64{0, 0.5, 0.9, 0.95, 0.99, 1} {
			if a, b := tr.P(q), tr2.P(q); a != b {
				t.Errorf("n=%d p(%v): %v before, %v after", n, q, a, b)
			}
		}
		if tr2.Count() != tr.Count() || tr2.Sum() != tr.Sum() || tr2.IsExact() != tr.IsExact() {
			t.Errorf("n=%d: count/sum/exactness changed", n)
		}
	}
	var bad TrendSink
	if err := json.Unmarshal([]byte(`"AAAA"`), &bad); err == nil {
		t.Error("a corrupt trend decoded")
	}
}
