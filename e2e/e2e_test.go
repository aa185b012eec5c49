// Package e2e runs the scenarios of scripts/ with the tally binary against the creditd binary, as a user
// does: race.js must pass against the correct service and name the class of every fault mode, normal.js
// must pass its latency objective against a realistic service and fail it against a slow one.
//
// The tests build both binaries once (TestMain), start one creditd per case on a free loopback port with its
// own SQLite file, and use the smoke profile (a few seconds per run). go test -short skips them.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	bins string // directory holding the tally and creditd binaries
	root string // repository root (scripts/ and thresholds/ live there)
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var err error
	if root, err = filepath.Abs(".."); err != nil {
		return 0, err
	}
	if bins, err = os.MkdirTemp("", "tally-e2e-bin"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(bins)
	build := exec.Command("go", "build", "-o", bins+string(filepath.Separator), "./cmd/tally", "./cmd/creditd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build tally and creditd: %w\n%s", err, out)
	}
	return m.Run(), nil
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs the binaries for minutes; skipped with -short")
	}
}

// creditd is one running creditd process.
type creditd struct {
	URL string
	log string
}

var listening = regexp.MustCompile(`creditd listening"? url=(\S+)`)

// startCreditd starts creditd on a free loopback port with a fresh SQLite file and the test endpoints,
// plus flags; it is stopped (SIGTERM, then SIGKILL after 10 s) when the test ends.
func startCreditd(t *testing.T, flags ...string) *creditd {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "creditd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--addr", "127.0.0.1:0", "--test-endpoints", "--store", "sqlite:" + filepath.Join(dir, "c.db"),
		"--request-timeout", "10s"}, flags...)
	cmd := exec.Command(filepath.Join(bins, "creditd"), args...)
	cmd.Stderr = logf
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	c := &creditd{log: logPath}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		if m := listening.FindSubmatch(b); m != nil {
			c.URL = string(m[1])
			return c
		}
		select {
		case err := <-done:
			t.Fatalf("creditd %v exited (%v):\n%s", args, err, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("creditd %v did not report its address within 15 s:\n%s", args, b)
	return nil
}

// result is one finished tally run.
type result struct {
	code           int
	stdout, stderr string
}

// tally runs `tally run` on a scenario of scripts/ with the smoke profile against url, with env as -e
// NAME=value (or as flags when they start with --); the run is killed after 4 minutes.
func tally(t *testing.T, script, url string, env ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{"run", "--no-color", "-q", "-e", "PROFILE=smoke", "-e", "BASE_URL=" + url}
	for _, e := range env {
		if strings.HasPrefix(e, "--") { // a flag (--name=value), not a variable
			args = append(args, e)
			continue
		}
		args = append(args, "-e", e)
	}
	args = append(args, filepath.Join("scripts", script))
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "tally"), args...)
	cmd.Dir = root
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("tally %v: %v\n%s", args, err, stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("tally %v did not finish within 4 minutes\nstdout:\n%s\nstderr:\n%s", args, r.stdout, tail(r.stderr, 40))
	}
	return r
}

// ledgerSection returns the ledger's part of the summary (from "ledger: " to the end).
func ledgerSection(stdout string) string {
	if i := strings.Index(stdout, "ledger: "); i >= 0 {
		return stdout[i:]
	}
	return ""
}

func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr (end):\n%s", r.code, r.stdout, tail(r.stderr, 30))
}

// TestRace: race.js passes against the correct service and fails, naming the fault's class, against each
// fault mode.
func TestRace(t *testing.T) {
	skipShort(t)
	cases := []struct {
		name  string
		fault string   // creditd --fault; "" is the correct service
		kinds []string // the summary must name one of these anomaly classes
	}{
		{name: "correct"},
		{name: "lost-update", fault: "lost-update:0.2", kinds: []string{"lost_update"}},
		{name: "double-charge", fault: "double-charge:0.05", kinds: []string{"double_charge", "server_only_debit"}},
		{name: "phantom-charge", fault: "phantom-charge:0.02", kinds: []string{"charge_without_service"}},
		{name: "overdraft", fault: "overdraft", kinds: []string{"overdraft"}},
		{name: "stale-read", fault: "stale-read", kinds: []string{"stale_read"}},
		{name: "duplicate-notify", fault: "duplicate-notify", kinds: []string{"notification_duplicate"}},
		{name: "lost-record", fault: "lost-record:0.05", kinds: []string{"missing_debit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var flags []string
			if tc.fault != "" {
				flags = append(flags, "--fault", tc.fault)
			}
			c := startCreditd(t, flags...)
			r := tally(t, "race.js", c.URL)
			led := ledgerSection(r.stdout)
			if tc.fault == "" {
				if r.code != 0 || !strings.Contains(led, "ledger: PASS") || !strings.Contains(led, "discrepancies 0") {
					t.Fatalf("want exit 0 and a clean ledger verdict against the correct service\n%s", r)
				}
				return
			}
			if r.code != 99 {
				t.Fatalf("want exit 99 (thresholds failed) with --fault %s\n%s", tc.fault, r)
			}
			if !strings.Contains(led, "ledger: FAIL") {
				t.Fatalf("want the ledger verdict FAIL in the summary with --fault %s\n%s", tc.fault, r)
			}
			found := false
			for _, k := range tc.kinds {
				found = found || strings.Contains(led, k)
			}
			if !found {
				t.Fatalf("want the summary to name %s with --fault %s\n%s", strings.Join(tc.kinds, " or "), tc.fault, r)
			}
		})
	}
}

