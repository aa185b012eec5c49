// Package modulestest runs test scripts in tally's real JS runtime, with every
// registered native module linked in, so that extension authors test their
// `k6/x/...` modules the way scripts use them: import the extension package
// (its init registers the module), load a script with New, create VUs, run
// setup, iterations and teardown, and inspect the samples, logs and globals
// the script left behind.
//
//	rt := modulestest.Must(t, `import ex from 'k6/x/example';
//	export default function () { globalThis.got = ex.hello(); }`, modulestest.Options{})
//	v := rt.VU(1)
//	v.Iterate(1)
//	if got := v.Global("got"); got != "hello" { ... }
//
// It is the one harness tally's own runtime and extension tests use too.
package modulestest

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/js"
	"github.com/tallyhq/tally/internal/js/modules/k6execution"
	"github.com/tallyhq/tally/internal/logging"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/syncbuf"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// DefaultScenario is the scenario VU.Iterate runs in: it calls the script's
// default function and tags samples with scenario=default.
var DefaultScenario = Scenario{Name: "default", Exec: "default"}

// RunTags are the tags every sample of a Runtime carries.
var RunTags = map[string]string{"testid": "t1"}

// Options configure a Runtime. The zero value runs the script from a fresh
// temporary directory with an empty environment.
type Options struct {
	// Dir is the directory of the script (main.js): relative imports,
	// open() and relative paths a module writes resolve against it. Empty
	// means a new temporary directory.
	Dir string
	// Files, when not nil, are the other files the script may import or
	// open, by path relative to Dir ("lib/a.js"), served from memory; when
	// nil, files are read from disk.
	Files map[string]string
	// Env is the script's __ENV.
	Env map[string]string
	// ExecutionSegment and ExecutionSegmentSequence make the run one
	// instance of a distributed test (modules.State.Instance).
	ExecutionSegment, ExecutionSegmentSequence string
	// Samples receives every sample the script produces; nil keeps them in
	// Runtime.Samples.
	Samples metrics.Pusher
}

// Scenario is the scenario an iteration runs in.
type Scenario struct {
	// Name tags the iteration's samples (scenario=Name).
	Name string
	// Exec is the exported function the iteration calls.
	Exec string
	// Env is added to __ENV for the scenario's iterations.
	Env map[string]string
}

// Runtime is one script compiled by tally's JS runtime, ready to create VUs.
type Runtime struct {
	tb       testing.TB
	runner   *js.Runner
	registry *metrics.Registry
	root     *groups.Group
	samples  *Samples
	ctl      *controller
	logs     syncbuf.Buffer
	opts     options.Options
}

// New compiles script as main.js in o.Dir. A script that does not compile
// or whose init context fails is an error, as `tally run` would report it.
func New(tb testing.TB, script string, o Options) (*Runtime, error) {
	tb.Helper()
	dir := o.Dir
	if dir == "" {
		dir = tb.TempDir()
	}
	r := &Runtime{tb: tb, registry: metrics.NewRegistry(), root: groups.NewRoot(),
		samples: &Samples{}, ctl: &controller{}}
	if o.ExecutionSegment != "" {
		r.opts.ExecutionSegment = &o.ExecutionSegment
	}
	if o.ExecutionSegmentSequence != "" {
		r.opts.ExecutionSegmentSequence = &o.ExecutionSegmentSequence
	}
	var read func(string) ([]byte, error)
	if o.Files != nil {
		read = memFiles(dir, o.Files)
	}
	logger := slog.New(logging.NewHandler(&r.logs, logging.Raw, slog.LevelDebug))
	runner, err := js.New(js.Config{Path: filepath.Join(dir, "main.js"), Source: []byte(script), Env: o.Env,
		Registry: r.registry, Builtin: metrics.RegisterBuiltin(r.registry), Root: r.root, Logger: logger,
		Debug: true, ReadFile: read})
	if err != nil {
		return nil, err
	}
	r.runner = runner
	var samples metrics.Pusher = r.samples
	if o.Samples != nil {
		samples = o.Samples
	}
	runner.Configure(js.RunConfig{Options: &r.opts, SystemTags: metrics.DefaultSystemTags,
		RunTags: metrics.NewTagSet(RunTags), Samples: samples, Controller: r.ctl})
	return r, nil
}

