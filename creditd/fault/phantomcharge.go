package fault

import (
	"context"
	"fmt"

	"github.com/tallyhq/tally/creditd"
)

// phantomCharge commits the deduction and then fails the request (HTTP 500), like a handler that
// crashes after the debit committed. The client sees an error; the credits are gone and a debit record
// exists. A repeat with the same idempotency key replays the original success. Broken invariant: a
// request answered with an error charged nothing (charge without service).
type phantomCharge struct {
	creditd.Store
	coin coin
}

func (f *phantomCharge) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	rc, err := f.Store.Deduct(ctx, d)
	if err != nil || rc.Replayed || !f.coin.flip() {
		return rc, err
	}
	return creditd.Receipt{}, fmt.Errorf("phantom-charge fault: transaction %d committed, answering an error", rc.Transaction.ID)
}
