package executor

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// SegmentError reports an invalid --execution-segment or
// --execution-segment-sequence value; the CLI maps it to exit code 255.
type SegmentError struct {
	Value string // the offending text
	Err   error
}

func (e *SegmentError) Error() string {
	return fmt.Sprintf("invalid execution segment %q: %v", e.Value, e.Err)
}

// Unwrap returns the cause.
func (e *SegmentError) Unwrap() error { return e.Err }

// Segment is the part [From, To) of a test that one instance runs, with
// 0 ≤ From < To ≤ 1. The zero Segment is invalid; use WholeSegment.
type Segment struct {
	From, To *big.Rat
}

// WholeSegment returns the segment 0:1, the whole test.
func WholeSegment() Segment { return Segment{From: new(big.Rat), To: big.NewRat(1, 1)} }

// String renders the segment as "from:to" with fractions.
func (s Segment) String() string { return ratString(s.From) + ":" + ratString(s.To) }

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.String()
}

// parseFraction parses "1/3", "0.5", "50%" or "1".
func parseFraction(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty number")
	}
	pct := strings.HasSuffix(s, "%")
	if pct {
		s = strings.TrimSpace(strings.TrimSuffix(s, "%"))
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "eE") {
		return nil, fmt.Errorf("%q is not a fraction (1/3), a decimal (0.5) or a percentage (50%%)", s)
	}
	if pct {
		r.Quo(r, big.NewRat(100, 1))
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(1, 1)) > 0 {
		return nil, fmt.Errorf("%s is outside 0..1", ratString(r))
	}
	return r, nil
}

// ParseSegment parses an execution segment: "from:to" or "to" (= "0:to"),
// each number a fraction (1/3), a decimal (0.5) or a percentage (50%), with
// 0 ≤ from < to ≤ 1. The empty string is the whole test. Errors are
// *SegmentError.
func ParseSegment(s string) (Segment, error) {
	if strings.TrimSpace(s) == "" {
		return WholeSegment(), nil
	}
	fail := func(err error) (Segment, error) { return Segment{}, &SegmentError{Value: s, Err: err} }
	fromText, toText, hasFrom := strings.Cut(s, ":")
	if !hasFrom {
		fromText, toText = "0", s
	}
	from, err := parseFraction(fromText)
	if err != nil {
		return fail(err)
	}
	to, err := parseFraction(toText)
	if err != nil {
		return fail(err)
	}
	if from.Cmp(to) >= 0 {
		return fail(fmt.Errorf("the start %s must be less than the end %s", ratString(from), ratString(to)))
	}
	return Segment{From: from, To: to}, nil
}

// Sequence is the ordered list of boundaries that cuts a test into the
// segments of all instances, e.g. 0, 1/3, 2/3, 1. It always starts at 0 and
// ends at 1.
type Sequence []*big.Rat

// ParseSequence parses a comma-separated, strictly increasing list of
// boundaries ("0,1/3,2/3,1"). Missing 0 and 1 ends are added. The empty
// string is the empty sequence (derive it from the segment). Errors are
// *SegmentError.
func ParseSequence(s string) (Sequence, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var seq Sequence
	for _, part := range strings.Split(s, ",") {
		r, err := parseFraction(part)
		if err != nil {
			return nil, &SegmentError{Value: s, Err: err}
		}
		if n := len(seq); n > 0 && r.Cmp(seq[n-1]) <= 0 {
			return nil, &SegmentError{Value: s, Err: fmt.Errorf("boundaries must increase: %s follows %s", ratString(r), ratString(seq[n-1]))}
		}
		seq = append(seq, r)
	}
	seq = seq.filled()
	if _, err := seq.period(); err != nil { // refused here, not when an instance places its segment
		return nil, err
	}
	return seq, nil
}

// filled returns the sequence with 0 and 1 added where missing.
func (q Sequence) filled() Sequence {
	out := q
	if len(out) == 0 || out[0].Sign() != 0 {
		out = append(Sequence{new(big.Rat)}, out...)
	}
	if one := big.NewRat(1, 1); out[len(out)-1].Cmp(one) != 0 {
		out = append(out, one)
	}
	return out
}

// String renders the sequence as comma-separated fractions.
func (q Sequence) String() string {
	parts := make([]string, len(q))
	for i, r := range q {
		parts[i] = ratString(r)
	}
	return strings.Join(parts, ",")
}

// period is L, the lcm of the reduced denominators of the sequence's segment
// lengths, refused above maxStripe.
func (q Sequence) period() (*big.Int, error) {
	period := big.NewInt(1)
	for i := 0; i+1 < len(q); i++ {
		d := new(big.Rat).Sub(q[i+1], q[i]).Denom()
		g := new(big.Int).GCD(nil, nil, period, d)
		period.Mul(period, new(big.Int).Quo(d, g))
		if period.Cmp(big.NewInt(maxStripe)) > 0 {
			return nil, &SegmentError{Value: q.String(), Err: fmt.Errorf("the boundaries are too fine-grained (common denominator above %d); use simpler fractions", maxStripe)}
		}
	}
	return period, nil
}

