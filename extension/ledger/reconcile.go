package ledger

import (
	"fmt"
	"sort"
)

// reconcile joins the account's server log with the deductions on the
// idempotency key: a confirmed deduction needs exactly one debit of its
// amount and transaction id, a refused one none; an unknown one is resolved
// by it (one debit: charged, none: not charged). A debit with a key no
// generator issued is a server-only debit. Runs before classify.
func (c *acctCheck) reconcile(keys keyLookup) {
	a := c.a
	if !logHasKeys(a.log) {
		if len(a.log) > 0 {
			c.note("the server log carries no idempotency keys: the key join is skipped, per-feature totals are compared instead")
		}
		return
	}
	first, more := c.joinLog(keys)
	var one [1]int
	for i := range a.ops {
		var txs []int
		if first[i] != 0 {
			one[0] = int(first[i] - 1)
			txs = append(one[:1:1], more[i]...)
		}
		c.reconcileOp(&a.ops[i], txs)
	}
}

// logHasKeys reports whether the key join applies: some transaction carries
// an idempotency key, or the log is empty (then every confirmed deduction
// lacks its record).
func logHasKeys(log []LogTx) bool {
	if len(log) == 0 {
		return true
	}
	for i := range log {
		if log[i].Key != "" {
			return true
		}
	}
	return false
}

// joinLog finds the log's transactions of each deduction by key: first[i]
// is the first one of deduction i (index+1, 0 for none), more[i] any
// further ones. A transaction whose key names no deduction of this account
// is a server-only debit.
func (c *acctCheck) joinLog(keys keyLookup) (first []int32, more map[int][]int) {
	a := c.a
	first = make([]int32, len(a.ops))
	more = make(map[int][]int)
	for ti := range a.log {
		t := &a.log[ti]
		loc, ok := keys.local[t.Key]
		switch {
		case t.Key == "":
			c.serverOnly(t, "without an idempotency key", nil)
		case !ok:
			c.foreignKey(t, keys.foreign)
		case loc.a != a:
			o := &loc.a.ops[loc.i]
			c.serverOnly(t, fmt.Sprintf("with the key of %s, a deduction on account %q", c.ref(o), loc.a.name), o)
		case first[loc.i] == 0:
			first[loc.i] = int32(ti + 1)
		default:
			more[loc.i] = append(more[loc.i], ti)
		}
	}
	return first, more
}

// foreignKey reports a logged debit whose key names no deduction of this
// group: one of another group's accounts, or none at all.
func (c *acctCheck) foreignKey(t *LogTx, foreign map[string]foreignOp) {
	f, ok := foreign[t.Key]
	if !ok {
		c.serverOnly(t, fmt.Sprintf("with key %q that no generator issued", t.Key), nil)
		return
	}
	o := &mergedOp{inst: f.inst, id: f.id}
	c.serverOnly(t, fmt.Sprintf("with the key of %s, a deduction on account %q", c.ref(o), f.account), o)
}

// reconcileOp checks one deduction against its logged transactions txs
// (indexes into the log, in log order): one debit at most, and what its
// outcome says about them.
func (c *acctCheck) reconcileOp(o *mergedOp, txs []int) {
	a := c.a
	if len(txs) > 0 {
		o.logTx = txs[0]
	}
	var sum int64
	for _, ti := range txs {
		sum += a.log[ti].Amount
	}
	if len(txs) > 1 {
		ids := make([]string, 0, len(txs))
		for _, ti := range txs {
			ids = append(ids, a.log[ti].ID)
		}
		c.over.log += sum - a.log[txs[0]].Amount
		c.add(Finding{
			Kind: KindDoubleCharge, Credits: sum - a.log[txs[0]].Amount,
			Expected: fmt.Sprintf("one debit for key %q", c.h.key(o)),
			Seen:     fmt.Sprintf("%d debits (%v), %d credits in all", len(txs), ids, sum),
			Ops:      c.refs(o),
		}, c.ref(o))
	}
	switch o.out.Kind {
	case OK:
		c.confirmedInLog(o, txs)
	case Insufficient, Rejected:
		if len(txs) > 0 {
			c.chargedWithoutService(o, txs, sum, fmt.Sprintf("no debit for a request refused as %v", o.out.Kind))
		}
	case Unknown, Pending:
		if len(txs) > 0 && o.out.explicitError() {
			c.chargedWithoutService(o, txs, sum, fmt.Sprintf("no debit for a request answered with status %d", o.out.Status))
		}
		if !c.opts.NoLogJoin {
			c.resolveByLog(o, txs, sum)
		}
	}
}

