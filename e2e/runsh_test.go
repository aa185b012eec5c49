package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/syncbuf"
)

// TestRunInterrupt: Ctrl-C on `make run` is a SIGINT to the whole process group. scripts/run.sh must let
// tally stop gracefully and finish its teardown against a live creditd (no connection refused, a decided
// verdict), stop creditd only afterwards, run no further scenario, and exit with tally's status (105).
func TestRunInterrupt(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "run.sh"))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "BIN="+bins, "SCENARIO=race normal", "PROFILE=smoke", "TALLY_FLAGS=--no-color",
		"CREDITD_FLAGS=--request-timeout 10s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a terminal's foreground job
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the load runs: setup has logged its line, and a few seconds have passed.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "race (smoke)") {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("race.js did not start within a minute:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(4 * time.Second)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if code != 105 {
		t.Fatalf("want run.sh to exit with tally's 105 (interrupted), got %d\n%s", code, tail(s, 60))
	}
	if strings.Contains(s, "connection refused") {
		t.Fatalf("creditd stopped before tally's teardown was done:\n%s", tail(s, 60))
	}
	if !strings.Contains(s, "ledger: PASS") {
		t.Fatalf("want a decided verdict (PASS) after the interrupt:\n%s", tail(s, 60))
	}
	if !strings.Contains(s, "race=105 normal=skipped") {
		t.Fatalf("want race interrupted and normal skipped:\n%s", tail(s, 60))
	}
	if strings.Contains(s, "creditd exited during the run") {
		t.Fatalf("creditd must be stopped by run.sh, not by the interrupt:\n%s", tail(s, 60))
	}
}
