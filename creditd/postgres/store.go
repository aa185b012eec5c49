package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyhq/tally/creditd"
)

const accountColumns = `user_id, granted, remaining, used, version, low_balance_notified, depleted_notified, created_at`
const transactionColumns = `id, user_id, feature, amount, balance_after, version, idempotency_key, fingerprint, created_at`

// deductSQL is the whole deduction in one statement. Parameters: $1 user, $2 cost, $3 low-balance
// threshold, $4 overdraft, $5 idempotency key (NULL for none), $6 feature, $7 fingerprint, $8 time.
// The UPDATE's SET expressions read the row before the update; under READ COMMITTED a concurrent
// deduction makes it wait for the row lock and re-check its WHERE on the newest row. It returns one row
// when it charged, none when it refused (the caller then finds out why).
const deductSQL = `WITH upd AS (
	UPDATE accounts SET
		remaining = remaining - $2, used = used + $2, version = version + 1,
		low_balance_notified = low_balance_notified OR (remaining - $2 > 0 AND remaining - $2 <= $3),
		depleted_notified = depleted_notified OR remaining - $2 <= 0
	WHERE user_id = $1 AND remaining - $2 >= -$4::bigint
		AND NOT EXISTS (SELECT 1 FROM transactions WHERE user_id = $1 AND idempotency_key = $5)
	RETURNING remaining, version
), rec AS (
	INSERT INTO transactions (user_id, feature, amount, balance_after, version, idempotency_key, fingerprint, created_at)
	SELECT $1, $6, $2, remaining, version, $5, $7, $8 FROM upd
	RETURNING id, balance_after, version
), ntc AS (
	INSERT INTO notices (user_id, kind, dedup_key, remaining, transaction_id, created_at)
	SELECT $1, k.kind, k.kind, rec.balance_after, rec.id, $8
	FROM rec CROSS JOIN LATERAL (VALUES (CASE WHEN rec.balance_after <= 0 THEN 'depleted'
		WHEN rec.balance_after <= $3 THEN 'low_balance' END)) AS k (kind)
	WHERE k.kind IS NOT NULL
	ON CONFLICT (user_id, dedup_key) DO NOTHING
	RETURNING kind
)
SELECT rec.id, rec.balance_after, rec.version, ARRAY(SELECT kind FROM ntc) FROM rec`

// refusalSQL reads, in one snapshot, what explains a refused deduction: the account's balance and the
// record of the idempotency key, if any.
const refusalSQL = `SELECT a.remaining, t.id, t.user_id, t.feature, t.amount, t.balance_after, t.version,
	t.idempotency_key, t.fingerprint, t.created_at
	FROM accounts a LEFT JOIN transactions t ON t.user_id = a.user_id AND t.idempotency_key = $2
	WHERE a.user_id = $1`

// CreateAccount implements creditd.Store.
func (db *DB) CreateAccount(ctx context.Context, userID string, credits int64) (creditd.Account, error) {
	a := creditd.Account{UserID: userID, Granted: credits, Remaining: credits, CreatedAt: db.now()}
	_, err := db.pool.Exec(ctx, `INSERT INTO accounts (user_id, granted, remaining, used, created_at) VALUES ($1, $2, $2, 0, $3)`,
		userID, credits, a.CreatedAt)
	if uniqueViolation(err, "") {
		return creditd.Account{}, creditd.Errorf(creditd.ECONFLICT, "user %q already exists; delete it first or pick another user_id", userID)
	} else if err != nil {
		return creditd.Account{}, fmt.Errorf("create account: %w", unavailable(err))
	}
	return a, nil
}

// DeleteAccount implements creditd.Store: the account, its records and its notices, in one transaction.
func (db *DB) DeleteAccount(ctx context.Context, userID string) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM accounts WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound(userID)
		}
		for _, q := range []string{`DELETE FROM transactions WHERE user_id = $1`, `DELETE FROM notices WHERE user_id = $1`} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete account: %w", unavailable(err))
	}
	return nil
}