// TestNormal: normal.js meets its latency objective against a service with realistic model time, and
// fails it (exit 99, p95 threshold crossed) against one that takes 600 ms per store call.
func TestNormal(t *testing.T) {
	skipShort(t)
	t.Run("ai-latency", func(t *testing.T) {
		c := startCreditd(t, "--ai-latency", "20ms±10ms")
		r := tally(t, "normal.js", c.URL)
		if r.code != 0 || !strings.Contains(ledgerSection(r.stdout), "ledger: PASS") {
			t.Fatalf("want exit 0 and a clean ledger verdict\n%s", r)
		}
		if !strings.Contains(r.stdout, "✓ 'p(95)<500'") {
			t.Fatalf("want the p95 threshold reported as passed\n%s", r)
		}
	})
	t.Run("slow", func(t *testing.T) {
		c := startCreditd(t, "--fault", "slow=600ms")
		r := tally(t, "normal.js", c.URL)
		if r.code != 99 {
			t.Fatalf("want exit 99 against a slow service\n%s", r)
		}
		if !strings.Contains(r.stdout, "✗ 'p(95)<500'") {
			t.Fatalf("want the p95 threshold reported as failed\n%s", r)
		}
		if !strings.Contains(ledgerSection(r.stdout), "ledger: PASS") {
			t.Fatalf("a slow but correct service keeps its books: want the ledger verdict PASS\n%s", r)
		}
	})
}

// TestTargetDown: a scenario against a port nobody listens on stops in setup with a clear message and
// exit code 108 (test.abort).
func TestTargetDown(t *testing.T) {
	skipShort(t)
	r := tally(t, "normal.js", "http://127.0.0.1:1")
	if r.code != 108 || !strings.Contains(r.stderr, "the credit service is not healthy") {
		t.Fatalf("want exit 108 and the health message\n%s", r)
	}
}

// TestProfileDuration: DURATION=seconds shortens a profile (ramp included) and keeps its other sizes; the
// full profile is unchanged without it, and a DURATION that is not whole seconds is a script error.
func TestProfileDuration(t *testing.T) {
	skipShort(t)
	inspect := func(env ...string) (string, error) {
		args := []string{"inspect", "-e", "PROFILE=full"}
		for _, e := range env {
			args = append(args, "-e", e)
		}
		cmd := exec.Command(filepath.Join(bins, "tally"), append(args, filepath.Join("scripts", "race.js"))...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	stages := regexp.MustCompile(`"duration": "([^"]+)",\s*"target": (\d+)`)
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "20s/1000 9m40s/1000"},
		{[]string{"DURATION=180"}, "20s/1000 2m40s/1000"},
	} {
		out, err := inspect(tc.env...)
		if err != nil {
			t.Fatalf("tally inspect %v: %v\n%s", tc.env, err, out)
		}
		var got []string
		for _, m := range stages.FindAllStringSubmatch(out, -1) {
			got = append(got, m[1]+"/"+m[2])
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("stages with %v: %q, want %q", tc.env, strings.Join(got, " "), tc.want)
		}
	}
	if out, err := inspect("DURATION=3m"); err == nil || !strings.Contains(out, "DURATION=3m: expected whole seconds") {
		t.Errorf("DURATION=3m: want a script error naming it, got %v\n%s", err, out)
	}
}

