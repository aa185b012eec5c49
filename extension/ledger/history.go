package ledger

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// noReturn is the return time of a deduction that never returned.
const noReturn = math.MaxInt64

// instance describes one process whose operations are in a history.
type instance struct {
	name, run, host string
	source          string // journal path, or "" for this process
	wall0           int64  // Unix ns at m = 0
	eps             int64  // clock error bound, ns
	low             int64
	overdraft       bool
	sign            AmountSign // configured sign of logged amounts (SignAuto: detect)
	segment         string     // execution segment ("" : not split)
	sequence        string     // execution segment sequence
	footer          bool
	keyPrefix       string // generated keys are keyPrefix + id ("" when every key is explicit)
}

// journalData is the bookkeeping of one instance, from memory or a journal.
// Its accounts hold raw per-process timestamps (m).
type journalData struct {
	inst     instance
	accounts map[string]*account
	notes    []string
}

// mergedOp is a deduction on the merged timeline of all instances: times
// widened by the clock bound when several instances touch the account.
type mergedOp struct {
	inst     int32
	id       uint64
	feature  string
	key      string
	amount   int64
	call     int64
	ret      int64 // noReturn when never settled
	out      Outcome
	replayed bool

	// set by the checks
	state    opState
	eff      int64 // credits it took (or would take)
	logTx    int   // index of the joined log transaction, -1 if none
	resolved bool  // resolved by the server log
	// credits found leaked / overcharged by the chain up to this link
	chainLeak, chainOver int64
}

type opState uint8

const (
	stMaybe   opState = iota // unknown or pending: charged or not
	stCharged                // confirmed, or resolved as charged
	stNone                   // refused, or resolved as not charged
)

// mergedRead is a balance read on the merged timeline.
type mergedRead struct {
	inst      int32
	id        uint64
	call, ret int64
	snap      Snapshot
}

// mergedSnapshot is an opening or closing snapshot on the merged timeline.
type mergedSnapshot struct {
	inst      int32
	call, ret int64
	snap      Snapshot
}

// mergedAccount is one account on the merged timeline of all instances.
type mergedAccount struct {
	name       string
	opens      []mergedSnapshot
	closes     []mergedSnapshot
	ops        []mergedOp
	reads      []mergedRead
	notices    []Notice
	noticesSet bool
	noticesAt  int64
	log        []LogTx
	logSet     bool
	insts      []int32 // instances with deductions or reads on it
	exact      bool    // every snapshot, deduction and read came from one instance: times not widened
}

// history is the merged bookkeeping of one or more instances.
type history struct {
	insts    []instance
	accounts map[string]*mergedAccount
	notes    []string
}

func (h *history) multi() bool { return len(h.insts) > 1 }

// eps is the clock bound by which times of instance inst on account a
// were widened.
func (h *history) eps(a *mergedAccount, inst int32) int64 {
	if !h.multi() || a.exact {
		return 0
	}
	return h.insts[inst].eps
}

// key returns the idempotency key of a deduction.
func (h *history) key(o *mergedOp) string {
	if o.key != "" || h.insts[o.inst].keyPrefix == "" {
		return o.key
	}
	var buf [96]byte
	return string(strconv.AppendUint(append(buf[:0], h.insts[o.inst].keyPrefix...), o.id, 10))
}

// ref names an operation in findings: "#17", or "i2#17" in a merged history.
func (h *history) ref(inst int32, id uint64) string {
	if !h.multi() {
		return "#" + strconv.FormatUint(id, 10)
	}
	return h.insts[inst].name + "#" + strconv.FormatUint(id, 10)
}

// mergeHistory puts the instances' bookkeeping on one timeline. With one
// instance the timeline is its own clock; with several, each time becomes
// wall0 + m relative to the earliest wall0, and the intervals of accounts
// whose snapshots, deductions and reads come from several instances are
// widened by each instance's clock bound on both sides. An account seen by
// one instance only keeps that instance's exact times (shifted by a
// constant), so its checks stay exact.
func mergeHistory(parts []*journalData) (*history, error) {
	h := &history{accounts: make(map[string]*mergedAccount)}
	if len(parts) == 0 {
		return h, nil
	}
	insts := make([]instance, 0, len(parts))
	for _, p := range parts {
		insts = append(insts, p.inst)
		h.notes = append(h.notes, p.notes...)
	}
	if err := checkInstances(insts); err != nil {
		return nil, err
	}
	h.insts = insts
	base := insts[0].wall0
	for _, in := range insts {
		base = min(base, in.wall0)
	}
	timedBy := timedInstances(parts)
	sizes := listSizes(parts)
	for ii, p := range parts {
		tl := timeline{inst: int32(ii)}
		if len(parts) > 1 {
			tl.off, tl.eps = p.inst.wall0-base, p.inst.eps
		}
		names := make([]string, 0, len(p.accounts))
		for n := range p.accounts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			ha := h.accounts[name]
			if ha == nil {
				n := sizes[name]
				ha = &mergedAccount{name: name, ops: make([]mergedOp, 0, n[0]), reads: make([]mergedRead, 0, n[1]), exact: timedBy[name] >= 0}
				h.accounts[name] = ha
			}
			tl.exact = timedBy[name] >= 0
			tl.add(ha, p.accounts[name])
		}
	}
	for _, ha := range h.accounts {
		if len(ha.log) > 0 && len(parts) > 1 {
			ha.log = dedupeLog(ha.log)
		}
	}
	return h, nil
}

