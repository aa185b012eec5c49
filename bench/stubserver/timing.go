package main

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"
)

// bucketWidth is the resolution of the handler-time histogram; handler
// times of maxBuckets*bucketWidth and more fall in the last bucket.
const (
	bucketWidth = 100 * time.Nanosecond
	maxBuckets  = 100_000 // 10 ms
)

// handlerTimes is a histogram of how long the handlers took, from the
// moment net/http called the handler to the moment it returned (the
// response written into net/http's buffer). It is what the server itself
// spends on a request, the part of a client's reported latency that is not
// the client's, the kernel's or the wire's.
type handlerTimes struct {
	buckets [maxBuckets + 1]atomic.Int64
}

// wrap times every request next handles.
func (h *handlerTimes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		h.add(time.Since(start))
	})
}

func (h *handlerTimes) add(d time.Duration) {
	i := int(d / bucketWidth)
	if i > maxBuckets || i < 0 {
		i = maxBuckets
	}
	h.buckets[i].Add(1)
}

// quantile returns the handler time under which a share q (0..1) of the
// requests fall, to bucketWidth (the upper edge of its bucket; 10 ms for
// anything slower), and the number of requests timed.
func (h *handlerTimes) quantile(q float64) (time.Duration, int64) {
	var n int64
	for i := range h.buckets {
		n += h.buckets[i].Load()
	}
	if n == 0 {
		return 0, 0
	}
	rank := int64(q*float64(n-1)) + 1
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return time.Duration(min(i+1, maxBuckets)) * bucketWidth, n
		}
	}
	return maxBuckets * bucketWidth, n
}

// stats answers GET with the handler times so far as JSON (microseconds):
// {"count":N,"p50_us":..,"p95_us":..,"p99_us":..}; DELETE clears them.
func (h *handlerTimes) stats(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		for i := range h.buckets {
			h.buckets[i].Store(0)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	us := func(q float64) float64 { d, _ := h.quantile(q); return float64(d) / float64(time.Microsecond) }
	_, n := h.quantile(0.5)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"count": n, "p50_us": us(0.5), "p95_us": us(0.95), "p99_us": us(0.99)})
}
