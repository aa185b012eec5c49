package postgres

import (
	"context"

	"github.com/tallyhq/tally/creditd"
)

// RunBatch runs ds through one batch (as if they had queued up together) and returns each answer.
func RunBatch(db *DB, ds []creditd.Deduction) ([]creditd.Receipt, []error) {
	jobs := make([]*deduction, len(ds))
	for i, d := range ds {
		jobs[i] = &deduction{ctx: context.Background(), d: d, at: db.now(), done: make(chan result, 1)}
	}
	db.runBatch(append([]*deduction(nil), jobs...))
	rcs, errs := make([]creditd.Receipt, len(ds)), make([]error, len(ds))
	for i, j := range jobs {
		r := <-j.done
		rcs[i], errs[i] = r.rc, r.err
	}
	return rcs, errs
}
