// Package summary builds the end-of-test summary: the data object that
// handleSummary receives (k6's "legacy" shape), the text summary, and the
// --summary-export file.
package summary

import "encoding/json"

// Data is the object handleSummary(data) receives.
type Data struct {
	RootGroup *GroupData             `json:"root_group"`
	Options   Options                `json:"options"`
	State     State                  `json:"state"`
	Metrics   map[string]*MetricData `json:"metrics"`
	// SetupData is setup()'s return value as JSON; nil when setup returned
	// undefined (the key is then absent).
	SetupData json.RawMessage `json:"setup_data,omitempty"`
	// Breakdown holds per-group and per-scenario aggregates for the full
	// text summary; nil unless the metrics engine collected them. It is not
	// part of the handleSummary data.
	Breakdown *Breakdown `json:"-"`
}

// Breakdown is the run's metrics split by group and by scenario, in the
// same form as Data.Metrics.
type Breakdown struct {
	Groups    map[string]map[string]*MetricData // by group path ("::a::b")
	Scenarios map[string]map[string]*MetricData // by scenario name
}

// Options are the summary-related options echoed in Data.
type Options struct {
	SummaryTrendStats []string `json:"summaryTrendStats"`
	SummaryTimeUnit   string   `json:"summaryTimeUnit"`
	NoColor           bool     `json:"noColor"`
}

// State describes the run as a whole.
type State struct {
	IsStdOutTTY       bool    `json:"isStdOutTTY"`
	IsStdErrTTY       bool    `json:"isStdErrTTY"`
	TestRunDurationMs float64 `json:"testRunDurationMs"`
}

// MetricData is one metric or sub-metric of Data.Metrics.
type MetricData struct {
	Type     string             `json:"type"`
	Contains string             `json:"contains"`
	Values   map[string]float64 `json:"values"`
	// Thresholds maps each threshold expression to its result; absent when
	// the metric has no thresholds.
	Thresholds map[string]ThresholdResult `json:"thresholds,omitempty"`
}

// ThresholdResult is the outcome of one threshold expression. Only OK is
// part of the handleSummary data; the other fields feed the text summary.
type ThresholdResult struct {
	OK bool `json:"ok"`
	// Aggregation is the statistic the expression reads ("p(95)", "count").
	Aggregation string `json:"-"`
	// Value is the statistic's value at the last evaluation.
	Value float64 `json:"-"`
	// Order is the expression's position in the metric's threshold list.
	Order int `json:"-"`
}

// GroupData is a group of the root_group tree.
type GroupData struct {
	Name   string       `json:"name"`
	Path   string       `json:"path"`
	ID     string       `json:"id"`
	Groups []*GroupData `json:"groups"`
	Checks []*CheckData `json:"checks"`
}

// CheckData is one check with its tallies.
type CheckData struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	ID     string `json:"id"`
	Passes int64  `json:"passes"`
	Fails  int64  `json:"fails"`
}