// TestLongerRunMoreAccounts: a race.js run made longer than its profile with DURATION gets generations of
// accounts in proportion (the smoke profile's 4 x 20 accounts for 12 s become 4 x 40 for 24 s), so it keeps
// racing on fresh accounts instead of piling refusals onto drained ones; the setup data names the accounts
// by their rule, not one by one, and the verdict covers every account the rule names.
func TestLongerRunMoreAccounts(t *testing.T) {
	skipShort(t)
	c := startCreditd(t)
	export := filepath.Join(t.TempDir(), "summary.json")
	r := tally(t, "race.js", c.URL, "DURATION=24", "--summary-export="+export)
	if r.code != 0 || !strings.Contains(ledgerSection(r.stdout), "ledger: PASS") {
		t.Fatalf("want exit 0 and a clean verdict\n%s", r)
	}
	if !strings.Contains(r.stderr, "(160 in all, 600 credits each)") {
		t.Fatalf("want 4 x 40 accounts for twice the smoke profile's duration\n%s", r)
	}
	if !regexp.MustCompile(`accounts +160: `).MatchString(r.stdout) {
		t.Fatalf("want the verdict to cover the 160 accounts\n%s", r)
	}
	b, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		SetupData struct {
			Count  int      `json:"count"`
			Prefix string   `json:"prefix"`
			IDs    []string `json:"ids"`
		} `json:"setup_data"`
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sd := sum.SetupData; sd.Count != 160 || !strings.HasSuffix(sd.Prefix, "-r") || sd.IDs != nil {
		t.Fatalf("setup data: want count 160 and a name prefix, no list of ids; got %+v", sd)
	}
}

// TestConfigEnv: the environment variables of scripts/lib/config.js set their keys (strings, whole
// numbers, flags, rates merged into the defaults, one key of auth), bad values stop the run naming the
// variable, and each load() returns a configuration of its own.
func TestConfigEnv(t *testing.T) {
	skipShort(t)
	run := func(env ...string) (string, error) {
		args := []string{"run", "-q", "--summary-mode=disabled", "--log-format=raw"}
		for _, e := range env {
			args = append(args, "-e", e)
		}
		cmd := exec.Command(filepath.Join(bins, "tally"), append(args, filepath.Join("e2e", "testdata", "config-env.js"))...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("BASE_URL=http://127.0.0.1:9/", "RATES=live_dubbing=2,x=3", "AUTH_VALUE=T {token}",
		"KEEP_ACCOUNTS=yes", "INITIAL_CREDITS=7", "TIMEOUT=3s", "SHARED_WAIT_MS=9", "DEEP_CHECK=off")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var cfg struct {
		BaseURL        string            `json:"baseUrl"`
		Paths          map[string]string `json:"paths"`
		Rates          map[string]int    `json:"rates"`
		Auth           map[string]string `json:"auth"`
		KeepAccounts   bool              `json:"keepAccounts"`
		InitialCredits int               `json:"initialCredits"`
		Timeout        string            `json:"timeout"`
		SharedWaitMs   int               `json:"sharedWaitMs"`
		DeepCheck      string            `json:"deepCheck"`
		SettleMs       int               `json:"settleMs"`
	}
	i := strings.Index(out, "CFG ")
	if i < 0 {
		t.Fatalf("no configuration printed:\n%s", out)
	}
	line, _, _ := strings.Cut(out[i+4:], "\n")
	if err := json.Unmarshal([]byte(line), &cfg); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	want := `{http://127.0.0.1:9 /health map[ai_recommendations:3 ai_search:5 live_dubbing:2 x:3] ` +
		`map[header:Authorization value:T {token}] true 7 3s 9 off 1000}`
	got := fmt.Sprint(struct {
		a string
		b string
		c map[string]int
		d map[string]string
		e bool
		f int
		g string
		h int
		i string
		j int
	}{cfg.BaseURL, cfg.Paths["health"], cfg.Rates, cfg.Auth, cfg.KeepAccounts, cfg.InitialCredits, cfg.Timeout,
		cfg.SharedWaitMs, cfg.DeepCheck, cfg.SettleMs})
	if got != want {
		t.Errorf("configuration\n got %s\nwant %s", got, want)
	}
	for env, msg := range map[string]string{
		"INITIAL_CREDITS=-1":              "INITIAL_CREDITS=-1: expected a whole number >= 0",
		"KEEP_ACCOUNTS=maybe":             "KEEP_ACCOUNTS=maybe: expected true or false",
		"RATES=zz":                        `RATES: "zz" is not FEATURE=PRICE`,
		"BASE_URL=http://127.0.0.1:9/api": "BASE_URL=http://127.0.0.1:9/api: expected http://host:port or https://host:port (no path)",
		"BASE_URL=ftp://127.0.0.1:9":      "BASE_URL=ftp://127.0.0.1:9: expected http://host:port",
		"BASE_URL=https:///":              "BASE_URL=https:: expected http://host:port",
	} {
		if out, err := run(env); err == nil || !strings.Contains(out, msg) {
			t.Errorf("%s: want an error naming it (%q), got %v\n%s", env, msg, err, out)
		}
	}
}
