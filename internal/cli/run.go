package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tallyhq/tally/internal/archive"
	"github.com/tallyhq/tally/internal/engine"
	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/limits"
	"github.com/tallyhq/tally/internal/logging"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/progress"
	"github.com/tallyhq/tally/internal/summary"
)

// runFlags are the flags of `tally run`.
type runFlags struct {
	vus, iterations                        int64
	duration                               string
	stages, envs, outs, tags               []string
	summaryExport, summaryMode             string
	summaryTrendStats, summaryTimeUnit     string
	quiet, noColor, verbose                bool
	httpDebug                              string
	systemTags                             string
	segment, sequence                      string
	segmentIndex                           int
	logOutput, logFormat                   string
	noSetup, noTeardown, noThresholds      bool
	throw                                  bool
	maxRedirects, batch, batchPerHost      int64
	rps                                    int64
	userAgent                              string
	discardBodies                          bool
	minIterationDuration                   string
	includeSystemEnv                       bool
	configFile                             string
	noSummary                              bool
	noUsageReport, insecureSkipTLSVerify   bool
	noConnectionReuse, noVUConnectionReuse bool
	cpuProfile, memProfile                 string
}

var envNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func newRunCmd(env *Env) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] SCRIPT",
		Short: "Run a k6 test script",
		Long: `Run a k6-dialect test script (use - to read it from standard input), or an
archive made by 'tally archive' (its options and -e variables apply under
these flags, K6_* variables and -e values).

Options come, from lowest to highest precedence, from defaults, --config,
the script's exported options, K6_* environment variables, and these flags.
When a higher layer sets any of duration, iterations, stages or scenarios,
the lower layers' values of all four are dropped.

` + envHelp() + `

GOGC, when set, disables tally's own tuning of the garbage collector: a
target of 200 % for runs of up to 200 VUs (fewer collections), a lower one
above 200 VUs (less memory per VU).

Limits (each refused with a clear message): the script and each module it
imports at most 16 MiB of text (a binary file is refused at once: 107), a
file read by open() or an archive at most 512 MiB (107), JS calls nested at
most 10,000 deep ("RangeError: Maximum call stack size exceeded"), durations
at most 106751d23h47m16s (longer ones, NaN and infinities: 104). Memory:
GOMEMLIMIT, when set, is honoured; otherwise tally sets it to 90 % of the
machine's or the cgroup's memory. When the heap still live after a garbage
collection passes 75 % of that limit, the run is stopped as on SIGINT
(teardown and the summary still run) with "out of memory" and exit code 103.
A signal also stops the init context (105).

Profiling: --cpuprofile FILE records a CPU profile of the whole run (init,
setup, the load, teardown, the summary); --memprofile FILE writes a heap
profile at the end (after a garbage collection: inuse_* is the heap still
live, alloc_* everything allocated during the run). Both are pprof files,
written to a temporary file and renamed, so a failed run leaves either a
complete profile or none; read them with 'go tool pprof bin/tally FILE'.
A directory that does not exist or cannot be written fails the run at once
(255).

Plain http:// requests use tally's own HTTP/1.1 client; setting HTTP_PROXY
sends them through Go's net/http instead. Hosts under .invalid fail at once
(error code 1101) unless the hosts option maps them.`,
		Example: `  tally run script.js
  tally run --vus 10 --duration 30s script.js
  tally run -e BASE_URL=http://127.0.0.1:8000 --out json=results.json scripts/race.js`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("run needs exactly one script (got %d arguments)", len(args))})
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScript(cmd, env, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	addOptionFlags(fl, f)
	fl.StringArrayVarP(&f.outs, "out", "o", nil, "stream samples to an output: json[=FILE] or csv=FILE (repeatable; .gz compresses); web-dashboard[=port=N&export=FILE] serves the live dashboard; experimental-prometheus-rw and opentelemetry send live series (K6_PROMETHEUS_RW_*, K6_OTEL_*); summary-state=FILE writes the mergeable end-of-run state for tally merge")
	fl.StringVar(&f.summaryExport, "summary-export", "", "write the end-of-test summary as JSON to FILE")
	fl.StringVar(&f.summaryMode, "summary-mode", "compact", "summary: compact, full or disabled")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	fl.StringVar(&f.logOutput, "log-output", "stderr", "where logs go: stderr, stdout, none or file=PATH")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text, json or raw")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "debug logging (includes console.debug)")
	fl.BoolVar(&f.noThresholds, "no-thresholds", false, "do not evaluate thresholds")
	fl.BoolVar(&f.noSummary, "no-summary", false, "removed in k6 v1: use --summary-mode=disabled")
	fl.BoolVar(&f.noUsageReport, "no-usage-report", false, "accepted for compatibility (tally never reports usage)")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to FILE (pprof format: go tool pprof bin/tally FILE)")
	fl.StringVar(&f.memProfile, "memprofile", "", "write a heap profile (allocations and the live heap) at the end of the run to FILE (pprof format)")
	_ = fl.MarkHidden("no-summary")
	_ = fl.MarkHidden("no-usage-report")
	return cmd
}

