package executor

import (
	"sync/atomic"
	"time"
)

// State holds the run-wide counters k6/execution's `instance` object reads.
// All fields are safe for concurrent use.
type State struct {
	// IterationsCompleted counts iterations that ran to their end (also
	// those that threw).
	IterationsCompleted atomic.Int64
	// IterationsInterrupted counts iterations cut by a graceful stop
	// deadline, a ramp-down or the end of the test.
	IterationsInterrupted atomic.Int64
	// VUsActive counts VUs currently handed to an executor.
	VUsActive atomic.Int64
	// VUsInitialized counts VUs initialized so far (planned and unplanned).
	VUsInitialized atomic.Int64

	startNano atomic.Int64
}

// MarkStarted records t as the start of the test run unless a start was
// already recorded. The engine may call it before setup(); Scheduler.Run
// calls it otherwise.
func (s *State) MarkStarted(t time.Time) { s.startNano.CompareAndSwap(0, t.UnixNano()) }

// StartTime returns when the test run started (zero before).
func (s *State) StartTime() time.Time {
	n := s.startNano.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// CurrentTestRunDuration returns the time elapsed since StartTime (0 before
// the start).
func (s *State) CurrentTestRunDuration() time.Duration {
	n := s.startNano.Load()
	if n == 0 {
		return 0
	}
	return time.Since(time.Unix(0, n))
}
