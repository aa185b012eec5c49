package engine

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tallyhq/tally/internal/dashboard"
	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/modules"
)

// dashboardConfig reads the web dashboard's settings (K6_WEB_DASHBOARD*
// and --out web-dashboard) and returns the other --out specs. A report path
// that cannot take the file fails now, not after the test.
func dashboardConfig(outs []string, getenv func(string) (string, bool)) (dashboard.Config, []string, error) {
	dc, specs, err := dashboard.ParseConfig(outs, getenv)
	if err != nil {
		return dc, nil, exitcode.With(exitcode.InvalidConfig, err)
	}
	if dc.Export != "" {
		if err := output.CheckFile(dc.Export); err != nil {
			return dc, nil, exitcode.With(exitcode.Other, fmt.Errorf("K6_WEB_DASHBOARD_EXPORT %s: %w", dc.Export, err))
		}
	}
	return dc, specs, nil
}

// newDashboard returns the dashboard output, or nil when neither the page
// nor the report is wanted.
func (r *run) newDashboard(dc dashboard.Config) *dashboard.Dashboard {
	if !dc.Active() {
		return nil
	}
	if !dc.Enabled {
		r.log.Info(fmt.Sprintf("web dashboard off, HTML report on: it will be written to %s", dc.Export))
	}
	return dashboard.New(dc, dashboard.Params{Logger: r.log, Script: filepath.Base(r.cfg.ScriptPath), Version: r.cfg.Version})
}

// attachDashboard lets the dashboard read the thresholds' live state.
func attachDashboard(d *dashboard.Dashboard, me *metricsengine.Engine) {
	d.SetThresholds(func() []dashboard.Threshold {
		st := me.ThresholdStatuses()
		out := make([]dashboard.Threshold, len(st))
		for i, s := range st {
			out[i] = dashboard.Threshold{Metric: s.Metric, Source: s.Source, OK: s.OK, Evaluated: s.Evaluated, Value: s.Value}
		}
		return out
	})
}

// finishDashboard sends the end of the run to the browsers and writes the
// HTML report (atomically). It returns an error only when the report could
// not be written.
func (r *run) finishDashboard(ctx context.Context, d *dashboard.Dashboard, data *summary.Data, runErr error, thresholdsFailed bool) error {
	f := &dashboard.Final{Status: "passed", DurationMs: data.State.TestRunDurationMs, Metrics: data.Metrics,
		TrendStats: data.Options.SummaryTrendStats}
	switch {
	case runErr != nil:
		f.Status, f.Message = "aborted", runErr.Error()
		if exitcode.Of(runErr) == exitcode.ExternalAbort {
			f.Status = "interrupted"
		}
	case thresholdsFailed:
		f.Status, f.Message = "failed", "thresholds crossed"
	case r.failed != "":
		f.Status, f.Message = "failed", r.failed
	}
	if data.RootGroup != nil {
		f.Checks = collectChecks(data.RootGroup, nil)
	}
	for _, m := range r.runner.Modules() {
		if vr, ok := m.(modules.VerdictReporter); ok {
			if v := vr.Verdict(); v != nil {
				f.Verdicts = append(f.Verdicts, v)
			}
		}
	}
	report, err := d.Finish(ctx, f)
	if err == nil && report != nil {
		path := d.ExportPath()
		if err = WriteFileAtomic(path, report); err == nil {
			abs, _ := filepath.Abs(path)
			r.log.Info(fmt.Sprintf("HTML report written to %s (%d kB)", abs, (len(report)+512)/1024))
		}
	}
	if err != nil {
		return fmt.Errorf("HTML report %s: %w", d.ExportPath(), err)
	}
	return nil
}

func collectChecks(g *summary.GroupData, out []*summary.CheckData) []*summary.CheckData {
	out = append(out, g.Checks...)
	for _, sub := range g.Groups {
		out = collectChecks(sub, out)
	}
	return out
}
