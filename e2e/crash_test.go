package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // database/sql driver "sqlite": the test reads creditd's file itself
)

// The crash-restart tests run race.js (quick profile: 200 VUs, 40 s) against creditd and break the
// service in the middle of the load: creditd killed with SIGKILL and restarted on the same SQLite file
// and port, or PostgreSQL stopped in immediate mode (no checkpoint: recovery from the WAL) under a
// running creditd and started again. Requests fail while the service is down, so availability thresholds fail (exit 99),
// but nothing may be lost: the ledger's verdict is PASS, every unknown outcome is resolved by replaying
// its Idempotency-Key, and the credits the ledger confirmed are exactly the debits in the database.

const crashSecret = "crash-restart test secret, 16+ chars" // tokens must survive the restart

// freePort returns a loopback port nobody listens on now (creditd must come back on the same one).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a creditd process started by startAt.
type proc struct {
	cmd  *exec.Cmd
	done chan error
}

// startAt starts creditd on 127.0.0.1:port with store, appending to logPath, and waits until it listens.
func startAt(t *testing.T, port int, store, logPath string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--addr", fmt.Sprintf("127.0.0.1:%d", port), "--test-endpoints", "--store", store,
		"--secret", crashSecret, "--request-timeout", "10s"}
	cmd := exec.Command(filepath.Join(bins, "creditd"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return p
		}
		select {
		case err := <-p.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("creditd %v exited (%v):\n%s", args, err, tail(string(b), 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("creditd %v did not listen within 15 s:\n%s", args, tail(string(b), 20))
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil // for the cleanup
}

// crashRun runs race.js (quick) against url with the accounts kept, calls crash once the load is on,
// and returns the finished run.
func crashRun(t *testing.T, url string, crash func()) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{"run", "--no-color", "-e", "PROFILE=quick", "-e", "BASE_URL=" + url, "-e", "KEEP_ACCOUNTS=1",
		filepath.Join("scripts", "race.js")}
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "tally"), args...)
	cmd.Dir = root
	cmd.WaitDelay = 10 * time.Second
	var stdout strings.Builder
	stderr := &watchWriter{want: "race (quick):", seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-stderr.seen: // setup has provisioned the accounts; the VUs start now
	case err := <-done:
		t.Fatalf("tally ended before its load started (%v):\n%s\n%s", err, stdout.String(), tail(stderr.String(), 30))
	}
	select {
	case <-time.After(12 * time.Second): // ramped up (200 VUs at 50/s) and racing
	case err := <-done:
		t.Fatalf("tally ended early (%v):\n%s\n%s", err, stdout.String(), tail(stderr.String(), 30))
	}
	crash()
	err := <-done
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("tally did not finish within 4 minutes\n%s", r)
	}
	if exit, ok := err.(*exec.ExitError); ok {
		r.code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("tally: %v\n%s", err, r)
	}
	return r
}

