package options

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes k6's duration syntax:
// Go's syntax ("1m30s") with an optional day prefix ("2d3h"), or a bare
// number (JSON number or string) meaning milliseconds.
type Duration time.Duration

// MaxDuration is the longest duration tally accepts, about 292 years: the
// largest time.Duration. Longer ones, NaN and infinities are refused rather
// than wrapped around.
const MaxDuration = time.Duration(math.MaxInt64)

// ErrDurationRange is wrapped by the errors of durations out of range.
var ErrDurationRange = errors.New("out of range")

// rangeError says that s is too long a duration.
func rangeError(s string) error {
	return fmt.Errorf("invalid duration %q: %w (the longest duration is %s, about 106751 days)", s, ErrDurationRange, MaxDuration)
}

// ParseDuration parses k6's duration syntax. Overflows, NaN and infinities
// are errors.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	// A number of milliseconds never ends in a unit (no float syntax ends in
	// s, m, h or d), and ParseFloat's error for "20s" costs an allocation:
	// every request with a timeout param parses one.
	if c := s[len(s)-1]; c != 's' && c != 'm' && c != 'h' && c != 'd' {
		if ms, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			if err != nil {
				return 0, rangeError(orig)
			}
			return millis(orig, ms)
		}
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, rangeError(orig)
		}
		if err == nil {
			const day = 24 * time.Hour
			if n > int64(MaxDuration/day) || n < -int64(MaxDuration/day) {
				return 0, rangeError(orig)
			}
			days = time.Duration(n) * day
			s = s[i+1:]
			if s == "" {
				return days, nil
			}
			if s[0] == '-' || s[0] == '+' {
				return 0, fmt.Errorf("invalid duration %q: a sign may only lead the whole duration, e.g. -1d2h", orig)
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if onlyDurationChars(s) && strings.ContainsAny(s, "0123456789") {
			return 0, fmt.Errorf("invalid duration %q: use Go syntax such as 30s, 1m30s, 2h or 1d2h, or a number of milliseconds; if it is well formed, it is %w (the longest duration is %s)", orig, ErrDurationRange, MaxDuration)
		}
		return 0, fmt.Errorf("invalid duration %q: use Go syntax such as 30s, 1m30s, 2h or 1d2h, or a number of milliseconds", orig)
	}
	if days < 0 {
		if days < -MaxDuration+d {
			return 0, rangeError(orig)
		}
		return days - d, nil
	}
	if d > 0 && days > MaxDuration-d {
		return 0, rangeError(orig)
	}
	return days + d, nil
}

// onlyDurationChars reports whether s uses only characters of Go's duration
// syntax.
func onlyDurationChars(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789.+-nsuµμmh", r) {
			return false
		}
	}
	return true
}

// millis converts a number of milliseconds, refusing NaN, infinities and
// values beyond MaxDuration.
func millis(s string, ms float64) (time.Duration, error) {
	if math.IsNaN(ms) {
		return 0, fmt.Errorf("invalid duration %q: not a number", s)
	}
	if math.IsInf(ms, 0) {
		return 0, fmt.Errorf("invalid duration %q: %w: an infinite duration cannot be used", s, ErrDurationRange)
	}
	ns := ms * float64(time.Millisecond)
	// float64(MaxInt64) rounds up to 2^63, which does not fit: >= refuses it.
	if ns >= float64(math.MaxInt64) || ns <= float64(math.MinInt64) {
		return 0, rangeError(s)
	}
	return time.Duration(ns), nil
}

// UnmarshalJSON accepts a duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Value == "number "+string(b) {
			return rangeError(string(b))
		}
		return fmt.Errorf("invalid duration %s: use a string such as \"30s\" or a number of milliseconds", b)
	}
	v, err := millis(string(b), ms)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration in Go syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// String returns the duration in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
