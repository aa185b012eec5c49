package creditd

import (
	"fmt"
	"strings"
	"time"
)

// Latency is a simulated duration: Base plus a uniform jitter in [-Jitter, +Jitter], never below 0.
type Latency struct {
	Base, Jitter time.Duration
}

// ParseLatency parses D or D±J (also D+-J), where D and J are Go durations such as 200ms; "0" is no
// latency.
func ParseLatency(s string) (Latency, error) {
	s = strings.TrimSpace(s)
	base, jitter, hasJitter := strings.Cut(s, "±")
	if !hasJitter {
		base, jitter, hasJitter = strings.Cut(s, "+-")
	}
	var l Latency
	var err error
	if l.Base, err = parseDuration(base); err != nil {
		return Latency{}, fmt.Errorf("latency %q: %w (want D or D±J, e.g. 200ms±50ms)", s, err)
	}
	if hasJitter {
		if l.Jitter, err = parseDuration(jitter); err != nil {
			return Latency{}, fmt.Errorf("latency %q: jitter: %w (want D or D±J, e.g. 200ms±50ms)", s, err)
		}
	}
	return l, nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %s", s)
	}
	return d, nil
}

// Draw returns one duration; u is a uniform random number in [0, 1).
func (l Latency) Draw(u float64) time.Duration {
	d := l.Base + time.Duration((2*u-1)*float64(l.Jitter))
	return max(d, 0)
}

// String formats l the way ParseLatency reads it.
func (l Latency) String() string {
	if l.Jitter == 0 {
		return l.Base.String()
	}
	return l.Base.String() + "±" + l.Jitter.String()
}