// confirmedInLog checks a confirmed deduction: its debit is in the log,
// of the confirmed amount, with the transaction id the response named.
func (c *acctCheck) confirmedInLog(o *mergedOp, txs []int) {
	if len(txs) == 0 {
		c.add(Finding{
			Kind: KindMissingDebit, Credits: o.out.charge(o.amount),
			Expected: fmt.Sprintf("a debit with key %q in the server log", c.h.key(o)),
			Seen:     "none: the confirmed deduction has no record",
			Ops:      c.refs(o),
		}, c.ref(o))
		return
	}
	t := &c.a.log[txs[0]]
	if want := o.out.charge(o.amount); t.Amount != want {
		c.add(Finding{
			Kind: KindPriceMismatch, Credits: abs(t.Amount - want),
			Expected: fmt.Sprintf("the logged debit to be %d credits, as confirmed", want),
			Seen:     fmt.Sprintf("transaction %s of %d", t.ID, t.Amount),
			Ops:      c.refs(o),
		}, c.ref(o)+"/log")
	}
	if o.out.TxID != "" && t.ID != "" && o.out.TxID != t.ID && len(txs) == 1 {
		c.add(Finding{
			Kind:     KindMissingDebit,
			Expected: fmt.Sprintf("transaction %s (named in the response) in the log", o.out.TxID),
			Seen:     fmt.Sprintf("the key's debit is transaction %s", t.ID),
			Ops:      c.refs(o),
		}, c.ref(o)+"/tx")
	}
}

// chargedWithoutService reports the sum credits debited for a request that
// was refused or failed explicitly; expected says what should have been.
func (c *acctCheck) chargedWithoutService(o *mergedOp, txs []int, sum int64, expected string) {
	c.over.log += sum
	c.add(Finding{
		Kind: KindChargeWithoutService, Credits: sum,
		Expected: expected,
		Seen:     fmt.Sprintf("transaction %s of %d credits", c.a.log[txs[0]].ID, sum),
		Ops:      c.refs(o),
	}, c.ref(o))
}

// resolveByLog settles an unknown or pending deduction by the log: no
// debit means not charged, a debit means charged (sum credits), landing
// before the idle closing snapshot at an unknown time after its call.
func (c *acctCheck) resolveByLog(o *mergedOp, txs []int, sum int64) {
	o.resolved = true
	if len(txs) == 0 {
		o.state = stNone
		return
	}
	o.state, o.eff = stCharged, sum
	o.ret = noReturn
	if c.hasClose && o.call < c.close.call {
		o.ret = c.close.call - 1
	}
}

// serverOnly reports a logged debit that answers no request of this account
// (o is the deduction whose key it carries, if any).
func (c *acctCheck) serverOnly(t *LogTx, why string, o *mergedOp) {
	c.over.log += t.Amount
	c.add(Finding{
		Kind: KindServerOnlyDebit, Credits: t.Amount,
		Expected: "every debit to answer a request of this run",
		Seen:     fmt.Sprintf("transaction %s of %d credits %s", t.ID, t.Amount, why),
		Ops:      c.refs(o),
	}, "tx "+t.ID+" "+t.Key)
}

