package metrics

import "encoding/json"

// Submetric is a tag-filtered view of a metric: the samples of the metric
// whose tags include Tags. A run creates one per thresholds key with a
// selector ("http_req_duration{status:200}").
type Submetric struct {
	Name   string  // "http_req_duration{status:200}", as the thresholds key is written
	Suffix string  // "status:200", the text between the braces
	Tags   *TagSet // the selector
}

// Description is what a run configured for a metric besides the metric
// itself: its thresholds as written and its sub-metrics. It lives here,
// beside Metric, so that the package that computes it (the metrics engine)
// and the outputs that print it (the json output's metric lines) share it
// without depending on each other.
type Description struct {
	// Thresholds are the metric's threshold entries as written (JSON
	// strings or objects).
	Thresholds []json.RawMessage
	// Submetrics are the metric's tag-filtered sub-metrics.
	Submetrics []Submetric
}

// DescribeFunc returns the Description of a metric of the run.
type DescribeFunc func(*Metric) Description