// addOptionFlags registers the flags that set test options, -e, --config
// and --include-system-env-vars: shared by run, archive and inspect.
func addOptionFlags(fl *pflag.FlagSet, f *runFlags) {
	fl.Int64VarP(&f.vus, "vus", "u", 1, "number of virtual users")
	fl.StringVarP(&f.duration, "duration", "d", "", "test duration, e.g. 30s or 1m30s")
	fl.Int64VarP(&f.iterations, "iterations", "i", 0, "total iterations shared by the VUs")
	fl.StringArrayVarP(&f.stages, "stage", "s", nil, "ramping stage DURATION:TARGET (repeatable)")
	fl.StringArrayVarP(&f.envs, "env", "e", nil, "add KEY=VALUE to __ENV (repeatable)")
	fl.StringVarP(&f.configFile, "config", "c", "", "JSON file with options")
	fl.StringVar(&f.summaryTrendStats, "summary-trend-stats", "", "trend statistics in the summary, e.g. avg,p(95),p(99.9),count")
	fl.StringVar(&f.summaryTimeUnit, "summary-time-unit", "", "time unit of trend values in the summary: s, ms or us")
	fl.BoolVar(&f.noColor, "no-color", false, "no ANSI colours")
	fl.StringVar(&f.httpDebug, "http-debug", "", "log every HTTP request and response (full: with bodies)")
	fl.Lookup("http-debug").NoOptDefVal = "headers"
	fl.StringArrayVar(&f.tags, "tag", nil, "add a tag KEY=VALUE to every sample (repeatable)")
	fl.StringVar(&f.systemTags, "system-tags", "", "comma-separated system tags to attach to samples")
	fl.StringVar(&f.segment, "execution-segment", "", "run only this segment of the test, e.g. 1/2:1")
	fl.StringVar(&f.sequence, "execution-segment-sequence", "", "all segments of a distributed run, e.g. 0,1/3,2/3,1")
	fl.IntVar(&f.segmentIndex, "execution-segment-index", 0, "run the N-th (0-based) segment of --execution-segment-sequence, e.g. a Kubernetes Job's completion index")
	fl.BoolVar(&f.noSetup, "no-setup", false, "do not run setup()")
	fl.BoolVar(&f.noTeardown, "no-teardown", false, "do not run teardown()")
	fl.BoolVarP(&f.throw, "throw", "w", false, "throw on failed requests and bad metric values instead of logging")
	fl.Int64Var(&f.maxRedirects, "max-redirects", options.DefaultMaxRedirects, "redirects followed per request")
	fl.Int64Var(&f.batch, "batch", options.DefaultBatch, "parallel requests per http.batch() call")
	fl.Int64Var(&f.batchPerHost, "batch-per-host", options.DefaultBatchPerHost, "parallel requests per host in http.batch()")
	fl.Int64Var(&f.rps, "rps", 0, "limit on requests per second for the whole run (0: none)")
	fl.StringVar(&f.userAgent, "user-agent", "", "User-Agent header of requests")
	fl.BoolVar(&f.discardBodies, "discard-response-bodies", false, "read and drop response bodies")
	fl.BoolVar(&f.noConnectionReuse, "no-connection-reuse", false, "open a new connection for every request")
	fl.BoolVar(&f.noVUConnectionReuse, "no-vu-connection-reuse", false, "do not reuse connections between iterations")
	fl.BoolVar(&f.insecureSkipTLSVerify, "insecure-skip-tls-verify", false, "do not verify TLS certificates")
	fl.StringVar(&f.minIterationDuration, "min-iteration-duration", "", "minimum duration of an iteration")
	fl.BoolVar(&f.includeSystemEnv, "include-system-env-vars", true, "pass the system environment to __ENV")
}

