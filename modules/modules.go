// Package modules is the registry of native JS modules: Go packages that
// scripts import as `k6/x/NAME`, the way xk6 extensions extend k6.
//
// A module registers a Factory in its package's init function:
//
//	func init() { modules.Register("k6/x/example", New) }
//
// For every test run the runtime calls the factory once; the returned Module
// is shared by all VUs of that run, so it is the place for state that VUs
// share (guard it for concurrent use). For every VU (and for every init
// context the runtime evaluates) the runtime calls Module.NewModuleInstance,
// and the Instance's exports become the JS module's exports.
//
// See docs/extensions.md for a complete walk-through.
package modules

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/metrics"
)

// Prefix is the import-path prefix of native extension modules.
const Prefix = "k6/x/"

// Module is the per-run root of a native module, shared by all VUs.
type Module interface {
	// NewModuleInstance returns the module as one VU sees it. It is called
	// in the VU's init context, on the VU's goroutine.
	NewModuleInstance(vu VU) Instance
}

// Instance is a module as one VU sees it.
type Instance interface {
	// Exports returns what the JS module exports.
	Exports() Exports
}

// Exports are a module's JS exports: Default is the default export (used by
// `import m from ...`), Named the named exports (`import {a} from ...`).
// When Named is empty, the own properties of a Default object are exported by
// name too.
type Exports struct {
	Default any
	Named   map[string]any
}

// Closer is implemented by modules that must release resources or flush data
// when the run ends (after teardown and before the summary is written).
type Closer interface {
	Close() error
}

// Releaser is implemented by module instances that hold resources of their
// VU (connections, buffers) the root module also references. Release is
// called once, on the VU's goroutine, when the runtime drops the VU for
// good: the scenarios' VUs when every scenario has ended, before teardown
// runs on a VU of its own. The instance is not used afterwards.
type Releaser interface {
	Release()
}

// SummaryWriter is implemented by modules that add a section to the
// end-of-test text summary. Text is plain; the runtime adds the layout.
type SummaryWriter interface {
	SummaryText() string
}

// Verdict is a module's conclusion about the run in plain words, for the
// web dashboard and the HTML report (the ledger's integrity verdict).
type Verdict struct {
	// Title names what was judged, e.g. "ledger".
	Title string `json:"title"`
	// Outcome is "pass", "fail" or "undecided" (nothing wrong found, but not
	// everything could be checked).
	Outcome string `json:"outcome"`
	// Headline is the verdict in one sentence.
	Headline string `json:"headline"`
	// Figures are the totals behind the verdict, one line each.
	Figures []string `json:"figures"`
	// Findings are what went wrong, one per subject (an account) and kind.
	Findings []VerdictFinding `json:"findings"`
	// Omitted counts findings not listed.
	Omitted int `json:"omitted"`
	// Notes are remarks that are not failures.
	Notes []string `json:"notes"`
}

// VerdictFinding is one finding of a Verdict.
type VerdictFinding struct {
	Subject string `json:"subject"` // e.g. "account r-17"
	Kind    string `json:"kind"`    // e.g. "lost_update"
	Text    string `json:"text"`    // what was expected and seen, in plain words
}

// VerdictReporter is implemented by modules that reach a verdict on the run.
// Verdict is called once the run is over (after Close); it returns nil when
// the module has nothing to say.
type VerdictReporter interface {
	Verdict() *Verdict
}

// OutcomeSummaryWriter is implemented by SummaryWriters whose section depends on how the run's
// thresholds ended; the runtime calls SummaryTextFor instead of SummaryText. failed lists the metrics
// (with their tag filters, e.g. "http_req_duration{name:deduct}") that have a failed threshold, sorted.
type OutcomeSummaryWriter interface {
	SummaryTextFor(failed []string) string
}

// VU is what a module instance sees of the virtual user it belongs to. All
// methods must be called on the VU's goroutine.
type VU interface {
	// Runtime returns the VU's JS runtime.
	Runtime() *sobek.Runtime
	// Context is done when the current iteration (or the run) is being
	// interrupted. Blocking calls must return early when it is done.
	Context() context.Context
	// InitEnv returns the init-context environment, or nil outside init.
	InitEnv() *InitEnv
	// State returns the VU's state while it runs setup, iterations,
	// teardown or handleSummary, or nil in the init context.
	State() *State
}

// InitEnv is available while a VU evaluates the script's init context.
type InitEnv struct {
	// Registry is the run's metric registry: create metrics here.
	Registry *metrics.Registry
	// Logger logs to the run's log output.
	Logger *slog.Logger
	// ScriptDir is the directory of the entry script; relative paths in
	// scripts are relative to it.
	ScriptDir string
}

// State is available while a VU executes code outside the init context.
type State struct {
	// Logger logs to the run's log output, with the VU's fields.
	Logger *slog.Logger
	// Samples receives the samples the module produces.
	Samples metrics.Pusher
	// Builtin are the run's built-in metrics.
	Builtin *metrics.Builtin
	// Tags returns the tags samples produced now should carry (run tags,
	// scenario, group, and tags the script set on the VU).
	Tags func() *metrics.TagSet
	// VUID is the VU's id in this instance (0 in setup and teardown);
	// VUIDInTest its id across all instances of a distributed run.
	VUID, VUIDInTest uint64
	// Iteration returns the number of iterations this VU has started
	// (0-based index of the current one), or -1 outside iterations.
	Iteration func() int64
	// Instance describes this instance's share of a distributed run.
	Instance InstanceInfo
}

// InstanceInfo says which share of a distributed test this instance runs.
// A run that is not split (no execution segment, or "0:1") has an empty
// ExecutionSegment. Extensions use it to tell instances apart, e.g. to name
// per-instance output files.
type InstanceInfo struct {
	// ExecutionSegment is the instance's execution segment as given on the
	// command line or in the options (e.g. "1/4:2/4"), trimmed; empty when
	// the instance runs the whole test.
	ExecutionSegment string
	// ExecutionSegmentSequence is the segment sequence all instances share,
	// as given; empty when none was given.
	ExecutionSegmentSequence string
}

// Factory creates a module's per-run root.
type Factory func() Module

var (
	mu       sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a native module importable under name, which must start
// with "k6/x/". It panics when the name is invalid or already taken, so that
// conflicting extensions fail at start-up rather than silently.
func Register(name string, f Factory) {
	if !strings.HasPrefix(name, Prefix) || len(name) == len(Prefix) {
		panic(fmt.Sprintf("modules: invalid module name %q: it must start with %q", name, Prefix))
	}
	if f == nil {
		panic(fmt.Sprintf("modules: nil factory for %q", name))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, ok := registry[name]; ok {
		panic(fmt.Sprintf("modules: module %q is already registered", name))
	}
	registry[name] = f
}

// Lookup returns the factory registered under name.
func Lookup(name string) (Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := registry[name]
	return f, ok
}

// Names returns the names of all registered modules, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
