// Package vustate is the full per-VU state the built-in JS modules read: the
// public modules.State plus what only tally's own modules need.
package vustate

import (
	"sync/atomic"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// State is a VU's state outside the init context.
type State struct {
	modules.State

	// Options are the run's consolidated options (read-only).
	Options *options.Options
	// SystemTags are the enabled system tags.
	SystemTags metrics.SystemTagSet
	// DataSent and DataReceived count the bytes the VU sent and received in
	// the current iteration; whoever does network I/O adds to them, and the
	// VU emits data_sent/data_received at the end of the iteration and
	// resets them.
	DataSent, DataReceived atomic.Int64
	// Loop lets modules complete asynchronous work on the VU's goroutine.
	Loop EventLoop
}

// EventLoop runs callbacks on the VU's goroutine, between JS tasks.
type EventLoop interface {
	// RegisterCallback reserves a slot in the loop and returns the function
	// that queues the callback for it. The loop keeps running (the current
	// iteration does not end) until every reserved callback was queued;
	// the queued function runs on the VU goroutine and may use the runtime.
	// An error it returns is thrown as the iteration's exception.
	RegisterCallback() (enqueue func(func() error))
}

// Provider is implemented by the js package's VUs: built-in modules assert a
// modules.VU to Provider to reach the full state.
type Provider interface {
	// FullState returns the VU's state, or nil in the init context.
	FullState() *State
}
