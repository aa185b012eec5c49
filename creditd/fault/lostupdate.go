package fault

import (
	"context"
	"time"

	"github.com/tallyhq/tally/creditd"
)

// lostUpdate is the classic read-modify-write race: read the account, check the balance, pause (the
// "work" between read and write), then write back the balance computed from the read. Two deductions
// that read the same balance both write balance-cost: one charge is lost, both answers carry the same
// remaining_credits and version, and the records repeat one balance_after. Broken invariants: confirmed
// charges == granted-remaining, version == successful deductions, distinct balance_after.
type lostUpdate struct {
	creditd.Store
	raw   Raw
	coin  coin
	pause time.Duration
	sleep func(context.Context, time.Duration) error
}

func (f *lostUpdate) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	if !f.coin.flip() {
		return f.Store.Deduct(ctx, d)
	}
	if rc, ok, err := f.replay(ctx, d); ok || err != nil {
		return rc, err
	}
	a, err := f.Store.Account(ctx, d.UserID)
	if err != nil {
		return creditd.Receipt{}, err
	}
	if a.Remaining-d.Cost < -d.Overdraft {
		return creditd.Receipt{}, creditd.Insufficient(a.Remaining, d.Cost)
	}
	if err := f.sleep(ctx, f.pause); err != nil {
		return creditd.Receipt{}, err
	}
	a.Remaining -= d.Cost
	a.Used += d.Cost
	a.Version++
	var notices []creditd.Notice
	for _, kind := range creditd.NoticesDue(a.Remaining, d.LowBalance) {
		if kind == creditd.LowBalance {
			a.LowBalanceNotified = true
		} else {
			a.DepletedNotified = true
		}
		notices = append(notices, creditd.Notice{UserID: d.UserID, Kind: kind, Remaining: a.Remaining, DedupKey: string(kind)})
	}
	t, err := f.raw.WriteBack(ctx, a, creditd.Transaction{UserID: d.UserID, Feature: d.Feature, Amount: d.Cost,
		BalanceAfter: a.Remaining, Version: a.Version, IdempotencyKey: d.IdempotencyKey, Fingerprint: d.Fingerprint}, notices)
	if err != nil {
		// A concurrent request with the same key may have recorded it first (unique constraint).
		if rc, ok, rerr := f.replay(ctx, d); ok || rerr != nil {
			return rc, rerr
		}
		return creditd.Receipt{}, err
	}
	return creditd.Receipt{Transaction: t}, nil
}

// replay answers a repeated idempotency key from its record, as the correct path does.
func (f *lostUpdate) replay(ctx context.Context, d creditd.Deduction) (creditd.Receipt, bool, error) {
	if d.IdempotencyKey == "" {
		return creditd.Receipt{}, false, nil
	}
	prev, err := f.Store.TransactionByKey(ctx, d.UserID, d.IdempotencyKey)
	if creditd.ErrorCode(err) == creditd.ENOTFOUND {
		return creditd.Receipt{}, false, nil
	} else if err != nil {
		return creditd.Receipt{}, false, err
	}
	rc, err := creditd.Replay(prev, d)
	return rc, true, err
}