// watchWriter collects output and closes seen once want has appeared in it.
type watchWriter struct {
	strings.Builder
	want string
	seen chan struct{}
	done bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.Builder.Write(p)
	if !w.done && strings.Contains(w.Builder.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return n, err
}

var (
	confirmedRe = regexp.MustCompile(`credits\s+start (\d+), end (\d+), confirmed (\d+), taken by unknown requests (\d+), still unresolved (\d+)`)
	deductionRe = regexp.MustCompile(`deductions\s+\d+: (\d+) ok, \d+ insufficient, \d+ rejected, (?:\d+ charged and \d+ not charged by the server log, )?(\d+) unknown \(\d+ never settled\)[;,] (\d+) resolved`)
	failedRe    = regexp.MustCompile(`http_req_failed\.+: ([0-9.]+)%\s+(\d+) out of`)
)

// books is what the database holds: credits granted, remaining, and the debit records.
type books struct{ granted, remaining, debits, records int64 }

// checkNothingLost asserts the verdict of a crash run: thresholds failed (exit 99) because requests
// failed, the summary says integrity held, and the ledger's credits are the database's.
func checkNothingLost(t *testing.T, r result, db books) {
	t.Helper()
	led := ledgerSection(r.stdout)
	if r.code != 99 {
		t.Fatalf("want exit 99 (availability thresholds failed while the service was down)\n%s", r)
	}
	if !strings.Contains(led, "ledger: PASS") || !strings.Contains(led, "discrepancies 0") {
		t.Fatalf("want the ledger verdict PASS with 0 discrepancies after the crash\n%s", r)
	}
	if !strings.Contains(led, "integrity: PASS") || !strings.Contains(led, "not integrity") || !strings.Contains(led, "http_req_failed") {
		t.Fatalf("want the summary to say that availability thresholds, not integrity, failed\n%s", r)
	}
	f := failedRe.FindStringSubmatch(r.stdout)
	if f == nil || f[2] == "0" {
		t.Fatalf("want failed requests: the crash must have been felt\n%s", r)
	}
	m := confirmedRe.FindStringSubmatch(led)
	d := deductionRe.FindStringSubmatch(led)
	if m == nil || d == nil {
		t.Fatalf("no credits or deductions line in the ledger section\n%s", r)
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	start, end, confirmed, unknownTaken, unresolved := n(m[1]), n(m[2]), n(m[3]), n(m[4]), n(m[5])
	if unresolved != 0 || n(d[2]) != 0 {
		t.Fatalf("want every unknown outcome resolved (replayed with its key)\n%s", r)
	}
	t.Logf("ledger: %s ok deductions, %s resolved by replay or log, %d credits confirmed (start %d, end %d); %s%% of requests failed (%s); database: %d debit records, %d credits debited, %d granted, %d remaining",
		d[1], d[3], confirmed, start, end, f[1], f[2], db.records, db.debits, db.granted, db.remaining)
	if confirmed+unknownTaken != db.debits || start != db.granted || end != db.remaining || db.granted-db.remaining != db.debits {
		t.Fatalf("the books differ: ledger start %d, end %d, confirmed %d (+%d by unknown requests); database granted %d, remaining %d, debits %d\n%s",
			start, end, confirmed, unknownTaken, db.granted, db.remaining, db.debits, r)
	}
	if db.debits == 0 {
		t.Fatal("no debits at all: the run did not charge anything")
	}
}

// TestCrashRestartSQLite: creditd killed with SIGKILL mid-run and restarted on the same file and port.
func TestCrashRestartSQLite(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "credits.db")
	logPath := filepath.Join(dir, "creditd.log")
	port := freePort(t)
	c := startAt(t, port, "sqlite:"+file, logPath)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := crashRun(t, url, func() {
		c.kill(t)
		time.Sleep(2 * time.Second) // down for a moment: requests fail with connection refused
		startAt(t, port, "sqlite:"+file, logPath)
	})
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b books
	if err := db.QueryRow(`SELECT COALESCE(SUM(granted),0), COALESCE(SUM(remaining),0) FROM accounts`).Scan(&b.granted, &b.remaining); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COALESCE(SUM(amount),0), COUNT(*) FROM transactions`).Scan(&b.debits, &b.records); err != nil {
		t.Fatal(err)
	}
	checkNothingLost(t, r, b)
}

// pgCluster is a throw-away PostgreSQL server of the test's own (so that restarting it disturbs no
// other test), from the binaries in TALLY_TEST_PG_BIN, run as TALLY_TEST_PG_USER when the test runs as
// root (initdb refuses root).
type pgCluster struct {
	bin, dir, user string
	port           int
	opts           string // server options (pg_ctl -o)
}

func (c *pgCluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	argv := append([]string{filepath.Join(c.bin, name)}, args...)
	var cmd *exec.Cmd
	if c.user != "" {
		q := make([]string, len(argv))
		for i, a := range argv {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		cmd = exec.Command("su", "-s", "/bin/sh", c.user, "-c", strings.Join(q, " "))
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("%s %v: %v\n%s\nserver log:\n%s", name, args, err, out, tail(string(log), 20))
	}
}

func (c *pgCluster) ctl(t *testing.T, action string, extra ...string) {
	t.Helper()
	args := append([]string{"-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60"}, extra...)
	c.run(t, "pg_ctl", append(args, action)...)
}

// startPostgres starts a cluster on a free port and returns it with the URL of its database.
func startPostgres(t *testing.T) (*pgCluster, string) {
	t.Helper()
	bin := os.Getenv("TALLY_TEST_PG_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TALLY_TEST_PG_BIN is not set in CI: .ci/run exports the PostgreSQL bin directory")
		}
		t.Skip("PostgreSQL crash-restart skipped: set TALLY_TEST_PG_BIN to the directory of initdb and pg_ctl (and TALLY_TEST_PG_USER when running as root), as .ci/run does")
	}
	dir, err := os.MkdirTemp("", "tally-crash-pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &pgCluster{bin: bin, dir: dir, port: freePort(t)}
	if os.Geteuid() == 0 {
		c.user = os.Getenv("TALLY_TEST_PG_USER")
		if c.user == "" {
			c.user = "postgres"
		}
		u, err := user.Lookup(c.user)
		if err != nil {
			t.Fatalf("running as root: PostgreSQL needs another user (TALLY_TEST_PG_USER, default postgres): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.run(t, "initdb", "-D", filepath.Join(dir, "data"), "-U", "tally", "--auth=trust", "-E", "UTF8", "--no-sync")
	c.opts = fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=100 -c fsync=off", c.port, dir)
	c.ctl(t, "start", "-o", c.opts)
	t.Cleanup(func() { c.ctl(t, "stop", "-m", "immediate") })
	return c, fmt.Sprintf("postgres://tally@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// TestCrashRestartPostgres: PostgreSQL stopped in immediate mode (as by a crash: WAL recovery at the
// next start) under a running creditd, mid-run, and started again 3 s later.
func TestCrashRestartPostgres(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pg, dsn := startPostgres(t)
	dir := t.TempDir()
	port := freePort(t)
	startAt(t, port, dsn, filepath.Join(dir, "creditd.log"))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := crashRun(t, url, func() {
		pg.ctl(t, "stop", "-m", "immediate")
		time.Sleep(3 * time.Second) // long enough for failed requests to cross the 1 % threshold
		pg.ctl(t, "start", "-o", pg.opts)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b books
	if err := conn.QueryRow(ctx, `SELECT COALESCE(SUM(granted),0)::bigint, COALESCE(SUM(remaining),0)::bigint FROM accounts`).Scan(&b.granted, &b.remaining); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT COALESCE(SUM(amount),0)::bigint, COUNT(*) FROM transactions`).Scan(&b.debits, &b.records); err != nil {
		t.Fatal(err)
	}
	checkNothingLost(t, r, b)
}
