package ledger

import (
	"errors"
	"fmt"
)

// OutcomeKind classifies how a deduction ended, as seen by the client.
type OutcomeKind uint8

// The outcome kinds. Pending is the zero value: begun, not settled yet. At
// verification a pending deduction counts as Unknown (it may or may not have
// been charged), like a Knossos synthetic info.
const (
	Pending      OutcomeKind = iota
	OK                       // charged: the server confirmed the deduction
	Insufficient             // refused for lack of credits: definitely not charged
	Rejected                 // refused for another reason (4xx): definitely not charged
	Unknown                  // no definite answer (timeout, connection error, 5xx)
)

var outcomeNames = [...]string{"pending", "ok", "insufficient", "rejected", "unknown"}

// String returns the outcome's name as used in the JS API, journals and metric tags.
func (k OutcomeKind) String() string {
	if int(k) < len(outcomeNames) {
		return outcomeNames[k]
	}
	return fmt.Sprintf("outcome(%d)", uint8(k))
}

// ParseOutcomeKind parses "ok", "insufficient", "rejected" or "unknown".
func ParseOutcomeKind(s string) (OutcomeKind, error) {
	for i, n := range outcomeNames {
		if n == s && i != int(Pending) {
			return OutcomeKind(i), nil
		}
	}
	return 0, fmt.Errorf("outcome %q: %w (want ok, insufficient, rejected or unknown)", s, ErrBadOutcome)
}

// Cause says why an outcome is unknown.
type Cause uint8

// The causes of an unknown outcome.
const (
	CauseNone    Cause = iota // not an unknown outcome
	CauseTimeout              // no answer within the client's timeout
	CauseError                // connection error, or an unexpected status (Status set)
)

var causeNames = [...]string{"", "timeout", "error"}

// String returns "timeout", "error" or "".
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// ParseCause parses "timeout" or "error"; "" is CauseError.
func ParseCause(s string) (Cause, error) {
	switch s {
	case "timeout":
		return CauseTimeout, nil
	case "error", "":
		return CauseError, nil
	}
	return 0, fmt.Errorf("cause %q: %w (want timeout or error)", s, ErrBadOutcome)
}

// Outcome is the client's view of how one deduction ended. Which fields
// matter depends on Kind:
//   - OK: Balance is the balance the server reported after the deduction
//     (remaining_credits), Version the account version after it, TxID the
//     transaction id, Charged the credits the server says it took.
//   - Insufficient: Balance is the balance the server reported (balance seen).
//   - Rejected: Status is the HTTP status.
//   - Unknown: Cause, and Status when the server answered with one (5xx).
//
// Optional numbers carry a Has flag so that zero stays a real value. (The
// flags sit together so that the struct stays small: the ledger keeps one
// per deduction.)
type Outcome struct {
	Kind       OutcomeKind
	Cause      Cause
	HasBalance bool
	HasVersion bool
	HasCharged bool
	Balance    int64
	Version    int64
	Charged    int64
	TxID       string
	Status     int
}

// Charge returns the credits a confirmed deduction took by the server's own
// account (Charged when reported, else amount).
func (o Outcome) charge(amount int64) int64 {
	if o.Kind == OK && o.HasCharged {
		return o.Charged
	}
	return amount
}

// explicitError reports whether an unknown outcome is an answer that says
// the request failed (a 5xx other than the gateway statuses 502, 503 and 504,
// which may stand for an origin that never answered). A debit on such a
// request is a charge without service; a debit behind a timeout is not.
func (o Outcome) explicitError() bool {
	return o.Kind == Unknown && o.Status >= 500 && o.Status <= 599 &&
		o.Status != 502 && o.Status != 503 && o.Status != 504
}

func (o Outcome) validate() error {
	switch o.Kind {
	case OK, Insufficient, Rejected:
	case Unknown:
		if o.Cause == CauseNone {
			return fmt.Errorf("unknown outcome without a cause: %w", ErrBadOutcome)
		}
	default:
		return fmt.Errorf("outcome kind %v: %w", o.Kind, ErrBadOutcome)
	}
	if o.HasCharged && o.Charged < 0 {
		return fmt.Errorf("negative charged %d: %w", o.Charged, ErrBadOutcome)
	}
	return nil
}

// Snapshot is one read of an account: the balance and, when the server
// reports them, the credits used so far, the account version and the
// notification flags.
type Snapshot struct {
	Balance          int64
	Used             int64
	HasUsed          bool
	Version          int64
	HasVersion       bool
	LowNotified      bool
	DepletedNotified bool
	HasFlags         bool
}

// Notice kinds, as the credit API names them.
const (
	NoticeLow      = "low_balance"
	NoticeDepleted = "depleted"
)

// Notice is one low-balance or depleted notification the server recorded for
// an account. Kind is NoticeLow or NoticeDepleted.
type Notice struct {
	Kind         string `json:"kind"`
	Remaining    int64  `json:"remaining_credits"`
	HasRemaining bool   `json:"-"`
	CreatedAt    string `json:"created_at,omitempty"`
}

// LogTx is one debit from the server's transaction log.
type LogTx struct {
	ID           string `json:"id"`
	Feature      string `json:"feature"`
	Amount       int64  `json:"amount"`
	BalanceAfter int64  `json:"balance_after"`
	HasBalance   bool   `json:"-"`
	Key          string `json:"idempotency_key"`
	CreatedAt    string `json:"created_at,omitempty"`
}

// Errors returned by the Ledger; match them with errors.Is.
var (
	ErrBadOutcome     = errors.New("invalid outcome")
	ErrBadAmount      = errors.New("amount must be a positive whole number of credits")
	ErrBadAccount     = errors.New("account id must not be empty")
	ErrAlreadyOpen    = errors.New("account already opened")
	ErrAlreadyClosed  = errors.New("account already closed")
	ErrAlreadySettled = errors.New("operation already settled")
	ErrNotUnresolved  = errors.New("operation is not unknown or pending")
	ErrNoSuchOp       = errors.New("no such operation")
	ErrDuplicateKey   = errors.New("idempotency key already used on this account")
	ErrJournalClosed  = errors.New("journal closed")
	ErrBadJournal     = errors.New("invalid journal")
)
