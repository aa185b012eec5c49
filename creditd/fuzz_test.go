package creditd_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tallyhq/tally/creditd"
)

// FuzzParseLatency: --ai-latency values parse or fail cleanly; an accepted latency is not negative and
// reads back the same from its String.
func FuzzParseLatency(f *testing.F) {
	for _, s := range []string{"0", "200ms", "200ms±50ms", "1s+-100ms", "±", "+-", "-1s", "9223372036854775807ns±1ns",
		"1h±2562047h", " 5ms ", "5ms±", "±5ms", "1e9s", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := creditd.ParseLatency(s)
		if err != nil {
			return
		}
		if l.Base < 0 || l.Jitter < 0 {
			t.Fatalf("ParseLatency(%q) = %+v: negative", s, l)
		}
		back, err := creditd.ParseLatency(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseLatency(%q) = %+v, String %q reads back as %+v, %v", s, l, l.String(), back, err)
		}
		for _, u := range []float64{0, 0.5, 0.999999} {
			if d := l.Draw(u); d < 0 {
				t.Fatalf("%+v.Draw(%v) = %s", l, u, d)
			}
		}
	})
}

// FuzzRates: --rate values parse or fail cleanly (creditd exits on a refused one), and accepted rates
// are in range, can be priced and read back the same from String.
func FuzzRates(f *testing.F) {
	for _, s := range []string{"ai_search=5", "a=1,b=2", "x=0", "x=1000000001", "X=1", "=1", "a=", "a=1,,b=2", " a = 1 ",
		"a=+1", "a=0x10", strings.Repeat("a", 65) + "=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := creditd.Rates{}
		if err := r.Set(s); err != nil {
			return
		}
		back := creditd.Rates{}
		if err := back.Set(r.String()); err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("Set(%q) = %v; String %q reads back as %v, %v", s, r, r.String(), back, err)
		}
		for name, n := range r {
			if n < 1 || n > 1_000_000_000 {
				t.Fatalf("Set(%q): %s=%d", s, name, n)
			}
			if _, err := r.Cost(name, 1); err != nil {
				t.Fatalf("Set(%q): feature %q cannot be priced: %v", s, name, err)
			}
		}
	})
}
