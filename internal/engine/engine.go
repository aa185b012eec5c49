// Package engine wires one test run: it loads the script, consolidates the
// options, runs setup, the scenarios and teardown, feeds samples to the
// metrics engine and outputs, evaluates thresholds and writes the summary.
// Every failure comes back as an error carrying the k6 exit code.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/dashboard"
	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/js"
	"github.com/tallyhq/tally/internal/js/modules/k6execution"
	"github.com/tallyhq/tally/internal/metricsengine"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/output"
	_ "github.com/tallyhq/tally/internal/output/otlp"   // --out opentelemetry
	_ "github.com/tallyhq/tally/internal/output/promrw" // --out experimental-prometheus-rw
	"github.com/tallyhq/tally/internal/progress"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// Config is everything one run needs, as the CLI collected it.
type Config struct {
	// ScriptPath is the script's path ("-" for stdin); Source its text.
	ScriptPath string
	Source     []byte
	// Env is the base of __ENV (system environment and -e values).
	Env map[string]string
	// ConfigFile, EnvOptions and CLI are the option layers above the
	// script's own options (defaults < config file < script < env < CLI).
	ConfigFile, EnvOptions, CLI options.Options

	Outputs       []string // --out specs
	SummaryExport string   // --summary-export file
	SummaryMode   string   // compact, full or disabled
	NoThresholds  bool
	Quiet         bool
	NoColor       bool
	Verbose       bool

	Stdout, Stderr       io.Writer
	StdoutTTY, StderrTTY bool
	TerminalWidth        int
	Logger               *slog.Logger

	// Version is tally's version: requests identify as "tally/<Version>"
	// unless the userAgent option says otherwise.
	Version string
	// TuneGC lets the run adapt the garbage collector to its VU count (see
	// gcPercentFor); Getenv tells whether the user set GOGC.
	TuneGC bool
	Getenv func(string) (string, bool)

	// ReadFile reads the files the script imports and open()s; nil means
	// the file system (a run from an archive reads from the archive).
	ReadFile func(path string) ([]byte, error)
	// ArchiveOptions, when set, are used in place of the options the
	// script exports: the options an archive was made with.
	ArchiveOptions *options.Options
}

// Defaults of the lifecycle timeouts.
const (
	DefaultSetupTimeout         = 60 * time.Second
	DefaultTeardownTimeout      = 60 * time.Second
	DefaultHandleSummaryTimeout = 120 * time.Second
)

// run is the state of one run.
type run struct {
	cfg     Config
	log     *slog.Logger
	reg     *metrics.Registry
	builtin *metrics.Builtin
	root    *groups.Group
	runner  *js.Runner
	opts    options.Options
	sched   *executor.Scheduler
	metrics *metricsengine.Engine
	modules []modules.Module

	cancelRun context.CancelCauseFunc

	mu        sync.Mutex
	stopErr   error // the first reason the run was stopped early (abort, thresholds)
	failed    string
	startTime time.Time
	endTime   time.Time
}

// Run executes the test described by cfg. It returns nil on success and an
// error carrying the exit code otherwise (see package exitcode). Cancelling
// ctx stops the run as SIGINT does: iterations are interrupted, teardown and
// the summary still happen, and the exit code is 105.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Results are written at the end: a path that cannot take them fails now, not after the test.
	if err := output.CheckSpecs(cfg.Outputs); err != nil {
		return exitcode.With(exitcode.Other, err)
	}
	if cfg.SummaryExport != "" {
		if err := output.CheckFile(cfg.SummaryExport); err != nil {
			return exitcode.With(exitcode.Other, fmt.Errorf("--summary-export %s: %w", cfg.SummaryExport, err))
		}
	}
	r := &run{cfg: cfg, log: cfg.Logger, reg: metrics.NewRegistry(), root: groups.NewRoot()}
	r.builtin = metrics.RegisterBuiltin(r.reg)
	return r.execute(ctx)
}