func runScript(cmd *cobra.Command, env *Env, f *runFlags, path string) error {
	fl := cmd.Flags()
	if fl.Changed("no-summary") {
		return exitcode.With(exitcode.Other, &usageError{errors.New("--no-summary no longer exists: use --summary-mode=disabled")})
	}
	environ := envMap(env.Environ)
	if err := applyCommandEnv(fl, f, environ); err != nil {
		return exitcode.With(exitcode.Other, &usageError{err})
	}
	if err := summary.ValidateMode(f.summaryMode); err != nil {
		return exitcode.With(exitcode.Other, &usageError{err})
	}
	// On a terminal, log lines and the progress bars share stderr: lines
	// erase the bars first so the next frame does not draw over them.
	isTTY := func(w io.Writer) bool { return env.IsTerminal != nil && env.IsTerminal(w) }
	stderr := env.Stderr
	stderrTTY := isTTY(env.Stderr)
	if stderrTTY && !f.quiet {
		stderr = progress.NewTerminal(env.Stderr)
	}
	logger, closeLog, err := newLogger(env, stderr, f)
	if err != nil {
		return exitcode.With(exitcode.Other, &usageError{err})
	}
	defer closeLog()
	for _, w := range envWarnings(environ) {
		logger.Warn(w)
	}

	cfg, _, err := scriptConfig(env, fl, f, environ, path, logger)
	if err != nil {
		return err
	}

	noColor := f.noColor || environ["NO_COLOR"] != ""
	width := 0
	if env.TerminalWidth != nil {
		width = env.TerminalWidth()
	}

	ctx, stop := signalContext(env, logger)
	defer stop()
	ctx, stopGuard := memoryGuard(ctx, environ, logger)
	defer stopGuard()
	cfg.Outputs, cfg.SummaryExport, cfg.SummaryMode = f.outs, f.summaryExport, f.summaryMode
	cfg.NoThresholds, cfg.Quiet, cfg.NoColor = f.noThresholds, f.quiet, noColor
	cfg.Stdout, cfg.Stderr, cfg.StdoutTTY, cfg.StderrTTY = env.Stdout, stderr, isTTY(env.Stdout), stderrTTY
	cfg.TerminalWidth, cfg.TuneGC = width, true
	cfg.Getenv = func(k string) (string, bool) { v, ok := environ[k]; return v, ok }
	prof, err := startProfiling(f.cpuProfile, f.memProfile)
	if err != nil {
		return err
	}
	runErr := engine.Run(ctx, cfg)
	if perr := prof.stop(); perr != nil {
		if runErr == nil {
			return perr
		}
		logger.Error(perr.Error())
	}
	return runErr
}

// scriptConfig reads the script (a file, - for stdin, or an archive made by
// `tally archive`) and the option layers of the config file, the K6_*
// variables and the flags: the part of an engine.Config that run, archive
// and inspect share. flagEnv are the -e variables alone.
func scriptConfig(env *Env, fl *pflag.FlagSet, f *runFlags, environ map[string]string, path string,
	logger *slog.Logger) (cfg engine.Config, flagEnv map[string]string, err error) {
	source, err := readScript(env.Stdin, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return cfg, nil, exitcode.Errorf(exitcode.Other, "script %s does not exist", path)
		}
		if errors.Is(err, limits.ErrTooLarge) || errors.Is(err, limits.ErrNotText) {
			return cfg, nil, exitcode.With(exitcode.ScriptException, err)
		}
		return cfg, nil, exitcode.Errorf(exitcode.Other, "could not read the script %s: %v", path, err)
	}
	cfg.ScriptPath, cfg.Source = path, source

	scriptEnv := map[string]string{}
	if f.includeSystemEnv {
		for k, v := range environ {
			scriptEnv[k] = v
		}
	}
	if archive.IsArchive(source) {
		a, err := archive.Read(bytes.NewReader(source))
		if err != nil {
			return cfg, nil, exitcode.Errorf(exitcode.Other, "%s: %v", path, err)
		}
		cfg.ScriptPath, cfg.Source, cfg.ReadFile, cfg.ArchiveOptions = a.Entry, a.Files[a.Entry], a.ReadFile, &a.Options
		for k, v := range a.Env {
			scriptEnv[k] = v
		}
		logger.Debug(fmt.Sprintf("running %s from the archive %s (made by tally %s)", a.Entry, path, a.Version))
	}
	flagEnv = map[string]string{}
	for _, kv := range f.envs {
		k, v, _ := strings.Cut(kv, "=")
		if !envNameRE.MatchString(k) {
			return cfg, nil, exitcode.With(exitcode.Other, &usageError{fmt.Errorf("invalid -e %q: names must match %s", kv, envNameRE)})
		}
		scriptEnv[k], flagEnv[k] = v, v
	}
	cfg.Env = scriptEnv

	if cfg.CLI, err = cliOptions(fl, f); err != nil {
		return cfg, nil, err
	}
	cfg.EnvOptions, err = options.FromEnv(func(k string) (string, bool) { v, ok := environ[k]; return v, ok })
	if err != nil {
		return cfg, nil, exitcode.With(exitcode.InvalidConfig, err)
	}
	if f.configFile != "" {
		b, err := os.ReadFile(f.configFile)
		if err != nil {
			return cfg, nil, exitcode.Errorf(exitcode.Other, "could not read the config file: %v", err)
		}
		var warnings []string
		cfg.ConfigFile, warnings, err = options.Parse(b)
		for _, w := range warnings {
			logger.Warn(fmt.Sprintf("%s: %s", f.configFile, w))
		}
		if err != nil {
			return cfg, nil, exitcode.With(exitcode.InvalidConfig, fmt.Errorf("%s: %w", f.configFile, err))
		}
	}
	cfg.Logger, cfg.Verbose, cfg.Version = logger, f.verbose, version()
	return cfg, flagEnv, nil
}

