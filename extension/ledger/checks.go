package ledger

import (
	"fmt"
	"slices"
	"sort"
)

// sums are the prefix sums behind the counter rule: credits of charged
// deductions by return time, and of charged-or-maybe deductions by call time.
type sums struct {
	defRet, defRetSum   []int64 // sorted returns of charged ops; prefix sums (len+1)
	posCall, posCallSum []int64 // sorted calls of charged and maybe ops; prefix sums
}

func (c *acctCheck) buildSums() *sums {
	if c.sums != nil {
		return c.sums
	}
	type pt struct{ t, v int64 }
	def, pos := make([]pt, 0, len(c.a.ops)), make([]pt, 0, len(c.a.ops))
	for i := range c.a.ops {
		o := &c.a.ops[i]
		switch o.state {
		case stCharged:
			if o.ret != noReturn {
				def = append(def, pt{o.ret, o.eff})
			}
			pos = append(pos, pt{o.call, o.eff})
		case stMaybe:
			pos = append(pos, pt{o.call, o.eff})
		}
	}
	split := func(p []pt) ([]int64, []int64) {
		slices.SortFunc(p, func(a, b pt) int { return cmpInt(a.t, b.t) })
		ts := make([]int64, len(p))
		ps := make([]int64, len(p)+1)
		for i, x := range p {
			ts[i] = x.t
			ps[i+1] = ps[i] + x.v
		}
		return ts, ps
	}
	s := &sums{}
	s.defRet, s.defRetSum = split(def)
	s.posCall, s.posCallSum = split(pos)
	c.sums = s
	return s
}

// confirmedBefore is the credits of charged deductions that returned before t.
func (s *sums) confirmedBefore(t int64) int64 {
	i := sort.Search(len(s.defRet), func(i int) bool { return s.defRet[i] >= t })
	return s.defRetSum[i]
}