// logChain checks the log's own balance chain (each debit steps the balance
// down by its amount, ending at the closing balance) and, for logs without
// keys, the per-feature totals. Runs after classify.
func (c *acctCheck) logChain() {
	a := c.a
	if len(a.log) == 0 {
		return
	}
	c.featureTotals()
	var txs []*LogTx
	for i := range a.log {
		if !a.log[i].HasBalance {
			return
		}
		txs = append(txs, &a.log[i])
	}
	sort.SliceStable(txs, func(i, j int) bool { return txs[i].BalanceAfter > txs[j].BalanceAfter })
	prev, start := c.b0, 0
	var prevTx *LogTx
	if !c.hasOpen {
		prev, prevTx, start = txs[0].BalanceAfter, txs[0], 1
	}
	after := func(t *LogTx) string {
		if t == nil {
			return "the opening balance"
		}
		return "transaction " + t.ID
	}
	for _, t := range txs[start:] {
		switch d := prev - t.Amount - t.BalanceAfter; {
		case d > 0:
			c.add(Finding{
				Kind: KindMissingDebit, Credits: d,
				Expected: fmt.Sprintf("balance %d after transaction %s (%d after %s, minus %d)", prev-t.Amount, t.ID, prev, after(prevTx), t.Amount),
				Seen:     fmt.Sprintf("%d: %d credits went without a record", t.BalanceAfter, d),
			}, "logchain "+t.ID)
		case d < 0:
			c.leak.log += -d
			c.add(Finding{
				Kind: KindLostUpdate, Credits: -d,
				Expected: fmt.Sprintf("balance %d after transaction %s (%d after %s, minus %d)", prev-t.Amount, t.ID, prev, after(prevTx), t.Amount),
				Seen:     fmt.Sprintf("%d: the logged debit did not land in full", t.BalanceAfter),
			}, "logchain "+t.ID)
		}
		prev, prevTx = t.BalanceAfter, t
	}
	if c.hasClose {
		switch d := prev - c.close.snap.Balance; {
		case d > 0:
			c.add(Finding{
				Kind: KindMissingDebit, Credits: d,
				Expected: fmt.Sprintf("final balance %d (after %s, the last logged debit)", prev, after(prevTx)),
				Seen:     fmt.Sprintf("%d: %d credits went without a record", c.close.snap.Balance, d),
			}, "logchain end")
		case d < 0:
			c.leak.log += -d
			c.add(Finding{
				Kind: KindLostUpdate, Credits: -d,
				Expected: fmt.Sprintf("final balance %d (after %s, the last logged debit)", prev, after(prevTx)),
				Seen:     fmt.Sprintf("%d: logged debits that did not land", c.close.snap.Balance),
			}, "logchain end")
		}
	}
}

// featureTotals compares, for a log without keys, each feature's logged
// debits with its confirmed credits plus what unknown deductions may have taken.
func (c *acctCheck) featureTotals() {
	for i := range c.a.log {
		if c.a.log[i].Key != "" {
			return
		}
	}
	logged := make(map[string]int64)
	for _, t := range c.a.log {
		logged[t.Feature] += t.Amount
	}
	conf := make(map[string]int64)
	maybe := make(map[string]int64)
	for i := range c.a.ops {
		o := &c.a.ops[i]
		switch o.state {
		case stCharged:
			conf[o.feature] += o.eff
		case stMaybe:
			maybe[o.feature] += o.eff
		}
		if _, ok := logged[o.feature]; !ok && o.state != stNone {
			logged[o.feature] += 0
		}
	}
	feats := make([]string, 0, len(logged))
	for f := range logged {
		feats = append(feats, f)
	}
	sort.Strings(feats)
	for _, f := range feats {
		l, lo, hi := logged[f], conf[f], conf[f]+maybe[f]
		if l < lo || l > hi {
			c.add(Finding{
				Kind: KindConservation, Credits: max(lo-l, l-hi),
				Expected: fmt.Sprintf("logged debits of %s in [%d, %d] (confirmed, plus unknown)", featureName(f), lo, hi),
				Seen:     fmt.Sprintf("%d", l),
			}, "feature "+f)
		}
	}
}