// Must is New that fails the test on error.
func Must(tb testing.TB, script string, o Options) *Runtime {
	tb.Helper()
	r, err := New(tb, script, o)
	if err != nil {
		tb.Fatalf("load script: %v", err)
	}
	return r
}

// memFiles serves files (relative to dir) from memory.
func memFiles(dir string, files map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return nil, err
		}
		if s, ok := files[filepath.ToSlash(rel)]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("open %s: %w", path, fs.ErrNotExist)
	}
}

// NewVU creates a VU (running the init context) with the given id.
func (r *Runtime) NewVU(id uint64) (*VU, error) {
	v, err := r.runner.NewVU(context.Background(), id, id)
	if err != nil {
		return nil, err
	}
	return &VU{VU: v, r: r}, nil
}

// VU is NewVU that fails the test on error.
func (r *Runtime) VU(id uint64) *VU {
	r.tb.Helper()
	v, err := r.NewVU(id)
	if err != nil {
		r.tb.Fatalf("VU %d: %v", id, err)
	}
	return v
}

// Setup runs the script's setup() on a new VU 0 and fails the test when it
// throws.
func (r *Runtime) Setup() *VU {
	r.tb.Helper()
	v := r.VU(0)
	if err := v.RunSetup(context.Background()); err != nil {
		r.tb.Fatalf("setup: %v\nlogs: %s", err, r.Logs())
	}
	return v
}

// Teardown runs the script's teardown() on a new VU 0 and fails the test
// when it throws.
func (r *Runtime) Teardown() *VU {
	r.tb.Helper()
	v := r.VU(0)
	if err := v.RunTeardown(context.Background()); err != nil {
		r.tb.Fatalf("teardown: %v\nlogs: %s", err, r.Logs())
	}
	return v
}

