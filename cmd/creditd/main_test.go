package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/pflag"
	main "github.com/tallyhq/tally/cmd/creditd"
	"github.com/tallyhq/tally/creditd/storetest"
)

// TestMain lets the test binary act as creditd itself (CREDITD_TEST_MAIN=1), so that exit statuses
// and signal handling are tested on the real main().
func TestMain(m *testing.M) {
	if os.Getenv("CREDITD_TEST_MAIN") == "1" {
		main.RunMain(os.Args[1:])
		return
	}
	os.Exit(m.Run())
}

const secret = "e2e secret, 16+ characters"

// MustRunMain parses args, runs a Main and closes it when the test ends.
func MustRunMain(tb testing.TB, args ...string) *main.Main {
	tb.Helper()
	m := main.NewMain()
	var stderr bytes.Buffer
	m.Stdout, m.Stderr, m.Getenv = io.Discard, &lockedWriter{w: &stderr}, func(string) string { return "" }
	if err := m.ParseFlags(append([]string{"--addr", "127.0.0.1:0", "--test-endpoints", "--secret", secret, "--log-level", "warn"}, args...)); err != nil {
		tb.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// call sends a JSON request and decodes the JSON answer.
func call(tb testing.TB, method, url, tok, body string, header ...string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatalf("%s %s: decode: %v", method, url, err)
	}
	return resp.StatusCode, out
}

func createUser(tb testing.TB, base, user string, credits int) string {
	tb.Helper()
	status, out := call(tb, "POST", base+"/api/v1/beta/test/create-user", "", fmt.Sprintf(`{"user_id":%q,"initial_credits":%d}`, user, credits))
	if status != 200 {
		tb.Fatalf("create-user: %d %v", status, out)
	}
	return out["token"].(string)
}

// TestRestartKeepsEverything: a second process on the same SQLite file (and secret) sees every balance,
// record and notice, accepts the old tokens and replays old idempotency keys.
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "credit.db")
	m := MustRunMain(t, "--store", "sqlite:"+path)
	tok := createUser(t, m.URL(), "ann", 60)
	deduct := m.URL() + "/api/v1/beta/credits/deduct"
	for i, usage := range []int{3, 5} {
		if status, out := call(t, "POST", deduct, tok, fmt.Sprintf(`{"user_id":"ann","feature":"ai_search","usage_amount":%d}`, usage), "Idempotency-Key", fmt.Sprint("k", i)); status != 200 {
			t.Fatalf("deduct: %d %v", status, out)
		}
	}
	_, balance := call(t, "GET", m.URL()+"/api/v1/beta/credits/balance", tok, "")
	_, txs := call(t, "GET", m.URL()+"/api/v1/beta/credits/transactions", tok, "")
	_, notices := call(t, "GET", m.URL()+"/api/v1/beta/credits/notifications", tok, "")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := MustRunMain(t, "--store", "sqlite:"+path)
	for path, want := range map[string]map[string]any{"balance": balance, "transactions": txs, "notifications": notices} {
		status, got := call(t, "GET", m2.URL()+"/api/v1/beta/credits/"+path, tok, "")
		if status != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s after restart: %d %v, want %v", path, status, got, want)
		}
	}
	if balance["remaining_credits"] != 20.0 || len(notices["notifications"].([]any)) != 1 {
		t.Fatalf("before restart: balance %v, notices %v", balance, notices)
	}
	status, out := call(t, "POST", m2.URL()+"/api/v1/beta/credits/deduct", tok, `{"user_id":"ann","feature":"ai_search","usage_amount":3}`, "Idempotency-Key", "k0")
	if status != 200 || out["remaining_credits"] != 45.0 {
		t.Fatalf("replay of a key from before the restart: %d %v", status, out)
	}
}

