package ledger

import "fmt"

// noticeCheck checks the exactly-once notices: at most one of each kind;
// a low-balance notice is due once a deduction left the balance in
// (0, threshold], a depleted notice once one left it at 0. Any observed
// balance v below the opening balance was left by a deduction, so the
// obligation is asserted only when an observation forces it. The closing
// snapshot's flags must agree, and a flag seen set never reads unset later.
func (c *acctCheck) noticeCheck() {
	a := c.a
	lowOn := c.low > 0
	var lowDue, depDue string // the observation that makes a notice due
	if c.hasOpen {
		// what names the observation; it is called only when needed
		see := func(v int64, what func() string) {
			if v >= c.b0 {
				return
			}
			if lowOn && v > 0 && v <= c.low && lowDue == "" {
				lowDue = fmt.Sprintf("%s showed balance %d", what(), v)
			}
			if v == 0 && depDue == "" {
				depDue = what() + " showed balance 0"
			}
		}
		for i := range a.ops {
			o := &a.ops[i]
			if o.out.HasBalance && (o.out.Kind == OK || o.out.Kind == Insufficient) {
				see(o.out.Balance, func() string { return c.ref(o) })
			}
		}
		for i := range a.reads {
			r := &a.reads[i]
			see(r.snap.Balance, func() string { return "read " + c.h.ref(r.inst, r.id) })
		}
		if c.hasClose {
			see(c.close.snap.Balance, func() string { return "the closing snapshot" })
		}
	}
	end, hasEnd := c.close.snap.Balance, c.hasClose

	if a.noticesSet {
		var lows, deps []Notice
		for _, n := range a.notices {
			switch n.Kind {
			case NoticeLow:
				lows = append(lows, n)
			case NoticeDepleted:
				deps = append(deps, n)
			}
		}
		if lowOn && len(lows) > 1 {
			c.add(Finding{Kind: KindNotificationDuplicate, Expected: "at most one low_balance notice", Seen: fmt.Sprintf("%d (%s)", len(lows), remainings(lows))}, "low")
		}
		if len(deps) > 1 {
			c.add(Finding{Kind: KindNotificationDuplicate, Expected: "at most one depleted notice", Seen: fmt.Sprintf("%d (%s)", len(deps), remainings(deps))}, "depleted")
		}
		if lowOn && lowDue != "" && len(lows) == 0 {
			c.add(Finding{Kind: KindNotificationMissing, Expected: fmt.Sprintf("a low_balance notice (%s, at or below %d)", lowDue, c.low), Seen: "none"}, "low")
		}
		if depDue != "" && len(deps) == 0 {
			c.add(Finding{Kind: KindNotificationMissing, Expected: "a depleted notice (" + depDue + ")", Seen: "none"}, "depleted")
		}
		for _, n := range lows {
			if !lowOn {
				break
			}
			switch {
			case n.HasRemaining && (n.Remaining <= 0 || n.Remaining > c.low):
				c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("a low_balance notice at a balance in (0, %d]", c.low), Seen: fmt.Sprintf("one at %d", n.Remaining)}, "low range")
			case n.HasRemaining && c.hasOpen && n.Remaining >= c.b0:
				c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("a low_balance notice only after a deduction (opening balance %d)", c.b0), Seen: fmt.Sprintf("one at %d", n.Remaining)}, "low range")
			case n.HasRemaining && hasEnd && n.Remaining < end:
				c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("a low_balance notice at a balance the account went through (it ended at %d)", end), Seen: fmt.Sprintf("one at %d", n.Remaining)}, "low range")
			case hasEnd && end > c.low:
				c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("no low_balance notice: the balance never fell to %d (it ended at %d)", c.low, end), Seen: "one"}, "low range")
			}
		}
		for _, n := range deps {
			switch {
			case n.HasRemaining && n.Remaining != 0:
				c.add(Finding{Kind: KindNotificationUnexpected, Expected: "a depleted notice at balance 0", Seen: fmt.Sprintf("one at %d", n.Remaining)}, "depleted range")
			case hasEnd && end > 0:
				c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("no depleted notice: the balance ended at %d", end), Seen: "one"}, "depleted range")
			}
		}
	}

	if c.hasClose && c.close.snap.HasFlags {
		f := c.close.snap
		if lowOn && lowDue != "" && !f.LowNotified {
			c.add(Finding{Kind: KindNotificationMissing, Expected: "low_balance_notified set (" + lowDue + ")", Seen: "unset in the closing snapshot"}, "low")
		}
		if depDue != "" && !f.DepletedNotified {
			c.add(Finding{Kind: KindNotificationMissing, Expected: "depleted_notified set (" + depDue + ")", Seen: "unset in the closing snapshot"}, "depleted")
		}
		if a.noticesSet {
			if lowOn && f.LowNotified && !hasKind(a.notices, NoticeLow) {
				c.add(Finding{Kind: KindNotificationMissing, Expected: "a low_balance notice (the flag is set)", Seen: "none"}, "low")
			}
			if f.DepletedNotified && !hasKind(a.notices, NoticeDepleted) {
				c.add(Finding{Kind: KindNotificationMissing, Expected: "a depleted notice (the flag is set)", Seen: "none"}, "depleted")
			}
		}
		if lowOn && f.LowNotified && end > c.low {
			c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("low_balance_notified unset: the balance never fell to %d", c.low), Seen: "set"}, "low range")
		}
		if f.DepletedNotified && end > 0 {
			c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("depleted_notified unset: the balance ended at %d", end), Seen: "set"}, "depleted range")
		}
	}
	c.flagOrder()
}

// flagOrder checks that a notification flag, once read as set, is never
// read unset by a read that began after that read ended.
func (c *acctCheck) flagOrder() {
	type fr struct {
		call, ret int64
		low, dep  bool
		ref       string
	}
	var reads []fr
	for i := range c.a.reads {
		r := &c.a.reads[i]
		if r.snap.HasFlags {
			reads = append(reads, fr{r.call, r.ret, r.snap.LowNotified, r.snap.DepletedNotified, c.h.ref(r.inst, r.id)})
		}
	}
	if len(reads) < 2 {
		return
	}
	for _, flag := range []struct {
		name string
		get  func(fr) bool
	}{{"low_balance_notified", func(r fr) bool { return r.low }}, {"depleted_notified", func(r fr) bool { return r.dep }}} {
		first := -1 // the read that saw the flag set and ended first
		for i, r := range reads {
			if flag.get(r) && (first < 0 || r.ret < reads[first].ret) {
				first = i
			}
		}
		if first < 0 {
			continue
		}
		f := reads[first]
		for _, r := range reads {
			if !flag.get(r) && r.call > f.ret {
				c.add(Finding{
					Kind:     KindStaleRead,
					Expected: fmt.Sprintf("%s set (read %s saw it set before this read began)", flag.name, f.ref),
					Seen:     "unset",
					Ops:      []string{f.ref, r.ref},
				}, r.ref+" "+flag.name)
			}
		}
	}
}

func hasKind(list []Notice, kind string) bool {
	for _, n := range list {
		if n.Kind == kind {
			return true
		}
	}
	return false
}

func remainings(list []Notice) string {
	s := ""
	for i, n := range list {
		if i > 0 {
			s += ", "
		}
		if n.HasRemaining {
			s += fmt.Sprintf("at %d", n.Remaining)
		} else {
			s += "at ?"
		}
	}
	return s
}