// possibleBy is the credits of charged or maybe deductions invoked by t.
func (s *sums) possibleBy(t int64) int64 {
	i := sort.Search(len(s.posCall), func(i int) bool { return s.posCall[i] > t })
	return s.posCallSum[i]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// obsKind says what produced an observed balance.
type obsKind uint8

const (
	obsOK   obsKind = iota // balance after a confirmed deduction
	obsSeen                // balance reported with an insufficient refusal
	obsRead                // a read
)

// obs is one observed balance over the interval [call, ret].
type obs struct {
	kind      obsKind
	v         int64
	call, ret int64
	op        *mergedOp   // obsOK, obsSeen
	rd        *mergedRead // obsRead
}

// observations lists every observed balance except the snapshots, in server
// order (balances only fall): by balance descending, a deduction's own
// balance_after before reads of the same value.
func (c *acctCheck) observations() []obs {
	if c.obs != nil {
		return c.obs
	}
	n := len(c.a.reads)
	for i := range c.a.ops {
		if c.a.ops[i].out.HasBalance {
			n++
		}
	}
	out := make([]obs, 0, n)
	for i := range c.a.ops {
		o := &c.a.ops[i]
		if !o.out.HasBalance {
			continue
		}
		switch {
		case o.out.Kind == OK && o.state == stCharged:
			out = append(out, obs{kind: obsOK, v: o.out.Balance, call: o.call, ret: o.ret, op: o})
		case o.out.Kind == Insufficient:
			out = append(out, obs{kind: obsSeen, v: o.out.Balance, call: o.call, ret: o.ret, op: o})
		}
	}
	for i := range c.a.reads {
		r := &c.a.reads[i]
		out = append(out, obs{kind: obsRead, v: r.snap.Balance, call: r.call, ret: r.ret, rd: r})
	}
	slices.SortStableFunc(out, func(a, b obs) int {
		if a.v != b.v {
			return cmpInt(b.v, a.v)
		}
		if (a.kind == obsOK) != (b.kind == obsOK) {
			if a.kind == obsOK {
				return -1
			}
			return 1
		}
		return cmpInt(a.call, b.call)
	})
	c.obs = out
	return out
}

func (c *acctCheck) obsRef(o *obs) string {
	if o.rd != nil {
		return c.h.ref(o.rd.inst, o.rd.id)
	}
	return c.ref(o.op)
}

// priceChecks compares charged credits with the expected price.
func (c *acctCheck) priceChecks() {
	for i := range c.a.ops {
		o := &c.a.ops[i]
		switch {
		case o.out.Kind == OK && o.out.HasCharged && o.out.Charged != o.amount:
			c.add(Finding{
				Kind: KindPriceMismatch, Credits: abs(o.out.Charged - o.amount),
				Expected: fmt.Sprintf("charged %d credits for %s", o.amount, featureName(o.feature)),
				Seen:     fmt.Sprintf("charged %d", o.out.Charged),
				Ops:      c.refs(o),
			}, c.ref(o))
		case o.out.Kind == Insufficient && o.out.HasBalance && o.out.Balance >= o.amount && !c.overdraft:
			c.add(Finding{
				Kind:     KindPriceMismatch,
				Expected: fmt.Sprintf("refused only below %d credits (the price of %s)", o.amount, featureName(o.feature)),
				Seen:     fmt.Sprintf("refused as insufficient at balance %d", o.out.Balance),
				Ops:      c.refs(o),
				Detail:   "the server priced the request higher, or refused it wrongly",
			}, c.ref(o))
		}
	}
}

// overdraftCheck flags any observed balance below zero.
func (c *acctCheck) overdraftCheck() {
	if c.overdraft {
		return
	}
	minV, n := int64(0), 0
	var ops []string
	see := func(v int64, inst int32, id uint64) {
		if v >= 0 {
			return
		}
		n++
		minV = min(minV, v)
		if len(ops) < 5 && id != 0 {
			ops = append(ops, c.h.ref(inst, id))
		}
	}
	for i := range c.a.ops {
		o := &c.a.ops[i]
		if o.out.HasBalance && (o.out.Kind == OK || o.out.Kind == Insufficient) {
			see(o.out.Balance, o.inst, o.id)
		}
	}
	for i := range c.a.reads {
		r := &c.a.reads[i]
		see(r.snap.Balance, r.inst, r.id)
	}
	if c.hasClose {
		see(c.close.snap.Balance, 0, 0)
	}
	for _, t := range c.a.log {
		if t.HasBalance {
			see(t.BalanceAfter, 0, 0)
		}
	}
	if n > 0 {
		c.add(Finding{
			Kind: KindOverdraft, Credits: -minV,
			Expected: "balance never below 0",
			Seen:     fmt.Sprintf("%d negative balances, lowest %d", n, minV),
			Ops:      ops,
		}, "overdraft")
	}
}

// counterRule checks every observed balance v of an op over [call, ret]:
// B0 − (charged or maybe credits invoked by ret) ≤ v ≤ B0 − (charged credits
// returned before call), minus its own amount for a balance_after. Findings
// are reported incrementally in server order, so that one lost update (which
// shifts every later balance) is one finding, not thousands, and a read that
// merely sees a lost update already found is not called stale. Runs after
// chainCheck.
func (c *acctCheck) counterRule() {
	s := c.buildSums()
	var up, down int64 // excess already reported above / below the bounds
	for _, o := range c.observations() {
		hi := c.b0 - s.confirmedBefore(o.call)
		lo := c.b0 - s.possibleBy(o.ret)
		if o.kind == obsOK {
			hi -= o.op.eff
		}
		if o.kind == obsOK {
			// what the chain found up to this link shifts every later balance
			up = max(up, o.op.chainLeak)
			down = max(down, o.op.chainOver)
		}
		if ex := o.v - hi; ex > up {
			kind, what := KindStaleRead, "a read"
			switch o.kind {
			case obsOK:
				kind, what = KindLostUpdate, "the balance after a confirmed deduction"
			case obsSeen:
				what = "the balance reported with a refusal"
			}
			c.add(Finding{
				Kind: kind, Credits: ex - up,
				Expected: fmt.Sprintf("%s at most %d (start %d minus every deduction confirmed before it began)", what, hi+up, c.b0),
				Seen:     fmt.Sprintf("%d", o.v),
				Ops:      []string{c.obsRef(&o)},
			}, c.obsRef(&o))
			if o.kind == obsOK {
				up = ex
				c.leak.counter = up
			}
		}
		if de := lo - o.v; de > down {
			c.add(Finding{
				Kind: KindOvercharge, Credits: de - down,
				Expected: fmt.Sprintf("balance at least %d (start %d minus every deduction begun by then)", lo-down, c.b0),
				Seen:     fmt.Sprintf("%d", o.v),
				Ops:      []string{c.obsRef(&o)},
				Detail:   "credits taken that no request explains (a double charge, a phantom or a server-only debit)",
			}, c.obsRef(&o))
			down = de
			c.over.counter = down
		}
	}
}

// balanceRange renders the closing balance's allowed range; a range that
// is empty because more credits were confirmed than the account held is
// given by its upper end.
func balanceRange(lo, hi int64) string {
	if lo > hi {
		return fmt.Sprintf("at most %d (more credits confirmed than the account held)", hi)
	}
	return fmt.Sprintf("in [%d, %d]", lo, hi)
}

// intervalCheck checks the closing balance: it must lie in
// [B0 − charged − maybe, B0 − charged], counting the deductions relative to
// the closing snapshot like the counter rule does.
func (c *acctCheck) intervalCheck() {
	s := c.buildSums()
	end := c.close.snap.Balance
	hi := c.b0 - s.confirmedBefore(c.close.call)
	lo := c.b0 - s.possibleBy(c.close.ret)
	iv := &Interval{Lo: lo, Hi: hi, End: end}
	if !c.overdraft {
		iv.Lo = max(lo, 0)
	}
	c.rep.Interval = iv
	switch {
	case end > hi:
		c.leak.interval = end - hi
		c.add(Finding{
			Kind: KindLostUpdate, Credits: end - hi,
			Expected: "final balance " + balanceRange(iv.Lo, hi),
			Seen:     fmt.Sprintf("%d: %d credits confirmed but never taken", end, end-hi),
			Detail:   "lost updates, or confirmations without a debit",
		}, "interval")
		return
	case end < lo:
		c.over.interval = lo - end
		detail := "double charges, phantom charges or server-only debits; hand over the server log to tell which"
		if c.a.logSet {
			detail = "double charges, phantom charges or server-only debits (see the server-log findings)"
		}
		c.add(Finding{
			Kind: KindOvercharge, Credits: lo - end,
			Expected: "final balance " + balanceRange(iv.Lo, hi),
			Seen:     fmt.Sprintf("%d: %d credits taken beyond every request", end, lo-end),
			Detail:   detail,
		}, "interval")
		return
	}
	x := hi - end
	c.rep.UnknownTaken = x
	if x == 0 {
		return
	}
	// The credits X went to deductions counted in lo but not in hi.
	var legit int64
	var amounts []int64
	var explicit []*mergedOp
	for i := range c.a.ops {
		o := &c.a.ops[i]
		if o.call > c.close.ret {
			continue
		}
		inHi := o.state == stCharged && o.ret < c.close.call
		if o.state == stNone || inHi {
			continue
		}
		amounts = append(amounts, o.eff)
		if o.state == stMaybe && o.out.explicitError() {
			explicit = append(explicit, o)
			continue
		}
		legit += o.eff
	}
	if x > legit {
		c.cws = x - legit
		c.add(Finding{
			Kind: KindChargeWithoutService, Credits: x - legit,
			Expected: fmt.Sprintf("at most %d credits taken by requests without an answer", legit),
			Seen:     fmt.Sprintf("%d credits taken by unknown requests, so at least %d by requests answered with an error", x, x-legit),
			Ops:      c.refs(firstN(explicit, 10)...),
		}, "interval")
		return
	}
	if !subsetSum(amounts, x) {
		c.add(Finding{
			Kind: KindConservation, Credits: x,
			Expected: "the credits taken by unknown requests to add up to some of their prices",
			Seen:     fmt.Sprintf("%d credits, which no subset of the %d unknown requests adds up to", x, len(amounts)),
			Detail:   "a partial debit or a wrong price on a request whose answer was lost",
		}, "subset")
	}
}

// subsetSum reports whether some subset of amounts sums to x; when the
// search would be too large it answers true (no claim).
func subsetSum(amounts []int64, x int64) bool {
	var total int64
	for _, a := range amounts {
		total += a
	}
	if x < 0 || x > total {
		return false
	}
	if x == 0 || x == total {
		return true
	}
	words := int(x/64) + 1
	if int64(len(amounts))*int64(words) > 50_000_000 {
		return true
	}
	bits := make([]uint64, words)
	bits[0] = 1
	for _, a := range amounts {
		if a <= 0 || a > x {
			continue
		}
		shl(bits, a)
		if bits[x/64]&(1<<(x%64)) != 0 {
			return true
		}
	}
	return bits[x/64]&(1<<(x%64)) != 0
}

// shl ORs bits shifted left by n into bits (the subset-sum step), in place.
func shl(bits []uint64, n int64) {
	w, b := int(n/64), uint(n%64)
	for i := len(bits) - 1; i >= w; i-- {
		v := bits[i-w] << b
		if b != 0 && i-w-1 >= 0 {
			v |= bits[i-w-1] >> (64 - b)
		}
		bits[i] |= v
	}
}

// usedCheck checks remaining + used = granted on every read that reports used credits.
func (c *acctCheck) usedCheck() {
	if !c.hasOpen || !c.open.snap.HasUsed {
		return
	}
	granted := c.b0 + c.open.snap.Used
	check := func(s Snapshot, ref string) {
		if s.HasUsed && s.Balance+s.Used != granted {
			var ops []string
			if ref != "" {
				ops = []string{ref}
			}
			c.add(Finding{
				Kind: KindConservation, Credits: abs(s.Balance + s.Used - granted),
				Expected: fmt.Sprintf("remaining + used = %d (granted)", granted),
				Seen:     fmt.Sprintf("%d + %d = %d", s.Balance, s.Used, s.Balance+s.Used),
				Ops:      ops,
			}, "used "+ref)
		}
	}
	for i := range c.a.reads {
		r := &c.a.reads[i]
		check(r.snap, c.h.ref(r.inst, r.id))
	}
	if c.hasClose {
		check(c.close.snap, "")
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func firstN(ops []*mergedOp, n int) []*mergedOp {
	if len(ops) > n {
		return ops[:n]
	}
	return ops
}

func featureName(f string) string {
	if f == "" {
		return "the request"
	}
	return f
}