// TestGracefulShutdown: Close lets a request in flight finish (and keeps its charge), then refuses
// new connections and closes the store.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "credit.db")
	m := MustRunMain(t, "--store", "sqlite:"+path, "--ai-latency", "400ms")
	tok := createUser(t, m.URL(), "bea", 100)
	type answer struct {
		status int
		body   map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		status, body := call(t, "POST", m.URL()+"/api/v1/beta/ai-search", tok, `{"query":"in flight"}`)
		done <- answer{status, body}
	}()
	// The charge lands before the simulated model time, so once it is visible the request is in flight.
	waitFor(t, func() bool {
		a, err := m.Store.Account(context.Background(), "bea")
		return err == nil && a.Version == 1
	})
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	a := <-done
	if a.status != 200 || a.body["remaining_credits"] != 95.0 {
		t.Fatalf("request in flight during shutdown: %d %v", a.status, a.body)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("shutdown took %v", time.Since(start))
	}
	if _, err := http.Get(m.URL() + "/health"); err == nil {
		t.Fatal("server still accepts connections after Close")
	}
	if err := m.Store.Ping(context.Background()); err == nil {
		t.Fatal("store still open after Close")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSignal runs the real main() in a child process: SIGTERM during a request lets it finish, and
// the process exits 0.
func TestSignal(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "credit.db")
	cmd := exec.Command(os.Args[0], "--addr", "127.0.0.1:0", "--store", "sqlite:"+path, "--test-endpoints",
		"--ai-latency", "500ms", "--secret", secret)
	cmd.Env = append(os.Environ(), "CREDITD_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	var url string
	for url == "" && lines.Scan() {
		if _, after, ok := strings.Cut(lines.Text(), "url="); ok {
			url, _, _ = strings.Cut(after, " ")
		}
	}
	go io.Copy(io.Discard, stderr)
	if url == "" {
		t.Fatal("no url in creditd's log")
	}
	tok := createUser(t, url, "cy", 10)
	done := make(chan int, 1)
	go func() {
		status, _ := call(t, "POST", url+"/api/v1/beta/ai-search", tok, `{"query":"q"}`)
		done <- status
	}()
	// The charge lands before the simulated model time: once the balance shows it, the request is in
	// flight.
	waitFor(t, func() bool {
		_, b := call(t, "GET", url+"/api/v1/beta/credits/balance", tok, "")
		return b["version"] == 1.0
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if status := <-done; status != 200 {
		t.Fatalf("request during SIGTERM: %d", status)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("creditd after SIGTERM: %v, want exit status 0", err)
	}
}

// TestUsageExit: bad flags and environment variables exit with status 2 and say what is wrong.
func TestUsageExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--bogus"}, "", "unknown flag: --bogus"},
		{[]string{"--store", "mysql://x"}, "", "use sqlite:PATH"},
		{[]string{"--addr", "0.0.0.0:8000"}, "", "not a loopback address"},
		{[]string{"--fault", "lost-updates"}, "", "unknown mode"},
		{nil, "CREDITD_LOW_BALANCE=lots", "CREDITD_LOW_BALANCE"},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], tt.args...)
		cmd.Env = append(os.Environ(), "CREDITD_TEST_MAIN=1")
		if tt.env != "" {
			cmd.Env = append(cmd.Env, tt.env)
		}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != main.ExitUsage || !strings.Contains(string(out), tt.want) {
			t.Errorf("creditd %v (%s): %v, output %q; want exit status 2 mentioning %q", tt.args, tt.env, err, out, tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	m := main.NewMain()
	m.Getenv = func(k string) string { return env[k] }
	var help bytes.Buffer
	m.Stdout = &help
	if err := m.ParseFlags([]string{"--help"}); !errors.Is(err, pflag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"CREDITD_ADDR", "CREDITD_STORE", "CREDITD_TEST_ENDPOINTS", "CREDITD_AUTH", "CREDITD_SECRET",
		"CREDITD_RATES", "CREDITD_LOW_BALANCE", "CREDITD_AI_LATENCY", "CREDITD_TOKEN_TTL", "CREDITD_FAULTS", "CREDITD_LOG_LEVEL", "lost-update",
		"phantom-charge", "Exit status"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}

	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Addr != "127.0.0.1:8000" || c.Store.Kind != "sqlite" || c.Store.Path != "creditd.db" || c.Auth != "hmac" || c.TestEndpoints ||
		c.LowBalance != 50 || c.Rates.String() != "ai_recommendations=3,ai_search=5,live_dubbing=1" || len(c.Faults) != 0 || c.AILatency.Base != 0 || c.TokenTTL != 0 {
		t.Fatalf("defaults: %+v", c)
	}

	env = map[string]string{"CREDITD_ADDR": "127.0.0.1:9000", "CREDITD_RATES": "ai_search=7,translate=2", "CREDITD_TEST_ENDPOINTS": "true",
		"CREDITD_AI_LATENCY": "200ms+-50ms", "CREDITD_FAULTS": "slow=1s:0.5", "CREDITD_STORE": "sqlite::memory:", "CREDITD_LOW_BALANCE": "10", "CREDITD_TOKEN_TTL": "24h"}
	if err := m.ParseFlags([]string{"--addr", "[::1]:9001", "--rate", "live_dubbing=4", "--ai-latency", "1s±100ms"}); err != nil {
		t.Fatal(err)
	}
	c = m.Config
	if c.Addr != "[::1]:9001" || c.Rates["ai_search"] != 5 || c.Rates["live_dubbing"] != 4 || c.Rates["translate"] != 0 || !c.TestEndpoints ||
		c.AILatency.Base != time.Second || c.AILatency.Jitter != 100*time.Millisecond || c.Store.Path != ":memory:" || c.LowBalance != 10 ||
		len(c.Faults) != 1 || c.Faults[0].Delay != time.Second || c.Faults[0].Probability != 0.5 {
		t.Fatalf("flags over env: %+v", c)
	}
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:9001"}); err != nil || m.Config.Rates["translate"] != 2 || m.Config.AILatency.Jitter != 50*time.Millisecond ||
		m.Config.TokenTTL != 24*time.Hour {
		t.Fatalf("env alone: %+v, %v", m.Config, err)
	}

	env = map[string]string{}
	for _, args := range [][]string{
		{"--store", "sqlite:"}, {"--store", "sqlite:x.db?journal=off"}, {"--auth", "basic"}, {"--secret", "short"},
		{"--rate", "ai_search"}, {"--rate", "ai_search=0"}, {"--rate", "AI=1"}, {"--low-balance", "-1"}, {"--ai-latency", "fast"},
		{"--ai-latency", "-1s"}, {"--fault", "slow:0"}, {"--fault", "overdraft=1s"}, {"--fault", "slow,slow"}, {"--log-level", "loud"},
		{"--log-format", "xml"}, {"--addr", "8000"}, {"--addr", "example.com:80"}, {"--request-timeout", "0s"}, {"extra"},
		{"--token-ttl", "-1h"}, {"--token-ttl", "forever"}, {"--token-ttl", "9999999999h"},
	} {
		if err := m.ParseFlags(args); err == nil {
			t.Errorf("ParseFlags(%v) accepted", args)
		}
	}
	if err := m.ParseFlags([]string{"--addr", "0.0.0.0:8000", "--allow-remote"}); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

// TestFaultBanner: a server with faults says so loudly at start.
func TestFaultBanner(t *testing.T) {
	t.Parallel()
	m := main.NewMain()
	var stderr bytes.Buffer
	m.Stdout, m.Stderr, m.Getenv = io.Discard, &lockedWriter{w: &stderr}, func(string) string { return "" }
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--store", "sqlite::memory:", "--fault", "lost-update,phantom-charge:0.1", "--auth", "mock"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := stderr.String()
	for _, want := range []string{"FAULT MODES ON: lost-update=10ms, phantom-charge:0.1", "deliberately WRONG", "MOCK AUTH IS ON", "random secret"} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, out)
		}
	}
}

