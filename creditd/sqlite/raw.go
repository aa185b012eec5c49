package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/creditd"
)

// This file holds the unchecked writes that creditd/fault needs to imitate real bugs. The correct path
// (Deduct) never calls them.

// WriteBack overwrites the balance columns of a.UserID with a's values and records t with the given
// notices (their TransactionID set to t's new id), in one transaction and without any check. It is the
// write half of the lost-update fault's read-modify-write.
func (db *DB) WriteBack(ctx context.Context, a creditd.Account, t creditd.Transaction, notices []creditd.Notice) (creditd.Transaction, error) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.now()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if t.IdempotencyKey != "" { // refuse before writing (see job)
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM transactions WHERE user_id = ? AND idempotency_key = ?`, t.UserID, t.IdempotencyKey).Scan(&one)
			if err == nil {
				return creditd.Errorf(creditd.EIDEMPOTENCY, "idempotency key %q is already recorded", t.IdempotencyKey)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET remaining = ?, used = ?, version = ?,
			low_balance_notified = ?, depleted_notified = ? WHERE user_id = ?`,
			a.Remaining, a.Used, a.Version, a.LowBalanceNotified, a.DepletedNotified, a.UserID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(a.UserID)
		}
		res, err = tx.StmtContext(ctx, db.stmts.insertTx).ExecContext(ctx, t.UserID, t.Feature, t.Amount, t.BalanceAfter,
			t.Version, nullString(t.IdempotencyKey), t.Fingerprint, t.CreatedAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("insert transaction: %w", err)
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, n := range notices {
			n.TransactionID = t.ID
			if _, err := db.insertNotice(ctx, tx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return creditd.Transaction{}, fmt.Errorf("write back: %w", err)
	}
	return t, nil
}

// DeleteTransaction removes one debit record of userID. It is how the lost-record fault loses records.
func (db *DB) DeleteTransaction(ctx context.Context, userID string, id int64) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM transactions WHERE user_id = ? AND id = ?`, userID, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete transaction: %w", err)
	}
	return nil
}

// AddNotice records n unless its account already has a notice with n.DedupKey. The duplicate-notify
// fault calls it with a per-transaction key, which is what defeats deduplication.
func (db *DB) AddNotice(ctx context.Context, n creditd.Notice) error {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = db.now()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := db.insertNotice(ctx, tx, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("add notice: %w", err)
	}
	return nil
}