// Resolve loads the script, evaluates its init context once and returns
// the consolidated options as the run would use them (the shortcuts turned
// into scenarios, as test.options shows them), without running anything.
func Resolve(ctx context.Context, cfg Config) (options.Options, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &run{cfg: cfg, log: cfg.Logger, reg: metrics.NewRegistry(), root: groups.NewRoot()}
	r.builtin = metrics.RegisterBuiltin(r.reg)
	vu0, _, err := r.load(ctx)
	if err != nil {
		return options.Options{}, err
	}
	vu0.Release()
	return r.opts, nil
}

// load compiles the script, evaluates the init context once (VU 0) and
// consolidates the options into r.opts, with the shortcuts turned into
// scenarios. The caller releases the returned VU.
func (r *run) load(ctx context.Context) (*js.VU, []executor.Config, error) {
	runner, err := js.New(js.Config{
		Path: r.cfg.ScriptPath, Source: r.cfg.Source, Env: r.cfg.Env,
		Registry: r.reg, Builtin: r.builtin, Root: r.root, Logger: r.log,
		Debug: r.cfg.Verbose, ReadFile: r.cfg.ReadFile,
	})
	if err != nil {
		return nil, nil, exitcode.With(exitcode.ScriptException, fmt.Errorf("could not load %s: %w", r.cfg.ScriptPath, err))
	}
	r.runner = runner
	vu0, err := runner.NewVU(ctx, 0, 0)
	if err != nil {
		return nil, nil, initError(err)
	}
	fail := func(err error) (*js.VU, []executor.Config, error) {
		vu0.Release()
		return nil, nil, err
	}
	if len(runner.Exports()) == 0 || !anyFunction(vu0, runner.Exports()) {
		return fail(exitcode.Errorf(exitcode.Other, "%s exports no function: export a default function (or the functions your scenarios name in exec)", r.cfg.ScriptPath))
	}
	if err := r.consolidate(vu0); err != nil {
		return fail(err)
	}
	for _, w := range executor.ShortcutWarnings(r.opts) {
		r.log.Warn(w)
	}
	scenarios, err := executor.Derive(r.opts, vu0.ExportedFunction)
	if err != nil {
		return fail(configError(err))
	}
	// test.options shows the shortcuts turned into scenarios, as k6 does.
	r.opts.Scenarios = executor.ConfigsJSON(scenarios)
	r.opts.VUs, r.opts.Iterations, r.opts.Duration, r.opts.Stages = nil, nil, nil, nil
	return vu0, scenarios, nil
}

// execute runs one test in three steps: prepare (options the summary and
// the samples need, the metrics engine and outputs), run (the scheduler and
// the lifecycle of setup, scenarios and teardown), finish (thresholds,
// module close, summary state, summary and dashboard, the exit code).
func (r *run) execute(ctx context.Context) error {
	// Load and evaluate the init context once to read options.
	vu0, scenarios, err := r.load(ctx)
	if err != nil {
		return err
	}
	defer vu0.Release()
	p, err := r.prepare()
	if err != nil {
		return err
	}
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	r.cancelRun = cancelRun
	if err := r.schedule(scenarios, p); err != nil {
		return err
	}
	// From here on the run has started: the summary is always written.
	runErr := r.lifecycle(ctx, runCtx, vu0)
	r.endTime = time.Now()
	return r.finish(ctx, vu0, p, runErr)
}

// prepared is what the run settled before starting: the summary's trend
// columns, the summary-state files to write, the tags of every sample and
// the web dashboard (nil when off).
type prepared struct {
	trendStats []string
	stateFiles []string
	systemTags metrics.SystemTagSet
	runTags    *metrics.TagSet
	dash       *dashboard.Dashboard
}

