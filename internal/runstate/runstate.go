// Package runstate is the mergeable result of one tally instance (--out
// summary-state=FILE) and the merge of the results of every instance of a
// distributed run into the end-of-test result one instance running the
// whole test would have produced (tally merge).
package runstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/summary"
)

// Format and Version identify a summary-state file.
const (
	Format  = "tally-summary-state"
	Version = 1
)

// File is the summary state of one instance of a run.
type File struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// RunID is the run's id (the RUN_ID variable), shared by every
	// instance of one run; empty when RUN_ID was not set.
	RunID string `json:"run_id"`
	// Instance names the instance: INSTANCE, else its segment, else "0".
	Instance string `json:"instance"`
	// Segment and Sequence are the instance's execution segment and the
	// run's segment sequence as given ("" when not set).
	Segment  string `json:"execution_segment"`
	Sequence string `json:"execution_segment_sequence"`
	// Script is the script's path as given to tally run.
	Script string `json:"script"`
	// Started and Ended bound the test (setup to teardown); Duration is
	// the test run duration counter rates are computed with.
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	DurationMs float64   `json:"test_run_duration_ms"`
	// Options are the run's consolidated options (thresholds, scenarios,
	// summary settings...).
	Options json.RawMessage `json:"options"`
	// Metrics are the aggregates of every metric with samples, with their
	// sub-metrics and their per-group and per-scenario breakdown.
	Metrics []metricsengine.MetricState `json:"metrics"`
	// RootGroup is the group and check tree with its tallies.
	RootGroup *summary.GroupData `json:"root_group"`
	// SetupData is setup()'s return value (absent without one).
	SetupData json.RawMessage `json:"setup_data,omitempty"`
	// Journals are the ledger journals this instance wrote (absolute paths).
	Journals []string `json:"journals,omitempty"`
	// Outcome is how the instance's run ended before its own thresholds
	// were evaluated.
	Outcome Outcome `json:"outcome"`
}

// Outcome is an instance's early end: a test.abort(), an interruption,
// an abortOnFail threshold, a script error (ExitCode 0: the run went to
// its end), and the reason of test.fail().
type Outcome struct {
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	Failed   string `json:"failed,omitempty"`
}

// Read reads and checks a state file; errors name the file.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("summary state %s does not exist", path)
		}
		return nil, fmt.Errorf("read summary state %s: %w", path, err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("summary state %s is not a valid state file (written by tally run --out summary-state=FILE): %w", path, err)
	}
	if f.Format != Format {
		return nil, fmt.Errorf("summary state %s is not a tally summary state (format %q, want %q)", path, f.Format, Format)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("summary state %s has version %d; this tally reads version %d (merge with the tally that wrote it)", path, f.Version, Version)
	}
	return &f, nil
}

// Marshal encodes f, indented.
func (f *File) Marshal() ([]byte, error) {
	f.Format, f.Version = Format, Version
	return json.MarshalIndent(f, "", " ")
}