// applyCommandEnv fills the run settings the user did not give as flags
// from k6's K6_* variables for them (K6_OUT, K6_SUMMARY_EXPORT, ...).
func applyCommandEnv(fl *pflag.FlagSet, f *runFlags, environ map[string]string) error {
	str := func(flag, name string, dst *string) {
		if v, ok := environ[name]; ok && !fl.Changed(flag) {
			*dst = v
		}
	}
	boolean := func(flag, name string, dst *bool) error {
		v, ok := environ[name]
		if !ok || fl.Changed(flag) {
			return nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s=%q is not a boolean (use true or false)", name, v)
		}
		*dst = b
		return nil
	}
	if v, ok := environ["K6_OUT"]; ok && !fl.Changed("out") {
		f.outs = splitCSV(v)
	}
	str("summary-export", "K6_SUMMARY_EXPORT", &f.summaryExport)
	str("summary-mode", "K6_SUMMARY_MODE", &f.summaryMode)
	str("config", "K6_CONFIG", &f.configFile)
	str("log-output", "K6_LOG_OUTPUT", &f.logOutput)
	str("log-format", "K6_LOG_FORMAT", &f.logFormat)
	for _, b := range []struct {
		flag, name string
		dst        *bool
	}{
		{"no-thresholds", "K6_NO_THRESHOLDS", &f.noThresholds},
		{"quiet", "K6_QUIET", &f.quiet},
		{"verbose", "K6_VERBOSE", &f.verbose},
		{"include-system-env-vars", "K6_INCLUDE_SYSTEM_ENV_VARS", &f.includeSystemEnv},
		{"no-color", "K6_NO_COLOR", &f.noColor},
	} {
		if err := boolean(b.flag, b.name, b.dst); err != nil {
			return err
		}
	}
	return nil
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// cliOptions builds the options layer of the flags the user set.
func cliOptions(fl *pflag.FlagSet, f *runFlags) (options.Options, error) {
	var o options.Options
	// One step per kind of flag, in the order their errors are reported.
	for _, set := range []func(*pflag.FlagSet, *runFlags, *options.Options) error{
		loadShapeFlags, tagAndSummaryFlags, segmentFlags, iterationFlags,
	} {
		if err := set(fl, f, &o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// invalidOption is the error of a flag whose value the option parser
// refuses, named by its option.
func invalidOption(option string, err error) error {
	return exitcode.With(exitcode.InvalidConfig, &options.InvalidError{Option: option, Err: err})
}

// loadShapeFlags sets the shortcut load shape: --vus, --iterations,
// --duration, --stage.
func loadShapeFlags(fl *pflag.FlagSet, f *runFlags, o *options.Options) error {
	if fl.Changed("vus") {
		o.VUs = &f.vus
	}
	if fl.Changed("iterations") {
		o.Iterations = &f.iterations
	}
	if fl.Changed("duration") {
		d, err := options.ParseDuration(f.duration)
		if err != nil {
			return invalidOption("duration", err)
		}
		dd := options.Duration(d)
		o.Duration = &dd
	}
	if fl.Changed("stage") {
		st, err := options.ParseStages(f.stages)
		if err != nil {
			return invalidOption("stages", err)
		}
		o.Stages = st
	}
	return nil
}

// tagAndSummaryFlags sets what labels samples and shapes the summary:
// --tag, --system-tags, --summary-trend-stats, --summary-time-unit.
func tagAndSummaryFlags(fl *pflag.FlagSet, f *runFlags, o *options.Options) error {
	if fl.Changed("tag") {
		o.Tags = map[string]string{}
		for _, kv := range f.tags {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("invalid --tag %q: use KEY=VALUE", kv)})
			}
			o.Tags[k] = v
		}
	}
	if fl.Changed("system-tags") {
		o.SystemTags = splitCSV(f.systemTags)
		if o.SystemTags == nil {
			o.SystemTags = []string{}
		}
	}
	if fl.Changed("summary-trend-stats") {
		o.SummaryTrendStats = splitCSV(f.summaryTrendStats)
	}
	if fl.Changed("summary-time-unit") {
		switch f.summaryTimeUnit {
		case "s", "ms", "us", "":
		default:
			return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("invalid --summary-time-unit %q: use s, ms or us", f.summaryTimeUnit)})
		}
		o.SummaryTimeUnit = &f.summaryTimeUnit
	}
	return nil
}

