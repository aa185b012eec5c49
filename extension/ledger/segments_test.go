package ledger

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestSegmentsCompleteness: each journal records its execution segment and
// the sequence; verifying journals reports missing and duplicated segments
// and gives no pass for an incomplete set.
func TestSegmentsCompleteness(t *testing.T) {
	t.Parallel()
	const seq = "0,1/3,2/3,1"
	dir := t.TempDir()
	journal := func(inst, seg string) string {
		s := newScript(t, Config{Run: "run1", Instance: inst, Segment: seg, SegmentSequence: seq})
		acct := "acct-" + inst
		s.open(acct, 100)
		s.deduct(1, 2, acct, 5, okBal(95))
		s.close(acct, 95)
		p := filepath.Join(dir, inst+".ndjson")
		if err := s.l.ExportJournal(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := journal("a", "0:1/3"), journal("b", "1/3:2/3"), journal("c", "2/3:1")
	dup := journal("b2", "1/3:2/3")
	cases := []struct {
		name    string
		paths   []string
		verdict Verdict
		text    string
	}{
		{"complete", []string{a, b, c}, Pass, "segments      3 journals (0:1/3, 1/3:2/3, 2/3:1) of sequence 0,1/3,2/3,1: complete"},
		{"one missing", []string{a, c}, Undecided, "missing 1/3:2/3"},
		{"last missing", []string{a, b}, Undecided, "missing 2/3:1"},
		{"alone", []string{b}, Undecided, "missing 0:1/3, 2/3:1"},
		{"duplicated", []string{a, b, dup, c}, Undecided, "duplicated 1/3:2/3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := VerifyJournals(context.Background(), tc.paths, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out := text(r)
			if r.Verdict != tc.verdict || !strings.Contains(out, tc.text) {
				t.Fatalf("verdict %s, want %s with %q:\n%s", r.Verdict, tc.verdict, tc.text, out)
			}
			if tc.verdict != Pass && !strings.Contains(out, "no pass for an incomplete set") {
				t.Fatalf("the verdict does not say why:\n%s", out)
			}
		})
	}
}

func TestParseSegment(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0:1/2", "50%:100%", "0.25:0.5", ""} {
		if _, _, err := parseSegment(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"1/2", "1/2:1/3", "x:1", "0:2"} {
		if _, _, err := parseSegment(s); err == nil {
			t.Errorf("%q: want an error", s)
		}
	}
}
