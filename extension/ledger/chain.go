package ledger

import (
	"fmt"
	"slices"
	"sort"
)

// chainCheck sorts confirmed deductions by the balance they reported: since
// balances only fall, that is the server's order. Each step must be at least
// the deduction's own amount (else a lost update), and the extra drops must
// be covered by unknown deductions and confirmed ones without a balance,
// invoked before that link returned (else an overcharge).
func (c *acctCheck) chainCheck() {
	var links []*mergedOp
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
	var prevOp *mergedOp
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
