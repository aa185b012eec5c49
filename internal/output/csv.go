package output

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tallyhq/tally/metrics"
)

// csvColumns are the tag columns of the csv output, after metric_name,
// timestamp and metric_value; other tags go to extra_tags as k=v&k=v.
var csvColumns = []string{"check", "error", "error_code", "expected_response", "group", "method",
	"name", "proto", "scenario", "service", "status", "subproto", "tls_version", "url"}

var csvColumnIndex = func() map[string]int {
	m := make(map[string]int, len(csvColumns))
	for i, c := range csvColumns {
		m[c] = i
	}
	return m
}()

// csvHeader is the first line of every csv output file.
var csvHeader = "metric_name,timestamp,metric_value," + strings.Join(csvColumns, ",") + ",extra_tags,metadata\n"

// csvOutput writes one row per sample; timestamps are Unix seconds.
type csvOutput struct {
	dest  destination
	buf   []byte
	cells []string
	extra []byte
	tags  map[*metrics.TagSet][]byte // encoded tag columns of recent tag sets
	keys  []string
	meta  []byte
}

var _ Output = (*csvOutput)(nil)

// Description names the output and its file.
func (o *csvOutput) Description() string { return "csv (" + o.dest.name() + ")" }

// Start creates the file and writes the header.
func (o *csvOutput) Start(context.Context, metrics.DescribeFunc) error {
	if err := o.dest.open(); err != nil {
		return err
	}
	o.cells = make([]string, len(csvColumns))
	_, err := o.dest.w.WriteString(csvHeader)
	return err
}

// AddSamples writes one row per sample.
func (o *csvOutput) AddSamples(batch metrics.Samples) error {
	b := o.buf[:0]
	for i := range batch {
		b = o.appendRow(b, &batch[i])
	}
	o.buf = b
	if _, err := o.dest.w.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", o.dest.name(), err)
	}
	return nil
}

// Stop flushes and closes the file.
func (o *csvOutput) Stop() error { return o.dest.close() }

func (o *csvOutput) appendRow(b []byte, s *metrics.Sample) []byte {
	b = appendCSV(b, s.Metric.Name)
	b = append(b, ',')
	b = strconv.AppendInt(b, s.Time.Unix(), 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, s.Value, 'f', -1, 64)
	b = o.appendTagColumns(b, s.Tags)
	b = append(b, ',')
	if len(s.Metadata) > 0 {
		keys := o.keys[:0]
		for k := range s.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		meta := o.meta[:0]
		for i, k := range keys {
			if i > 0 {
				meta = append(meta, '&')
			}
			meta = append(meta, k...)
			meta = append(meta, '=')
			meta = append(meta, s.Metadata[k]...)
		}
		o.keys, o.meta = keys, meta
		b = appendCSVBytes(b, meta)
	}
	return append(b, '\n')
}

// appendTagColumns appends ",check,...,url,extra_tags" for ts, caching the
// encoding of recent tag sets (they are immutable and shared).
func (o *csvOutput) appendTagColumns(b []byte, ts *metrics.TagSet) []byte {
	if enc, ok := o.tags[ts]; ok {
		return append(b, enc...)
	}
	start := len(b)
	clear(o.cells)
	extra := o.extra[:0]
	for _, t := range ts.Tags() {
		if i, ok := csvColumnIndex[t.Key]; ok {
			o.cells[i] = t.Value
			continue
		}
		if len(extra) > 0 {
			extra = append(extra, '&')
		}
		extra = append(extra, t.Key...)
		extra = append(extra, '=')
		extra = append(extra, t.Value...)
	}
	o.extra = extra
	for _, c := range o.cells {
		b = append(b, ',')
		b = appendCSV(b, c)
	}
	b = append(b, ',')
	b = appendCSV(b, string(extra))
	if o.tags == nil || len(o.tags) >= maxCachedTagSets {
		o.tags = make(map[*metrics.TagSet][]byte, 64)
	}
	o.tags[ts] = append([]byte(nil), b[start:]...)
	return b
}

// appendCSV appends one field, quoted as RFC 4180 requires.
func appendCSV(b []byte, f string) []byte {
	if !strings.ContainsAny(f, ",\"\r\n") && !strings.HasPrefix(f, " ") {
		return append(b, f...)
	}
	b = append(b, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, f[i])
	}
	return append(b, '"')
}

// appendCSVBytes is appendCSV for a byte slice.
func appendCSVBytes(b, f []byte) []byte {
	if !bytes.ContainsAny(f, ",\"\r\n") && !bytes.HasPrefix(f, []byte(" ")) {
		return append(b, f...)
	}
	return appendCSV(b, string(f))
}
