package k6http

import (
	"context"
	"sync"
	"time"
)

// limiter spaces request starts evenly so the whole run makes at most rate
// requests per second (the rps option). It is shared by all VUs; Wait is
// safe for concurrent use.
type limiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	next time.Time // earliest start of the next request
}

func newLimiter(rps int64, now func() time.Time) *limiter {
	return &limiter{interval: time.Second / time.Duration(rps), now: now}
}

// Wait blocks until the caller may start a request, or ctx is done.
func (l *limiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	d := slot.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
