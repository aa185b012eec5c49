package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tallyhq/tally/creditd"
)

const accountColumns = `user_id, granted, remaining, used, version, low_balance_notified, depleted_notified, created_at`
const transactionColumns = `id, user_id, feature, amount, balance_after, version, idempotency_key, fingerprint, created_at`

// statements are the writer's prepared statements (the writer has one connection, so they are prepared
// once and reused by every transaction).
type statements struct {
	debit, refusal         *sql.Stmt
	insertTx, insertNotice *sql.Stmt
}

func (s *statements) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		// The deduction: idempotency check, sufficiency check and decrement in one conditional update.
		// Every expression on the right reads the row as it was before this update. A NULL key (?5)
		// never matches, so requests without a key skip the check.
		{&s.debit, `UPDATE accounts SET
			remaining = remaining - ?1, used = used + ?1, version = version + 1,
			low_balance_notified = low_balance_notified OR (remaining - ?1 > 0 AND remaining - ?1 <= ?3),
			depleted_notified = depleted_notified OR remaining - ?1 <= 0
			WHERE user_id = ?2 AND remaining - ?1 >= -?4
			AND NOT EXISTS (SELECT 1 FROM transactions WHERE user_id = ?2 AND idempotency_key = ?5)
			RETURNING remaining, version`},
		// What explains a refusal: the balance, and the record of the key if there is one.
		{&s.refusal, `SELECT a.remaining, t.id, coalesce(t.user_id, ''), coalesce(t.feature, ''), coalesce(t.amount, 0),
			coalesce(t.balance_after, 0), coalesce(t.version, 0), t.idempotency_key, coalesce(t.fingerprint, ''),
			coalesce(t.created_at, 0)
			FROM accounts a LEFT JOIN transactions t ON t.user_id = a.user_id AND t.idempotency_key = ?2
			WHERE a.user_id = ?1`},
		{&s.insertTx, `INSERT INTO transactions (user_id, feature, amount, balance_after, version, idempotency_key, fingerprint, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.insertNotice, `INSERT INTO notices (user_id, kind, dedup_key, remaining, transaction_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, dedup_key) DO NOTHING`},
	} {
		stmt, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("%.40s: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return nil
}

func (s *statements) close() {
	for _, st := range []*sql.Stmt{s.debit, s.refusal, s.insertTx, s.insertNotice} {
		if st != nil {
			st.Close()
		}
	}
}

// CreateAccount implements creditd.Store.
func (db *DB) CreateAccount(ctx context.Context, userID string, credits int64) (creditd.Account, error) {
	a := creditd.Account{UserID: userID, Granted: credits, Remaining: credits, CreatedAt: db.now()}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts (user_id, granted, remaining, used, created_at) VALUES (?, ?, ?, 0, ?)`,
			userID, credits, credits, a.CreatedAt.UnixMicro())
		if isConstraint(err) {
			return creditd.Errorf(creditd.ECONFLICT, "user %q already exists; delete it first or pick another user_id", userID)
		}
		return err
	})
	if err != nil {
		return creditd.Account{}, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// DeleteAccount implements creditd.Store: the account, its records and its notices, in one transaction.
func (db *DB) DeleteAccount(ctx context.Context, userID string) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(userID) // nothing written yet (see job)
		}
		for _, q := range []string{`DELETE FROM transactions WHERE user_id = ?`, `DELETE FROM notices WHERE user_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	return nil
}

// Account implements creditd.Store.
func (db *DB) Account(ctx context.Context, userID string) (creditd.Account, error) {
	if db.isClosed() {
		return creditd.Account{}, ErrClosed
	}
	row := db.reader.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE user_id = ?`, userID)
	a, err := scanAccount(row)
	if errors.Is(err, sql.ErrNoRows) {
		return creditd.Account{}, notFound(userID)
	} else if err != nil {
		return creditd.Account{}, fmt.Errorf("read account: %w", err)
	}
	return a, nil
}

// Deduct implements creditd.Store: idempotency check, conditional decrement, debit record and notices
// in the writer's transaction. Refusals come before any write (see job).
func (db *DB) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	var rc creditd.Receipt
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rc = creditd.Receipt{}
		t := creditd.Transaction{UserID: d.UserID, Feature: d.Feature, Amount: d.Cost,
			IdempotencyKey: d.IdempotencyKey, Fingerprint: d.Fingerprint, CreatedAt: db.now()}
		key := nullString(d.IdempotencyKey)
		err := tx.StmtContext(ctx, db.stmts.debit).QueryRowContext(ctx, d.Cost, d.UserID, d.LowBalance, d.Overdraft, key).
			Scan(&t.BalanceAfter, &t.Version)
		if errors.Is(err, sql.ErrNoRows) {
			rc, err = db.refusal(ctx, tx, d)
			return err
		} else if err != nil {
			return fmt.Errorf("debit: %w", err)
		}
		res, err := tx.StmtContext(ctx, db.stmts.insertTx).ExecContext(ctx, t.UserID, t.Feature, t.Amount, t.BalanceAfter,
			t.Version, key, t.Fingerprint, t.CreatedAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("insert transaction: %w", err)
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("insert transaction: %w", err)
		}
		rc.Transaction = t
		for _, kind := range creditd.NoticesDue(t.BalanceAfter, d.LowBalance) {
			n := creditd.Notice{UserID: t.UserID, Kind: kind, Remaining: t.BalanceAfter, TransactionID: t.ID,
				CreatedAt: t.CreatedAt, DedupKey: string(kind)}
			inserted, err := db.insertNotice(ctx, tx, n)
			if err != nil {
				return err
			}
			if inserted {
				rc.Notices = append(rc.Notices, kind)
			}
		}
		return nil
	})
	if err != nil {
		return creditd.Receipt{}, fmt.Errorf("deduct: %w", err)
	}
	return rc, nil
}

