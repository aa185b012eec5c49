// Package js runs k6-dialect scripts on sobek: it compiles the entry script
// and its imports once, gives every VU its own runtime that instantiates
// them, provides the init-context globals (open, __ENV, __VU, console) and
// the built-in k6 modules, and runs the lifecycle functions.
package js

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/js/modules/k6"
	"github.com/tallyhq/tally/internal/js/modules/k6crypto"
	"github.com/tallyhq/tally/internal/js/modules/k6data"
	"github.com/tallyhq/tally/internal/js/modules/k6encoding"
	"github.com/tallyhq/tally/internal/js/modules/k6execution"
	"github.com/tallyhq/tally/internal/js/modules/k6html"
	"github.com/tallyhq/tally/internal/js/modules/k6http"
	"github.com/tallyhq/tally/internal/js/modules/k6metrics"
	"github.com/tallyhq/tally/internal/limits"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// Config configures a Runner.
type Config struct {
	// Path is the entry script's path ("-" for stdin); Source its text.
	Path   string
	Source []byte
	// Env is the base of __ENV: the system environment and -e values.
	Env map[string]string
	// Registry is the run's metric registry; Builtin its built-in metrics.
	Registry *metrics.Registry
	Builtin  *metrics.Builtin
	// Root is the run's group tree.
	Root *groups.Group
	// Logger receives console output and iteration errors.
	Logger *slog.Logger
	// Debug enables console.debug.
	Debug bool
	// ReadFile reads files for imports and open(); nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
}

// RunConfig holds what VUs need to run code outside the init context; the
// engine provides it once the options are consolidated.
type RunConfig struct {
	Options    *options.Options
	SystemTags metrics.SystemTagSet
	RunTags    *metrics.TagSet
	Samples    metrics.Pusher
	Controller k6execution.Controller
}

// Runner is a compiled script plus the state its VUs share during one run.
type Runner struct {
	cfg      Config
	path     string // absolute path of the entry script
	dir      string // directory relative paths are resolved against
	url      string
	builtins map[string]func() modules.Module

	modMu   sync.Mutex
	records map[string]sobek.ModuleRecord
	urls    map[sobek.ModuleRecord]string
	main    *sobek.SourceTextModuleRecord
	plain   *plainScript // the entry script as a function, nil if it is evaluated as a module
	// parsed are the syntax trees of the ES modules, kept while the entry
	// script is compiled (for the plain form).
	parsed      map[*sobek.SourceTextModuleRecord]parsedModule
	linkOnce    sync.Once
	linkErr     error
	linkingVU   *VU
	exportNames []string
	// exportLocals are the entry script's exports whose local binding has
	// another name (see exportLocals), nil if none.
	exportLocals map[string]string

	cjsMu sync.Mutex
	cjs   map[string]*cjsProgram // compiled CommonJS files by path

	vus sync.Map // *sobek.Runtime -> *VU

	filesMu    sync.Mutex
	files      map[string][]byte // files read by open() in the first init pass
	firstDone  atomic.Bool
	iterErrors atomic.Int64

	run       atomic.Pointer[RunConfig]
	setupData atomic.Pointer[[]byte]
}

// New compiles the entry script and every module it imports. Syntax errors,
// missing files and unknown modules are reported here, with file:line:col.
func New(cfg Config) (*Runner, error) {
	if cfg.ReadFile == nil {
		cfg.ReadFile = func(path string) ([]byte, error) { return limits.ReadFile(path, limits.MaxOpenFileSize) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg:     cfg,
		records: map[string]sobek.ModuleRecord{},
		urls:    map[sobek.ModuleRecord]string{},
		cjs:     map[string]*cjsProgram{},
		files:   map[string][]byte{},
	}
	if cfg.Path == "-" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		r.path, r.dir = filepath.Join(wd, "-"), wd
	} else {
		abs, err := filepath.Abs(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("script path %q: %w", cfg.Path, err)
		}
		r.path, r.dir = abs, filepath.Dir(abs)
	}
	r.url = fileURL(r.path)
	r.builtins = map[string]func() modules.Module{
		"k6":           func() modules.Module { return k6.New() },
		"k6/http":      k6http.New,
		"k6/metrics":   func() modules.Module { return k6metrics.New() },
		"k6/execution": func() modules.Module { return k6execution.New(r) },
		"k6/data":      func() modules.Module { return k6data.New() },
		"k6/encoding":  func() modules.Module { return k6encoding.New() },
		"k6/crypto":    func() modules.Module { return k6crypto.New() },
		"k6/timers":    func() modules.Module { return timersModule{} },
		"k6/html":      func() modules.Module { return k6html.New() },
	}
	r.modMu.Lock()
	defer r.modMu.Unlock()
	if err := limits.CheckSource(r.path, cfg.Source); err != nil {
		return nil, err
	}
	main, plain, err := r.parseMain(r.path, cfg.Source)
	if err != nil {
		return nil, err
	}
	r.main, r.plain = main, plain
	return r, nil
}

