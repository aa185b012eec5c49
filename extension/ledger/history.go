package ledger

import (
	"fmt"
	"math"
	"slices"
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

// snapshot copies the Ledger's bookkeeping under its shard locks.
func (l *Ledger) snapshot() *journalData {
	d := &journalData{
		inst: instance{
			name: l.cfg.Instance, run: l.cfg.Run, host: l.cfg.Host, wall0: l.wall0,
			eps: int64(l.cfg.ClockBound), low: l.low, overdraft: l.cfg.Overdraft, sign: l.cfg.AmountSign, footer: true,
			segment: l.cfg.Segment, sequence: l.cfg.SegmentSequence,
			keyPrefix: l.prefix,
		},
		accounts: make(map[string]*account),
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for name, a := range sh.accounts {
			c := &account{
				name: name, open: a.open, close: a.close,
				ops:     a.oc.flat(), // generated keys stay empty: instance.keyPrefix + id
				reads:   a.rc.flat(),
				notices: a.notices, noticesSet: a.noticesSet, noticesAt: a.noticesAt,
				log: slices.Clone(a.log), logSet: a.logSet,
			}
			d.accounts[name] = c
		}
		sh.mu.Unlock()
	}
	return d
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
	base := parts[0].inst.wall0
	seen := make(map[string]string)
	for _, p := range parts {
		if p.inst.run != parts[0].inst.run {
			return nil, fmt.Errorf("%s is from run %q, %s from run %q: %w",
				sourceName(parts[0].inst), parts[0].inst.run, sourceName(p.inst), p.inst.run, ErrBadJournal)
		}
		if prev, dup := seen[p.inst.name]; dup {
			return nil, fmt.Errorf("%s and %s are both instance %q of run %q: %w",
				prev, sourceName(p.inst), p.inst.name, p.inst.run, ErrBadJournal)
		}
		seen[p.inst.name] = sourceName(p.inst)
		base = min(base, p.inst.wall0)
		h.insts = append(h.insts, p.inst)
		h.notes = append(h.notes, p.notes...)
	}
	multi := len(parts) > 1
	// size each account's lists once: appending a million operations
	// one by one would copy them over and over
	nops, nreads := make(map[string]int), make(map[string]int)
	for _, p := range parts {
		for n, a := range p.accounts {
			nops[n] += len(a.ops)
			nreads[n] += len(a.reads)
		}
	}
	// the instances whose timed events (snapshots, deductions, reads) touch
	// each account: -1 for several
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
	for ii, p := range parts {
		inst := int32(ii)
		off, instEps := int64(0), int64(0)
		if multi {
			off, instEps = p.inst.wall0-base, p.inst.eps
		}
		names := make([]string, 0, len(p.accounts))
		for n := range p.accounts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			a := p.accounts[name]
			eps := instEps
			if timedBy[name] >= 0 {
				eps = 0 // one instance's clock: exact
			}
			lo := func(m int64) int64 { return off + m - eps }
			hi := func(m int64) int64 {
				if m == noReturn {
					return m
				}
				return off + m + eps
			}
			ha := h.accounts[name]
			if ha == nil {
				ha = &mergedAccount{name: name, ops: make([]mergedOp, 0, nops[name]), reads: make([]mergedRead, 0, nreads[name]),
					exact: timedBy[name] >= 0}
				h.accounts[name] = ha
			}
			if len(a.ops) > 0 || len(a.reads) > 0 {
				ha.insts = append(ha.insts, inst)
			}
			if a.open != nil {
				ha.opens = append(ha.opens, mergedSnapshot{inst, lo(a.open.call), hi(a.open.ret), a.open.snap})
			}
			if a.close != nil {
				ha.closes = append(ha.closes, mergedSnapshot{inst, lo(a.close.call), hi(a.close.ret), a.close.snap})
			}
			for _, r := range a.ops {
				ret := r.ret
				if r.out.Kind == Pending {
					ret = noReturn
				}
				ha.ops = append(ha.ops, mergedOp{
					inst: inst, id: r.id, feature: r.feature, key: r.key, amount: r.amount,
					call: lo(r.call), ret: hi(ret), out: r.out, replayed: r.replayed, logTx: -1,
				})
			}
			for _, r := range a.reads {
				ha.reads = append(ha.reads, mergedRead{inst, r.id, lo(r.call), hi(r.ret), r.snap})
			}
			if a.noticesSet && (!ha.noticesSet || off+a.noticesAt >= ha.noticesAt) {
				ha.notices, ha.noticesSet, ha.noticesAt = a.notices, true, off+a.noticesAt
			}
			if a.logSet {
				ha.logSet = true
				ha.log = append(ha.log, a.log...)
			}
		}
	}
	for _, ha := range h.accounts {
		if len(ha.log) > 0 && len(parts) > 1 {
			ha.log = dedupeLog(ha.log)
		}
	}
	return h, nil
}

func dedupeLog(txs []LogTx) []LogTx {
	seen := make(map[string]struct{}, len(txs))
	out := txs[:0:0]
	for _, t := range txs {
		if t.ID != "" {
			if _, dup := seen[t.ID]; dup {
				continue
			}
			seen[t.ID] = struct{}{}
		}
		out = append(out, t)
	}
	return out
}

func sourceName(in instance) string {
	if in.source == "" {
		return "this process"
	}
	return in.source
}
