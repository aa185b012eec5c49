package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/syncbuf"
)

// TestLedgerVerifyRefusesImpossibleJournals: `tally ledger verify` exits
// 255 naming the file and line for a journal no writer produces (before:
// a negative amount and a journal concatenated twice gave a verdict).
func TestLedgerVerifyRefusesImpossibleJournals(t *testing.T) {
	t.Parallel()
	hdr := `{"t":"hdr","v":1,"run":"r","inst":"i0","host":"","wall0":0,"epsMs":0,"low":50,"overdraft":false}` + "\n"
	one := hdr + `{"t":"open","a":"a","m":1,"bal":100}` + "\n" + `{"t":"beg","id":1,"a":"a","f":"x","amt":5,"m":2}` + "\n" +
		`{"t":"end","id":1,"o":"ok","bal":95,"m":3}` + "\n" + `{"t":"close","a":"a","m":4,"bal":95}` + "\n" + `{"t":"ftr","lines":4}` + "\n"
	tests := []struct{ name, body, want string }{
		{"negative amount", strings.Replace(one, `"amt":5`, `"amt":-5`, 1), "negative.ndjson line 3: beg line with amount -5"},
		{"concatenated twice", one + one, "twice.ndjson line 7: a second header after the footer (line 6)"},
	}
	dir := t.TempDir()
	write(t, dir, "good.ndjson", one)
	if r := tally(t, dir, "ledger", "verify", "good.ndjson"); r.code != 0 {
		t.Fatalf("the valid journal: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := map[string]string{"negative amount": "negative.ndjson", "concatenated twice": "twice.ndjson"}[tc.name]
			write(t, dir, name, tc.body)
			r := tally(t, dir, "ledger", "verify", name)
			if r.code != 255 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 255 and %q:\n%s%s", r.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}

// TestLedgerVerifyStopsOnSignal: SIGTERM while `tally ledger verify` is
// still reading its journal stops it at once with exit 105 and leaves no
// temporary file (before: it ignored the signal until loading was done).
// The journal comes through a named pipe the test keeps open, so the
// command is certainly still loading when the signal arrives.
func TestLedgerVerifyStopsOnSignal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "journal.ndjson")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cmd := exec.Command(binary, "ledger", "verify", "--temp-dir", tmp, fifo)
	var stdout, stderr syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var b strings.Builder
	b.WriteString(`{"t":"hdr","v":1,"run":"r","inst":"i0","host":"","wall0":0,"epsMs":0,"low":50,"overdraft":false}` + "\n")
	for i := 1; i <= 200_000; i++ {
		a := i % 100
		fmt.Fprintf(&b, `{"t":"beg","id":%d,"a":"a%d","f":"x","amt":1,"m":%d}`+"\n"+`{"t":"end","id":%d,"o":"ok","m":%d}`+"\n", i, a, 2*i, i, 2*i+1)
	}
	if _, err := w.WriteString(b.String()); err != nil { // the pipe stays open: reading never ends
		t.Fatal(err)
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != 105 || !strings.Contains(stderr.String(), "interrupted") {
			t.Fatalf("exit %d, want 105\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("stopped %s after the signal", el)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("tally ledger verify did not stop on SIGTERM\nstderr: %s", stderr.String())
	}
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 0 {
		t.Fatalf("temporary files left: %v %v", ents, err)
	}
}
