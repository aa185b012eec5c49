package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/logging"
	"github.com/tallyhq/tally/internal/options"
)

type result struct {
	code           exitcode.Code
	err            error
	stdout, stderr string
	dir            string
}

// runScript runs script (written to a temp dir, which is also where
// relative output files go) through Run.
func runScript(t *testing.T, ctx context.Context, script string, cli options.Options, mutate ...func(*Config)) result {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "script.js")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cfg := Config{
		ScriptPath: path, Source: []byte(script), Env: map[string]string{"OUT_DIR": dir},
		CLI: cli, Stdout: &stdout, Stderr: &stderr, Quiet: true, NoColor: true,
		Logger: slog.New(logging.NewHandler(&stderr, logging.Text, slog.LevelInfo)),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	err := Run(ctx, cfg)
	return result{code: exitcode.Of(err), err: err, stdout: stdout.String(), stderr: stderr.String(), dir: dir}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		code   exitcode.Code
		msg    string // substring of the error or stderr
	}{
		{"success", "export default function () {}", exitcode.OK, ""},
		{"thresholds failed", `import { Counter } from 'k6/metrics';
const c = new Counter('bad_things');
export const options = { iterations: 2, thresholds: { bad_things: ['count==0'] } };
export default function () { c.add(1); }`, exitcode.ThresholdsFailed, "bad_things"},
		{"invalid option type", "export const options = { vus: 'many' };\nexport default function () {}", exitcode.InvalidConfig, `"vus"`},
		{"invalid scenario", "export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1 } } };\nexport default function () {}", exitcode.InvalidConfig, "duration"},
		{"unknown executor", "export const options = { scenarios: { s: { executor: 'nope' } } };\nexport default function () {}", exitcode.InvalidConfig, "nope"},
		{"exec not exported", "export const options = { scenarios: { s: { executor: 'shared-iterations', exec: 'missing' } } };\nexport default function () {}", exitcode.InvalidConfig, "missing"},
		{"bad threshold", "export const options = { thresholds: { iterations: ['count >>> 1'] } };\nexport default function () {}", exitcode.InvalidConfig, "count >>> 1"},
		{"threshold on unknown metric", "export const options = { thresholds: { nope_metric: ['count<1'] } };\nexport default function () {}", exitcode.InvalidConfig, "nope_metric"},
		{"shortcut conflict", "export const options = { iterations: 2, stages: [{ duration: '1s', target: 1 }] };\nexport default function () {}", exitcode.InvalidConfig, "stages"},
		{"syntax error", "export default function () { let x = ; }", exitcode.ScriptException, "script.js"},
		{"init exception", "throw new Error('init boom');\nexport default function () {}", exitcode.ScriptException, "init boom"},
		{"setup exception", "export function setup() { throw new Error('setup boom'); }\nexport default function () {}", exitcode.ScriptException, "setup boom"},
		{"teardown exception", "export default function () {}\nexport function teardown() { throw new Error('teardown boom'); }", exitcode.ScriptException, "teardown boom"},
		{"abort in an iteration", "import exec from 'k6/execution';\nexport default function () { exec.test.abort('had enough'); }", exitcode.ScriptAborted, "had enough"},
		{"abort in setup", "import exec from 'k6/execution';\nexport function setup() { exec.test.abort('early'); }\nexport default function () {}", exitcode.ScriptAborted, "early"},
		{"abort in init", "import exec from 'k6/execution';\nexec.test.abort('very early');\nexport default function () {}", exitcode.ScriptAborted, "very early"},
		{"test.fail", "import exec from 'k6/execution';\nexport default function () { exec.test.fail('not good'); }", exitcode.MarkedAsFailed, "not good"},
		{"no exported function", "export const options = {};", exitcode.Other, "exports no function"},
		{"setup data with a function", "export function setup() { return { f() {} }; }\nexport default function () {}", exitcode.Other, "serialised"},
		{"setup timeout", "import { sleep } from 'k6';\nexport const options = { setupTimeout: '200ms' };\nexport function setup() { sleep(5); }\nexport default function () {}", exitcode.SetupTimeout, "setup"},
		{"teardown timeout", "import { sleep } from 'k6';\nexport const options = { teardownTimeout: '200ms' };\nexport default function () {}\nexport function teardown() { sleep(5); }", exitcode.TeardownTimeout, "teardown"},
		{"iteration exception only logs", "export default function () { throw new Error('iteration boom'); }", exitcode.OK, "iteration boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runScript(t, context.Background(), tc.script, options.Options{})
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d (err: %v)\nstderr: %s", r.code, tc.code, r.err, r.stderr)
			}
			text := r.stderr
			if r.err != nil {
				text += r.err.Error()
			}
			if !strings.Contains(text, tc.msg) {
				t.Errorf("message %q not found in:\n%s", tc.msg, text)
			}
		})
	}
}