// prepare validates the options the summary and the samples depend on and
// starts the metrics engine with its outputs; nothing has run yet, so an
// error here is a configuration error and no summary is written.
func (r *run) prepare() (prepared, error) {
	var p prepared
	if r.opts.UserAgent == nil && r.cfg.Version != "" {
		ua := "tally/" + r.cfg.Version
		r.opts.UserAgent = &ua
	}
	p.trendStats = r.opts.SummaryTrendStats
	if len(p.trendStats) == 0 {
		p.trendStats = options.DefaultSummaryTrendStats
	}
	if err := summary.ValidateTrendStats(p.trendStats); err != nil {
		return p, exitcode.With(exitcode.Other, fmt.Errorf("summaryTrendStats: %w", err))
	}
	if err := summary.ValidateTimeUnit(options.String(r.opts.SummaryTimeUnit, "")); err != nil {
		return p, exitcode.With(exitcode.Other, fmt.Errorf("summaryTimeUnit: %w", err))
	}
	p.systemTags = metrics.DefaultSystemTags
	if r.opts.SystemTags != nil {
		var err error
		if p.systemTags, err = metrics.ParseSystemTags(r.opts.SystemTags); err != nil {
			return p, exitcode.With(exitcode.InvalidConfig, fmt.Errorf("systemTags: %w", err))
		}
	}
	p.runTags = metrics.NewTagSet(r.opts.Tags)
	return p, r.startMetrics(&p)
}

// startMetrics creates the outputs (the dashboard among them) and the
// metrics engine that feeds them.
func (r *run) startMetrics(p *prepared) error {
	stateFiles, specs, err := output.SplitSummaryState(r.cfg.Outputs)
	if err != nil {
		return exitcode.With(exitcode.Other, err)
	}
	p.stateFiles = stateFiles
	dashCfg, specs, err := dashboardConfig(specs, r.cfg.Getenv)
	if err != nil {
		return err
	}
	outs, err := output.NewAll(specs, output.Params{Stdout: r.cfg.Stdout, Logger: r.log,
		Getenv: r.cfg.Getenv, Instance: r.instanceName(), RunID: r.cfg.Env["RUN_ID"]})
	if err != nil {
		return exitcode.With(exitcode.Other, err)
	}
	sinks := make([]metricsengine.Output, 0, len(outs)+1)
	for _, o := range outs {
		sinks = append(sinks, o)
	}
	p.dash = r.newDashboard(dashCfg)
	if p.dash != nil {
		sinks = append(sinks, p.dash)
	}
	me, err := metricsengine.New(metricsengine.Config{
		Registry: r.reg, Thresholds: r.opts.Thresholds, NoThresholds: r.cfg.NoThresholds,
		Outputs: sinks, Logger: r.log,
		// The summary state carries the breakdown so that merged results
		// can print the full summary too.
		Breakdown: r.cfg.SummaryMode == summary.ModeFull || len(stateFiles) > 0,
	})
	if err != nil {
		return exitcode.WithIfNone(exitcode.InvalidConfig, err)
	}
	r.metrics = me
	if p.dash != nil {
		attachDashboard(p.dash, me)
	}
	return nil
}

// schedule configures the runner for running and builds the scheduler of
// this instance's share of the scenarios.
func (r *run) schedule(scenarios []executor.Config, p prepared) error {
	runner, me := r.runner, r.metrics
	runner.Configure(js.RunConfig{
		Options: &r.opts, SystemTags: p.systemTags, RunTags: p.runTags, Samples: me, Controller: r,
	})
	sched, err := executor.NewScheduler(executor.SchedulerConfig{
		Scenarios: scenarios,
		Segment:   options.String(r.opts.ExecutionSegment, ""),
		Sequence:  options.String(r.opts.ExecutionSegmentSequence, ""),
		NewVU: func(ctx context.Context, id, idInTest uint64) (executor.VU, error) {
			v, err := runner.NewVU(ctx, id, idInTest)
			if err != nil {
				return nil, err
			}
			return v, nil
		},
		Samples: me, Builtin: r.builtin, RunTags: p.runTags, SystemTags: p.systemTags, Logger: r.log,
		Progress: progress.Config{Out: r.cfg.Stderr, TTY: r.cfg.StderrTTY, Quiet: r.cfg.Quiet,
			NoColor: r.cfg.NoColor || !r.cfg.StderrTTY, Width: r.cfg.TerminalWidth},
	})
	if err != nil {
		return segmentOrConfigError(err)
	}
	r.sched = sched
	if r.bannerWanted() {
		r.banner(r.cfg.Stdout, scenarios, sched.MaxVUs())
	}
	return nil
}

