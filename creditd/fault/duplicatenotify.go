package fault

import (
	"context"
	"fmt"
	"slices"

	"github.com/tallyhq/tally/creditd"
)

// duplicateNotify records a threshold notice for every deduction that lands in a threshold band, keyed
// by transaction instead of by account, so nothing deduplicates it (the first one comes from the
// correct path). Broken invariant: at most one notice of each kind per account.
type duplicateNotify struct {
	creditd.Store
	raw  Raw
	coin coin
}

func (f *duplicateNotify) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	rc, err := f.Store.Deduct(ctx, d)
	if err != nil || rc.Replayed {
		return rc, err
	}
	t := rc.Transaction
	for _, kind := range creditd.NoticesDue(t.BalanceAfter, d.LowBalance) {
		if slices.Contains(rc.Notices, kind) || !f.coin.flip() {
			continue
		}
		n := creditd.Notice{UserID: t.UserID, Kind: kind, Remaining: t.BalanceAfter, TransactionID: t.ID,
			DedupKey: fmt.Sprintf("%s#%d", kind, t.ID)} // the bug: one key per transaction
		if err := f.raw.AddNotice(ctx, n); err == nil {
			rc.Notices = append(rc.Notices, kind)
		}
	}
	return rc, nil
}
