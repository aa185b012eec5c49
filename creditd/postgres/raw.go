package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tallyhq/tally/creditd"
)

// This file holds the unchecked writes that creditd/fault needs to imitate real bugs. The correct path
// (Deduct) never calls them.

// WriteBack overwrites the balance columns of a.UserID with a's values and records t with the given
// notices (their TransactionID set to t's new id), in one transaction and without any check. It is the
// write half of the lost-update fault's read-modify-write; under READ COMMITTED two of them overwrite
// each other, which is the point.
func (db *DB) WriteBack(ctx context.Context, a creditd.Account, t creditd.Transaction, notices []creditd.Notice) (creditd.Transaction, error) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.now()
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE accounts SET remaining = $2, used = $3, version = $4,
			low_balance_notified = $5, depleted_notified = $6 WHERE user_id = $1`,
			a.UserID, a.Remaining, a.Used, a.Version, a.LowBalanceNotified, a.DepletedNotified)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound(a.UserID)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO transactions (user_id, feature, amount, balance_after, version, idempotency_key, fingerprint, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, t.UserID, t.Feature, t.Amount, t.BalanceAfter, t.Version,
			nullString(t.IdempotencyKey), t.Fingerprint, t.CreatedAt).Scan(&t.ID); err != nil {
			if uniqueViolation(err, "transactions_by_key") {
				return creditd.Errorf(creditd.EIDEMPOTENCY, "idempotency key %q is already recorded", t.IdempotencyKey)
			}
			return err
		}
		for _, n := range notices {
			n.TransactionID = t.ID
			if err := addNotice(ctx, tx, n, t.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return creditd.Transaction{}, fmt.Errorf("write back: %w", unavailable(err))
	}
	return t, nil
}

// DeleteTransaction removes one debit record of userID. It is how the lost-record fault loses records.
func (db *DB) DeleteTransaction(ctx context.Context, userID string, id int64) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM transactions WHERE user_id = $1 AND id = $2`, userID, id); err != nil {
		return fmt.Errorf("delete transaction: %w", unavailable(err))
	}
	return nil
}

// AddNotice records n unless its account already has a notice with n.DedupKey. The duplicate-notify
// fault calls it with a per-transaction key, which is what defeats deduplication.
func (db *DB) AddNotice(ctx context.Context, n creditd.Notice) error {
	if err := addNotice(ctx, db.pool, n, db.now()); err != nil {
		return fmt.Errorf("add notice: %w", unavailable(err))
	}
	return nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func addNotice(ctx context.Context, q execer, n creditd.Notice, now time.Time) error {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	_, err := q.Exec(ctx, `INSERT INTO notices (user_id, kind, dedup_key, remaining, transaction_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, dedup_key) DO NOTHING`,
		n.UserID, string(n.Kind), n.DedupKey, n.Remaining, n.TransactionID, n.CreatedAt)
	return err
}
