package fault

import (
	"context"
	"time"

	"github.com/tallyhq/tally/creditd"
)

// slow delays every store call, and so every request (each request makes one store call), by delay.
// Broken invariant: the latency objective (the default delay, 600ms, is above the p95 < 500 ms goal).
type slow struct {
	creditd.Store
	coin  coin
	delay time.Duration
	sleep func(context.Context, time.Duration) error
}

func (f *slow) wait(ctx context.Context) error {
	if !f.coin.flip() {
		return nil
	}
	return f.sleep(ctx, f.delay)
}

func (f *slow) Ping(ctx context.Context) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

func (f *slow) CreateAccount(ctx context.Context, userID string, credits int64) (creditd.Account, error) {
	if err := f.wait(ctx); err != nil {
		return creditd.Account{}, err
	}
	return f.Store.CreateAccount(ctx, userID, credits)
}

func (f *slow) DeleteAccount(ctx context.Context, userID string) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.Store.DeleteAccount(ctx, userID)
}

func (f *slow) Account(ctx context.Context, userID string) (creditd.Account, error) {
	if err := f.wait(ctx); err != nil {
		return creditd.Account{}, err
	}
	return f.Store.Account(ctx, userID)
}

func (f *slow) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	if err := f.wait(ctx); err != nil {
		return creditd.Receipt{}, err
	}
	return f.Store.Deduct(ctx, d)
}

func (f *slow) Transactions(ctx context.Context, userID string, after int64, limit int) ([]creditd.Transaction, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Store.Transactions(ctx, userID, after, limit)
}

func (f *slow) TransactionByKey(ctx context.Context, userID, key string) (creditd.Transaction, error) {
	if err := f.wait(ctx); err != nil {
		return creditd.Transaction{}, err
	}
	return f.Store.TransactionByKey(ctx, userID, key)
}

func (f *slow) Notices(ctx context.Context, userID string) ([]creditd.Notice, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Store.Notices(ctx, userID)
}
