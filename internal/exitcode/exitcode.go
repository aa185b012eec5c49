// Package exitcode holds the process exit codes tally shares with k6 and the
// error wrapper that carries one from where a failure happens to main.
package exitcode

import (
	"errors"
	"fmt"
)

// Code is a process exit code.
type Code int

// The exit codes, numbered as k6 numbers them so CI pipelines keep working.
const (
	OK                       Code = 0   // the run succeeded
	CloudTestRunFailed       Code = 97  // reserved (cloud runs are not supported)
	CloudFailedToGetProgress Code = 98  // reserved (cloud runs are not supported)
	ThresholdsFailed         Code = 99  // at least one threshold failed
	SetupTimeout             Code = 100 // setup() ran longer than setupTimeout
	TeardownTimeout          Code = 101 // teardown() ran longer than teardownTimeout
	GenericTimeout           Code = 102 // reserved
	GenericEngine            Code = 103 // the run was stopped by tally's memory guard (see OutOfMemory)
	OutOfMemory              Code = 103 // the live heap neared the memory limit: the run was stopped, the summary written
	InvalidConfig            Code = 104 // invalid options, scenarios or thresholds
	ExternalAbort            Code = 105 // SIGINT/SIGTERM
	CannotStartRESTAPI       Code = 106 // reserved
	ScriptException          Code = 107 // syntax error, exception in init/setup/teardown, unknown module
	ScriptAborted            Code = 108 // test.abort() was called
	GoPanic                  Code = 109 // an internal error (a bug in tally)
	MarkedAsFailed           Code = 110 // test.fail() was called
	Other                    Code = 255 // everything else: bad CLI usage, bad flag values, I/O errors
)

// Error is an error that decides the process exit code.
type Error struct {
	Code Code
	Err  error
}

// Error returns the wrapped error's message.
func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// With wraps err with code. A nil err stays nil.
func With(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// WithIfNone wraps err with code unless err already carries a code.
func WithIfNone(code Code, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: code, Err: err}
}

// Errorf formats an error carrying code.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Of returns the exit code carried by err: OK for nil, Other when err carries none.
func Of(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Other
}