// TestStoreUnreachable: a store that cannot be opened fails Run (exit status 1 in main).
func TestStoreUnreachable(t *testing.T) {
	t.Parallel()
	m := main.NewMain()
	m.Stdout, m.Stderr, m.Getenv = io.Discard, io.Discard, func(string) string { return "" }
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--store", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err == nil {
		m.Close()
		t.Fatal("Run with an unreachable PostgreSQL succeeded")
	}
	m = main.NewMain()
	m.Stdout, m.Stderr, m.Getenv = io.Discard, io.Discard, func(string) string { return "" }
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--store", "sqlite:" + filepath.Join(t.TempDir(), "missing", "x.db")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err == nil {
		m.Close()
		t.Fatal("Run with an SQLite file in a missing directory succeeded")
	}
}

// TestPostgresEndToEnd runs the API against PostgreSQL (TALLY_TEST_POSTGRES), in a schema of its own.
func TestPostgresEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := PostgresSchema(t)
	m := MustRunMain(t, "--store", dsn)
	if status, out := call(t, "GET", m.URL()+"/health", "", ""); status != 200 || out["store"] != "postgres" {
		t.Fatalf("health: %d %v", status, out)
	}
	tok := createUser(t, m.URL(), "dee", 55)
	status, out := call(t, "POST", m.URL()+"/api/v1/beta/credits/deduct", tok, `{"user_id":"dee","feature":"ai_search","usage_amount":1}`, "Idempotency-Key", "a")
	if status != 200 || out["remaining_credits"] != 50.0 || out["version"] != 1.0 {
		t.Fatalf("deduct: %d %v", status, out)
	}
	if status, out := call(t, "GET", m.URL()+"/api/v1/beta/credits/notifications", tok, ""); status != 200 || len(out["notifications"].([]any)) != 1 {
		t.Fatalf("notifications: %d %v", status, out)
	}
}

// PostgresSchema returns a postgres:// URL whose search_path is a fresh schema (dropped at the end),
// or skips the test when TALLY_TEST_POSTGRES is empty.
func PostgresSchema(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("TALLY_TEST_POSTGRES")
	if dsn == "" || !strings.Contains(dsn, "://") {
		tb.Skip("PostgreSQL tests skipped: set TALLY_TEST_POSTGRES to a postgres:// URL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	schema := "creditd_e2e_" + storetest.RunID()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	conn.Close(ctx)
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}
