package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHandlerTimesQuantiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		times []time.Duration
		q     float64
		want  time.Duration
	}{
		{"one request", []time.Duration{7 * time.Microsecond}, 0.5, 7100 * time.Nanosecond},
		{"median of three", []time.Duration{5 * time.Microsecond, 9 * time.Microsecond, 30 * time.Microsecond}, 0.5, 9100 * time.Nanosecond},
		{"p95 of 100", ramp(100), 0.95, 95100 * time.Nanosecond},
		{"p50 of 100", ramp(100), 0.5, 50100 * time.Nanosecond},
		{"beyond the last bucket", []time.Duration{time.Second}, 0.5, maxBuckets * bucketWidth},
		{"none", nil, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var h handlerTimes
			for _, d := range tc.times {
				h.add(d)
			}
			if got, n := h.quantile(tc.q); got != tc.want || n != int64(len(tc.times)) {
				t.Errorf("quantile(%v) = %v over %d requests, want %v over %d", tc.q, got, n, tc.want, len(tc.times))
			}
		})
	}
}

// ramp returns n handler times of 1, 2, ... n µs.
func ramp(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Microsecond
	}
	return out
}

func TestHandlerTimesEndpoint(t *testing.T) {
	t.Parallel()
	var h handlerTimes
	app := h.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	for range 3 {
		app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	}
	rec := httptest.NewRecorder()
	h.stats(rec, httptest.NewRequest(http.MethodGet, "/stats/handler-time", nil))
	var got struct {
		Count int64   `json:"count"`
		P50   float64 `json:"p50_us"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Count != 3 || got.P50 <= 0 {
		t.Fatalf("stats = %s (%v), want 3 requests with a p50 above 0", rec.Body, err)
	}
	h.stats(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/stats/handler-time", nil))
	if _, n := h.quantile(0.5); n != 0 {
		t.Errorf("after DELETE %d requests remain", n)
	}
}