// Exports returns the names the entry script exports (after the first VU
// was initialized).
func (r *Runner) Exports() []string { return r.exportNames }

// Configure hands the run-phase configuration to the runner. It must be
// called before VUs run code outside the init context.
func (r *Runner) Configure(rc RunConfig) { r.run.Store(&rc) }

// SetSetupData stores setup()'s return value as JSON (nil for undefined).
func (r *Runner) SetSetupData(data []byte) { r.setupData.Store(&data) }

// SetupData returns setup()'s JSON-encoded return value, or nil.
func (r *Runner) SetupData() []byte {
	if p := r.setupData.Load(); p != nil {
		return *p
	}
	return nil
}

// IterationErrors returns how many iterations ended with an exception.
func (r *Runner) IterationErrors() int64 { return r.iterErrors.Load() }

// Abort implements k6execution.Controller by delegating to the engine.
func (r *Runner) Abort(reason string) {
	if rc := r.run.Load(); rc != nil && rc.Controller != nil {
		rc.Controller.Abort(reason)
	}
}

// Fail implements k6execution.Controller by delegating to the engine.
func (r *Runner) Fail(reason string) {
	if rc := r.run.Load(); rc != nil && rc.Controller != nil {
		rc.Controller.Fail(reason)
	}
}

// TestOptions implements k6execution.Controller by delegating to the engine.
func (r *Runner) TestOptions() map[string]any {
	if rc := r.run.Load(); rc != nil && rc.Controller != nil {
		return rc.Controller.TestOptions()
	}
	return nil
}

// Instance implements k6execution.Controller by delegating to the engine.
func (r *Runner) Instance() k6execution.InstanceInfo {
	if rc := r.run.Load(); rc != nil && rc.Controller != nil {
		return rc.Controller.Instance()
	}
	return k6execution.InstanceInfo{}
}

func (r *Runner) vuOf(rt *sobek.Runtime) *VU {
	if v, ok := r.vus.Load(rt); ok {
		return v.(*VU)
	}
	return nil
}

// readSource reads a module's source for an import or require(), refusing
// binary files and files over limits.MaxScriptSize.
func (r *Runner) readSource(path string) ([]byte, error) {
	b, err := r.readFile(path)
	if err != nil {
		return nil, err
	}
	if err := limits.CheckSource(path, b); err != nil {
		return nil, err
	}
	return b, nil
}

// readFile reads a file for an import.
func (r *Runner) readFile(path string) ([]byte, error) {
	b, err := r.cfg.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file %s does not exist", path)
	}
	return b, err
}

// openFile implements open(): the first init pass reads from disk, later
// passes only see what the first one read.
func (r *Runner) openFile(path string, first bool) ([]byte, error) {
	r.filesMu.Lock()
	defer r.filesMu.Unlock()
	if b, ok := r.files[path]; ok {
		return b, nil
	}
	if !first {
		return nil, fmt.Errorf("open(%q): files can only be opened when the init context first runs (at __VU == 0), not conditionally in later VUs", path)
	}
	b, err := r.readFile(path)
	if err != nil {
		return nil, err
	}
	r.files[path] = b
	return b, nil
}

// NewVU creates a VU and evaluates the script's init context in it.
// idInInstance 0 is used for the options pass, setup, teardown and
// handleSummary; the first VU created links the module graph.
func (r *Runner) NewVU(ctx context.Context, idInInstance, idInTest uint64) (*VU, error) {
	v := newVU(r, idInInstance, idInTest)
	if err := v.init(ctx); err != nil {
		v.Release()
		return nil, err
	}
	return v, nil
}

// Modules returns the per-run roots of the Go modules the script imports.
func (r *Runner) Modules() []modules.Module {
	r.modMu.Lock()
	defer r.modMu.Unlock()
	var out []modules.Module
	for _, rec := range r.records {
		if g, ok := rec.(*goModuleRecord); ok {
			out = append(out, g.root)
		}
	}
	return out
}