// checkInstances refuses instances of different runs, or two instances of
// one name.
func checkInstances(insts []instance) error {
	seen := make(map[string]string)
	for _, in := range insts {
		if in.run != insts[0].run {
			return fmt.Errorf("%s is from run %q, %s from run %q: %w",
				sourceName(insts[0]), insts[0].run, sourceName(in), in.run, ErrBadJournal)
		}
		if prev, dup := seen[in.name]; dup {
			return fmt.Errorf("%s and %s are both instance %q of run %q: %w",
				prev, sourceName(in), in.name, in.run, ErrBadJournal)
		}
		seen[in.name] = sourceName(in)
	}
	return nil
}

// listSizes counts each account's deductions and reads over the parts, so
// that its lists are sized once: appending a million operations one by
// one would copy them over and over.
func listSizes(parts []*journalData) map[string][2]int {
	n := make(map[string][2]int)
	for _, p := range parts {
		for name, a := range p.accounts {
			c := n[name]
			n[name] = [2]int{c[0] + len(a.ops), c[1] + len(a.reads)}
		}
	}
	return n
}

// timedInstances returns, per account, the instance whose timed events
// (snapshots, deductions, reads) touch it, or -1 when several do.
func timedInstances(parts []*journalData) map[string]int32 {
	timedBy := make(map[string]int32)
	for ii, p := range parts {
		for n, a := range p.accounts {
			if a.open == nil && a.close == nil && len(a.ops) == 0 && len(a.reads) == 0 {
				continue
			}
			if prev, ok := timedBy[n]; !ok {
				timedBy[n] = int32(ii)
			} else if prev != int32(ii) {
				timedBy[n] = -1
			}
		}
	}
	return timedBy
}

// timeline places one instance's events on the merged timeline: shifted
// by off, and widened by eps unless the account is exact (one instance's
// clock).
type timeline struct {
	inst     int32
	off, eps int64
	exact    bool
}

func (t timeline) lo(m int64) int64 {
	if t.exact {
		return t.off + m
	}
	return t.off + m - t.eps
}

func (t timeline) hi(m int64) int64 {
	switch {
	case m == noReturn:
		return m
	case t.exact:
		return t.off + m
	}
	return t.off + m + t.eps
}

// add merges the instance's account a into ha.
func (t timeline) add(ha *mergedAccount, a *account) {
	if len(a.ops) > 0 || len(a.reads) > 0 {
		ha.insts = append(ha.insts, t.inst)
	}
	if a.open != nil {
		ha.opens = append(ha.opens, mergedSnapshot{t.inst, t.lo(a.open.call), t.hi(a.open.ret), a.open.snap})
	}
	if a.close != nil {
		ha.closes = append(ha.closes, mergedSnapshot{t.inst, t.lo(a.close.call), t.hi(a.close.ret), a.close.snap})
	}
	for _, r := range a.ops {
		ret := r.ret
		if r.out.Kind == Pending {
			ret = noReturn
		}
		ha.ops = append(ha.ops, mergedOp{
			inst: t.inst, id: r.id, feature: r.feature, key: r.key, amount: r.amount,
			call: t.lo(r.call), ret: t.hi(ret), out: r.out, replayed: r.replayed, logTx: -1,
		})
	}
	for _, r := range a.reads {
		ha.reads = append(ha.reads, mergedRead{t.inst, r.id, t.lo(r.call), t.hi(r.ret), r.snap})
	}
	if a.noticesSet && (!ha.noticesSet || t.off+a.noticesAt >= ha.noticesAt) {
		ha.notices, ha.noticesSet, ha.noticesAt = a.notices, true, t.off+a.noticesAt
	}
	if a.logSet {
		ha.logSet = true
		ha.log = append(ha.log, a.log...)
	}
}

// dedupeLog keeps the first transaction of each id (those without an id
// all), in order. A log whose ids rise (shorter first, then in byte order:
// a service's numeric ids, as its pages hand them over) has no duplicate
// and is returned as it is, without a set of its ids; otherwise it is
// filtered in place.
func dedupeLog(txs []LogTx) []LogTx {
	if idsRise(txs) {
		return txs
	}
	seen := make(map[string]struct{}, len(txs))
	out := txs[:0]
	for _, t := range txs {
		if t.ID != "" {
			if _, dup := seen[t.ID]; dup {
				continue
			}
			seen[t.ID] = struct{}{}
		}
		out = append(out, t)
	}
	clear(txs[len(out):]) // no stale copies behind the end
	return out
}

// idsRise reports whether the non-empty ids of txs strictly rise in the
// order of length, then bytes: a strict order, so no id repeats.
func idsRise(txs []LogTx) bool {
	prev := ""
	for i := range txs {
		id := txs[i].ID
		if id == "" {
			continue
		}
		if prev != "" && (len(id) < len(prev) || len(id) == len(prev) && id <= prev) {
			return false
		}
		prev = id
	}
	return true
}

func sourceName(in instance) string {
	if in.source == "" {
		return "this process"
	}
	return in.source
}