// finish runs after the test, however it ended: it flushes the metrics,
// evaluates the thresholds, closes the modules, writes the summary state,
// the summary and the dashboard's report, and returns the run's error, in
// order of precedence: the run's own (or the first write error), crossed
// thresholds, test.fail().
func (r *run) finish(ctx context.Context, vu0 *js.VU, p prepared, runErr error) error {
	me := r.metrics
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelStop()
	if err := me.Stop(stopCtx); err != nil {
		r.log.Error(fmt.Sprintf("metrics: %v", err))
	}
	thresholdsFailed := false
	if !r.cfg.NoThresholds {
		thresholdsFailed = me.EvaluateThresholds()
	}
	r.closeModules()
	keep := func(err error) {
		if err == nil {
			return
		}
		r.log.Error(err.Error())
		if runErr == nil {
			runErr = exitcode.WithIfNone(exitcode.Other, err)
		}
	}
	for _, path := range p.stateFiles {
		keep(r.writeState(path, runErr))
	}
	data := r.summaryData(p.trendStats)
	keep(r.writeSummary(context.WithoutCancel(ctx), vu0, data))
	if p.dash != nil {
		keep(r.finishDashboard(context.WithoutCancel(ctx), p.dash, data, runErr, thresholdsFailed))
	}
	if n := r.runner.IterationErrors(); n > 0 {
		r.log.Warn(fmt.Sprintf("%d iteration(s) ended with an uncaught exception (see the errors above)", n))
	}

	switch {
	case runErr != nil:
		return runErr
	case thresholdsFailed:
		return exitcode.Errorf(exitcode.ThresholdsFailed, "thresholds on metrics %s have been crossed", strings.Join(me.FailedThresholds(), ", "))
	case r.failed != "":
		return exitcode.Errorf(exitcode.MarkedAsFailed, "the test was marked as failed: %s", r.failed)
	}
	return nil
}

func anyFunction(vu *js.VU, names []string) bool {
	for _, n := range names {
		if vu.ExportedFunction(n) {
			return true
		}
	}
	return false
}

// lifecycle initializes the VUs, runs setup, the scenarios and teardown.
func (r *run) lifecycle(ctx, runCtx context.Context, vu0 *js.VU) error {
	initStart := time.Now()
	if err := r.sched.Init(runCtx); err != nil {
		if stop := r.stopReason(); stop != nil {
			return stop
		}
		if ctx.Err() != nil {
			return stopError(ctx, "test run was interrupted while initializing VUs")
		}
		return initError(err)
	}
	vus := r.sched.State().VUsInitialized.Load()
	r.log.Debug(fmt.Sprintf("initialized %d VUs in %s", vus, time.Since(initStart).Round(time.Millisecond)))
	r.tuneGC(vus)
	r.startTime = time.Now()
	r.sched.State().MarkStarted(r.startTime)
	r.metrics.Start(runCtx, r.abortFromThresholds)

	if !options.Bool(r.opts.NoSetup) && vu0.ExportedFunction("setup") {
		if err := r.runSetup(runCtx); err != nil {
			if stop := r.stopReason(); stop != nil {
				return stop
			}
			return err
		}
	}
	if err := r.sched.Run(runCtx); err != nil {
		r.log.Error(err.Error())
	}
	r.releaseVUs()
	var result error
	if stop := r.stopReason(); stop != nil {
		result = stop
	} else if ctx.Err() != nil {
		result = stopError(ctx, "test run was stopped by a signal")
	}
	if !options.Bool(r.opts.NoTeardown) && vu0.ExportedFunction("teardown") {
		if err := r.runTeardown(context.WithoutCancel(ctx)); err != nil {
			if result == nil {
				result = err
			} else {
				r.log.Error(err.Error())
			}
		}
	}
	return result
}