// Account implements creditd.Store.
func (db *DB) Account(ctx context.Context, userID string) (creditd.Account, error) {
	var a creditd.Account
	err := db.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE user_id = $1`, userID).
		Scan(&a.UserID, &a.Granted, &a.Remaining, &a.Used, &a.Version, &a.LowBalanceNotified, &a.DepletedNotified, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return creditd.Account{}, notFound(userID)
	} else if err != nil {
		return creditd.Account{}, fmt.Errorf("read account: %w", unavailable(err))
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// Deduct implements creditd.Store: the deduction joins the next batch (see batch.go).
func (db *DB) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	j := &deduction{ctx: ctx, d: d, at: db.now(), done: make(chan result, 1)}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return creditd.Receipt{}, &creditd.Error{Code: creditd.EUNAVAILABLE, Message: "the postgres store is closed"}
	}
	select {
	case db.jobs <- j:
	case <-ctx.Done():
		db.mu.RUnlock()
		return creditd.Receipt{}, ctx.Err()
	}
	db.mu.RUnlock()
	r := <-j.done
	if r.err != nil {
		return creditd.Receipt{}, fmt.Errorf("deduct: %w", r.err)
	}
	return r.rc, nil
}

// deductOne runs one deduction on its own (deductSQL). A refusal, or a unique violation from a racing
// repeat of the same key, is explained by refusalSQL: a replay, EIDEMPOTENCY, ENOTFOUND or
// EINSUFFICIENT.
func (db *DB) deductOne(ctx context.Context, j *deduction) (creditd.Receipt, error) {
	t, notices, err := j.scan(db.pool.QueryRow(ctx, deductSQL, j.args()...))
	switch {
	case err == nil:
		return receipt(t, notices), nil
	case errors.Is(err, pgx.ErrNoRows), uniqueViolation(err, "transactions_by_key"):
		return db.refusal(ctx, j.d)
	default:
		return creditd.Receipt{}, unavailable(err)
	}
}

func receipt(t creditd.Transaction, notices []string) creditd.Receipt {
	rc := creditd.Receipt{Transaction: t}
	for _, k := range notices {
		rc.Notices = append(rc.Notices, creditd.NoticeKind(k))
	}
	return rc
}

// refusal explains a deduction that charged nothing. Balances only fall, so the balance read here (no
// earlier than the refusal) is still below the cost; and because key and balance come from one
// snapshot, a racing repeat that committed first is seen as what it is, a replay.
func (db *DB) refusal(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	var remaining int64
	var id *int64
	var prev creditd.Transaction
	var key *string
	var created *time.Time
	var userID, feature, fingerprint *string
	var amount, after, version *int64
	err := db.pool.QueryRow(ctx, refusalSQL, d.UserID, nullString(d.IdempotencyKey)).
		Scan(&remaining, &id, &userID, &feature, &amount, &after, &version, &key, &fingerprint, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return creditd.Receipt{}, notFound(d.UserID)
	} else if err != nil {
		return creditd.Receipt{}, fmt.Errorf("explain refusal: %w", unavailable(err))
	}
	if id != nil {
		prev = creditd.Transaction{ID: *id, UserID: *userID, Feature: *feature, Amount: *amount, BalanceAfter: *after,
			Version: *version, IdempotencyKey: *key, Fingerprint: *fingerprint, CreatedAt: created.UTC()}
		return creditd.Replay(prev, d)
	}
	if remaining-d.Cost >= -d.Overdraft {
		// Enough credits and no record of the key: the statement lost a race it cannot lose (the key's
		// record vanished after its unique violation). Say so rather than guess.
		return creditd.Receipt{}, fmt.Errorf("deduction of %d refused with %d remaining and no record of key %q", d.Cost, remaining, d.IdempotencyKey)
	}
	return creditd.Receipt{}, creditd.Insufficient(remaining, d.Cost)
}

// Transactions implements creditd.Store.
func (db *DB) Transactions(ctx context.Context, userID string, after int64, limit int) ([]creditd.Transaction, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+transactionColumns+` FROM transactions
		WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3`, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (creditd.Transaction, error) {
		return scanTransaction(row)
	})
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", unavailable(err))
	}
	if out == nil {
		out = []creditd.Transaction{}
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
	t, err := scanTransaction(db.pool.QueryRow(ctx, `SELECT `+transactionColumns+` FROM transactions
		WHERE user_id = $1 AND idempotency_key = $2`, userID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return creditd.Transaction{}, creditd.Errorf(creditd.ENOTFOUND, "no transaction of %q has idempotency key %q", userID, key)
	} else if err != nil {
		return creditd.Transaction{}, fmt.Errorf("find transaction: %w", unavailable(err))
	}
	return t, nil
}

// Notices implements creditd.Store.
func (db *DB) Notices(ctx context.Context, userID string) ([]creditd.Notice, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, user_id, kind, dedup_key, remaining, transaction_id, created_at
		FROM notices WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (creditd.Notice, error) {
		var n creditd.Notice
		var kind string
		err := row.Scan(&n.ID, &n.UserID, &kind, &n.DedupKey, &n.Remaining, &n.TransactionID, &n.CreatedAt)
		n.Kind, n.CreatedAt = creditd.NoticeKind(kind), n.CreatedAt.UTC()
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", unavailable(err))
	}
	if out == nil {
		out = []creditd.Notice{}
	}
	if len(out) == 0 {
		if err := db.exists(ctx, userID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (db *DB) exists(ctx context.Context, userID string) error {
	var ok bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE user_id = $1)`, userID).Scan(&ok); err != nil {
		return fmt.Errorf("read account: %w", unavailable(err))
	}
	if !ok {
		return notFound(userID)
	}
	return nil
}

func scanTransaction(row pgx.Row) (creditd.Transaction, error) {
	var t creditd.Transaction
	var key *string
	err := row.Scan(&t.ID, &t.UserID, &t.Feature, &t.Amount, &t.BalanceAfter, &t.Version, &key, &t.Fingerprint, &t.CreatedAt)
	if key != nil {
		t.IdempotencyKey = *key
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