// Close runs every module's Close (modules.Closer), as the runtime does at
// the end of a run, and returns the first error.
func (r *Runtime) Close() error {
	var first error
	for _, m := range r.runner.Modules() {
		if c, ok := m.(modules.Closer); ok {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// Modules returns the per-run roots of the native modules the script
// imports.
func (r *Runtime) Modules() []modules.Module { return r.runner.Modules() }

// Registry is the run's metric registry.
func (r *Runtime) Registry() *metrics.Registry { return r.registry }

// Samples are the samples the script produced (unless Options.Samples
// took them).
func (r *Runtime) Samples() *Samples { return r.samples }

// Logs returns everything logged so far (console output, exceptions,
// warnings), one line per record.
func (r *Runtime) Logs() string { return r.logs.String() }

// Aborted returns the reasons of test.abort() calls (k6/execution), in
// order.
func (r *Runtime) Aborted() []string { return r.ctl.list(&r.ctl.aborted) }

// Failed returns the reasons of test.fail() calls, in order.
func (r *Runtime) Failed() []string { return r.ctl.list(&r.ctl.failed) }

// Runner is the underlying runner, for tally's own runtime tests.
func (r *Runtime) Runner() *js.Runner { return r.runner }

// RootGroup is the run's group tree, for tally's own runtime tests.
func (r *Runtime) RootGroup() *groups.Group { return r.root }

// VU is one virtual user of a Runtime.
type VU struct {
	*js.VU
	r *Runtime
}

// Iterate runs n iterations of the default function in DefaultScenario and
// fails the test when one is interrupted.
func (v *VU) Iterate(n int) { v.r.tb.Helper(); v.Run(DefaultScenario, n) }

// Run runs n iterations of sc and fails the test when one is interrupted.
func (v *VU) Run(sc Scenario, n int) {
	v.r.tb.Helper()
	esc := sc.Executor()
	for i := 0; i < n; i++ {
		if !v.RunIteration(context.Background(), &executor.Iteration{Scenario: esc, InInstance: uint64(i), InTest: uint64(i)}) {
			v.r.tb.Fatalf("iteration %d was interrupted\nlogs: %s", i, v.r.Logs())
		}
	}
}

// Once runs one iteration of sc and reports whether it completed (false:
// it was interrupted). Cancelling ctx interrupts the iteration as the end
// of a test does (requests in flight are cut off). Unlike Run it fails no
// test, so it may be called from any goroutine.
func (v *VU) Once(ctx context.Context, sc Scenario) bool {
	return v.RunIteration(ctx, &executor.Iteration{Scenario: sc.Executor()})
}

// Executor returns sc as the runtime's scenario type, for tally's own tests
// that drive iterations directly.
func (sc Scenario) Executor() *executor.Scenario {
	return &executor.Scenario{Name: sc.Name, Executor: "shared-iterations", Exec: sc.Exec, Env: sc.Env,
		Tags: metrics.NewTagSet(map[string]string{"scenario": sc.Name})}
}

// Import returns a VU of a script that only imports the module name
// ("k6/crypto", "k6/x/example"): each named export is a global of its own
// name and the default export (else the object of the named exports) is
// the global mod, so that Eval calls the module's functions as a script
// would, through the real loader and a real VU.
func Import(tb testing.TB, name string) *VU {
	tb.Helper()
	src := fmt.Sprintf(`import * as exports from %q;
for (const k of Object.keys(exports)) { if (k !== 'default') globalThis[k] = exports[k]; }
globalThis.mod = exports.default !== undefined ? exports.default : exports;
export default function () {}
`, name)
	return Must(tb, src, Options{}).VU(1)
}

// Eval evaluates src in the VU's runtime, between iterations, and returns
// its value exported to Go; it fails the test when src throws.
func (v *VU) Eval(src string) any {
	v.r.tb.Helper()
	val, err := v.Runtime().RunString(src)
	if err != nil {
		v.r.tb.Fatalf("%s: %v", src, err)
	}
	return val.Export()
}

// Throws evaluates src as Eval does and returns the message of what it
// threw, or "" when it did not throw.
func (v *VU) Throws(src string) string {
	_, err := v.Runtime().RunString(src)
	if err == nil {
		return ""
	}
	return err.Error()
}

// Global returns the script global name of the VU's runtime exported to Go,
// or nil when it is undefined.
func (v *VU) Global(name string) any {
	val := v.Runtime().Get(name)
	if val == nil || sobek.IsUndefined(val) {
		return nil
	}
	return val.Export()
}

// Samples collects every sample pushed to it; it is safe for concurrent use.
type Samples struct {
	mu  sync.Mutex
	all metrics.Samples
}

// Push implements metrics.Pusher.
func (c *Samples) Push(s metrics.Samples) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, s...)
}

// Sum adds the values of metric's samples whose tags contain want; n counts
// them.
func (c *Samples) Sum(metric string, want map[string]string) (total float64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub := metrics.NewTagSet(want)
	for _, s := range c.all {
		if s.Metric.Name == metric && s.Tags.Contains(sub) {
			total += s.Value
			n++
		}
	}
	return total, n
}

// Find returns metric's samples in the order they were pushed.
func (c *Samples) Find(metric string) []metrics.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []metrics.Sample
	for _, s := range c.all {
		if s.Metric.Name == metric {
			out = append(out, s)
		}
	}
	return out
}

// controller stands in for the engine behind k6/execution: it records
// test.abort() and test.fail() and reports fixed options and counters.
type controller struct {
	mu      sync.Mutex
	aborted []string
	failed  []string
}

// Abort records a test.abort() reason.
func (c *controller) Abort(r string) { c.mu.Lock(); c.aborted = append(c.aborted, r); c.mu.Unlock() }

// Fail records a test.fail() reason.
func (c *controller) Fail(r string) { c.mu.Lock(); c.failed = append(c.failed, r); c.mu.Unlock() }

// TestOptions reports a single shared-iterations scenario.
func (c *controller) TestOptions() map[string]any {
	return map[string]any{"vus": nil, "scenarios": map[string]any{"default": map[string]any{"executor": "shared-iterations"}}}
}

// Instance reports fixed counters: 7 iterations completed, 2 VUs active,
// 3 initialized.
func (c *controller) Instance() k6execution.InstanceInfo {
	return k6execution.InstanceInfo{IterationsCompleted: 7, VUsActive: 2, VUsInitialized: 3}
}

func (c *controller) list(l *[]string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), *l...)
}
