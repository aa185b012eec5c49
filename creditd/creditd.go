// Package creditd is creditd's domain: accounts, deductions, their debit records and threshold notices,
// the credit rules (rates, thresholds, idempotency) and the Store interface that persists them.
//
// It imports no database or HTTP package. creditd/sqlite and creditd/postgres implement Store (the same
// behaviour, proven by the conformance suite in creditd/storetest); creditd/fault wraps a Store with the
// deliberate bugs of the --fault flag; creditd/httpapi serves a Service over HTTP.
package creditd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// MaxCredits is the largest credit amount creditd accepts or produces anywhere: 2^53-1, the largest
// integer a JavaScript number (and so a k6 script) holds exactly.
const MaxCredits int64 = 1<<53 - 1

// Account is one user's credit account. Remaining+Used always equals Granted on a correct server.
type Account struct {
	UserID             string
	Granted            int64 // credits granted when the account was created
	Remaining          int64 // credits left
	Used               int64 // credits charged so far
	Version            int64 // starts at 0 and grows by one per successful deduction
	LowBalanceNotified bool  // a low_balance notice exists
	DepletedNotified   bool  // a depleted notice exists
	CreatedAt          time.Time
}

// Transaction is the debit record of one successful deduction, written in the same database
// transaction as the decrement.
type Transaction struct {
	ID             int64 // unique across accounts, increasing, never reused
	UserID         string
	Feature        string
	Amount         int64 // credits charged
	BalanceAfter   int64 // Remaining right after this deduction
	Version        int64 // account Version right after this deduction
	IdempotencyKey string
	Fingerprint    string // digest of the request; a repeat of IdempotencyKey must carry the same one
	CreatedAt      time.Time
}

// NoticeKind names a threshold notice.
type NoticeKind string

// The threshold notices of credit-api.md rule 4.
const (
	LowBalance NoticeKind = "low_balance" // a deduction left the balance in (0, threshold]
	Depleted   NoticeKind = "depleted"    // a deduction left the balance at 0 (or below)
)

// Notice is a threshold notice recorded for an account's owner.
type Notice struct {
	ID            int64
	UserID        string
	Kind          NoticeKind
	Remaining     int64 // the balance that triggered it
	TransactionID int64 // the deduction that triggered it
	CreatedAt     time.Time
	// DedupKey is unique per account. The correct path uses string(Kind), so each kind is recorded at
	// most once per account however many deductions race across the line.
	DedupKey string
}

// Deduction asks a Store to charge an account, in one database transaction: conditional decrement,
// version bump, debit record and any threshold notice.
type Deduction struct {
	UserID         string
	Feature        string
	Cost           int64  // credits to charge, 1..MaxCredits
	IdempotencyKey string // optional; unique per account among debit records
	Fingerprint    string // digest of the request, compared when IdempotencyKey repeats
	LowBalance     int64  // threshold of the low_balance notice
	// Overdraft is how far below zero this deduction may take the balance. The service always sends 0;
	// only the overdraft fault mode sets it.
	Overdraft int64
}

// Receipt is the answer to a Deduction: the debit record (new, or the original one on a replay).
type Receipt struct {
	Transaction Transaction
	Replayed    bool         // an earlier deduction with the same key and fingerprint was returned
	Notices     []NoticeKind // notices this deduction recorded
}

// Store persists accounts, debit records and notices. Implementations are safe for concurrent use and
// report failures as *Error codes where the caller can act on them (ENOTFOUND, ECONFLICT, EINSUFFICIENT,
// EIDEMPOTENCY, EUNAVAILABLE); anything else is internal.
type Store interface {
	// Name is the backend's name as /health reports it ("sqlite", "postgres").
	Name() string
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// CreateAccount opens an account with credits granted; ECONFLICT if userID exists.
	CreateAccount(ctx context.Context, userID string, credits int64) (Account, error)
	// DeleteAccount removes an account with its records and notices; ENOTFOUND if absent.
	DeleteAccount(ctx context.Context, userID string) error
	// Account reads an account; ENOTFOUND if absent.
	Account(ctx context.Context, userID string) (Account, error)
	// Deduct charges d.Cost if the balance allows it (EINSUFFICIENT otherwise, changing nothing). A
	// repeated d.IdempotencyKey returns the original receipt marked Replayed when the fingerprint matches
	// and EIDEMPOTENCY when it does not; either way nothing is charged.
	Deduct(ctx context.Context, d Deduction) (Receipt, error)
	// Transactions lists an account's debit records with ID > after, oldest first, at most limit.
	Transactions(ctx context.Context, userID string, after int64, limit int) ([]Transaction, error)
	// TransactionByKey finds the debit record of an idempotency key; ENOTFOUND if none.
	TransactionByKey(ctx context.Context, userID, key string) (Transaction, error)
	// Notices lists an account's threshold notices, oldest first.
	Notices(ctx context.Context, userID string) ([]Notice, error)
	// Close releases the store; calls after Close fail.
	Close() error
}

// NoticesDue returns the notice kinds a deduction that leaves balanceAfter should record (before
// deduplication): low_balance in (0, threshold], depleted at 0 or below.
func NoticesDue(balanceAfter, threshold int64) []NoticeKind {
	switch {
	case balanceAfter <= 0:
		return []NoticeKind{Depleted}
	case balanceAfter <= threshold:
		return []NoticeKind{LowBalance}
	}
	return nil
}

// Replay answers a repeated idempotency key from its original debit record: the original receipt when
// d carries the same fingerprint, EIDEMPOTENCY when it does not.
func Replay(original Transaction, d Deduction) (Receipt, error) {
	if original.Fingerprint != d.Fingerprint {
		return Receipt{}, Errorf(EIDEMPOTENCY,
			"Idempotency-Key %q was already used for a different request (transaction %d); use a new key for a new request",
			d.IdempotencyKey, original.ID)
	}
	return Receipt{Transaction: original, Replayed: true}, nil
}

// Fingerprint digests a canonical description of a request (method, path and normalized body), so that
// a repeated idempotency key can be matched against the request that first used it.
func Fingerprint(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return hex.EncodeToString(sum[:16])
}