// refusal explains why the conditional update matched no row: the key was used before (a replay, or
// EIDEMPOTENCY), the account does not exist, or its balance is too low. One query reads both.
func (db *DB) refusal(ctx context.Context, tx *sql.Tx, d creditd.Deduction) (creditd.Receipt, error) {
	var remaining int64
	var id sql.NullInt64
	var prev creditd.Transaction
	var key sql.NullString
	var created int64
	err := tx.StmtContext(ctx, db.stmts.refusal).QueryRowContext(ctx, d.UserID, nullString(d.IdempotencyKey)).Scan(&remaining,
		&id, &prev.UserID, &prev.Feature, &prev.Amount, &prev.BalanceAfter, &prev.Version, &key, &prev.Fingerprint, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return creditd.Receipt{}, notFound(d.UserID)
	case err != nil:
		return creditd.Receipt{}, fmt.Errorf("explain refusal: %w", err)
	case id.Valid:
		prev.ID, prev.IdempotencyKey, prev.CreatedAt = id.Int64, key.String, time.UnixMicro(created).UTC()
		return creditd.Replay(prev, d)
	}
	return creditd.Receipt{}, creditd.Insufficient(remaining, d.Cost)
}

// insertNotice records n unless the account already has a notice with n.DedupKey.
func (db *DB) insertNotice(ctx context.Context, tx *sql.Tx, n creditd.Notice) (bool, error) {
	res, err := tx.StmtContext(ctx, db.stmts.insertNotice).ExecContext(ctx,
		n.UserID, string(n.Kind), n.DedupKey, n.Remaining, n.TransactionID, n.CreatedAt.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("insert notice: %w", err)
	}
	k, err := res.RowsAffected()
	return k == 1, err
}

// Transactions implements creditd.Store.
func (db *DB) Transactions(ctx context.Context, userID string, after int64, limit int) ([]creditd.Transaction, error) {
	if db.isClosed() {
		return nil, ErrClosed
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT `+transactionColumns+` FROM transactions
		WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?`, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	defer rows.Close()
	out := []creditd.Transaction{}
	for rows.Next() {
		t, err := scanTransaction(rows)
		if err != nil {
			return nil, fmt.Errorf("list transactions: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	if len(out) == 0 {
		if err := db.exists(ctx, userID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TransactionByKey implements creditd.Store.
func (db *DB) TransactionByKey(ctx context.Context, userID, key string) (creditd.Transaction, error) {
	if db.isClosed() {
		return creditd.Transaction{}, ErrClosed
	}
	t, err := scanTransaction(db.reader.QueryRowContext(ctx, `SELECT `+transactionColumns+` FROM transactions
		WHERE user_id = ? AND idempotency_key = ?`, userID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return creditd.Transaction{}, creditd.Errorf(creditd.ENOTFOUND, "no transaction of %q has idempotency key %q", userID, key)
	} else if err != nil {
		return creditd.Transaction{}, fmt.Errorf("find transaction: %w", err)
	}
	return t, nil
}

// Notices implements creditd.Store.
func (db *DB) Notices(ctx context.Context, userID string) ([]creditd.Notice, error) {
	if db.isClosed() {
		return nil, ErrClosed
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT id, user_id, kind, dedup_key, remaining, transaction_id, created_at
		FROM notices WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	out := []creditd.Notice{}
	for rows.Next() {
		var n creditd.Notice
		var kind string
		var created int64
		if err := rows.Scan(&n.ID, &n.UserID, &kind, &n.DedupKey, &n.Remaining, &n.TransactionID, &created); err != nil {
			return nil, fmt.Errorf("list notices: %w", err)
		}
		n.Kind, n.CreatedAt = creditd.NoticeKind(kind), time.UnixMicro(created).UTC()
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	if len(out) == 0 {
		if err := db.exists(ctx, userID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (db *DB) exists(ctx context.Context, userID string) error {
	var one int
	err := db.reader.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE user_id = ?`, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(userID)
	} else if err != nil {
		return fmt.Errorf("read account: %w", err)
	}
	return nil
}

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

func notFound(userID string) error {
	return creditd.Errorf(creditd.ENOTFOUND, "no account for user %q; create it first", userID)
}

type scanner interface{ Scan(dest ...any) error }

func scanAccount(row scanner) (creditd.Account, error) {
	var a creditd.Account
	var created int64
	err := row.Scan(&a.UserID, &a.Granted, &a.Remaining, &a.Used, &a.Version, &a.LowBalanceNotified, &a.DepletedNotified, &created)
	a.CreatedAt = time.UnixMicro(created).UTC()
	return a, err
}

func scanTransaction(row scanner) (creditd.Transaction, error) {
	var t creditd.Transaction
	var key sql.NullString
	var created int64
	err := row.Scan(&t.ID, &t.UserID, &t.Feature, &t.Amount, &t.BalanceAfter, &t.Version, &key, &t.Fingerprint, &created)
	t.IdempotencyKey, t.CreatedAt = key.String, time.UnixMicro(created).UTC()
	return t, err
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
