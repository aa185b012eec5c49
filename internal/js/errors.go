package js

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/js/modules/k6execution"
)

// ScriptError is an exception (or syntax error) raised by the script in a
// lifecycle phase: "init", "setup", "teardown" or "handleSummary". Its
// message is rendered when the error is made, on the VU's goroutine, so that
// printing it later never runs script code.
type ScriptError struct {
	Phase string
	Err   error
	msg   string
}

// newScriptError renders err (see FormatException) for phase.
func newScriptError(rt *sobek.Runtime, phase string, err error) *ScriptError {
	return &ScriptError{Phase: phase, Err: err, msg: FormatException(rt, err)}
}

func (e *ScriptError) Error() string {
	msg := e.msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
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

// maxStackFrames is how many JS stack frames an exception's report shows; a
// deep recursion would otherwise print thousands of identical lines.
const maxStackFrames = 20

// formatTimeout bounds the script code (a toString method, a getter, a
// proxy trap) that rendering a thrown value may run.
const formatTimeout = time.Second

var errFormatTimeout = errors.New("converting the thrown value to a string took too long")

// FormatException renders an error returned by a call into the script (a
// thrown or rejected value, a stack overflow, a Go error) as the text tally
// logs: the value as String(value) renders it, then its JS stack. It never
// panics, whatever the script threw: objects without a prototype, a
// throwing or absent toString, symbols and proxies are described instead of
// converted, and script code it runs to convert a value (toString, getters,
// proxy traps) is stopped after a second. It must be called on the
// goroutine that owns rt (the VU's), while rt is not running; rt may be nil,
// and then no script code is run. Timers, promises and every other place
// that reports a script's exception use it.
func FormatException(rt *sobek.Runtime, err error) (s string) {
	if err == nil {
		return ""
	}
	defer func() {
		if x := recover(); x != nil {
			s = fmt.Sprintf("an exception that cannot be described (%v)", x)
		}
	}()
	var so *sobek.StackOverflowError
	if errors.As(err, &so) {
		return "RangeError: Maximum call stack size exceeded" + stackText(so.Stack())
	}
	var ie *sobek.InterruptedError
	if errors.As(err, &ie) {
		return strings.TrimRight(fmt.Sprint(ie.Value()), "\n") + stackText(ie.Stack())
	}
	var ex *sobek.Exception
	if errors.As(err, &ex) {
		return FormatValue(rt, ex.Value()) + stackText(ex.Stack())
	}
	var re *rejection
	if errors.As(err, &re) {
		return re.msg
	}
	return err.Error()
}

// stackText renders frames one per line, each prefixed with "\n\tat ";
// a frame repeated (a recursion) is shown once with its count, and at most
// maxStackFrames lines are shown.
func stackText(frames []sobek.StackFrame) string {
	var b, line bytes.Buffer
	shown, prev, repeats := 0, "", 0
	flush := func() {
		if repeats > 0 {
			fmt.Fprintf(&b, "\n\t... the frame above repeated %d more times", repeats)
			repeats = 0
		}
	}
	for i := range frames {
		line.Reset()
		frames[i].Write(&line)
		if line.String() == prev {
			repeats++
			continue
		}
		flush()
		if shown == maxStackFrames {
			fmt.Fprintf(&b, "\n\t... %d more frames", len(frames)-i)
			return b.String()
		}
		prev = line.String()
		b.WriteString("\n\tat ")
		b.Write(line.Bytes())
		shown++
	}
	flush()
	return b.String()
}

// FormatValue renders a thrown or rejected value as String(value) would,
// without ever panicking (see FormatException). An Error object that has a
// stack shows it.
func FormatValue(rt *sobek.Runtime, val sobek.Value) (s string) {
	if val == nil {
		return "undefined"
	}
	defer func() {
		if x := recover(); x != nil {
			s = describeValue(val) + fmt.Sprintf(" (it cannot be converted to a string: %v)", x)
		}
	}()
	switch x := val.(type) {
	case *sobek.Symbol:
		return "Symbol(" + x.String() + ")"
	case *sobek.Object:
		if rt == nil {
			return describeValue(val)
		}
		str, err := runGuarded(rt, "String", val)
		if err != nil {
			return describeValue(val) + " (it cannot be converted to a string: " + errorText(rt, err) + ")"
		}
		return str
	}
	return val.String()
}

// runGuarded calls the global function name (String) with val, stopping the
// script code it runs after formatTimeout.
func runGuarded(rt *sobek.Runtime, name string, val sobek.Value) (string, error) {
	fn, ok := sobek.AssertFunction(rt.GlobalObject().Get(name))
	if !ok {
		return "", fmt.Errorf("%s is not a function", name)
	}
	t := time.AfterFunc(formatTimeout, func() { rt.Interrupt(errFormatTimeout) })
	out, err := fn(sobek.Undefined(), val)
	if !t.Stop() {
		rt.ClearInterrupt()
	}
	if err != nil {
		return "", err
	}
	if _, ok := out.(*sobek.Object); ok || out == nil {
		return "", errors.New("String() did not return a string")
	}
	return out.String(), nil
}

// errorText renders the error a conversion failed with; only an Error
// object is converted by running script code, once (not recursively).
func errorText(rt *sobek.Runtime, err error) string {
	var ex *sobek.Exception
	if errors.As(err, &ex) {
		v := ex.Value()
		if obj, ok := v.(*sobek.Object); ok {
			if e, ok := obj.Export().(error); ok {
				return e.Error()
			}
			if obj.ClassName() == "Error" {
				if s, err := runGuarded(rt, "String", obj); err == nil {
					if strings.HasPrefix(s, "TypeError: Could not convert ") {
						// The runtime's message names Go types; say it as JS does.
						return "TypeError: Cannot convert object to primitive value"
					}
					return s
				}
			}
			return describeValue(obj)
		}
		return FormatValue(nil, v)
	}
	var ie *sobek.InterruptedError
	if errors.As(err, &ie) {
		return fmt.Sprint(ie.Value())
	}
	return err.Error()
}

// describeValue names a value's kind without running script code: an
// object as [object Class].
func describeValue(val sobek.Value) string {
	switch x := val.(type) {
	case *sobek.Object:
		if x.ClassName() == "Error" {
			if e, ok := x.Export().(error); ok {
				return e.Error()
			}
		}
		return "[object " + x.ClassName() + "]"
	case *sobek.Symbol:
		return "Symbol(" + x.String() + ")"
	}
	return fmt.Sprintf("a value of type %T", val)
}

// rejection is a promise's rejection value, rendered when the promise was
// found rejected.
type rejection struct {
	val sobek.Value
	msg string
}

func (r *rejection) Error() string { return r.msg }

// promiseError turns a rejection value into an error; an Error object shows
// its stack. It runs on the goroutine that owns rt.
func promiseError(rt *sobek.Runtime, val sobek.Value) error {
	if val == nil {
		return errors.New("rejected promise")
	}
	if obj, ok := val.(*sobek.Object); ok {
		if err, ok := obj.Export().(error); ok && obj.ClassName() != "Error" {
			return err
		}
		if obj.ClassName() == "Error" {
			if st, ok := errorStack(obj); ok {
				return &rejection{val: val, msg: st}
			}
		}
	}
	return &rejection{val: val, msg: FormatValue(rt, val)}
}

// errorStack returns an Error object's stack property when it is a string.
func errorStack(obj *sobek.Object) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	st := obj.Get("stack")
	if st == nil {
		return "", false
	}
	if _, isStr := st.Export().(string); !isStr {
		return "", false
	}
	return strings.TrimRight(st.String(), "\n"), true
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
