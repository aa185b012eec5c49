package output

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tallyhq/tally/metrics"
)

// jsonOutput writes k6's NDJSON format: a "Metric" line the first time a
// metric is seen, then one "Point" line per sample.
type jsonOutput struct {
	dest     destination
	describe metrics.DescribeFunc
	seen     map[*metrics.Metric]bool
	buf      []byte
	enc      encodeCache
}

// encodeCache remembers the encoding of recent tag sets (immutable and
// shared by the samples of one event, so the same pointers recur) and of the
// current second of timestamps.
type encodeCache struct {
	tags    map[*metrics.TagSet][]byte
	sec     int64
	secText []byte // "2026-01-01T10:00:00" of sec
	keys    []string
}

// maxCachedTagSets bounds encodeCache.tags; the cache is emptied when full.
const maxCachedTagSets = 4096

func (c *encodeCache) appendTags(b []byte, ts *metrics.TagSet) []byte {
	if ts.Len() == 0 {
		return append(b, "{}"...)
	}
	if enc, ok := c.tags[ts]; ok {
		return append(b, enc...)
	}
	if c.tags == nil || len(c.tags) >= maxCachedTagSets {
		c.tags = make(map[*metrics.TagSet][]byte, 64)
	}
	start := len(b)
	b = appendTags(b, ts.Tags())
	c.tags[ts] = append([]byte(nil), b[start:]...)
	return b
}

// appendTime appends t in UTC as RFC 3339 with nanoseconds, trailing zeros
// of the fraction trimmed (time.RFC3339Nano).
func (c *encodeCache) appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	if c.secText == nil || sec != c.sec {
		c.sec = sec
		c.secText = t.Truncate(time.Second).AppendFormat(c.secText[:0], "2006-01-02T15:04:05")
	}
	b = append(b, c.secText...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

func (c *encodeCache) appendMetadata(b []byte, m map[string]string) []byte {
	keys := c.keys[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	c.keys = keys
	return append(b, '}')
}

var _ Output = (*jsonOutput)(nil)

// Description names the output and its destination.
func (o *jsonOutput) Description() string { return "json (" + o.dest.name() + ")" }

// Start opens the destination and remembers how to describe metrics.
func (o *jsonOutput) Start(_ context.Context, describe metrics.DescribeFunc) error {
	o.describe = describe
	o.seen = map[*metrics.Metric]bool{}
	return o.dest.open()
}

// AddSamples writes a Metric line for each metric seen for the first time
// and a Point line per sample.
func (o *jsonOutput) AddSamples(batch metrics.Samples) error {
	b := o.buf[:0]
	for i := range batch {
		s := &batch[i]
		if !o.seen[s.Metric] {
			o.seen[s.Metric] = true
			b = o.appendMetric(b, s.Metric)
		}
		b = o.enc.appendPoint(b, s)
	}
	o.buf = b
	if _, err := o.dest.w.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", o.dest.name(), err)
	}
	return nil
}

// Stop flushes and closes the destination (standard output stays open).
func (o *jsonOutput) Stop() error { return o.dest.close() }

func (o *jsonOutput) appendMetric(b []byte, m *metrics.Metric) []byte {
	var info metrics.Description
	if o.describe != nil {
		info = o.describe(m)
	}
	b = append(b, `{"type":"Metric","data":{"name":`...)
	b = appendString(b, m.Name)
	b = append(b, `,"type":"`...)
	b = append(b, m.Type.String()...)
	b = append(b, `","contains":"`...)
	b = append(b, m.Contains.String()...)
	b = append(b, `","thresholds":[`...)
	for i, t := range info.Thresholds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCompact(b, t)
	}
	b = append(b, `],"submetrics":`...)
	if len(info.Submetrics) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, sm := range info.Submetrics {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, sm.Name)
			b = append(b, `,"suffix":`...)
			b = appendString(b, sm.Suffix)
			b = append(b, `,"tags":`...)
			b = appendTags(b, sm.Tags.Tags())
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `},"metric":`...)
	b = appendString(b, m.Name)
	return append(b, "}\n"...)
}

func (c *encodeCache) appendPoint(b []byte, s *metrics.Sample) []byte {
	b = append(b, `{"metric":`...)
	b = appendString(b, s.Metric.Name)
	b = append(b, `,"type":"Point","data":{"time":"`...)
	b = c.appendTime(b, s.Time)
	b = append(b, `","value":`...)
	b = appendFloat(b, s.Value)
	b = append(b, `,"tags":`...)
	b = c.appendTags(b, s.Tags)
	if len(s.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = c.appendMetadata(b, s.Metadata)
	}
	return append(b, "}}\n"...)
}

func appendTags(b []byte, tags []metrics.Tag) []byte {
	b = append(b, '{')
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t.Key)
		b = append(b, ':')
		b = appendString(b, t.Value)
	}
	return append(b, '}')
}

// appendCompact appends raw JSON without insignificant whitespace, so every
// record stays on one line.
func appendCompact(b []byte, raw json.RawMessage) []byte {
	start := len(b)
	b = append(b, raw...)
	out := b[:start]
	inString, escaped := false, false
	for _, c := range b[start:] {
		switch {
		case inString:
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		out = append(out, c)
	}
	return out
}

// appendFloat formats v as encoding/json does; NaN and ±Inf, which JSON
// cannot represent, become null.
func appendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(v)
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b = strconv.AppendFloat(b, v, fmtc, -1, 64)
	if fmtc == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (without HTML escaping). The ledger's journal has the same function
// (it may not import internal/); TestAppendStringMatchesEncodingJSON in
// both packages pins them to encoding/json.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
