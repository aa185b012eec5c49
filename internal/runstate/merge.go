package runstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
)

// Input is a state file and the path it was read from.
type Input struct {
	Path string
	File *File
}

// RefusedError says why states cannot be merged: they belong to different
// runs, their segments leave a gap or overlap, or their options differ.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refuse(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// Merged is the result of Merge.
type Merged struct {
	// Data is the end-of-test summary data of the whole run; its metrics
	// carry the thresholds evaluated on the merged aggregates.
	Data *summary.Data
	// ThresholdsFailed lists "key: expression" for each crossed threshold.
	ThresholdsFailed []string
	// Inputs are the states in segment order.
	Inputs []Input
	// Journals are the ledger journals the instances recorded, in segment
	// order (as recorded: they may not exist on this machine).
	Journals []string
	// RunError is the first early end of an instance (in segment order),
	// carrying that instance's exit code; nil when every instance ran to
	// its end.
	RunError error
	// Failed is the first test.fail() reason of an instance.
	Failed string
}

// optionsIgnored are the options instances of one run may differ in.
var optionsIgnored = map[string]bool{"executionSegment": true, "executionSegmentSequence": true, "tags": true}

// Merge checks that the states are the instances of one run and combines
// them. Errors are *RefusedError when the states do not fit together.
func Merge(inputs []Input) (*Merged, error) {
	if len(inputs) == 0 {
		return nil, errors.New("no summary state given")
	}
	ordered, opts, err := checkOneRun(inputs)
	if err != nil {
		return nil, err
	}
	eng, elapsedMs, err := mergeMetrics(ordered, opts)
	if err != nil {
		return nil, err
	}
	failed := eng.EvaluateThresholds()

	trendStats := opts.SummaryTrendStats
	if len(trendStats) == 0 {
		trendStats = options.DefaultSummaryTrendStats
	}
	if err := summary.ValidateTrendStats(trendStats); err != nil {
		return nil, fmt.Errorf("summaryTrendStats: %w", err)
	}
	elapsed := time.Duration(elapsedMs * float64(time.Millisecond))
	m := &Merged{Inputs: ordered}
	m.Data = &summary.Data{
		RootGroup: mergeGroups(ordered),
		Options: summary.Options{
			SummaryTrendStats: trendStats,
			SummaryTimeUnit:   options.String(opts.SummaryTimeUnit, ""),
			NoColor:           options.Bool(opts.NoColor),
		},
		State:     summary.State{TestRunDurationMs: elapsedMs},
		Metrics:   SummaryMetrics(eng.SummaryMetrics(elapsed, trendStats)),
		Breakdown: SummaryBreakdown(eng.SummaryBreakdown(elapsed, trendStats)),
		SetupData: ordered[0].File.SetupData,
	}
	if failed {
		m.ThresholdsFailed = eng.FailedThresholds()
	}
	m.collectOutcomes()
	return m, nil
}

// checkOneRun refuses states that are not the instances of one run (their
// segments must tile the sequence, they share one run id and the options
// that must agree) and returns them in segment order with the run's
// options.
func checkOneRun(inputs []Input) ([]Input, options.Options, error) {
	ordered, err := checkSegments(inputs)
	if err != nil {
		return nil, options.Options{}, err
	}
	first := ordered[0]
	for _, in := range ordered[1:] {
		if in.File.RunID != first.File.RunID {
			return nil, options.Options{}, refuse("%s is from run %q but %s is from run %q: merge only the states of one run (every instance needs the same RUN_ID)",
				first.Path, first.File.RunID, in.Path, in.File.RunID)
		}
	}
	if len(ordered) > 1 && first.File.RunID == "" {
		return nil, options.Options{}, refuse("the states have no run id, so nothing shows they belong to one run: give every instance the same RUN_ID (e.g. -e RUN_ID=$(date +%%s)) and run again")
	}
	opts, err := checkOptions(ordered)
	if err != nil {
		return nil, options.Options{}, err
	}
	return ordered, opts, nil
}

