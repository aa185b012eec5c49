package js

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/js/modules/k6execution"
	"github.com/tallyhq/tally/internal/logging"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/metrics"
)

// collector is a metrics.Pusher that keeps every sample.
type collector struct {
	mu      sync.Mutex
	samples metrics.Samples
}

func (c *collector) Push(s metrics.Samples) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples = append(c.samples, s...)
}

// sum adds the values of metric's samples whose tags contain want.
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

func (c *collector) find(metric string) []metrics.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []metrics.Sample
	for _, s := range c.samples {
		if s.Metric.Name == metric {
			out = append(out, s)
		}
	}
	return out
}

// controller is a fake k6execution.Controller.
type controller struct {
	mu      sync.Mutex
	aborted []string
	failed  []string
}

func (c *controller) Abort(r string) { c.mu.Lock(); c.aborted = append(c.aborted, r); c.mu.Unlock() }
func (c *controller) Fail(r string)  { c.mu.Lock(); c.failed = append(c.failed, r); c.mu.Unlock() }
func (c *controller) TestOptions() map[string]any {
	return map[string]any{"vus": nil, "scenarios": map[string]any{"default": map[string]any{"executor": "shared-iterations"}}}
}
func (c *controller) Instance() k6execution.InstanceInfo {
	return k6execution.InstanceInfo{IterationsCompleted: 7, VUsActive: 2, VUsInitialized: 3}
}

// env is one test's runtime: a runner over in-memory files.
type env struct {
	t       *testing.T
	r       *Runner
	reg     *metrics.Registry
	root    *summary.Group
	samples *collector
	ctl     *controller
	logs    *bytes.Buffer
	opts    options.Options
}

const scriptDir = "/scripts"

// newEnv compiles files["main.js"] (other entries are importable/openable
// files relative to scriptDir).
func newEnv(t *testing.T, files map[string]string, envVars map[string]string) (*env, error) {
	t.Helper()
	e := &env{t: t, reg: metrics.NewRegistry(), root: summary.NewRootGroup(), samples: &collector{},
		ctl: &controller{}, logs: &bytes.Buffer{}}
	read := func(path string) ([]byte, error) {
		rel, err := filepath.Rel(scriptDir, path)
		if err != nil {
			return nil, err
		}
		if s, ok := files[filepath.ToSlash(rel)]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("open %s: %w", path, fs.ErrNotExist)
	}
	logger := slog.New(logging.NewHandler(e.logs, logging.Raw, slog.LevelDebug))
	r, err := New(Config{Path: scriptDir + "/main.js", Source: []byte(files["main.js"]), Env: envVars,
		Registry: e.reg, Builtin: metrics.RegisterBuiltin(e.reg), Root: e.root, Logger: logger,
		Debug: true, ReadFile: read})
	if err != nil {
		return nil, err
	}
	e.r = r
	r.Configure(RunConfig{Options: &e.opts, SystemTags: metrics.DefaultSystemTags,
		RunTags: metrics.NewTagSet(map[string]string{"run": "t"}), Samples: e.samples, Controller: e.ctl})
	return e, nil
}

func mustEnv(t *testing.T, files map[string]string) *env {
	t.Helper()
	e, err := newEnv(t, files, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return e
}

func (e *env) vu(id uint64) *VU {
	e.t.Helper()
	v, err := e.r.NewVU(context.Background(), id, id)
	if err != nil {
		e.t.Fatalf("VU %d: %v", id, err)
	}
	return v
}

// scenario returns a scenario running exec.
func scenario(name, exec string) *executor.Scenario {
	return &executor.Scenario{Name: name, Executor: "shared-iterations", Exec: exec,
		Tags: metrics.NewTagSet(map[string]string{"scenario": name})}
}

// iterate runs n iterations of sc on v and fails the test when one is
// interrupted.
func (e *env) iterate(v *VU, sc *executor.Scenario, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		if !v.RunIteration(context.Background(), &executor.Iteration{Scenario: sc, InInstance: uint64(i), InTest: uint64(i)}) {
			e.t.Fatalf("iteration %d was interrupted", i)
		}
	}
}
