package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/js"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/runstate"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/modules"
)

// closeModules lets native modules flush what they hold (journals, files).
func (r *run) closeModules() {
	for _, m := range r.runner.Modules() {
		if c, ok := m.(modules.Closer); ok {
			if err := c.Close(); err != nil {
				r.log.Error(fmt.Sprintf("closing a module: %v", err))
			}
		}
	}
}

// summaryData builds the object handleSummary receives.
func (r *run) summaryData(trendStats []string) *summary.Data {
	var elapsed time.Duration
	if !r.startTime.IsZero() {
		elapsed = r.endTime.Sub(r.startTime)
	}
	d := &summary.Data{
		RootGroup: r.root.Data(),
		Options: summary.Options{
			SummaryTrendStats: trendStats,
			SummaryTimeUnit:   options.String(r.opts.SummaryTimeUnit, ""),
			NoColor:           r.cfg.NoColor,
		},
		State: summary.State{
			IsStdOutTTY:       r.cfg.StdoutTTY,
			IsStdErrTTY:       r.cfg.StderrTTY,
			TestRunDurationMs: float64(elapsed) / float64(time.Millisecond),
		},
		Metrics:   runstate.SummaryMetrics(r.metrics.SummaryMetrics(elapsed, trendStats)),
		SetupData: r.runner.SetupData(),
	}
	if r.cfg.SummaryMode == summary.ModeFull {
		d.Breakdown = runstate.SummaryBreakdown(r.metrics.SummaryBreakdown(elapsed, trendStats))
	}
	return d
}

// writeSummary runs handleSummary (or prints the text summary) and writes
// --summary-export.
func (r *run) writeSummary(ctx context.Context, vu0 *js.VU, data *summary.Data) error {
	if r.cfg.SummaryExport != "" {
		b, err := summary.Export(data)
		if err == nil {
			err = WriteFileAtomic(r.cfg.SummaryExport, b)
		}
		if err != nil {
			return fmt.Errorf("--summary-export %s: %w", r.cfg.SummaryExport, err)
		}
	}
	if r.cfg.SummaryMode == summary.ModeDisabled {
		return nil
	}
	if vu0.ExportedFunction("handleSummary") {
		outs, err := r.handleSummary(ctx, data)
		if err == nil {
			return r.writeOutputs(outs)
		}
		r.log.Error(fmt.Sprintf("handleSummary() failed, printing the default summary instead: %v", err))
	}
	return r.printText(data)
}

func (r *run) handleSummary(ctx context.Context, data *summary.Data) (map[string][]byte, error) {
	timeout := options.Dur(r.opts.HandleSummaryTimeout, options.Duration(DefaultHandleSummaryTimeout)).D()
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vu, err := r.runner.NewVU(hctx, 0, 0)
	if err != nil {
		return nil, err
	}
	defer vu.Release()
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	outs, _, err := vu.RunHandleSummary(hctx, raw)
	if err != nil && hctx.Err() != nil {
		return nil, fmt.Errorf("handleSummary() timed out after %s", timeout)
	}
	return outs, err
}

// writeOutputs writes what handleSummary returned.
func (r *run) writeOutputs(outs map[string][]byte) error {
	keys := make([]string, 0, len(outs))
	for k := range outs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []string
	for _, k := range keys {
		var err error
		switch k {
		case "stdout":
			_, err = r.cfg.Stdout.Write(outs[k])
		case "stderr":
			_, err = r.cfg.Stderr.Write(outs[k])
		default:
			err = WriteFileAtomic(k, outs[k])
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("could not write the outputs of handleSummary(): %s", strings.Join(errs, "; "))
	}
	return nil
}

// printText prints the text summary to stdout, with module sections.
func (r *run) printText(data *summary.Data) error {
	var failed []string
	for name, m := range data.Metrics {
		for _, t := range m.Thresholds {
			if !t.OK {
				failed = append(failed, name)
				break
			}
		}
	}
	sort.Strings(failed)
	var extra []summary.Section
	for _, m := range r.runner.Modules() {
		var text string
		if ow, ok := m.(modules.OutcomeSummaryWriter); ok {
			text = ow.SummaryTextFor(failed)
		} else if sw, ok := m.(modules.SummaryWriter); ok {
			text = sw.SummaryText()
		}
		if text != "" {
			extra = append(extra, summary.Section{Text: text})
		}
	}
	mode := r.cfg.SummaryMode
	if mode == "" {
		mode = "compact"
	}
	return summary.Text(r.cfg.Stdout, data, summary.TextOptions{
		Mode:     mode,
		NoColor:  r.cfg.NoColor || !r.cfg.StdoutTTY,
		TimeUnit: options.String(r.opts.SummaryTimeUnit, ""),
		Extra:    extra,
	})
}

// WriteFileAtomic writes data to a temporary file beside path and renames it
// into place. The parent directory must exist.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// journalWriter is a module that wrote a ledger journal.
type journalWriter interface {
	JournalPath() string
}

// writeState writes the mergeable summary state (--out summary-state=FILE)
// atomically; runErr is how the run ended before its thresholds.
func (r *run) writeState(path string, runErr error) error {
	segment := options.String(r.opts.ExecutionSegment, "")
	instance := r.instanceName()
	var elapsed time.Duration
	if !r.startTime.IsZero() {
		elapsed = r.endTime.Sub(r.startTime)
	}
	opts, err := json.Marshal(r.opts)
	if err != nil {
		return fmt.Errorf("--out summary-state=%s: options: %w", path, err)
	}
	st := &runstate.File{
		RunID: r.cfg.Env["RUN_ID"], Instance: instance,
		Segment: segment, Sequence: options.String(r.opts.ExecutionSegmentSequence, ""),
		Script: r.cfg.ScriptPath, Started: r.startTime, Ended: r.endTime,
		DurationMs: float64(elapsed) / float64(time.Millisecond),
		Options:    opts,
		Metrics:    r.metrics.ExportState(),
		RootGroup:  r.root.Data(),
		SetupData:  r.runner.SetupData(),
		Outcome:    runstate.Outcome{Failed: r.failed},
	}
	if runErr != nil {
		st.Outcome.ExitCode, st.Outcome.Error = int(exitcode.Of(runErr)), runErr.Error()
	}
	for _, m := range r.runner.Modules() {
		if jw, ok := m.(journalWriter); ok {
			if p := jw.JournalPath(); p != "" {
				if abs, err := filepath.Abs(p); err == nil {
					p = abs
				}
				st.Journals = append(st.Journals, p)
			}
		}
	}
	b, err := st.Marshal()
	if err == nil {
		err = WriteFileAtomic(path, b)
	}
	if err != nil {
		return fmt.Errorf("--out summary-state=%s: %w", path, err)
	}
	return nil
}

// instanceName names this instance of a distributed run: INSTANCE, else
// its execution segment, else "0" (as the ledger names it).
func (r *run) instanceName() string {
	if v := r.cfg.Env["INSTANCE"]; v != "" {
		return v
	}
	if seg := options.String(r.opts.ExecutionSegment, ""); seg != "" {
		return seg
	}
	return "0"
}
