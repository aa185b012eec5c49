package fault

import (
	"context"
	"sync"

	"github.com/tallyhq/tally/creditd"
)

// overdraft skips the sufficiency check when the account is contended (another deduction on it is in
// flight in this process), like an "optimistic" fast path that assumes busy accounts have credit. The
// decrement itself stays atomic, so only the no-overdraft rule breaks: the balance can go below zero.
// Broken invariant: remaining >= 0.
type overdraft struct {
	creditd.Store
	coin     coin
	mu       sync.Mutex
	inflight map[string]int
}

func (f *overdraft) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	f.mu.Lock()
	f.inflight[d.UserID]++
	contended := f.inflight[d.UserID] > 1
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.inflight[d.UserID]--; f.inflight[d.UserID] == 0 {
			delete(f.inflight, d.UserID)
		}
		f.mu.Unlock()
	}()
	if contended && f.coin.flip() {
		d.Overdraft = creditd.MaxCredits // the bug: no floor at all
	}
	return f.Store.Deduct(ctx, d)
}
