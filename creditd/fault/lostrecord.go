package fault

import (
	"context"

	"github.com/tallyhq/tally/creditd"
)

// lostRecord lets a deduction's charge stand without its debit record: the deduction commits, then the
// record is deleted (as by a buggy compensating cleanup). The answer is a normal 200 with a
// transaction_id that no record has. Broken invariants: one record per successful deduction, the sum
// of the records == used credits.
type lostRecord struct {
	creditd.Store
	raw  Raw
	coin coin
}

func (f *lostRecord) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	rc, err := f.Store.Deduct(ctx, d)
	if err != nil || rc.Replayed || !f.coin.flip() {
		return rc, err
	}
	_ = f.raw.DeleteTransaction(ctx, d.UserID, rc.Transaction.ID) // the bug: losing it is silent
	return rc, nil
}
