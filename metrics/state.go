package metrics

import (
	"encoding/json"
	"fmt"
	"time"
)

// counterState is CounterSink's JSON form.
type counterState struct {
	Sum   float64   `json:"sum"`
	N     int64     `json:"n"`
	First time.Time `json:"first"`
}

// MarshalJSON encodes the sink's complete state (sum, sample count, time of
// the first sample) so that another process can merge it.
func (c *CounterSink) MarshalJSON() ([]byte, error) {
	return json.Marshal(counterState{Sum: c.Sum, N: c.n, First: c.First})
}

// UnmarshalJSON replaces c with a sink encoded by MarshalJSON.
func (c *CounterSink) UnmarshalJSON(b []byte) error {
	var s counterState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode counter: %w", err)
	}
	if s.N < 0 {
		return fmt.Errorf("decode counter: negative sample count %d", s.N)
	}
	*c = CounterSink{Sum: s.Sum, First: s.First, n: s.N}
	return nil
}

// MarshalJSON encodes the sink as a JSON string holding MarshalBinary's
// bytes (base64): the exact values or the DDSketch, count, sum, min, max.
func (t *TrendSink) MarshalJSON() ([]byte, error) {
	b, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

// UnmarshalJSON replaces t with a sink encoded by MarshalJSON.
func (t *TrendSink) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("decode trend: %w", err)
	}
	return t.UnmarshalBinary(b)
}