// mergeMetrics imports every instance's metric states into one metrics
// engine with the run's thresholds, and returns it with the test run
// duration (the longest instance's) in milliseconds. States are imported
// in the order the instances ended, so the last gauge value is the latest.
func mergeMetrics(ordered []Input, opts options.Options) (*metricsengine.Engine, float64, error) {
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	states := make([][]metricsengine.MetricState, 0, len(ordered))
	byEnd := append([]Input(nil), ordered...)
	sort.SliceStable(byEnd, func(i, j int) bool { return byEnd[i].File.Ended.Before(byEnd[j].File.Ended) })
	var elapsedMs float64
	for _, in := range byEnd {
		states = append(states, in.File.Metrics)
		elapsedMs = max(elapsedMs, in.File.DurationMs)
	}
	if err := metricsengine.RegisterStateMetrics(reg, states); err != nil {
		return nil, 0, refuse("the states do not describe the same metrics: %v", err)
	}
	eng, err := metricsengine.New(metricsengine.Config{Registry: reg, Thresholds: opts.Thresholds, Breakdown: true})
	if err != nil {
		return nil, 0, fmt.Errorf("the run's thresholds: %w", err)
	}
	elapsed := time.Duration(elapsedMs * float64(time.Millisecond))
	if err := eng.ImportStates(states, elapsed); err != nil {
		return nil, 0, refuse("%v", err)
	}
	return eng, elapsedMs, nil
}

// collectOutcomes gathers the instances' journals and the first early end
// and test.fail() among them, in segment order.
func (m *Merged) collectOutcomes() {
	for _, in := range m.Inputs {
		m.Journals = append(m.Journals, in.File.Journals...)
		o := in.File.Outcome
		if o.ExitCode != 0 && m.RunError == nil {
			m.RunError = exitcode.Errorf(exitcode.Code(o.ExitCode), "instance %s (segment %s, %s) ended early with exit code %d: %s",
				in.File.Instance, segmentText(in.File.Segment), in.Path, o.ExitCode, o.Error)
		}
		if o.Failed != "" && m.Failed == "" {
			m.Failed = fmt.Sprintf("instance %s: %s", in.File.Instance, o.Failed)
		}
	}
}

func segmentText(s string) string {
	if s == "" {
		return "0:1"
	}
	return s
}

// seg is a state's segment.
type seg struct {
	in       Input
	from, to *big.Rat
}

// checkSegments returns the inputs ordered by segment after checking that
// the segments tile 0..1 exactly, with one sequence.
func checkSegments(inputs []Input) ([]Input, error) {
	segs := make([]seg, 0, len(inputs))
	seqText := ""
	var seqFrom string
	for i, in := range inputs {
		s, err := executor.ParseSegment(in.File.Segment)
		if err != nil {
			return nil, refuse("%s: %v", in.Path, err)
		}
		seq, err := executor.ParseSequence(in.File.Sequence)
		if err != nil {
			return nil, refuse("%s: %v", in.Path, err)
		}
		text := ""
		if seq != nil {
			text = seq.String()
		}
		if i == 0 {
			seqText, seqFrom = text, in.Path
		} else if text != seqText {
			return nil, refuse("%s has the execution segment sequence %q but %s has %q: every instance of a run needs the same --execution-segment-sequence",
				seqFrom, seqText, in.Path, text)
		}
		segs = append(segs, seg{in: in, from: s.From, to: s.To})
	}
	sort.SliceStable(segs, func(i, j int) bool {
		if c := segs[i].from.Cmp(segs[j].from); c != 0 {
			return c < 0
		}
		return segs[i].to.Cmp(segs[j].to) < 0
	})
	pos := new(big.Rat)
	var prev *seg
	for i := range segs {
		s := &segs[i]
		name := func(x *seg) string { return fmt.Sprintf("%s (segment %s)", x.in.Path, segmentText(x.in.File.Segment)) }
		switch c := s.from.Cmp(pos); {
		case prev != nil && s.from.Cmp(prev.from) == 0 && s.to.Cmp(prev.to) == 0:
			return nil, refuse("segment %s is there twice: %s and %s; merge each instance's state once", segmentText(s.in.File.Segment), prev.in.Path, s.in.Path)
		case c > 0:
			return nil, refuse("no state covers the segment %s:%s (missing instance?): the states cover %s", ratText(pos), ratText(s.from), covered(segs))
		case c < 0:
			return nil, refuse("%s and %s overlap: each part of the test must be run by exactly one instance", name(prev), name(s))
		}
		pos = s.to
		prev = s
	}
	if pos.Cmp(big.NewRat(1, 1)) != 0 {
		return nil, refuse("no state covers the segment %s:1 (missing instance?): the states cover %s", ratText(pos), covered(segs))
	}
	out := make([]Input, len(segs))
	for i, s := range segs {
		out[i] = s.in
	}
	return out, nil
}

