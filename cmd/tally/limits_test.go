package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/syncbuf"
)

// TestLimits: what a runaway or careless script meets instead of a hang, a
// Go crash or gigabytes of memory (all failed before: unbounded recursion
// grew memory without a RangeError, a 22 MB binary took 13 s and 1.2 GB to
// refuse).
func TestLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "rec-init.js", "function f(n) { return f(n + 1) + 1; }\nf(0);\nexport default function () {}\n")
	write(t, dir, "rec-iter.js", "export const options = { iterations: 2 };\nfunction f(n) { return f(n + 1) + 1; }\nexport default function () { f(0); }\n")
	bin := append([]byte("\x7fELF\x02\x01\x01\x00"), bytes.Repeat([]byte{0, 1, 2, 3}, 6<<20)...)
	write(t, dir, "binary.js", string(bin))
	write(t, dir, "big.js", "export default function () {}\n"+strings.Repeat(" ", 17<<20))
	huge := filepath.Join(dir, "huge.csv")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 600<<20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	write(t, dir, "open-huge.js", "const data = open('./huge.csv');\nexport default function () {}\n")
	tests := []struct {
		name   string
		script string
		code   int
		want   []string
	}{
		{"recursion in init", "rec-init.js", 107, []string{"RangeError: Maximum call stack size exceeded", "rec-init.js:1:", "repeated"}},
		{"recursion in an iteration", "rec-iter.js", 0, []string{"RangeError: Maximum call stack size exceeded", "2 iteration(s) ended with an uncaught exception"}},
		{"binary script", "binary.js", 107, []string{"binary.js is a binary file, not a JavaScript script"}},
		{"script over the limit", "big.js", 107, []string{"big.js is 17.0 MiB, over tally's limit of 16.0 MiB"}},
		{"opened file over the limit", "open-huge.js", 107, []string{"huge.csv is 600.0 MiB, over tally's limit of 512.0 MiB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := tally(t, dir, "run", "-q", tc.script)
			out := r.stdout + r.stderr
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, tail(out))
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%q not in output:\n%s", w, tail(out))
				}
			}
			if strings.Contains(out, "goroutine ") {
				t.Errorf("Go crash:\n%s", tail(out))
			}
			t.Logf("%s in %s", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// TestSignalInterruptsInit: SIGINT stops an init context that never ends,
// with exit code 105 (before: it hung, and a signal gave 107 "context
// cancelled").
func TestSignalInterruptsInit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "loop.js", "console.log('looping'); for (;;) {}\nexport default function () {}\n")
	cmd := exec.Command(binary, "run", "-q", "loop.js")
	cmd.Dir = dir
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Signal only once the loop has begun (the console line is printed just
	// before it): a fixed sleep could land before the handler is installed
	// on a busy machine.
	for wait := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "looping"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			_ = cmd.Process.Kill()
			t.Fatalf("init never started its loop:\n%s", out.String())
		}
	}
	time.Sleep(100 * time.Millisecond) // well inside the loop
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("init was not interrupted:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 105 || !strings.Contains(out.String(), "interrupted while initializing VUs") {
		t.Errorf("exit %d, want 105:\n%s", code, out.String())
	}
}

// TestMemoryGuard: a script that keeps allocating is stopped with a clear
// "out of memory" and exit code 103, and the summary is still written
// (before: Go's "fatal error: out of memory" and a stack trace). An
// explicit GOMEMLIMIT is honoured.
func TestMemoryGuard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "grow.js", `export const options = { vus: 1, duration: '60s' };
const keep = [];
export default function () { keep.push('x'.repeat(1 << 20) + keep.length); }
`)
	cmd := exec.Command(binary, "run", "--summary-export", "summary.json", "grow.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=120MiB")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	out := stdout.String() + stderr.String()
	if code := cmd.ProcessState.ExitCode(); code != 103 {
		t.Errorf("exit %d, want 103:\n%s", code, tail(out))
	}
	for _, w := range []string{"out of memory: the script's live heap reached", "GOMEMLIMIT=120MiB", "iterations"} {
		if !strings.Contains(out, w) {
			t.Errorf("%q not in output:\n%s", w, tail(out))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err != nil {
		t.Errorf("no summary export: %v", err)
	}
}