// releaseVUs drops the scenarios' VUs once every scenario has ended, as k6
// runs teardown on a VU of its own: their runtimes, connections and setup
// data copies are freed before teardown allocates, so the run's memory peak
// is the larger of the scenarios' and teardown's, not their sum. One garbage
// collection frees that memory for teardown; it is returned to the system at
// once when it is large (collectReleased).
func (r *run) releaseVUs() {
	n := r.sched.ReleaseVUs()
	if n == 0 {
		return
	}
	start := time.Now()
	returned := collectReleased(returnAbove)
	r.log.Debug(fmt.Sprintf("released %d VUs in %s", n, time.Since(start).Round(time.Millisecond)), "returned", returned)
}

func (r *run) runSetup(ctx context.Context) error {
	timeout := options.Dur(r.opts.SetupTimeout, options.Duration(DefaultSetupTimeout)).D()
	vu, err := r.runner.NewVU(ctx, 0, 0)
	if err != nil {
		return initError(err)
	}
	defer vu.Release()
	sctx, cancel := context.WithTimeoutCause(ctx, timeout, errSetupTimeout)
	defer cancel()
	err = vu.RunSetup(sctx)
	switch {
	case errors.Is(context.Cause(sctx), errSetupTimeout):
		return exitcode.Errorf(exitcode.SetupTimeout, "setup() execution timed out after %s (raise setupTimeout if it needs longer)", timeout)
	case err == nil:
		return nil
	case errors.Is(err, js.ErrNotSerializable):
		return exitcode.With(exitcode.Other, err)
	}
	if ae, ok := js.Aborted(err); ok {
		r.Abort(ae.Reason)
		return exitcode.With(exitcode.ScriptAborted, ae)
	}
	return exitcode.WithIfNone(exitcode.ScriptException, err)
}

var (
	errSetupTimeout    = errors.New("setup timeout")
	errTeardownTimeout = errors.New("teardown timeout")
)

func (r *run) runTeardown(ctx context.Context) error {
	timeout := options.Dur(r.opts.TeardownTimeout, options.Duration(DefaultTeardownTimeout)).D()
	vu, err := r.runner.NewVU(ctx, 0, 0)
	if err != nil {
		return initError(err)
	}
	defer vu.Release()
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errTeardownTimeout)
	defer cancel()
	err = vu.RunTeardown(tctx)
	switch {
	case errors.Is(context.Cause(tctx), errTeardownTimeout):
		return exitcode.Errorf(exitcode.TeardownTimeout, "teardown() execution timed out after %s (raise teardownTimeout if it needs longer)", timeout)
	case err == nil:
		return nil
	}
	if ae, ok := js.Aborted(err); ok {
		r.Abort(ae.Reason)
		return exitcode.With(exitcode.ScriptAborted, ae)
	}
	return exitcode.WithIfNone(exitcode.ScriptException, err)
}

// stopError is the result of a run whose context was cancelled: the cause
// when it carries an exit code (the memory guard's), else a signal (105).
func stopError(ctx context.Context, signalMsg string) error {
	var coded *exitcode.Error
	if cause := context.Cause(ctx); errors.As(cause, &coded) {
		return coded
	}
	return exitcode.Errorf(exitcode.ExternalAbort, "%s", signalMsg)
}

