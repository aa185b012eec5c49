package executor

import (
	"encoding/json"
	"testing"
)

// FuzzParseSegment: an execution segment that parses has 0 <= from < to <= 1
// and its rendering parses back to the same segment; never a panic or a
// hang (big fractions included).
func FuzzParseSegment(f *testing.F) {
	for _, s := range []string{"", "0:1/3", "1/3:2/3", "2/3:1", "50%", "0.25:0.5", "1:0", "0:0", "-1:1", "0:2", "1/0", "x", "1e9999:1", "0:1e-9999", "%", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1000 {
			return
		}
		seg, err := ParseSegment(s)
		if err != nil {
			return
		}
		if seg.From.Sign() < 0 || seg.From.Cmp(seg.To) >= 0 || seg.To.Cmp(WholeSegment().To) > 0 {
			t.Fatalf("%q -> %s:%s out of 0 <= from < to <= 1", s, seg.From, seg.To)
		}
		back, err := ParseSegment(seg.From.RatString() + ":" + seg.To.RatString())
		if err != nil || back.From.Cmp(seg.From) != 0 || back.To.Cmp(seg.To) != 0 {
			t.Fatalf("%q does not round-trip: %v", s, err)
		}
	})
}

// FuzzParseSequence: a sequence that parses is strictly increasing from 0
// to 1, and its first segment places in it (NewTuple) without error.
func FuzzParseSequence(f *testing.F) {
	for _, s := range []string{"", "0,1/3,2/3,1", "1/2", "0,1", "0,0.5,0.5,1", "1,0", "0,1/3,x", "0,1e-9999,1", "50%,75%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1000 {
			return
		}
		seq, err := ParseSequence(s)
		if err != nil || len(seq) == 0 {
			return
		}
		if seq[0].Sign() != 0 || seq[len(seq)-1].Cmp(WholeSegment().To) != 0 {
			t.Fatalf("%q -> %v: not from 0 to 1", s, seq)
		}
		for i := 1; i < len(seq); i++ {
			if seq[i-1].Cmp(seq[i]) >= 0 {
				t.Fatalf("%q -> %v: not strictly increasing", s, seq)
			}
		}
		if len(seq) > 100 {
			return
		}
		if _, err := NewTuple(Segment{From: seq[0], To: seq[1]}, seq); err != nil {
			t.Fatalf("%q: first segment not placed: %v", s, err)
		}
	})
}

// FuzzParseConfig: a scenario's JSON config. Whatever the JSON, ParseConfig
// returns a config or an error, never panics.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"executor": "constant-vus", "vus": 2, "duration": "1s"}`,
		`{"executor": "ramping-vus", "stages": [{"duration": "10s", "target": 3}], "gracefulRampDown": "1s"}`,
		`{"executor": "ramping-arrival-rate", "startRate": 1, "timeUnit": "1s", "preAllocatedVUs": 2, "stages": [{"duration": "1d", "target": 2}]}`,
		`{"executor": "constant-arrival-rate", "rate": 10, "timeUnit": "0s", "duration": "1s", "preAllocatedVUs": 1}`,
		`{"executor": "per-vu-iterations", "vus": 1, "iterations": 9223372036854775807, "maxDuration": "213504d"}`,
		`{"executor": "shared-iterations", "vus": -1, "iterations": 1, "startTime": "-1s"}`,
		`{"executor": "externally-controlled"}`, `[]`, `null`, `{"executor": 1}`,
	} {
		f.Add("s", []byte(s))
	}
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		cfg, err := ParseConfig(name, json.RawMessage(raw))
		if err != nil || cfg == nil {
			return
		}
		_ = ConfigsJSON([]Config{cfg})
	})
}