// segmentFlags sets this instance's share of a distributed run:
// --execution-segment, --execution-segment-sequence, and
// --execution-segment-index, which picks a segment of the sequence.
func segmentFlags(fl *pflag.FlagSet, f *runFlags, o *options.Options) error {
	if fl.Changed("execution-segment") {
		o.ExecutionSegment = &f.segment
	}
	if fl.Changed("execution-segment-sequence") {
		o.ExecutionSegmentSequence = &f.sequence
	}
	if fl.Changed("execution-segment-index") {
		seg, err := segmentByIndex(fl.Changed("execution-segment"), f.sequence, f.segmentIndex)
		if err != nil {
			return exitcode.With(exitcode.Other, &usageError{err})
		}
		o.ExecutionSegment = &seg
	}
	return nil
}

// iterationFlags sets how each iteration runs and talks HTTP: the
// lifecycle switches, --min-iteration-duration, and the HTTP client's
// settings.
func iterationFlags(fl *pflag.FlagSet, f *runFlags, o *options.Options) error {
	if fl.Changed("min-iteration-duration") {
		d, err := options.ParseDuration(f.minIterationDuration)
		if err != nil {
			return invalidOption("minIterationDuration", err)
		}
		dd := options.Duration(d)
		o.MinIterationDuration = &dd
	}
	setIfChanged(fl, "no-setup", &o.NoSetup, f.noSetup)
	setIfChanged(fl, "no-teardown", &o.NoTeardown, f.noTeardown)
	setIfChanged(fl, "throw", &o.Throw, f.throw)
	setIfChanged(fl, "discard-response-bodies", &o.DiscardResponseBodies, f.discardBodies)
	setIfChanged(fl, "no-connection-reuse", &o.NoConnectionReuse, f.noConnectionReuse)
	setIfChanged(fl, "no-vu-connection-reuse", &o.NoVUConnectionReuse, f.noVUConnectionReuse)
	setIfChanged(fl, "insecure-skip-tls-verify", &o.InsecureSkipTLSVerify, f.insecureSkipTLSVerify)
	setIfChanged(fl, "no-color", &o.NoColor, f.noColor)
	setIfChanged(fl, "max-redirects", &o.MaxRedirects, f.maxRedirects)
	setIfChanged(fl, "batch", &o.Batch, f.batch)
	setIfChanged(fl, "batch-per-host", &o.BatchPerHost, f.batchPerHost)
	setIfChanged(fl, "rps", &o.RPS, f.rps)
	if fl.Changed("user-agent") {
		o.UserAgent = &f.userAgent
	}
	if fl.Changed("http-debug") {
		o.HTTPDebug = &f.httpDebug
	}
	return nil
}

// setIfChanged points *dst at a copy of v when the user set the flag name:
// an option left nil is one the flags do not override.
func setIfChanged[T any](fl *pflag.FlagSet, name string, dst **T, v T) {
	if fl.Changed(name) {
		*dst = &v
	}
}

