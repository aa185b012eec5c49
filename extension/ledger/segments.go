package ledger

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// SegmentReport says which execution segments the verified journals cover.
// Complete is true when they tile the whole test (0 to 1) exactly once, or
// when no instance recorded a segment (a run that was not split).
type SegmentReport struct {
	Sequence   string   `json:"sequence,omitempty"` // the segment sequence the instances recorded
	Present    []string `json:"present"`
	Missing    []string `json:"missing,omitempty"`
	Duplicated []string `json:"duplicated,omitempty"`
	Complete   bool     `json:"complete"`
}

type segSpan struct {
	from, to *big.Rat
	text     string
	inst     string
}

func parseFraction(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "%") {
		r, ok := new(big.Rat).SetString(strings.TrimSuffix(s, "%"))
		if !ok {
			return nil, false
		}
		return r.Quo(r, big.NewRat(100, 1)), true
	}
	return new(big.Rat).SetString(s)
}

// parseSegment reads "from:to" (fractions, decimals or percentages); ""
// is the whole test.
func parseSegment(s string) (from, to *big.Rat, err error) {
	if s == "" {
		return big.NewRat(0, 1), big.NewRat(1, 1), nil
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return nil, nil, fmt.Errorf("execution segment %q: want from:to", s)
	}
	from, ok1 := parseFraction(a)
	to, ok2 := parseFraction(b)
	if !ok1 || !ok2 || from.Sign() < 0 || to.Cmp(big.NewRat(1, 1)) > 0 || from.Cmp(to) >= 0 {
		return nil, nil, fmt.Errorf("execution segment %q: want from:to with 0 <= from < to <= 1", s)
	}
	return from, to, nil
}

func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.RatString()
}

// checkSegments reports whether the instances' segments tile [0, 1]: a
// gap is a missing segment, a segment seen twice (or overlapping another)
// a duplicated one. It returns nil when no instance recorded a segment.
func checkSegments(insts []instance) *SegmentReport {
	any := false
	for _, in := range insts {
		any = any || in.segment != ""
	}
	if !any {
		return nil
	}
	rep := &SegmentReport{}
	var spans []segSpan
	for _, in := range insts {
		if in.sequence != "" {
			if rep.Sequence != "" && rep.Sequence != in.sequence {
				rep.Duplicated = append(rep.Duplicated, fmt.Sprintf("sequences differ: %s and %s", rep.Sequence, in.sequence))
			}
			rep.Sequence = in.sequence
		}
		from, to, err := parseSegment(in.segment)
		if err != nil {
			rep.Duplicated = append(rep.Duplicated, fmt.Sprintf("instance %s: %v", in.name, err))
			continue
		}
		spans = append(spans, segSpan{from: from, to: to, text: ratText(from) + ":" + ratText(to), inst: in.name})
	}
	sort.Slice(spans, func(i, j int) bool {
		if c := spans[i].from.Cmp(spans[j].from); c != 0 {
			return c < 0
		}
		return spans[i].to.Cmp(spans[j].to) < 0
	})
	at := big.NewRat(0, 1)
	for _, s := range spans {
		rep.Present = append(rep.Present, s.text)
		switch c := s.from.Cmp(at); {
		case c > 0:
			rep.Missing = append(rep.Missing, ratText(at)+":"+ratText(s.from))
		case c < 0:
			rep.Duplicated = append(rep.Duplicated, fmt.Sprintf("%s (instance %s overlaps a segment already covered)", s.text, s.inst))
		}
		if s.to.Cmp(at) > 0 {
			at = s.to
		}
	}
	if one := big.NewRat(1, 1); at.Cmp(one) < 0 {
		rep.Missing = append(rep.Missing, ratText(at)+":1")
	}
	rep.Complete = len(rep.Missing) == 0 && len(rep.Duplicated) == 0
	return rep
}

// Text is the report in plain words, as the verdict shows it.
func (s *SegmentReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d journal", len(s.Present))
	if len(s.Present) != 1 {
		b.WriteString("s")
	}
	fmt.Fprintf(&b, " (%s)", strings.Join(s.Present, ", "))
	if s.Sequence != "" {
		fmt.Fprintf(&b, " of sequence %s", s.Sequence)
	}
	if s.Complete {
		b.WriteString(": complete")
		return b.String()
	}
	if len(s.Missing) > 0 {
		fmt.Fprintf(&b, "; missing %s", strings.Join(s.Missing, ", "))
	}
	if len(s.Duplicated) > 0 {
		fmt.Fprintf(&b, "; duplicated %s", strings.Join(s.Duplicated, ", "))
	}
	return b.String()
}