// initError maps an error from evaluating the init context.
func initError(err error) error {
	if ae, ok := js.Aborted(err); ok {
		return exitcode.With(exitcode.ScriptAborted, ae)
	}
	if errors.Is(err, js.ErrInitInterrupted) {
		var coded *exitcode.Error
		if errors.As(err, &coded) { // the memory guard's cause
			return coded
		}
		return exitcode.Errorf(exitcode.ExternalAbort, "test run was interrupted while initializing VUs")
	}
	return exitcode.WithIfNone(exitcode.ScriptException, err)
}

// configError maps an options error to exit code 104.
func configError(err error) error { return exitcode.WithIfNone(exitcode.InvalidConfig, err) }

func segmentOrConfigError(err error) error {
	var se *executor.SegmentError
	if errors.As(err, &se) {
		return exitcode.WithIfNone(exitcode.Other, err)
	}
	return configError(err)
}

// stopReason returns why the run was stopped early, or nil.
func (r *run) stopReason() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopErr
}

func (r *run) stop(err error) {
	r.mu.Lock()
	first := r.stopErr == nil
	if first {
		r.stopErr = err
	}
	r.mu.Unlock()
	if first && r.cancelRun != nil {
		r.cancelRun(err)
	}
}

// Abort implements k6execution.Controller (test.abort()).
func (r *run) Abort(reason string) {
	// Not logged here: the run ends with this error, and main prints it once.
	r.stop(exitcode.With(exitcode.ScriptAborted, &k6execution.AbortError{Reason: reason}))
}

// Fail implements k6execution.Controller (test.fail()).
func (r *run) Fail(reason string) {
	if reason == "" {
		reason = "test.fail() was called"
	}
	r.log.Error(reason)
	r.mu.Lock()
	if r.failed == "" {
		r.failed = reason
	}
	r.mu.Unlock()
}

// TestOptions implements k6execution.Controller (test.options).
func (r *run) TestOptions() map[string]any { return r.opts.JSON() }

// Instance implements k6execution.Controller (exec.instance).
func (r *run) Instance() k6execution.InstanceInfo {
	if r.sched == nil {
		return k6execution.InstanceInfo{}
	}
	st := r.sched.State()
	return k6execution.InstanceInfo{
		IterationsCompleted:    uint64(st.IterationsCompleted.Load()),
		IterationsInterrupted:  uint64(st.IterationsInterrupted.Load()),
		VUsActive:              st.VUsActive.Load(),
		VUsInitialized:         st.VUsInitialized.Load(),
		CurrentTestRunDuration: st.CurrentTestRunDuration(),
	}
}

// abortFromThresholds is called by the metrics engine when an abortOnFail
// threshold fails.
func (r *run) abortFromThresholds(err error) {
	r.log.Error(err.Error())
	r.stop(exitcode.WithIfNone(exitcode.ThresholdsFailed, err))
}

// consolidate merges the option layers with the script's options.
func (r *run) consolidate(vu0 *js.VU) error {
	var script options.Options
	if r.cfg.ArchiveOptions != nil {
		script = *r.cfg.ArchiveOptions
	} else {
		raw, err := vu0.OptionsJSON()
		if err != nil {
			return exitcode.With(exitcode.InvalidConfig, err)
		}
		var warnings []string
		script, warnings, err = options.Parse(raw)
		for _, w := range warnings {
			r.log.Warn(w)
		}
		if err != nil {
			return exitcode.With(exitcode.InvalidConfig, err)
		}
	}
	o := options.Options{}.Apply(r.cfg.ConfigFile).Apply(script).Apply(r.cfg.EnvOptions).Apply(r.cfg.CLI)
	// k6: --vus alone on the command line also replaces script scenarios.
	cli := r.cfg.CLI
	if cli.VUs != nil && cli.Duration == nil && cli.Iterations == nil && cli.Stages == nil && o.Scenarios != nil {
		r.log.Warn("--vus was given on the command line: the script's scenarios are replaced by one shared-iterations scenario")
		o.Scenarios = nil
	}
	r.opts = o
	return nil
}
