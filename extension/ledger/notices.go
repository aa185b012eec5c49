package ledger

import "fmt"

// noticeCheck checks the exactly-once notices: at most one of each kind;
// a low-balance notice is due once a deduction left the balance in
// (0, threshold], a depleted notice once one left it at 0. Any observed
// balance v below the opening balance was left by a deduction, so the
// obligation is asserted only when an observation forces it. The closing
// snapshot's flags must agree, and a flag seen set never reads unset later.
func (c *acctCheck) noticeCheck() {
	due := c.noticesDue()
	if c.a.noticesSet {
		lows, deps := splitNotices(c.a.notices)
		c.noticeCounts(due, lows, deps)
		c.lowNoticesInRange(lows)
		c.depletedNoticesInRange(deps)
	}
	if c.hasClose && c.close.snap.HasFlags {
		c.closingFlags(due)
	}
	c.flagOrder()
}

// noticesDue says which notices the observations make due: each field is
// the observation that forces the notice, in words, or "" when none does.
type noticesDue struct{ low, depleted string }

// lowOn reports whether low-balance notices are checked at all.
func (c *acctCheck) lowOn() bool { return c.low > 0 }

// noticesDue scans every observed balance (confirmed deductions, refusals
// that report a balance, reads, the closing snapshot) for the first that
// makes a notice due; it needs the opening balance.
func (c *acctCheck) noticesDue() noticesDue {
	var due noticesDue
	if !c.hasOpen {
		return due
	}
	// what names the observation; it is called only when needed
	see := func(v int64, what func() string) {
		if v >= c.b0 {
			return
		}
		if c.lowOn() && v > 0 && v <= c.low && due.low == "" {
			due.low = fmt.Sprintf("%s showed balance %d", what(), v)
		}
		if v == 0 && due.depleted == "" {
			due.depleted = what() + " showed balance 0"
		}
	}
	a := c.a
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
	return due
}

// splitNotices separates low-balance and depleted notices.
func splitNotices(list []Notice) (lows, deps []Notice) {
	for _, n := range list {
		switch n.Kind {
		case NoticeLow:
			lows = append(lows, n)
		case NoticeDepleted:
			deps = append(deps, n)
		}
	}
	return lows, deps
}

// noticeCounts checks exactly-once: no duplicates, and no due notice
// missing.
func (c *acctCheck) noticeCounts(due noticesDue, lows, deps []Notice) {
	if c.lowOn() && len(lows) > 1 {
		c.add(Finding{Kind: KindNotificationDuplicate, Expected: "at most one low_balance notice", Seen: fmt.Sprintf("%d (%s)", len(lows), remainings(lows))}, "low")
	}
	if len(deps) > 1 {
		c.add(Finding{Kind: KindNotificationDuplicate, Expected: "at most one depleted notice", Seen: fmt.Sprintf("%d (%s)", len(deps), remainings(deps))}, "depleted")
	}
	if c.lowOn() && due.low != "" && len(lows) == 0 {
		c.add(Finding{Kind: KindNotificationMissing, Expected: fmt.Sprintf("a low_balance notice (%s, at or below %d)", due.low, c.low), Seen: "none"}, "low")
	}
	if due.depleted != "" && len(deps) == 0 {
		c.add(Finding{Kind: KindNotificationMissing, Expected: "a depleted notice (" + due.depleted + ")", Seen: "none"}, "depleted")
	}
}

// lowNoticesInRange checks that each low-balance notice was sent at a
// balance in (0, threshold] that the account went through.
func (c *acctCheck) lowNoticesInRange(lows []Notice) {
	if !c.lowOn() {
		return
	}
	end, hasEnd := c.close.snap.Balance, c.hasClose
	for _, n := range lows {
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
}

// depletedNoticesInRange checks that each depleted notice was sent at 0 on
// an account that ended at 0.
func (c *acctCheck) depletedNoticesInRange(deps []Notice) {
	end, hasEnd := c.close.snap.Balance, c.hasClose
	for _, n := range deps {
		switch {
		case n.HasRemaining && n.Remaining != 0:
			c.add(Finding{Kind: KindNotificationUnexpected, Expected: "a depleted notice at balance 0", Seen: fmt.Sprintf("one at %d", n.Remaining)}, "depleted range")
		case hasEnd && end > 0:
			c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("no depleted notice: the balance ended at %d", end), Seen: "one"}, "depleted range")
		}
	}
}

// closingFlags checks the closing snapshot's notification flags against
// the notices due, the notices sent and the closing balance.
func (c *acctCheck) closingFlags(due noticesDue) {
	a, f, end := c.a, c.close.snap, c.close.snap.Balance
	if c.lowOn() && due.low != "" && !f.LowNotified {
		c.add(Finding{Kind: KindNotificationMissing, Expected: "low_balance_notified set (" + due.low + ")", Seen: "unset in the closing snapshot"}, "low")
	}
	if due.depleted != "" && !f.DepletedNotified {
		c.add(Finding{Kind: KindNotificationMissing, Expected: "depleted_notified set (" + due.depleted + ")", Seen: "unset in the closing snapshot"}, "depleted")
	}
	if a.noticesSet {
		if c.lowOn() && f.LowNotified && !hasKind(a.notices, NoticeLow) {
			c.add(Finding{Kind: KindNotificationMissing, Expected: "a low_balance notice (the flag is set)", Seen: "none"}, "low")
		}
		if f.DepletedNotified && !hasKind(a.notices, NoticeDepleted) {
			c.add(Finding{Kind: KindNotificationMissing, Expected: "a depleted notice (the flag is set)", Seen: "none"}, "depleted")
		}
	}
	if c.lowOn() && f.LowNotified && end > c.low {
		c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("low_balance_notified unset: the balance never fell to %d", c.low), Seen: "set"}, "low range")
	}
	if f.DepletedNotified && end > 0 {
		c.add(Finding{Kind: KindNotificationUnexpected, Expected: fmt.Sprintf("depleted_notified unset: the balance ended at %d", end), Seen: "set"}, "depleted range")
	}
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
