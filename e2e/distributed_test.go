package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the first fenced code block after the README heading.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q", heading)
	}
	s = s[i:]
	start := strings.Index(s, "\n```\n")
	end := strings.Index(s[start+5:], "\n```\n")
	if start < 0 || end < 0 {
		t.Fatalf("no code block under %q", heading)
	}
	return s[start+5 : start+5+end+1]
}

// TestDistributedReadme runs the README's "Distributed runs" block as written: creditd, three tally
// instances on the segments of 0,1/3,2/3,1 with one RUN_ID, then `tally ledger verify` of their journals,
// which must pass and report the three segments complete. With SHARED_ACCOUNTS=1 the three instances race
// on the same accounts, and the merged verdict decides across them.
func TestDistributedReadme(t *testing.T) {
	skipShort(t)
	for _, shared := range []bool{false, true} {
		name := "own-accounts"
		if shared {
			name = "shared-accounts"
		}
		t.Run(name, func(t *testing.T) { distributedReadme(t, shared) })
	}
}

func distributedReadme(t *testing.T, shared bool) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the README block uses curl")
	}
	block := readmeBlock(t, "## Distributed runs")
	dir := t.TempDir()
	for _, name := range []string{"scripts", "thresholds"} {
		if err := os.Symlink(filepath.Join(root, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(bins, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", block)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "PROFILE=smoke")
	if shared {
		cmd.Env = append(cmd.Env, "SHARED_ACCOUNTS=1")
	}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	s := string(out)
	if err != nil || !strings.Contains(s, "ledger: PASS") {
		var runs strings.Builder
		ms, _ := filepath.Glob(filepath.Join(dir, "race-*.txt"))
		for _, m := range ms {
			b, _ := os.ReadFile(m)
			runs.WriteString(tail(string(b), 30))
		}
		t.Fatalf("the README block failed (%v):\n%s\ninstances:\n%s", err, s, runs.String())
	}
	if !strings.Contains(s, "segments      3 journals (0:1/3, 1/3:2/3, 2/3:1) of sequence 0,1/3,2/3,1: complete") {
		t.Fatalf("the merged verdict does not report the three segments complete:\n%s", s)
	}
	t.Logf("merged verdict:\n%s", s)
	journals, _ := filepath.Glob(filepath.Join(dir, "journal-*.ndjson"))
	if len(journals) != 3 {
		t.Fatalf("want 3 journals, got %v", journals)
	}
	if shared {
		out, err := exec.CommandContext(ctx, filepath.Join(bins, "tally"), append([]string{"ledger", "verify", "--json"}, journals...)...).Output()
		if err != nil {
			t.Fatalf("verify --json: %v", err)
		}
		var rep struct {
			Accounts map[string]struct {
				Verdict string `json:"verdict"`
				Shared  bool   `json:"shared"`
			} `json:"accounts"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range rep.Accounts {
			if a.Shared && a.Verdict == "pass" {
				n++
			}
		}
		if n == 0 {
			t.Fatalf("no account was charged by several instances and verified:\n%s", s)
		}
		t.Logf("%d accounts raced on by several instances, verified across them", n)
	}
	// One journal missing: named, and no pass.
	cmd = exec.CommandContext(ctx, filepath.Join(bins, "tally"), "ledger", "verify", journals[0], journals[2])
	b, _ := cmd.CombinedOutput()
	if strings.Contains(string(b), "ledger: PASS") || !strings.Contains(string(b), "missing 1/3:2/3") {
		t.Fatalf("verify of two journals of three must name the missing segment and not pass:\n%s", b)
	}
}