// maxStripe bounds the striping pattern length (the lcm of the segment
// denominators) so a sequence like 0.3333333 cannot exhaust memory.
const maxStripe = 10_000_000

// Tuple is one instance's place in a segmented test: its segment within the
// sequence, and the striping that decides which global indices (VUs,
// iterations, arrival slots) it owns. Global indices are assigned in a
// repeating pattern of length L; the instance owns len(offsets) of each L.
// A Tuple is immutable and safe for concurrent use.
type Tuple struct {
	Segment  Segment
	Sequence Sequence
	index    int     // position of Segment in Sequence
	lengths  []int64 // segment lengths in units of 1/period, by position
	period   int64   // L
	offsets  []int64 // owned positions in [0, period), ascending
}

// NewTuple places seg in seq (nil seq: seg plus the gaps around it) and
// computes the striping. seg must be one of seq's segments.
func NewTuple(seg Segment, seq Sequence) (*Tuple, error) {
	if seg.From == nil || seg.To == nil {
		seg = WholeSegment()
	}
	if len(seq) == 0 {
		seq = Sequence{seg.From, seg.To}.filled()
	}
	index := -1
	for i := 0; i+1 < len(seq); i++ {
		if seq[i].Cmp(seg.From) == 0 && seq[i+1].Cmp(seg.To) == 0 {
			index = i
			break
		}
	}
	if index < 0 {
		return nil, &SegmentError{Value: seg.String(), Err: fmt.Errorf("the segment is not one of the sequence %s", seq)}
	}
	period, err := seq.period()
	if err != nil {
		return nil, err
	}
	lens := make([]*big.Rat, len(seq)-1)
	for i := range lens {
		lens[i] = new(big.Rat).Sub(seq[i+1], seq[i])
	}
	L := period.Int64()
	lengths := make([]int64, len(lens))
	for i, r := range lens {
		n := new(big.Int).Mul(r.Num(), period)
		lengths[i] = n.Quo(n, r.Denom()).Int64()
	}
	t := &Tuple{Segment: seg, Sequence: seq, index: index, lengths: lengths, period: L}
	t.offsets = stripe(lengths, L, index)
	return t, nil
}

// stripe assigns the indices 0..period-1 to the segments of the given
// lengths (in units of 1/period) and returns those of segment mine. Segments
// are visited in order of decreasing length (ties keep their position); index
// j goes to the first segment whose count c satisfies j·n ≥ c·period.
func stripe(lengths []int64, period int64, mine int) []int64 {
	order := make([]int, 0, len(lengths))
	for i, n := range lengths {
		if n > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return lengths[order[a]] > lengths[order[b]] })
	counts := make([]int64, len(lengths))
	owned := make([]int64, 0, lengths[mine])
	for j := int64(0); j < period; j++ {
		for _, i := range order {
			if j*lengths[i] >= counts[i]*period {
				counts[i]++
				if i == mine {
					owned = append(owned, j)
				}
				break
			}
		}
	}
	return owned
}

// IsWhole reports whether the tuple covers the whole test.
func (t *Tuple) IsWhole() bool { return len(t.lengths) == 1 }

// Scale returns this instance's share of the integer quantity q: the number
// of owned global indices below q. Shares of all instances sum to q.
func (t *Tuple) Scale(q int64) int64 {
	if q <= 0 {
		return 0
	}
	n := int64(len(t.offsets))
	full := q / t.period * n
	rem := q % t.period
	return full + int64(sort.Search(len(t.offsets), func(i int) bool { return t.offsets[i] >= rem }))
}

// Global returns the k-th (0-based) global index this instance owns.
func (t *Tuple) Global(k int64) int64 {
	n := int64(len(t.offsets))
	return k/n*t.period + t.offsets[k%n]
}

// Owns reports whether the global index i belongs to this instance.
func (t *Tuple) Owns(i int64) bool {
	r := i % t.period
	j := sort.Search(len(t.offsets), func(k int) bool { return t.offsets[k] >= r })
	return j < len(t.offsets) && t.offsets[j] == r
}

// shareTuple returns the tuple that splits a quantity in proportion to the
// instances' shares of value (k6 splits shared-iterations' iterations by the
// instances' VU shares). It returns nil when this instance's share is zero.
func (t *Tuple) shareTuple(value int64) *Tuple {
	if t.IsWhole() {
		return t
	}
	if value <= 0 {
		return nil
	}
	shares := make([]int64, len(t.lengths))
	for i := range t.lengths {
		other := &Tuple{period: t.period, offsets: stripe(t.lengths, t.period, i)}
		shares[i] = other.Scale(value)
	}
	if shares[t.index] == 0 {
		return nil
	}
	return &Tuple{Segment: t.Segment, Sequence: t.Sequence, index: t.index, lengths: shares,
		period: value, offsets: stripe(shares, value, t.index)}
}
