// Package metrics is tally's vocabulary for measurements: metric definitions
// and their per-run registry, tag sets, samples, and the sinks that aggregate
// samples into the values thresholds and summaries read.
//
// The package is public because native JS modules (k6/x/...) living in other
// repositories create metrics and push samples through it.
package metrics

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// MetricType is the kind of aggregation a metric gets.
type MetricType uint8

// The four metric types of k6.
const (
	Counter MetricType = iota // sums values
	Gauge                     // keeps the last value, plus min and max
	Rate                      // the share of non-zero values
	Trend                     // distribution statistics: avg, min, med, max, percentiles
)

var metricTypeNames = [...]string{"counter", "gauge", "rate", "trend"}

// String returns the lower-case name used in summaries and outputs.
func (t MetricType) String() string {
	if int(t) < len(metricTypeNames) {
		return metricTypeNames[t]
	}
	return fmt.Sprintf("MetricType(%d)", t)
}

// MarshalJSON encodes the type as its name.
func (t MetricType) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// ValueType says what a metric's values measure.
type ValueType uint8

// Value types ("contains" in k6's summary data).
const (
	Default ValueType = iota // plain numbers
	Time                     // milliseconds
	Data                     // bytes
)

var valueTypeNames = [...]string{"default", "time", "data"}

// String returns the name used in summaries ("default", "time", "data").
func (v ValueType) String() string {
	if int(v) < len(valueTypeNames) {
		return valueTypeNames[v]
	}
	return fmt.Sprintf("ValueType(%d)", v)
}

// MarshalJSON encodes the value type as its name.
func (v ValueType) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

// Metric is a named measurement. Metrics are created through a Registry and
// compared by pointer; a Metric is immutable after creation.
type Metric struct {
	Name     string
	Type     MetricType
	Contains ValueType
	// Index is the metric's position in its registry (0-based), handy for
	// dense per-metric arrays on hot paths.
	Index int
}

var nameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{1,128}$`)

// ValidName reports whether name is a valid metric name: a letter or
// underscore followed by 1 to 128 letters, digits or underscores.
func ValidName(name string) bool { return nameRE.MatchString(name) }
