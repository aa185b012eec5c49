package metricsengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/metrics"
)

// Output is an --out sink as the engine drives it: started once, then fed
// batches from a single goroutine (never concurrently), then stopped. The
// engine owns this interface, rather than importing internal/output's, so
// that aggregation does not depend on the sinks; internal/output's outputs
// and the dashboard satisfy it.
type Output interface {
	// Description names the output in errors and logs.
	Description() string
	// Start opens the destination; describe tells a metric's thresholds
	// and sub-metrics.
	Start(ctx context.Context, describe metrics.DescribeFunc) error
	// AddSamples writes a batch; the output must not keep the slice.
	AddSamples(batch metrics.Samples) error
	// Stop flushes and closes the destination.
	Stop() error
}

// startOutputs starts every output and the flusher goroutine that moves
// pending batches from the shards to the outputs.
func (e *Engine) startOutputs() error {
	if !e.hasOutputs {
		return nil
	}
	for i, o := range e.outputs {
		if err := o.Start(context.Background(), e.Describe); err != nil {
			for _, started := range e.outputs[:i] {
				_ = started.Stop()
			}
			return exitcode.With(exitcode.Other, fmt.Errorf("start output %s: %w", o.Description(), err))
		}
	}
	e.flusherDone = make(chan struct{})
	e.flusherStop = make(chan struct{})
	go e.flusher()
	return nil
}

func (e *Engine) kickFlusher() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// flusher hands pending batches to the outputs every flushInterval, when a
// shard asks for it, and one last time when stopping. Within one flush the
// batches are ordered by the time of their first sample, so outputs are in
// time order up to the skew of one flush interval.
func (e *Engine) flusher() {
	defer close(e.flusherDone)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	var batches []metrics.Samples
	for {
		stopping := false
		select {
		case <-t.C:
		case <-e.kick:
		case <-e.flusherStop:
			stopping = true
		}
		// A flush takes exactly the batches pushed before the epoch
		// changed: a batch pushed later, even into a shard not yet swept,
		// waits for the next flush. So what one goroutine pushed in order
		// reaches the outputs in order.
		cur := e.epoch.Add(1)
		for _, s := range e.shards {
			s.mu.Lock()
			k := 0
			for k < len(s.pending) && s.pending[k].epoch < cur {
				batches = append(batches, s.pending[k].batch)
				s.pendingLen -= len(s.pending[k].batch)
				k++
			}
			n := copy(s.pending, s.pending[k:])
			clear(s.pending[n:])
			s.pending = s.pending[:n]
			if stopping {
				s.outputsDone = true
			}
			s.cond.Broadcast()
			s.mu.Unlock()
		}
		// Shards interleave the pushes of all VUs; restore time order
		// within the flush (batches keep their inner order).
		slices.SortStableFunc(batches, func(a, b metrics.Samples) int { return a[0].Time.Compare(b[0].Time) })
		e.write(batches)
		clear(batches)
		batches = batches[:0]
		if stopping {
			return
		}
	}
}

// write hands batches to every output, remembering the first error; an
// output that failed gets nothing more.
func (e *Engine) write(batches []metrics.Samples) {
	for i, o := range e.outputs {
		if e.outFailed[i] {
			continue
		}
		for _, b := range batches {
			if err := o.AddSamples(b); err != nil {
				e.outFailed[i] = true
				e.outErr = errors.Join(e.outErr, fmt.Errorf("output %s: %w", o.Description(), err))
				e.log.Error("output failed; it receives no more samples", "output", o.Description(), "error", err)
				break
			}
		}
	}
}

// stopOutputs flushes what is pending and stops every output.
func (e *Engine) stopOutputs(ctx context.Context) error {
	if !e.hasOutputs {
		return nil
	}
	close(e.flusherStop)
	select {
	case <-e.flusherDone:
	case <-ctx.Done():
		return fmt.Errorf("flush outputs: %w", ctx.Err())
	}
	err := e.outErr
	for _, o := range e.outputs {
		if serr := o.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop output %s: %w", o.Description(), serr))
		}
	}
	return err
}