func TestHandleSummaryOutputs(t *testing.T) {
	t.Parallel()
	r := runScript(t, context.Background(), `
import { check } from 'k6';
export const options = { iterations: 3 };
export function setup() { return { token: 'abc' }; }
export default function () { check(1, { one: (v) => v === 1 }); }
export function handleSummary(data) {
  return {
    stdout: 'STDOUT-MARK ' + data.metrics.iterations.values.count + '\n',
    [__ENV.OUT_DIR + '/summary.json']: JSON.stringify(data),
  };
}`, options.Options{}, func(c *Config) { c.SummaryExport = "" })
	if r.code != 0 {
		t.Fatalf("exit %d: %v %s", r.code, r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, "STDOUT-MARK 3") {
		t.Errorf("stdout = %q", r.stdout)
	}
	b, err := os.ReadFile(filepath.Join(r.dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		RootGroup struct {
			Checks []struct {
				Path   string `json:"path"`
				Passes int    `json:"passes"`
			} `json:"checks"`
		} `json:"root_group"`
		SetupData map[string]string `json:"setup_data"`
		State     struct {
			TestRunDurationMs float64 `json:"testRunDurationMs"`
		} `json:"state"`
		Options struct {
			SummaryTrendStats []string `json:"summaryTrendStats"`
		} `json:"options"`
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.RootGroup.Checks) != 1 || data.RootGroup.Checks[0].Path != "::one" || data.RootGroup.Checks[0].Passes != 3 {
		t.Errorf("checks = %+v", data.RootGroup.Checks)
	}
	if data.SetupData["token"] != "abc" || data.State.TestRunDurationMs <= 0 || len(data.Options.SummaryTrendStats) != 6 {
		t.Errorf("data = %+v", data)
	}
}

func TestTextSummaryWhenHandleSummaryThrows(t *testing.T) {
	t.Parallel()
	r := runScript(t, context.Background(), `
export default function () {}
export function handleSummary() { throw new Error('summary boom'); }`, options.Options{})
	if r.code != 0 {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	if !strings.Contains(r.stderr, "summary boom") || !strings.Contains(r.stdout, "iterations") {
		t.Errorf("stderr %q stdout %q", r.stderr, r.stdout)
	}
}

func TestSummaryExportAndModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	export := filepath.Join(dir, "export.json")
	r := runScript(t, context.Background(), "export const options = { iterations: 2 };\nexport default function () {}",
		options.Options{}, func(c *Config) { c.SummaryExport = export; c.SummaryMode = "disabled" })
	if r.code != 0 {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	if r.stdout != "" {
		t.Errorf("disabled summary printed %q", r.stdout)
	}
	b, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &exp); err != nil || exp.Metrics["iterations"]["count"] != 2.0 {
		t.Errorf("export = %s (%v)", b, err)
	}
}

func TestCLILayerOverridesScript(t *testing.T) {
	t.Parallel()
	iters := int64(4)
	vus := int64(2)
	r := runScript(t, context.Background(), `
import exec from 'k6/execution';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 1, iterations: 50 } } };
export default function () {}
export function handleSummary(data) { return { stdout: String(data.metrics.iterations.values.count) + ' ' + (data.metrics.vus_max ? data.metrics.vus_max.values.max : '-') }; }`,
		options.Options{Iterations: &iters, VUs: &vus})
	if r.code != 0 || strings.Fields(r.stdout)[0] != "4" {
		t.Errorf("exit %d stdout %q err %v", r.code, r.stdout, r.err)
	}
}

func TestInterruptRunsTeardownAndSummary(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(500 * time.Millisecond); cancel() }()
	start := time.Now()
	r := runScript(t, ctx, `
import { sleep } from 'k6';
export const options = { vus: 2, duration: '1m' };
export default function () { sleep(0.05); }
export function teardown() { console.log('TEARDOWN-RAN'); }
export function handleSummary(data) { return { stdout: 'SUMMARY ' + (data.metrics.iterations.values.count > 0) }; }`, options.Options{})
	if r.code != exitcode.ExternalAbort {
		t.Errorf("exit %d, want 105: %v", r.code, r.err)
	}
	if !strings.Contains(r.stderr, "TEARDOWN-RAN") || !strings.Contains(r.stdout, "SUMMARY true") {
		t.Errorf("teardown/summary missing: stderr %q stdout %q", r.stderr, r.stdout)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stopping took %s", d)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "out.txt")
	if err := WriteFileAtomic(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("a missing parent directory must be an error")
	}
}

// TestOutputPathsCheckedFirst: a --summary-export or --out file whose directory is missing (or that is a
// directory) fails before setup runs, with exit 255 and a message naming the path.
func TestOutputPathsCheckedFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := "export function setup() { console.log('setup ran'); }\nexport default function () {}"
	cases := []struct {
		name   string
		mutate func(*Config)
		msg    string
	}{
		{"summary export dir missing", func(c *Config) { c.SummaryExport = filepath.Join(dir, "nope", "s.json") }, "does not exist"},
		{"summary export is a dir", func(c *Config) { c.SummaryExport = dir }, "is a directory"},
		{"out json dir missing", func(c *Config) { c.Outputs = []string{"json=" + filepath.Join(dir, "nope", "o.json")} }, "--out json="},
		{"out csv dir missing", func(c *Config) { c.Outputs = []string{"csv=" + filepath.Join(dir, "nope", "o.csv")} }, "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runScript(t, context.Background(), script, options.Options{}, tc.mutate)
			if r.code != exitcode.Other || r.err == nil || !strings.Contains(r.err.Error(), tc.msg) {
				t.Fatalf("want exit %d with %q, got %d: %v", exitcode.Other, tc.msg, r.code, r.err)
			}
			if strings.Contains(r.stderr, "setup ran") {
				t.Fatalf("the test ran before the output path was checked:\n%s", r.stderr)
			}
		})
	}
}
