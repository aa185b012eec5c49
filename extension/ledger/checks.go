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
	op        *hop   // obsOK, obsSeen
	rd        *hread // obsRead
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
			Expected: fmt.Sprintf("final balance in [%d, %d]", iv.Lo, hi),
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
			Expected: fmt.Sprintf("final balance in [%d, %d]", iv.Lo, hi),
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
	var explicit []*hop
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

// chainCheck sorts confirmed deductions by the balance they reported: since
// balances only fall, that is the server's order. Each step must be at least
// the deduction's own amount (else a lost update), and the extra drops must
// be covered by unknown deductions and confirmed ones without a balance,
// invoked before that link returned (else an overcharge).
func (c *acctCheck) chainCheck() {
	var links []*hop
	type pt struct{ t, v int64 }
	var cover, must []pt
	for i := range c.a.ops {
		o := &c.a.ops[i]
		switch {
		case o.state == stCharged && o.out.Kind == OK && o.out.HasBalance:
			links = append(links, o)
		case o.state == stCharged:
			cover = append(cover, pt{o.call, o.eff})
			if o.ret != noReturn {
				must = append(must, pt{o.ret, o.eff})
			}
		case o.state == stMaybe:
			cover = append(cover, pt{o.call, o.eff})
		}
	}
	if len(links) == 0 {
		return
	}
	sort.SliceStable(links, func(i, j int) bool {
		if links[i].out.Balance != links[j].out.Balance {
			return links[i].out.Balance > links[j].out.Balance
		}
		return links[i].call < links[j].call
	})
	prefix := func(p []pt) ([]int64, []int64) {
		slices.SortFunc(p, func(a, b pt) int { return cmpInt(a.t, b.t) })
		ts, ps := make([]int64, len(p)), make([]int64, len(p)+1)
		for i, x := range p {
			ts[i], ps[i+1] = x.t, ps[i]+x.v
		}
		return ts, ps
	}
	coverT, coverS := prefix(cover)
	mustT, mustS := prefix(must)
	coveredBy := func(t int64) int64 { // invoked by t
		return coverS[sort.Search(len(coverT), func(i int) bool { return coverT[i] > t })]
	}
	mustBefore := func(t int64) int64 { // returned before t
		return mustS[sort.Search(len(mustT), func(i int) bool { return mustT[i] >= t })]
	}

	prev, start := c.b0, 0
	var prevOp *hop
	if !c.hasOpen {
		prev, prevOp, start = links[0].out.Balance, links[0], 1
	}
	var extra, overRep, leakRep int64
	for _, o := range links[start:] {
		bal := o.out.Balance
		gap := prev - bal
		if gap < o.eff {
			credits := o.eff - gap
			exp := fmt.Sprintf("at most %d (the opening balance %d minus its %d credits)", prev-o.eff, prev, o.eff)
			if prevOp != nil {
				exp = fmt.Sprintf("at most %d (%d after %s, minus its %d credits)", prev-o.eff, prev, c.ref(prevOp), o.eff)
			}
			seen := fmt.Sprintf("%d", bal)
			if gap == 0 {
				seen += " (the same balance again: one debit overwrote the other)"
			}
			c.add(Finding{
				Kind: KindLostUpdate, Credits: credits,
				Expected: "balance after " + c.ref(o) + " " + exp,
				Seen:     seen,
				Ops:      c.refs(prevOp, o),
			}, c.ref(o))
			c.leak.chain += credits
		}
		if d := gap - o.eff; d > 0 {
			extra += d
		}
		if ex := extra - coveredBy(o.ret); ex > overRep {
			c.add(Finding{
				Kind: KindOvercharge, Credits: ex - overRep,
				Expected: fmt.Sprintf("balance drops beyond confirmed amounts of at most %d credits (unknown or unreported deductions begun by then)", coveredBy(o.ret)+overRep),
				Seen:     fmt.Sprintf("balance %d after %s: %d credits dropped beyond confirmed amounts", bal, c.ref(o), extra),
				Ops:      c.refs(prevOp, o),
				Detail:   "credits taken that no request explains (a double charge, a phantom or a server-only debit)",
			}, c.ref(o))
			overRep = ex
			c.over.chain = max(c.over.chain, overRep)
		}
		if c.hasOpen {
			if lk := mustBefore(o.call) - extra; lk > leakRep {
				c.add(Finding{
					Kind: KindLostUpdate, Credits: lk - leakRep,
					Expected: fmt.Sprintf("the balance after %s to reflect %d credits of deductions confirmed (without a balance) before it began", c.ref(o), mustBefore(o.call)),
					Seen:     fmt.Sprintf("only %d credits beyond the chain's own amounts", extra),
					Ops:      c.refs(o),
				}, c.ref(o)+"/must")
				leakRep = lk
				c.leak.chain += lk
			}
		}
		prev, prevOp = bal, o
		o.chainLeak, o.chainOver = c.leak.chain, overRep
	}
}

