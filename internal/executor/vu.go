// Package executor schedules iterations: k6's executors, the scenarios that
// configure them, the VU pool they share, execution segments, and progress.
//
// Executors never see JavaScript: they drive VUs through the small VU
// interface below, which the js package implements and tests implement with
// plain Go functions.
package executor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/metrics"
)

// VU is an initialized virtual user as executors see it. A VU runs one
// iteration at a time; the pool hands it to one executor at a time.
type VU interface {
	// ID returns the VU's 1-based id in this instance (vu.idInInstance).
	ID() uint64
	// RunIteration runs one iteration of it.Scenario's exec function.
	// When ctx is done before the iteration finishes, the iteration is
	// interrupted and RunIteration returns false; it returns true when the
	// iteration completed (also when the script threw: the error is logged
	// and counted by the VU). The VU emits the iteration's own samples
	// (iterations, iteration_duration, data_sent/received) only for
	// completed iterations.
	RunIteration(ctx context.Context, it *Iteration) bool
}

// NewVUFunc initializes a VU. idInInstance is 1-based and dense in this
// instance; idInTest is the VU's global id across the instances of a
// segmented run (equal to idInInstance without segments). It may be slow
// (it evaluates the script's init context) and is called concurrently.
type NewVUFunc func(ctx context.Context, idInInstance, idInTest uint64) (VU, error)

// Iteration describes one iteration an executor asks a VU to run.
type Iteration struct {
	Scenario *Scenario
	// InInstance is the 0-based index of this iteration among the
	// scenario's iterations on this instance (scenario.iterationInInstance).
	InInstance uint64
	// InTest is the 0-based index among the scenario's iterations across
	// all instances (scenario.iterationInTest).
	InTest uint64
	// Scheduled is when an arrival-rate executor meant the iteration to
	// start (the actual start is a little later); zero for the executors
	// that loop VUs.
	Scheduled time.Time
}

// Scenario is the run-time view of one scenario, shared by the VUs that run
// it. Fields are set before the scenario's first iteration and not changed
// afterwards, except through the atomic accessors.
type Scenario struct {
	Name     string            // scenario name, also its "scenario" tag
	Executor string            // executor type, e.g. "constant-vus"
	Exec     string            // exported function to call
	Env      map[string]string // extra __ENV entries while VUs run this scenario
	// Tags are added to every sample of the scenario; they include
	// scenario=<Name> unless the "scenario" system tag is disabled.
	Tags *metrics.TagSet

	startUnixNano atomic.Int64
	progress      atomic.Pointer[func() float64]
}

// SetStartTime records when the scenario started.
func (s *Scenario) SetStartTime(t time.Time) { s.startUnixNano.Store(t.UnixNano()) }

// StartTime returns when the scenario started (zero before it started).
func (s *Scenario) StartTime() time.Time {
	n := s.startUnixNano.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SetProgress installs the function that reports the scenario's progress.
func (s *Scenario) SetProgress(f func() float64) { s.progress.Store(&f) }

// Progress returns the scenario's progress from 0 to 1.
func (s *Scenario) Progress() float64 {
	if f := s.progress.Load(); f != nil {
		return (*f)()
	}
	return 0
}
