package js

import (
	"context"
	"sync"
	"time"

	"github.com/grafana/sobek"
)

// eventLoop runs callbacks queued by asynchronous Go work, and the script's
// timers, on the VU's goroutine, until no reserved callback and no timer is
// outstanding.
type eventLoop struct {
	v       *VU
	timers  timers // VU goroutine only
	mu      sync.Mutex
	queue   []func() error
	pending int
	wake    chan struct{}
	gen     uint64 // bumped by reset: callbacks of an abandoned run are dropped
}

var drain = sobek.MustCompile("", "", false)

func newEventLoop(v *VU) *eventLoop {
	return &eventLoop{v: v, wake: make(chan struct{}, 1)}
}

// RegisterCallback implements vustate.EventLoop.
func (l *eventLoop) RegisterCallback() func(func() error) {
	l.mu.Lock()
	l.pending++
	gen := l.gen
	l.mu.Unlock()
	var once sync.Once
	return func(cb func() error) {
		once.Do(func() {
			l.mu.Lock()
			if gen != l.gen {
				l.mu.Unlock()
				return
			}
			l.queue = append(l.queue, cb)
			l.mu.Unlock()
			select {
			case l.wake <- struct{}{}:
			default:
			}
		})
	}
}

// run executes queued callbacks until nothing is pending; it returns early
// with ctx's error when ctx is done, abandoning outstanding callbacks.
func (l *eventLoop) run(ctx context.Context) error {
	for {
		l.mu.Lock()
		q := l.queue
		l.queue = nil
		l.pending -= len(q)
		pending := l.pending
		l.mu.Unlock()
		for _, cb := range q {
			if err := cb(); err != nil {
				l.reset()
				return err
			}
			if _, err := l.v.rt.RunProgram(drain); err != nil {
				l.reset()
				return err
			}
		}
		if len(q) > 0 {
			continue
		}
		var tm *time.Timer
		var due <-chan time.Time
		if t := l.timers.next(); t != nil {
			wait := time.Until(t.due)
			if wait <= 0 {
				if err := l.timers.fire(t); err != nil {
					l.reset()
					return err
				}
				if _, err := l.v.rt.RunProgram(drain); err != nil {
					l.reset()
					return err
				}
				continue
			}
			tm = time.NewTimer(wait)
			due = tm.C
		} else if pending == 0 {
			return nil
		}
		select {
		case <-l.wake:
		case <-due:
		case <-ctx.Done():
			if tm != nil {
				tm.Stop()
			}
			l.reset()
			return ctx.Err()
		}
		if tm != nil {
			tm.Stop()
		}
	}
}

// reset drops everything outstanding, e.g. after an exception.
func (l *eventLoop) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reset0()
}

func (l *eventLoop) reset0() {
	l.queue, l.pending = nil, 0
	l.gen++
	l.timers.reset()
}