// versionCheck uses the account version, when the server reports it on
// every confirmed deduction: versions must be distinct, rise with falling
// balances, and their gaps (debits the client did not see confirmed) must
// be covered by unknown deductions.
func (c *acctCheck) versionCheck() {
	var links []*hop
	var coverCalls []int64
	for i := range c.a.ops {
		o := &c.a.ops[i]
		switch {
		case o.state == stCharged && o.out.Kind == OK && o.out.HasBalance:
			if !o.out.HasVersion {
				return
			}
			links = append(links, o)
		case o.state != stNone:
			coverCalls = append(coverCalls, o.call)
		}
	}
	if len(links) == 0 {
		return
	}
	byVer := slices.Clone(links)
	sort.SliceStable(byVer, func(i, j int) bool { return byVer[i].out.Version < byVer[j].out.Version })
	for i := 1; i < len(byVer); i++ {
		if byVer[i].out.Version == byVer[i-1].out.Version {
			c.add(Finding{
				Kind: KindLostUpdate, Credits: byVer[i].eff,
				Expected: "a new version for every confirmed deduction",
				Seen:     fmt.Sprintf("version %d reported twice", byVer[i].out.Version),
				Ops:      c.refs(byVer[i-1], byVer[i]),
			}, c.ref(byVer[i]))
		}
	}
	sort.SliceStable(links, func(i, j int) bool {
		if links[i].out.Balance != links[j].out.Balance {
			return links[i].out.Balance > links[j].out.Balance
		}
		return links[i].out.Version < links[j].out.Version
	})
	slices.Sort(coverCalls)
	coveredBy := func(t int64) int64 {
		return int64(sort.Search(len(coverCalls), func(i int) bool { return coverCalls[i] > t }))
	}
	var prevVer int64
	start := 0
	if c.hasOpen && c.open.snap.HasVersion {
		prevVer = c.open.snap.Version
	} else {
		prevVer, start = links[0].out.Version, 1
	}
	var gaps, rep int64
	for i := start; i < len(links); i++ {
		o := links[i]
		v := o.out.Version
		if v <= prevVer {
			if i == 0 || links[i-1].out.Version != v {
				c.add(Finding{
					Kind: KindLostUpdate, Credits: o.eff,
					Expected: fmt.Sprintf("version above %d (balances fall as versions rise)", prevVer),
					Seen:     fmt.Sprintf("version %d with balance %d", v, o.out.Balance),
					Ops:      c.refs(o),
				}, c.ref(o))
			}
			continue
		}
		gaps += v - prevVer - 1
		if ex := gaps - coveredBy(o.ret); ex > rep {
			c.add(Finding{
				Kind:     KindOvercharge,
				Expected: fmt.Sprintf("at most %d unconfirmed debits (unknown or unreported deductions begun by then)", coveredBy(o.ret)+rep),
				Seen:     fmt.Sprintf("%d version gaps by the time %s returned version %d", gaps, c.ref(o), v),
				Ops:      c.refs(o),
				Detail:   "debits that no request explains",
			}, c.ref(o))
			rep = ex
		}
		prevVer = v
	}
	if c.hasOpen && c.hasClose && c.open.snap.HasVersion && c.close.snap.HasVersion {
		n := c.close.snap.Version - c.open.snap.Version
		var sure, maybe int64
		for i := range c.a.ops {
			o := &c.a.ops[i]
			if o.call > c.close.ret || o.state == stNone {
				continue
			}
			if o.state == stCharged && o.ret < c.close.call {
				sure++
			} else {
				maybe++
			}
		}
		switch {
		case n < sure:
			c.add(Finding{
				Kind:     KindLostUpdate,
				Expected: fmt.Sprintf("the version to rise by at least %d (confirmed deductions)", sure),
				Seen:     fmt.Sprintf("it rose by %d", n),
			}, "version-close")
		case n > sure+maybe:
			c.add(Finding{
				Kind:     KindOvercharge,
				Expected: fmt.Sprintf("the version to rise by at most %d (confirmed and unknown deductions)", sure+maybe),
				Seen:     fmt.Sprintf("it rose by %d", n),
				Detail:   "debits that no request explains",
			}, "version-close")
		}
	}
}

// realTimeCheck places every observation in server order (by balance) and
// checks that order against real time: an entry cannot come after one that
// began only after it had ended. A read placed too early is stale; any other
// contradiction is a real-time violation.
func (c *acctCheck) realTimeCheck() {
	list := c.observations()
	var maxCall int64 = -1 << 63
	var culprit *obs
	for i := 0; i < len(list); {
		j := i + 1
		for j < len(list) && list[j].v == list[i].v && list[j].kind == obsOK == (list[i].kind == obsOK) {
			j++
		}
		// entries in [i, j) observed the same state: unordered among themselves
		for k := i; k < j; k++ {
			x := &list[k]
			if culprit == nil || maxCall <= x.ret {
				continue
			}
			if culprit.kind != obsOK {
				c.add(Finding{
					Kind:     KindStaleRead,
					Expected: fmt.Sprintf("a balance of at most %d (%s had ended before it began)", x.v, c.obsRef(x)),
					Seen:     fmt.Sprintf("%d", culprit.v),
					Ops:      []string{c.obsRef(culprit), c.obsRef(x)},
				}, c.obsRef(culprit))
			} else {
				c.add(Finding{
					Kind:     KindRealTime,
					Expected: fmt.Sprintf("%s (balance %d) to precede %s (balance %d) in real time", c.obsRef(culprit), culprit.v, c.obsRef(x), x.v),
					Seen:     fmt.Sprintf("%s began after %s had ended", c.obsRef(culprit), c.obsRef(x)),
					Ops:      []string{c.obsRef(culprit), c.obsRef(x)},
				}, c.obsRef(x))
			}
		}
		for k := i; k < j; k++ {
			if list[k].call > maxCall {
				maxCall, culprit = list[k].call, &list[k]
			}
		}
		i = j
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

func firstN(ops []*hop, n int) []*hop {
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
