package creditd

import (
	"errors"
	"fmt"
)

// Application error codes. They are the "error" field of every JSON error body, so they are part of the
// API; creditd/httpapi maps each to one HTTP status. Any error that is not an *Error is EINTERNAL.
const (
	EINVALID      = "invalid_request"        // malformed body, wrong types, missing fields
	EENCODING     = "invalid_encoding"       // a body that is not UTF-8, or a string with a lone surrogate escape
	EMEDIATYPE    = "unsupported_media_type" // a body sent without Content-Type: application/json
	EAMOUNT       = "invalid_amount"         // zero, negative, fractional or overflowing amount
	EFEATURE      = "unknown_feature"        // a feature without a rate
	EUNAUTHORIZED = "unauthorized"           // missing, malformed or forged token
	EFORBIDDEN    = "forbidden"              // the token's user is not the request's user_id
	ENOTFOUND     = "not_found"              // no such account (or route)
	ECONFLICT     = "user_exists"            // create-user for an existing account
	EINSUFFICIENT = "insufficient_credits"   // the deduction would take the balance below zero
	EIDEMPOTENCY  = "idempotency_conflict"   // an Idempotency-Key reused with a different request
	ETOOLARGE     = "body_too_large"         // request body over the limit
	EMETHOD       = "method_not_allowed"     // known path, wrong method
	EUNAVAILABLE  = "store_unavailable"      // the store cannot be reached
	ETIMEOUT      = "timeout"                // the request ran out of time (nothing was charged unless a record says so)
	EINTERNAL     = "internal_error"         // anything else
)

// Error is an application error: a machine-readable Code (one of the E* constants) and a Message for
// humans that says what was wrong and what to do. Remaining and Required are set only for EINSUFFICIENT:
// the balance that refused the deduction and the credits it needed.
type Error struct {
	Code      string
	Message   string
	Remaining int64
	Required  int64
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Insufficient returns the EINSUFFICIENT error for a deduction of required credits refused at remaining.
func Insufficient(remaining, required int64) *Error {
	return &Error{
		Code:      EINSUFFICIENT,
		Message:   fmt.Sprintf("this request costs %d credits but only %d remain", required, remaining),
		Remaining: remaining,
		Required:  required,
	}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other error and ""
// for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain. Other errors get a generic text,
// so internal details never reach a client (they are logged instead).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error; the server log has the details"
}