func splitCSV(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newLogger builds the run's logger from --log-output, --log-format and -v.
func newLogger(env *Env, stderr io.Writer, f *runFlags) (*slog.Logger, func(), error) {
	format, err := logging.ParseFormat(f.logFormat)
	if err != nil {
		return nil, nil, err
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	var w io.Writer
	closeFn := func() {}
	switch out := f.logOutput; {
	case out == "stderr" || out == "":
		w = stderr
	case out == "stdout":
		w = env.Stdout
	case out == "none":
		w = io.Discard
	case strings.HasPrefix(out, "file="):
		file, err := os.OpenFile(strings.TrimPrefix(out, "file="), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-output: %w", err)
		}
		w = file
		closeFn = func() { _ = file.Close() }
	default:
		return nil, nil, fmt.Errorf("invalid --log-output %q: use stderr, stdout, none or file=PATH", out)
	}
	return slog.New(logging.NewHandler(w, format, level)), closeFn, nil
}

// signalContext is cancelled by the first SIGINT/SIGTERM (the run stops
// gracefully: teardown and the summary still run); the second ends the
// process at once with exit code 105.
func signalContext(env *Env, logger *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	if env.Signals == nil {
		return ctx, cancel
	}
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-env.Signals:
			logger.Warn(fmt.Sprintf("received %v: stopping the test run gracefully (teardown and the summary still run); send it again to stop at once", sig))
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-env.Signals:
			logger.Error(fmt.Sprintf("received %v again: stopping at once", sig))
			exit := env.Exit
			if exit == nil {
				exit = os.Exit
			}
			exit(int(exitcode.ExternalAbort))
		case <-done:
		}
	}()
	return ctx, func() { close(done); cancel() }
}

// segmentByIndex returns the index-th segment of the sequence given with
// --execution-segment-sequence (--execution-segment-index).
func segmentByIndex(segmentGiven bool, sequence string, index int) (string, error) {
	if segmentGiven {
		return "", errors.New("give either --execution-segment or --execution-segment-index, not both")
	}
	seq, err := executor.ParseSequence(sequence)
	if err != nil || seq == nil {
		return "", fmt.Errorf("--execution-segment-index needs --execution-segment-sequence (e.g. 0,1/3,2/3,1): %v", err)
	}
	if index < 0 || index >= len(seq)-1 {
		return "", fmt.Errorf("--execution-segment-index %d is out of range: the sequence %s has %d segments (0 to %d)", index, sequence, len(seq)-1, len(seq)-2)
	}
	return executor.Segment{From: seq[index], To: seq[index+1]}.String(), nil
}

// readScript reads the script (path, or stdin for "-"). A script over
// limits.MaxScriptSize (an archive: limits.MaxOpenFileSize) is refused
// before it is read, a binary file after its first bytes.
func readScript(stdin io.Reader, path string) ([]byte, error) {
	name := path
	var r io.Reader = stdin
	size := int64(-1)
	if path == "-" {
		name = "the script read from stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		r = f
	}
	head := make([]byte, 8<<10)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = head[:n]
	limit := int64(limits.MaxScriptSize)
	if archive.IsArchive(head) {
		limit = limits.MaxOpenFileSize
	} else if err := limits.CheckSource(name, head); err != nil {
		return nil, err
	}
	if size > limit {
		return nil, limits.TooLarge(name, size, limit)
	}
	return limits.ReadAll(io.MultiReader(bytes.NewReader(head), r), name, limit)
}

// memoryGuard sets the Go memory limit (GOMEMLIMIT when set, else a share
// of the machine's or cgroup's memory) and returns a context cancelled,
// with an error carrying exit code 103, when the live heap nears it: the
// run then stops as on SIGINT (teardown and the summary still run) instead
// of dying in Go's "fatal error: out of memory".
func memoryGuard(parent context.Context, environ map[string]string, logger *slog.Logger) (context.Context, func()) {
	limit, source := limits.SetMemoryLimit(func(k string) string { return environ[k] })
	if limit > 0 {
		logger.Debug(fmt.Sprintf("memory limit %d bytes (%s)", limit, source))
	}
	ctx, cancel := context.WithCancelCause(parent)
	go limits.Guard(ctx, limit, source, 100*time.Millisecond, func(err error) {
		logger.Error(err.Error())
		cancel(exitcode.With(exitcode.OutOfMemory, err))
	})
	return ctx, func() { cancel(nil) }
}
