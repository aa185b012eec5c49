package ledger

import (
	"context"
	"fmt"
	"sort"
)

// Unknowns returns the deductions whose outcome is unknown or that were
// never settled, in id order: candidates for SettleReplay.
func (l *Ledger) Unknowns() []Op {
	var out []Op
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, a := range sh.accounts {
			for j := range a.fly {
				if r := &a.fly[j]; r.id != 0 && (r.out.Kind == Pending || r.out.Kind == Unknown) {
					out = append(out, l.handle(a, r, j))
				}
			}
			for j := range a.held {
				if r := &a.held[j]; r.out.Kind == Unknown {
					out = append(out, l.handle(a, r, -1))
				}
			}
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// handle returns the Op of a record kept in memory (slot: its index in
// fly, or -1 when held).
func (l *Ledger) handle(a *account, r *opRec, slot int) Op {
	return Op{ID: r.id, Key: l.key(r), Account: a.name, Feature: r.feature, Amount: r.amount, acct: a, idx: slot}
}

// SettleReplay resolves an unknown (or never settled) deduction with the
// answer to a replay of the same request with the same idempotency key. The
// operation keeps its begin time and takes the replay's return time. An ok
// answer resolves it as charged, insufficient as not charged; a rejected or
// unknown answer leaves it unknown.
func (l *Ledger) SettleReplay(ctx context.Context, op Op, o Outcome) error {
	if op.acct == nil {
		return fmt.Errorf("settle replay: %w", ErrNoSuchOp)
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("settle replay of op %d: %w", op.ID, err)
	}
	a := op.acct
	sh := a.shard
	sh.mu.Lock()
	rec := a.unresolved(op.ID)
	if rec == nil || rec.out.Kind != Unknown && rec.out.Kind != Pending {
		kind := "settled"
		if rec != nil {
			kind = rec.out.Kind.String()
		}
		sh.mu.Unlock()
		return fmt.Errorf("settle replay of op %d (%s): %w", op.ID, kind, ErrNotUnresolved)
	}
	m := l.now()
	var v [2]Kind
	n := 0
	switch o.Kind {
	case OK, Insufficient:
		rec.ret, rec.out, rec.replayed = m, o, true
		n = l.online(a, rec, &v)
		if l.journalOn() {
			sh.jbuf = appendEndLine(sh.jbuf, rec.id, o, true, m)
			l.commit(sh)
		}
	default:
		if rec.out.Kind == Pending {
			rec.ret = m
			rec.out = Outcome{Kind: Unknown, Cause: CauseError, Status: o.Status}
			if o.Kind == Unknown {
				rec.out.Cause = o.Cause
			}
			if l.journalOn() {
				sh.jbuf = appendEndLine(sh.jbuf, rec.id, rec.out, false, m)
				l.commit(sh)
			}
		}
	}
	sh.mu.Unlock()
	l.emitOp(ctx, "replay", o, op.Feature, op.Amount)
	l.emitViolations(ctx, v[:n])
	return nil
}

// SettleReplayID is SettleReplay for a deduction known only by its id (as
// listed by Unknowns).
func (l *Ledger) SettleReplayID(ctx context.Context, id uint64, o Outcome) error {
	op, ok := l.findOp(id)
	switch {
	case !ok && id > 0 && id <= l.nextID.Load():
		// issued, and no longer in memory: settled for good (and spilled), or a read's id
		return fmt.Errorf("settle replay of op %d (settled, or not a deduction): %w", id, ErrNotUnresolved)
	case !ok:
		return fmt.Errorf("settle replay of op %d: %w", id, ErrNoSuchOp)
	}
	return l.SettleReplay(ctx, op, o)
}

func (l *Ledger) findOp(id uint64) (Op, bool) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, a := range sh.accounts {
			if r := a.unresolved(id); r != nil {
				op := l.handle(a, r, -1)
				sh.mu.Unlock()
				return op, true
			}
		}
		sh.mu.Unlock()
	}
	return Op{}, false
}
