package runstate

import (
	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/summary"
)

// The metrics engine and the summary must not import each other (the one
// aggregates, the other renders; docs/architecture.md), so the engine's
// results are converted to the summary's data model here, where both a run
// (internal/engine) and a merge build summary data.

// SummaryMetrics converts the engine's SummaryMetrics to summary.Data's
// Metrics.
func SummaryMetrics(res map[string]*metricsengine.MetricData) map[string]*summary.MetricData {
	out := make(map[string]*summary.MetricData, len(res))
	for name, r := range res {
		d := &summary.MetricData{Type: r.Type, Contains: r.Contains, Values: r.Values}
		if r.Thresholds != nil {
			d.Thresholds = make(map[string]summary.ThresholdResult, len(r.Thresholds))
			for src, th := range r.Thresholds {
				d.Thresholds[src] = summary.ThresholdResult(th)
			}
		}
		out[name] = d
	}
	return out
}

// SummaryBreakdown converts the engine's SummaryBreakdown to summary.Data's
// Breakdown; nil stays nil.
func SummaryBreakdown(b *metricsengine.Breakdown) *summary.Breakdown {
	if b == nil {
		return nil
	}
	out := &summary.Breakdown{
		Groups:    make(map[string]map[string]*summary.MetricData, len(b.Groups)),
		Scenarios: make(map[string]map[string]*summary.MetricData, len(b.Scenarios)),
	}
	for value, res := range b.Groups {
		out.Groups[value] = SummaryMetrics(res)
	}
	for value, res := range b.Scenarios {
		out.Scenarios[value] = SummaryMetrics(res)
	}
	return out
}
