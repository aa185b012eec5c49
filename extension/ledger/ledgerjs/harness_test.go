package ledgerjs

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/js"
	"github.com/tallyhq/tally/internal/logging"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
)

// collector keeps every sample pushed.
type collector struct {
	mu      sync.Mutex
	samples metrics.Samples
}

func (c *collector) Push(s metrics.Samples) {
	c.mu.Lock()
	c.samples = append(c.samples, s...)
	c.mu.Unlock()
}

// sum adds the values of metric's samples whose tags contain want; n counts them.
func (c *collector) sum(metric string, want map[string]string) (total float64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub := metrics.NewTagSet(want)
	for _, s := range c.samples {
		if s.Metric.Name == metric && s.Tags.Contains(sub) {
			total += s.Value
			n++
		}
	}
	return total, n
}

// env is one script loaded by the real runtime, with k6/x/ledger linked in.
type env struct {
	t       testing.TB
	r       *js.Runner
	reg     *metrics.Registry
	samples *collector
	logs    *bytes.Buffer
	opts    options.Options
	sc      *executor.Scenario
}

// newEnv compiles script (as main.js in dir) with options opts.
func newEnv(t testing.TB, dir, script string, opts options.Options) (*env, error) {
	t.Helper()
	e := &env{t: t, reg: metrics.NewRegistry(), samples: &collector{}, logs: &bytes.Buffer{}, opts: opts}
	logger := slog.New(logging.NewHandler(&syncWriter{w: e.logs}, logging.Raw, slog.LevelDebug))
	r, err := js.New(js.Config{Path: filepath.Join(dir, "main.js"), Source: []byte(script),
		Registry: e.reg, Builtin: metrics.RegisterBuiltin(e.reg), Root: summary.NewRootGroup(), Logger: logger})
	if err != nil {
		return nil, err
	}
	e.r = r
	r.Configure(js.RunConfig{Options: &e.opts, SystemTags: metrics.DefaultSystemTags,
		RunTags: metrics.NewTagSet(map[string]string{"testid": "t1"}), Samples: e.samples})
	e.sc = &executor.Scenario{Name: "s", Executor: "shared-iterations", Exec: "default",
		Tags: metrics.NewTagSet(map[string]string{"scenario": "s"})}
	return e, nil
}

func mustEnv(t testing.TB, script string) *env {
	t.Helper()
	e, err := newEnv(t, t.TempDir(), script, options.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return e
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (e *env) vu(id uint64) *js.VU {
	e.t.Helper()
	v, err := e.r.NewVU(context.Background(), id, id)
	if err != nil {
		e.t.Fatalf("VU %d: %v", id, err)
	}
	return v
}

func (e *env) setup() *js.VU {
	e.t.Helper()
	v := e.vu(0)
	if err := v.RunSetup(context.Background()); err != nil {
		e.t.Fatalf("setup: %v", err)
	}
	return v
}

func (e *env) iterate(v *js.VU, n int) {
	e.t.Helper()
	for k := 0; k < n; k++ {
		if !v.RunIteration(context.Background(), &executor.Iteration{Scenario: e.sc, InInstance: uint64(k), InTest: uint64(k)}) {
			e.t.Fatalf("iteration %d was interrupted", k)
		}
	}
}

func (e *env) teardown() *js.VU {
	e.t.Helper()
	v := e.vu(0)
	if err := v.RunTeardown(context.Background()); err != nil {
		e.t.Fatalf("teardown: %v\nlogs: %s", err, e.logs)
	}
	return v
}

// root returns the run's k6/x/ledger root module.
func (e *env) root() *RootModule {
	e.t.Helper()
	for _, m := range e.r.Modules() {
		if r, ok := m.(*RootModule); ok {
			return r
		}
	}
	e.t.Fatal("k6/x/ledger was not instantiated")
	return nil
}

// out returns a global of v's runtime, exported to Go.
func out(v *js.VU, name string) any {
	val := v.Runtime().Get(name)
	if val == nil || sobek.IsUndefined(val) {
		return nil
	}
	return val.Export()
}
