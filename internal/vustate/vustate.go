// Package vustate is the full per-VU state the built-in JS modules read: the
// public modules.State plus what only tally's own modules need.
package vustate

import (
	"sync/atomic"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// State is a VU's state outside the init context. It is owned by the VU's
// goroutine; only the atomic counters may be touched from other goroutines.
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
	// TagCtx holds the pieces the VU's sample tags are built from; its
	// Current method backs modules.State.Tags.
	TagCtx *Tags
	// Metadata is attached to every sample the VU produces
	// (exec.vu.metrics.metadata); nil when empty.
	Metadata map[string]string

	// Group is the group the VU is in (the root outside group() calls);
	// change it with SetGroup so that sample tags follow.
	Group *groups.Group

	// Scenario and Iter describe the running iteration; nil in setup,
	// teardown and handleSummary.
	Scenario *executor.Scenario
	Iter     *executor.Iteration
	// IterationInScenario counts this VU's iterations in Scenario (0-based
	// index of the current one).
	IterationInScenario uint64
	// AbortRequested is set by test.abort(): the iteration that called it
	// counts as completed although the run is being interrupted.
	AbortRequested bool
	// Throw mirrors the throw option: errors that are normally only
	// logged (a bad metric value, a failed request) are thrown instead.
	Throw bool
}

// SetGroup makes g the current group.
func (s *State) SetGroup(g *groups.Group) {
	s.Group = g
	s.TagCtx.SetGroup(g.Path)
}

// EventLoop runs callbacks on the VU's goroutine, between JS tasks.
type EventLoop interface {
	// RegisterCallback reserves a slot in the loop and returns the function
	// that queues the callback for it. The loop keeps running (the current
	// iteration does not end) until every reserved callback was queued;
	// the queued function runs on the VU goroutine and may use the runtime.
	// An error it returns is thrown as the iteration's exception. enqueue
	// may be called from any goroutine, exactly once.
	RegisterCallback() (enqueue func(func() error))
}

// Provider is implemented by the js package's VUs: built-in modules assert a
// modules.VU to Provider to reach the full state.
type Provider interface {
	// FullState returns the VU's state, or nil in the init context.
	FullState() *State
}
