package fault

import (
	"context"
	"sync"
	"time"

	"github.com/tallyhq/tally/creditd"
)

// staleRead answers account reads (the balance endpoint) from a per-account cache that deductions do
// not invalidate, so a balance can be up to ttl old. Broken invariant: a read that starts after a
// deduction returned reflects it.
type staleRead struct {
	creditd.Store
	coin  coin
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	account creditd.Account
	at      time.Time
}

func (f *staleRead) Account(ctx context.Context, userID string) (creditd.Account, error) {
	now := f.now()
	f.mu.Lock()
	c, ok := f.cache[userID]
	f.mu.Unlock()
	if ok && now.Sub(c.at) < f.ttl && f.coin.flip() {
		return c.account, nil
	}
	a, err := f.Store.Account(ctx, userID)
	if err != nil {
		return a, err
	}
	f.mu.Lock()
	f.cache[userID] = cached{account: a, at: now}
	f.mu.Unlock()
	return a, nil
}

func (f *staleRead) DeleteAccount(ctx context.Context, userID string) error {
	f.mu.Lock()
	delete(f.cache, userID)
	f.mu.Unlock()
	return f.Store.DeleteAccount(ctx, userID)
}
