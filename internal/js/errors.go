package js

import (
	"errors"
	"fmt"
	"strings"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/js/modules/k6execution"
)

// ScriptError is an exception (or syntax error) raised by the script in a
// lifecycle phase: "init", "setup", "teardown" or "handleSummary".
type ScriptError struct {
	Phase string
	Err   error
}

func (e *ScriptError) Error() string {
	msg := describe(e.Err)
	return fmt.Sprintf("%s: %s", phaseName(e.Phase), msg)
}

// Unwrap returns the cause.
func (e *ScriptError) Unwrap() error { return e.Err }

func phaseName(p string) string {
	switch p {
	case "init":
		return "the init context of the script threw"
	case "setup":
		return "setup() threw"
	case "teardown":
		return "teardown() threw"
	}
	return p + " threw"
}

// describe renders an error from sobek with its position and JS stack.
func describe(err error) string {
	var ex *sobek.Exception
	if errors.As(err, &ex) {
		return strings.TrimRight(ex.String(), "\n")
	}
	return err.Error()
}

// Aborted reports whether err comes from test.abort(), and its reason.
func Aborted(err error) (*k6execution.AbortError, bool) {
	var ae *k6execution.AbortError
	if errors.As(err, &ae) {
		return ae, true
	}
	var ie *sobek.InterruptedError
	if errors.As(err, &ie) {
		if errors.As(ie.Unwrap(), &ae) {
			return ae, true
		}
	}
	return nil, false
}