func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.String()
}

func covered(segs []seg) string {
	parts := make([]string, 0, len(segs))
	for _, s := range segs {
		parts = append(parts, ratText(s.from)+":"+ratText(s.to))
	}
	return strings.Join(parts, ", ")
}

// checkOptions compares the instances' options (all but the segment and
// the tags) and returns them parsed.
func checkOptions(ordered []Input) (options.Options, error) {
	var base map[string]json.RawMessage
	for i, in := range ordered {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(in.File.Options, &m); err != nil {
			return options.Options{}, fmt.Errorf("%s: options: %w", in.Path, err)
		}
		if i == 0 {
			base = m
			continue
		}
		keys := map[string]bool{}
		for k := range base {
			keys[k] = true
		}
		for k := range m {
			keys[k] = true
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if optionsIgnored[k] {
				continue
			}
			a, b := canonical(base[k]), canonical(m[k])
			if !bytes.Equal(a, b) {
				return options.Options{}, refuse("the instances ran with different options: %q is %s in %s but %s in %s; every instance must run the same script with the same options (only the execution segment and tags may differ)",
					k, abbreviate(a), ordered[0].Path, abbreviate(b), in.Path)
			}
		}
	}
	o, _, err := options.Parse(ordered[0].File.Options)
	if err != nil {
		return options.Options{}, fmt.Errorf("%s: options: %w", ordered[0].Path, err)
	}
	return o, nil
}

func canonical(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

func abbreviate(b []byte) string {
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}

// mergeGroups adds up the check tallies of every instance's group tree,
// keeping the order in which groups and checks first appear.
func mergeGroups(ordered []Input) *summary.GroupData {
	var root *summary.GroupData
	for _, in := range ordered {
		g := in.File.RootGroup
		if g == nil {
			continue
		}
		if root == nil {
			root = &summary.GroupData{Name: g.Name, Path: g.Path, ID: g.ID, Groups: []*summary.GroupData{}, Checks: []*summary.CheckData{}}
		}
		addGroup(root, g)
	}
	if root == nil {
		root = groups.NewRoot().Data()
	}
	return root
}

func addGroup(dst, src *summary.GroupData) {
	for _, c := range src.Checks {
		var found *summary.CheckData
		for _, d := range dst.Checks {
			if d.Name == c.Name {
				found = d
				break
			}
		}
		if found == nil {
			cc := *c
			dst.Checks = append(dst.Checks, &cc)
			continue
		}
		found.Passes += c.Passes
		found.Fails += c.Fails
	}
	for _, sg := range src.Groups {
		var found *summary.GroupData
		for _, d := range dst.Groups {
			if d.Name == sg.Name {
				found = d
				break
			}
		}
		if found == nil {
			found = &summary.GroupData{Name: sg.Name, Path: sg.Path, ID: sg.ID, Groups: []*summary.GroupData{}, Checks: []*summary.CheckData{}}
			dst.Groups = append(dst.Groups, found)
		}
		addGroup(found, sg)
	}
}

// ResolveJournals returns the journals to verify: each recorded path that
// exists, else the file of the same name beside the state that recorded it.
// A journal found nowhere is an error naming it.
func (m *Merged) ResolveJournals() ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, in := range m.Inputs {
		for _, j := range in.File.Journals {
			p := j
			if _, err := os.Stat(p); err != nil {
				alt := filepath.Join(filepath.Dir(in.Path), filepath.Base(j))
				if _, err2 := os.Stat(alt); err2 != nil {
					return nil, fmt.Errorf("the ledger journal %s recorded by %s is not there, nor beside the state (%s): pass the journals with --journal, or --no-ledger to merge without them", j, in.Path, alt)
				}
				p = alt
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}
