package fault

import (
	"context"

	"github.com/tallyhq/tally/creditd"
)

// doubleCharge imitates a retry bug: after a successful debit the service retries it (as if the first
// attempt had timed out) without the idempotency key, so the account pays twice and has two debit
// records, the second without a key. The client sees only the first answer, whose remaining_credits is
// one charge too high. Broken invariants: records == successful requests, granted-remaining ==
// confirmed charges (the account is over-charged).
type doubleCharge struct {
	creditd.Store
	coin coin
}

func (f *doubleCharge) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	rc, err := f.Store.Deduct(ctx, d)
	if err != nil || rc.Replayed || !f.coin.flip() {
		return rc, err
	}
	retry := d
	retry.IdempotencyKey = "" // the bug: the retry path drops the key, so nothing deduplicates it
	_, _ = f.Store.Deduct(ctx, retry)
	return rc, nil
}
