package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/extension/ledger"
	"github.com/tallyhq/tally/internal/engine"
	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/runstate"
	"github.com/tallyhq/tally/internal/summary"
)

// mergeFlags are the flags of `tally merge`.
type mergeFlags struct {
	summaryExport, summaryMode string
	noColor, noLedger          bool
	journals                   []string
	deep                       string
	wait                       time.Duration
}

func newMergeCmd(env *Env) *cobra.Command {
	f := &mergeFlags{}
	cmd := &cobra.Command{
		Use:   "merge [flags] STATE...",
		Short: "Merge the summary states of a distributed run into one result",
		Long: `Merge the summary states that the instances of one distributed run wrote
(tally run --execution-segment ... --out summary-state=FILE) into the
end-of-test result one instance running the whole test would have given:
the text summary, --summary-export, the thresholds evaluated on the merged
metrics, and the ledger journals of every instance verified together (their
merged verdict is printed after the summary and gates the exit code).

Counters, rates, check tallies and trend counts, sums, minimums and maximums
merge exactly; trend percentiles are exact while the merged trend holds at
most 1,024 values and within 0.5 % beyond (DDSketch). Gauges keep the last
value of the instance that ended last, except vus and vus_max, whose
instances' values add up. The test duration (counter rates) is the longest
instance's.

The states must be one run's: the same RUN_ID, segments that cover the test
exactly once (0:1/3, 1/3:2/3, 2/3:1) with one segment sequence, and the same
options (only the execution segment and tags may differ). Journals are
those the states recorded (or the files of the same name beside the state);
--journal replaces them.

Exit codes:
  0    every threshold passed and the ledger verdict is pass (or unknown)
  99   a threshold failed on the merged metrics, or the merged ledger verdict
       is fail
  104  the states cannot be merged: different runs, a missing, duplicated or
       overlapping segment, different segment sequences, options or metrics
  105, 107, 108, ...  an instance ended early with that code (the message
       names it); 110 an instance called test.fail()
  255  a state or journal cannot be read, or bad flags`,
		Example: `  tally merge state-*.json
  tally merge --summary-export summary.json --journal 'journal-*.ndjson' state-0.json state-1.json state-2.json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return exitcode.With(exitcode.Other, &usageError{errors.New("merge needs at least one summary state file")})
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return mergeStates(cmd, env, f, args)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&f.summaryExport, "summary-export", "", "write the merged end-of-test summary as JSON to FILE")
	fl.StringVar(&f.summaryMode, "summary-mode", "compact", "summary: compact, full or disabled")
	fl.BoolVar(&f.noColor, "no-color", false, "no ANSI colours")
	fl.StringArrayVar(&f.journals, "journal", nil, "ledger journal to verify (repeatable; a glob pattern is expanded); replaces the journals the states recorded")
	fl.BoolVar(&f.noLedger, "no-ledger", false, "do not verify the ledger journals")
	fl.DurationVar(&f.wait, "wait", 0, "wait up to this long for every state file to appear (states are written whole, at the end of each instance's run), e.g. in a Kubernetes Job started beside the run")
	fl.StringVar(&f.deep, "deep", "off", "porcupine linearizability check per account in the merged verification: auto or off")
	return cmd
}

// mergeStates is tally merge: read the states (waiting for them with
// --wait), merge them, verify the ledger journals, print and export the
// merged result, and exit as one instance running the whole test would.
func mergeStates(cmd *cobra.Command, env *Env, f *mergeFlags, paths []string) error {
	if err := summary.ValidateMode(f.summaryMode); err != nil {
		return exitcode.With(exitcode.Other, &usageError{err})
	}
	deep, err := ledger.ParseDeepMode(f.deep)
	if err != nil {
		return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("--deep: %w", err)})
	}
	m, err := readAndMerge(env, paths, f.wait)
	if err != nil {
		return err
	}
	var report *ledger.Report
	if !f.noLedger {
		if report, err = verifyMergedLedger(m, f.journals, deep); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stderr, "tally merge: run %q, %d instance(s): %s\n", m.Inputs[0].File.RunID, len(m.Inputs), instanceList(m.Inputs))
	if err := writeMerged(cmd, env, f, m, report); err != nil {
		return err
	}
	return mergedOutcome(m, report)
}

// readAndMerge reads the state files, once they all exist when wait > 0,
// and merges them; states that do not belong to one run are refused with
// exitcode.InvalidConfig.
func readAndMerge(env *Env, paths []string, wait time.Duration) (*runstate.Merged, error) {
	if wait > 0 {
		if err := waitForFiles(env, paths, wait); err != nil {
			return nil, exitcode.With(exitcode.Other, err)
		}
	}
	inputs := make([]runstate.Input, 0, len(paths))
	for _, p := range paths {
		st, err := runstate.Read(p)
		if err != nil {
			return nil, exitcode.With(exitcode.Other, err)
		}
		inputs = append(inputs, runstate.Input{Path: p, File: st})
	}
	m, err := runstate.Merge(inputs)
	if err != nil {
		var refused *runstate.RefusedError
		if errors.As(err, &refused) {
			return nil, exitcode.With(exitcode.InvalidConfig, fmt.Errorf("cannot merge: %w", err))
		}
		return nil, exitcode.WithIfNone(exitcode.Other, err)
	}
	return m, nil
}

// verifyMergedLedger verifies the journals of the whole run (the --journal
// patterns, else those the states recorded) as one; nil when there are
// none.
func verifyMergedLedger(m *runstate.Merged, patterns []string, deep ledger.DeepMode) (*ledger.Report, error) {
	journals, err := mergeJournals(m, patterns)
	if err != nil {
		return nil, exitcode.With(exitcode.Other, err)
	}
	if len(journals) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	report, err := ledger.VerifyJournals(ctx, journals, ledger.VerifyOptions{Deep: deep})
	if err != nil {
		return nil, exitcode.With(exitcode.Other, fmt.Errorf("verify the ledger journals: %w", err))
	}
	return report, nil
}

// writeMerged writes --summary-export and prints the text summary, with
// the ledger report as an extra section.
func writeMerged(cmd *cobra.Command, env *Env, f *mergeFlags, m *runstate.Merged, report *ledger.Report) error {
	if f.summaryExport != "" {
		b, err := summary.Export(m.Data)
		if err == nil {
			err = engine.WriteFileAtomic(f.summaryExport, b)
		}
		if err != nil {
			return exitcode.Errorf(exitcode.Other, "--summary-export %s: %v", f.summaryExport, err)
		}
	}
	if f.summaryMode == summary.ModeDisabled {
		return nil
	}
	environ := envMap(env.Environ)
	noColor := f.noColor || environ["NO_COLOR"] != "" || k6NoColor(environ) ||
		env.IsTerminal == nil || !env.IsTerminal(env.Stdout)
	var extra []summary.Section
	if report != nil {
		var b strings.Builder
		if err := ledger.WriteText(&b, report); err != nil {
			return exitcode.Errorf(exitcode.Other, "write the ledger report: %v", err)
		}
		extra = append(extra, summary.Section{Text: b.String()})
	}
	if err := summary.Text(cmd.OutOrStdout(), m.Data, summary.TextOptions{
		Mode: f.summaryMode, NoColor: noColor, TimeUnit: m.Data.Options.SummaryTimeUnit, Extra: extra,
	}); err != nil {
		return exitcode.Errorf(exitcode.Other, "write the summary: %v", err)
	}
	return nil
}

// mergedOutcome is the error (and so the exit code) of the merged run: an
// instance's own early end first, then thresholds, the ledger verdict and
// test.fail(), as for one instance.
func mergedOutcome(m *runstate.Merged, report *ledger.Report) error {
	switch {
	case m.RunError != nil:
		return m.RunError
	case len(m.ThresholdsFailed) > 0:
		return exitcode.Errorf(exitcode.ThresholdsFailed, "thresholds on metrics %s have been crossed (merged over %d instances)",
			strings.Join(m.ThresholdsFailed, ", "), len(m.Inputs))
	case report != nil && report.Verdict == ledger.Fail:
		return exitcode.Errorf(exitcode.ThresholdsFailed, "merged ledger verdict: fail (%s)", discrepancyWords(report))
	case m.Failed != "":
		return exitcode.Errorf(exitcode.MarkedAsFailed, "the test was marked as failed: %s", m.Failed)
	}
	return nil
}

// mergeJournals returns the journals to verify: the --journal patterns
// expanded, else those the states recorded.
func mergeJournals(m *runstate.Merged, patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return m.ResolveJournals()
	}
	var out []string
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("--journal %q: %w", p, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("--journal %q: no such file", p)
		}
		out = append(out, matches...)
	}
	return out, nil
}

func instanceList(in []runstate.Input) string {
	parts := make([]string, 0, len(in))
	for _, i := range in {
		seg := i.File.Segment
		if seg == "" {
			seg = "0:1"
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", i.File.Instance, seg))
	}
	return strings.Join(parts, ", ")
}

// k6NoColor reports whether K6_NO_COLOR holds a true boolean.
func k6NoColor(environ map[string]string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(environ["K6_NO_COLOR"]))
	return err == nil && b
}

// waitForFiles polls until every path exists, for at most wait.
func waitForFiles(env *Env, paths []string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	announced := false
	for {
		var missing []string
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s, and these states are still missing: %s (did those instances fail before their end?)", wait, strings.Join(missing, ", "))
		}
		if !announced {
			fmt.Fprintf(env.Stderr, "tally merge: waiting up to %s for %d of %d states: %s\n", wait, len(missing), len(paths), strings.Join(missing, ", "))
			announced = true
		}
		time.Sleep(500 * time.Millisecond)
	}
}
