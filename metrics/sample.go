package metrics

import "time"

// Sample is one measurement of a metric.
type Sample struct {
	Metric *Metric
	Time   time.Time
	Value  float64
	Tags   *TagSet
	// Metadata holds high-cardinality annotations (such as "vu" and "iter")
	// that travel with the sample to outputs but are never indexed.
	Metadata map[string]string
}

// Samples is a batch of samples pushed together, usually those produced by
// one event (an HTTP round trip, an iteration).
type Samples []Sample

// Pusher receives batches of samples. Implementations must be safe for
// concurrent use and must not retain the slice after Push returns unless they
// own it: producers hand over ownership of each batch they push.
type Pusher interface {
	Push(Samples)
}

// PusherFunc adapts a function to Pusher.
type PusherFunc func(Samples)

// Push calls f.
func (f PusherFunc) Push(s Samples) { f(s) }

// Discard is a Pusher that drops every sample.
var Discard Pusher = PusherFunc(func(Samples) {})
