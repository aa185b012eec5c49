package k6http

import (
	"strconv"
	"sync"
	"testing"

	"github.com/tallyhq/tally/metrics"
)

// TestTagSets: the run's table returns the set buildTags builds, the same
// set for equal inputs (whichever VU asks, with slices of its own), another
// for inputs that differ in any part, and the right set when two inputs
// share a slot, also when VUs use it at once (run with -race).
func TestTagSets(t *testing.T) {
	t.Parallel()
	ts := newTagSets()
	base := func(group string) []metrics.Tag {
		return []metrics.Tag{{Key: "group", Value: group}, {Key: "scenario", Value: "s"}}
	}
	hop := func(status string) *hopTags {
		return &hopTags{method: "GET", url: "http://x/a", name: "http://x/a", status: status, proto: "HTTP/1.1", expected: "true"}
	}
	check := func(got *metrics.TagSet, b []metrics.Tag, sys metrics.SystemTagSet, h *hopTags) {
		t.Helper()
		if want := buildTags(b, sys, h); !got.Equal(want) {
			t.Fatalf("set %v, want %v", got.Map(), want.Map())
		}
	}
	a := ts.get(base("::g"), metrics.DefaultSystemTags, hop("200"))
	check(a, base("::g"), metrics.DefaultSystemTags, hop("200"))
	if b := ts.get(base("::g"), metrics.DefaultSystemTags, hop("200")); b != a {
		t.Error("equal inputs gave another set")
	}
	for _, other := range []struct {
		b   []metrics.Tag
		sys metrics.SystemTagSet
		h   *hopTags
	}{
		{base("::h"), metrics.DefaultSystemTags, hop("200")},
		{base("::g"), metrics.DefaultSystemTags &^ metrics.SystemTagSet(metrics.TagProto), hop("200")},
		{base("::g"), metrics.DefaultSystemTags, hop("404")},
	} {
		got := ts.get(other.b, other.sys, other.h)
		check(got, other.b, other.sys, other.h)
		if got == a {
			t.Error("different inputs gave the same set")
		}
	}
	// Two inputs of one slot, in turn: each gets its own set.
	first := hop("0")
	slot := ts.hash(base("::g"), metrics.DefaultSystemTags, first) % tagSetSlots
	var second *hopTags
	for i := 1; second == nil; i++ {
		if h := hop(strconv.Itoa(i)); ts.hash(base("::g"), metrics.DefaultSystemTags, h)%tagSetSlots == slot {
			second = h
		}
	}
	for range 3 {
		check(ts.get(base("::g"), metrics.DefaultSystemTags, first), base("::g"), metrics.DefaultSystemTags, first)
		check(ts.get(base("::g"), metrics.DefaultSystemTags, second), base("::g"), metrics.DefaultSystemTags, second)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				h := hop(strconv.Itoa(200 + (g+i)%7))
				got := ts.get(base("::g"), metrics.DefaultSystemTags, h)
				if want := buildTags(base("::g"), metrics.DefaultSystemTags, h); !got.Equal(want) {
					t.Errorf("concurrent get: set %v, want %v", got.Map(), want.Map())
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkTagSets is the tag-set lookup of a request whose set the run's
// table holds (four URLs in turn, as a VU of bench/vus100.js asks).
func BenchmarkTagSets(b *testing.B) {
	base := []metrics.Tag{{Key: "group", Value: "::balance"}, {Key: "scenario", Value: "mix"}}
	var hs []*hopTags
	for _, p := range []string{"balance", "deduct", "ai-search", "ai-recommendations"} {
		u := "http://127.0.0.1:18300/api/v1/beta/" + p
		hs = append(hs, &hopTags{method: "GET", url: u, name: u, status: "200", proto: "HTTP/1.1", expected: "true"})
	}
	ts := newTagSets()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts.get(base, metrics.DefaultSystemTags, hs[i%len(hs)])
	}
}
