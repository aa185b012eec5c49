package ledger

import (
	"fmt"
	"slices"
	"sort"
)

// timedCredit is credits at a time (a call or a return).
type timedCredit struct{ t, v int64 }

// timedSums are prefix sums of credits by time.
type timedSums struct{ ts, ps []int64 }

func newTimedSums(p []timedCredit) timedSums {
	slices.SortFunc(p, func(a, b timedCredit) int { return cmpInt(a.t, b.t) })
	s := timedSums{make([]int64, len(p)), make([]int64, len(p)+1)}
	for i, x := range p {
		s.ts[i], s.ps[i+1] = x.t, s.ps[i]+x.v
	}
	return s
}

// by is the credits at times up to t.
func (s timedSums) by(t int64) int64 {
	return s.ps[sort.Search(len(s.ts), func(i int) bool { return s.ts[i] > t })]
}

// before is the credits at times before t.
func (s timedSums) before(t int64) int64 {
	return s.ps[sort.Search(len(s.ts), func(i int) bool { return s.ts[i] >= t })]
}

// chainInputs sorts what the chain check reads out of the deductions:
// the links (confirmed with a balance) in server order, the credits that
// may explain extra drops (unknown deductions and confirmed ones without a
// balance) by call, and the confirmed ones without a balance by return.
func (c *acctCheck) chainInputs() (links []*mergedOp, cover, must timedSums) {
	var coverP, mustP []timedCredit
	for i := range c.a.ops {
		o := &c.a.ops[i]
		switch {
		case o.state == stCharged && o.out.Kind == OK && o.out.HasBalance:
			links = append(links, o)
		case o.state == stCharged:
			coverP = append(coverP, timedCredit{o.call, o.eff})
			if o.ret != noReturn {
				mustP = append(mustP, timedCredit{o.ret, o.eff})
			}
		case o.state == stMaybe:
			coverP = append(coverP, timedCredit{o.call, o.eff})
		}
	}
	sort.SliceStable(links, func(i, j int) bool {
		if links[i].out.Balance != links[j].out.Balance {
			return links[i].out.Balance > links[j].out.Balance
		}
		return links[i].call < links[j].call
	})
	return links, newTimedSums(coverP), newTimedSums(mustP)
}

// chainCheck sorts confirmed deductions by the balance they reported: since
// balances only fall, that is the server's order. Each step must be at least
// the deduction's own amount (else a lost update), and the extra drops must
// be covered by unknown deductions and confirmed ones without a balance,
// invoked before that link returned (else an overcharge).
func (c *acctCheck) chainCheck() {
	links, cover, must := c.chainInputs()
	if len(links) == 0 {
		return
	}
	prev, start := c.b0, 0
	var prevOp *mergedOp
	if !c.hasOpen {
		prev, prevOp, start = links[0].out.Balance, links[0], 1
	}
	var extra, overRep, leakRep int64
	for _, o := range links[start:] {
		gap := prev - o.out.Balance
		if gap < o.eff {
			c.chainStepShort(o, prevOp, prev, gap)
		}
		if d := gap - o.eff; d > 0 {
			extra += d
		}
		overRep = c.chainUnexplained(o, prevOp, extra, cover.by(o.ret), overRep)
		if c.hasOpen {
			leakRep = c.chainUnreflected(o, extra, must.before(o.call), leakRep)
		}
		prev, prevOp = o.out.Balance, o
		o.chainLeak, o.chainOver = c.leak.chain, overRep
	}
}

// chainStepShort reports a link whose balance fell by less than its own
// amount since the previous link (prev after prevOp, nil for the opening
// balance): a lost update.
func (c *acctCheck) chainStepShort(o, prevOp *mergedOp, prev, gap int64) {
	credits := o.eff - gap
	exp := fmt.Sprintf("at most %d (the opening balance %d minus its %d credits)", prev-o.eff, prev, o.eff)
	if prevOp != nil {
		exp = fmt.Sprintf("at most %d (%d after %s, minus its %d credits)", prev-o.eff, prev, c.ref(prevOp), o.eff)
	}
	seen := fmt.Sprintf("%d", o.out.Balance)
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

// chainUnexplained reports drops beyond confirmed amounts (extra, up to
// link o) that the covering credits invoked by then (covered) do not
// explain, beyond what was reported (rep); it returns the new reported total.
func (c *acctCheck) chainUnexplained(o, prevOp *mergedOp, extra, covered, rep int64) int64 {
	ex := extra - covered
	if ex <= rep {
		return rep
	}
	c.add(Finding{
		Kind: KindOvercharge, Credits: ex - rep,
		Expected: fmt.Sprintf("balance drops beyond confirmed amounts of at most %d credits (unknown or unreported deductions begun by then)", covered+rep),
		Seen:     fmt.Sprintf("balance %d after %s: %d credits dropped beyond confirmed amounts", o.out.Balance, c.ref(o), extra),
		Ops:      c.refs(prevOp, o),
		Detail:   "credits taken that no request explains (a double charge, a phantom or a server-only debit)",
	}, c.ref(o))
	c.over.chain = max(c.over.chain, ex)
	return ex
}

// chainUnreflected reports confirmed deductions without a balance that
// returned before link o began (mustBefore credits) yet are missing from
// the drops beyond confirmed amounts (extra), beyond what was reported
// (rep); it returns the new reported total.
func (c *acctCheck) chainUnreflected(o *mergedOp, extra, mustBefore, rep int64) int64 {
	lk := mustBefore - extra
	if lk <= rep {
		return rep
	}
	c.add(Finding{
		Kind: KindLostUpdate, Credits: lk - rep,
		Expected: fmt.Sprintf("the balance after %s to reflect %d credits of deductions confirmed (without a balance) before it began", c.ref(o), mustBefore),
		Seen:     fmt.Sprintf("only %d credits beyond the chain's own amounts", extra),
		Ops:      c.refs(o),
	}, c.ref(o)+"/must")
	c.leak.chain += lk // the whole shortfall so far, as the loss estimate always counted it
	return lk
}

// versionCheck uses the account version, when the server reports it on
// every confirmed deduction: versions must be distinct, rise with falling
// balances, and their gaps (debits the client did not see confirmed) must
// be covered by unknown deductions.
func (c *acctCheck) versionCheck() {
	var links []*mergedOp
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
	c.versionsDistinct(links)
	c.versionOrder(links, coverCalls)
	if c.hasOpen && c.hasClose && c.open.snap.HasVersion && c.close.snap.HasVersion {
		c.versionClose()
	}
}

// versionsDistinct reports a version that two confirmed deductions reported.
func (c *acctCheck) versionsDistinct(links []*mergedOp) {
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
}

// versionOrder walks the links in server order (falling balances): each
// version must rise, and the gaps (debits the client did not see
// confirmed) must be covered by deductions begun by then (coverCalls).
func (c *acctCheck) versionOrder(links []*mergedOp, coverCalls []int64) {
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
}

// versionClose checks the versions of the opening and closing snapshots:
// they rose by at least the confirmed deductions and at most those plus
// the unknown ones.
func (c *acctCheck) versionClose() {
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
