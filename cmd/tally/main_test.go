package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/syncbuf"
)

var binary string

// TestMain builds the tally binary once; the tests run it as users do.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tally-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tally")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type run struct {
	code           int
	stdout, stderr string
}

func tally(t *testing.T, dir string, args ...string) run {
	t.Helper()
	return tallyIn(t, dir, "", args...)
}

func tallyIn(t *testing.T, dir, stdin string, args ...string) run {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return run{code, stdout.String(), stderr.String()}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := write(t, dir, "ok.js", "export default function () {}\n")
	bigSetupTimeout := write(t, dir, "setup-timeout.js", "export const options = { setupTimeout: 10000000000000 };\nexport function setup() {}\nexport default function () {}\n")
	infSetupTimeout := write(t, dir, "setup-timeout-inf.js", "export const options = { setupTimeout: 'Inf' };\nexport function setup() {}\nexport default function () {}\n")
	trailing := write(t, dir, "trailing.json", "{\"vus\": 1}\n}garbage\n")
	truncated := write(t, dir, "truncated.json", "{\"vus\": 1,\n \"iterations\": ")
	tests := []struct {
		name  string
		args  []string
		code  int
		out   string // substring of stdout+stderr
		stdin string
	}{
		{"help", []string{"help"}, 0, "tally run", ""},
		{"run help", []string{"run", "--help"}, 0, "--execution-segment", ""},
		{"unknown flag", []string{"run", "--nope", ok}, 255, "unknown flag", ""},
		{"missing script", []string{"run", filepath.Join(dir, "none.js")}, 255, "does not exist", ""},
		{"no script", []string{"run"}, 255, "exactly one script", ""},
		{"bad env name", []string{"run", "-e", "1X=2", ok}, 255, "invalid -e", ""},
		{"removed --no-summary", []string{"run", "--no-summary", ok}, 255, "--summary-mode=disabled", ""},
		{"bad summary mode", []string{"run", "--summary-mode", "loud", ok}, 255, "loud", ""},
		{"bad trend stat", []string{"run", "--summary-trend-stats", "avg,p(101)", ok}, 255, "p(101)", ""},
		{"bad segment", []string{"run", "--execution-segment", "2:1", ok}, 255, "segment", ""},
		{"bad duration flag", []string{"run", "--duration", "soon", ok}, 104, "duration", ""},
		{"duration flag out of range", []string{"run", "--duration", "213504d", ok}, 104, `invalid duration "213504d": out of range`, ""},
		{"setupTimeout out of range", []string{"run", "-q", bigSetupTimeout}, 104, `invalid option "setupTimeout": invalid duration "10000000000000": out of range`, ""},
		{"setupTimeout infinite", []string{"run", "-q", infSetupTimeout}, 104, `invalid duration "Inf"`, ""},
		{"config trailing data", []string{"run", "-q", "--config", trailing, ok}, 104, "trailing.json: line 2, column 1: unexpected data after the JSON object", ""},
		{"config truncated", []string{"run", "-q", "--config", truncated, ok}, 104, "truncated.json: line 2, column 15: unexpected end of JSON input", ""},
		{"bad output", []string{"run", "--out", "influxdb=x", ok}, 255, "influxdb", ""},
		{"ok run", []string{"run", "-q", ok}, 0, "iterations", ""},
		{"banner", []string{"run", ok}, 0, "scenarios: (100.00%) 1 scenario, 1 max VU, 10m30s max duration (incl. graceful stop):\n              * default: 1 iteration for each of 1 VU (maxDuration: 10m0s, gracefulStop: 30s)", ""},
		{"version", []string{"version"}, 0, "(revision ", ""},
		{"stdin script", []string{"run", "-q", "-"}, 0, "iterations", "export default function () {}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tallyIn(t, dir, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tc.out) {
				t.Errorf("%q not in output:\n%s%s", tc.out, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
				t.Errorf("Go panic leaked:\n%s", r.stderr)
			}
		})
	}
}

func TestHTTPScriptEndToEnd(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	script := write(t, dir, "http.js", `
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 3, iterations: 30, thresholds: { http_req_failed: ['rate<0.5'], checks: ['rate==1'] } };
export default function () {
  const res = http.get(__ENV.BASE + (__ITER % 10 === 9 ? '/fail' : '/ok'));
  check(res, { 'body is json': (r) => r.json('ok') === true });
}`)
	r := tally(t, dir, "run", "--no-color", "-e", "BASE="+srv.URL, "--summary-export", "export.json", "--out", "json=points.json.gz", script)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"THRESHOLDS", "http_req_failed", "✓ body is json", "http_reqs"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, f := range []string{"export.json", "points.json.gz"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := write(t, dir, "long.js", `
import { sleep } from 'k6';
export const options = { vus: 2, duration: '2m' };
export default function () { sleep(0.1); }
export function teardown() { console.log('TEARDOWN-RAN'); }
export function handleSummary(data) { return { stdout: 'SUMMARY-WRITTEN\n' }; }`)
	slowTeardown := write(t, dir, "slow.js", `
import { sleep } from 'k6';
export const options = { vus: 1, duration: '2m' };
export default function () { sleep(0.1); }
export function teardown() { console.log('TEARDOWN-START'); for (;;) {} }`)

	t.Run("first signal stops gracefully", func(t *testing.T) {
		t.Parallel()
		r := signalRun(t, dir, script, 1)
		if r.code != 105 || !strings.Contains(r.stderr, "TEARDOWN-RAN") || !strings.Contains(r.stdout, "SUMMARY-WRITTEN") {
			t.Errorf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("second signal stops at once", func(t *testing.T) {
		t.Parallel()
		r := signalRun(t, dir, slowTeardown, 2)
		if r.code != 105 || !strings.Contains(r.stderr, "again") {
			t.Errorf("exit %d\nstderr %s", r.code, r.stderr)
		}
	})
}

// signalRun starts the script, waits until it runs, sends n SIGINTs (the
// second once teardown started) and waits for the exit.
func signalRun(t *testing.T, dir, script string, n int) run {
	t.Helper()
	cmd := exec.Command(binary, "run", "-q", script)
	cmd.Dir = dir
	var stdout, stderr syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	if n > 1 {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), "TEARDOWN-START") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
	}
	select {
	case err := <-done:
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return run{code, stdout.String(), stderr.String()}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("tally did not stop\nstderr: %s", stderr.String())
	}
	return run{}
}
