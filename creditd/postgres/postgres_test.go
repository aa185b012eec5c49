package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/fault"
	"github.com/tallyhq/tally/creditd/postgres"
	"github.com/tallyhq/tally/creditd/storetest"
)

var _ fault.Raw = (*postgres.DB)(nil)

// EnvDSN names the environment variable that holds the DSN of a PostgreSQL server for tests.
const EnvDSN = "TALLY_TEST_POSTGRES"

// MustOpenDB opens a DB in a fresh schema of the server named by TALLY_TEST_POSTGRES, and drops the
// schema when the test ends. It skips the test when the variable is empty.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s to a DSN, e.g. postgres://user@127.0.0.1:5432/db?sslmode=disable", EnvDSN)
	}
	ctx := context.Background()
	// Commits need not wait for the disk in tests: locking and isolation are unchanged, and the hot-row
	// tests would otherwise measure the server's fsync latency.
	db := postgres.NewDB(withParam(dsn, "synchronous_commit", "off"))
	db.Schema = "creditd_test_" + storetest.RunID()
	if err := db.Open(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		db.Close()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Logf("drop schema %s: %v", db.Schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{db.Schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Logf("drop schema %s: %v", db.Schema, err)
		}
	})
	return db
}

// withParam adds a connection parameter to a DSN in URL or key=value form.
func withParam(dsn, key, value string) string {
	switch {
	case !strings.Contains(dsn, "://"):
		return dsn + " " + key + "=" + value
	case strings.Contains(dsn, "?"):
		return dsn + "&" + key + "=" + value
	}
	return dsn + "?" + key + "=" + value
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, MustOpenDB(t), storetest.Config{})
}

func TestFaults(t *testing.T) {
	t.Parallel()
	db := MustOpenDB(t)
	storetest.RunFaults(t, db, db)
}

// TestReopen: a second DB on the same schema sees everything and applies no migration twice.
func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := MustOpenDB(t)
	storetest.MustCreate(t, db, "alice", 60)
	if _, err := db.Deduct(ctx, creditd.Deduction{UserID: "alice", Feature: "ai_search", Cost: 15, IdempotencyKey: "a", Fingerprint: "a", LowBalance: 50}); err != nil {
		t.Fatal(err)
	}
	before := storetest.Snapshot(t, db, "alice")
	db2 := postgres.NewDB(db.DSN)
	db2.Schema = db.Schema
	if err := db2.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	after := storetest.Snapshot(t, db2, "alice")
	if len(after.Transactions) != 1 || after.Account != before.Account || after.Transactions[0] != before.Transactions[0] {
		t.Fatalf("second DB sees %+v, want %+v", after, before)
	}
}

// TestUnreachable: a server that is not there fails Open, and Ping on a pool whose server went away
// fails too.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	db := postgres.NewDB("postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err := db.Open(context.Background()); err == nil {
		db.Close()
		t.Fatal("Open on a closed port succeeded")
	}
}

// TestBatch: deductions that run as one batch keep every rule, and one the server rejects costs the
// others nothing (the batch rolls back and each runs alone).
func TestBatch(t *testing.T) {
	t.Parallel()
	db := MustOpenDB(t)
	storetest.MustCreate(t, db, "b1", 20)
	storetest.MustCreate(t, db, "b2", 100)
	ded := func(user string, cost int64, key, fp string) creditd.Deduction {
		return creditd.Deduction{UserID: user, Feature: "ai_search", Cost: cost, IdempotencyKey: key, Fingerprint: fp, LowBalance: 50}
	}
	rcs, errs := postgres.RunBatch(db, []creditd.Deduction{
		ded("b2", 5, "x", "x"),
		ded("b1", 15, "a", "a"),
		ded("b1", 15, "b", "b"),  // insufficient after the first
		ded("b1", 15, "a", "a"),  // a repeat inside the same batch: the original answer
		ded("b1", 15, "a", "a2"), // the same key with another request
		ded("nobody", 1, "", "n"),
	})
	codes := make([]string, len(errs))
	for i, err := range errs {
		codes[i] = creditd.ErrorCode(err)
	}
	want := []string{"", "", creditd.EINSUFFICIENT, "", creditd.EIDEMPOTENCY, creditd.ENOTFOUND}
	if fmt.Sprint(codes) != fmt.Sprint(want) || rcs[1].Transaction.BalanceAfter != 5 || !rcs[3].Replayed ||
		rcs[3].Transaction.ID != rcs[1].Transaction.ID || rcs[0].Transaction.BalanceAfter != 95 ||
		!slices.Equal(rcs[1].Notices, []creditd.NoticeKind{creditd.LowBalance}) {
		t.Fatalf("batch answers %v %+v", codes, rcs)
	}
	var e *creditd.Error
	if !errors.As(errs[2], &e) || e.Remaining != 5 {
		t.Fatalf("insufficient in a batch: %v", errs[2])
	}

	// A statement the server rejects (text that is not UTF-8) rolls the batch back; the others then
	// run alone and succeed, the bad one fails alone.
	bad := ded("b2", 1, "bad", "bad")
	bad.Feature = "\xff\xfe"
	rcs, errs = postgres.RunBatch(db, []creditd.Deduction{ded("b2", 1, "y", "y"), bad, ded("b2", 1, "z", "z")})
	if errs[0] != nil || errs[2] != nil || errs[1] == nil || rcs[2].Transaction.BalanceAfter != 93 {
		t.Fatalf("batch with a rejected statement: %v %+v", errs, rcs)
	}
	snap := storetest.Snapshot(t, db, "b2")
	if snap.Account.Remaining != 93 || snap.Account.Version != 3 || len(snap.Transactions) != 3 {
		t.Fatalf("b2 after the batches: %+v", snap)
	}
}

// TestServerGone: when the server goes away under a running store, Ping fails and new requests are
// reported as store_unavailable (503), not as internal errors.
func TestServerGone(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Skipf("PostgreSQL tests skipped: set %s", EnvDSN)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	_, port, _ := net.SplitHostPort(proxy.Addr())
	through := strings.Replace(dsn, fmt.Sprintf(":%d/", cfg.Port), ":"+port+"/", 1)
	if through == dsn {
		t.Skipf("cannot route %s through a proxy", EnvDSN)
	}
	db := postgres.NewDB(through)
	db.Schema = "creditd_test_" + storetest.RunID()
	ctx := context.Background()
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer dropSchema(t, dsn, db.Schema)
	svc := &creditd.Service{Store: db}
	if err := svc.Health(ctx); err != nil {
		t.Fatalf("health with the server up: %v", err)
	}
	proxy.Stop()
	if err := svc.Health(ctx); creditd.ErrorCode(err) != creditd.EUNAVAILABLE {
		t.Fatalf("health with the server gone: %v, want %s", err, creditd.EUNAVAILABLE)
	}
	var code string
	for range 3 { // the pool's idle connections fail first, then new ones cannot connect
		_, err := db.Account(ctx, "anyone")
		code = creditd.ErrorCode(err)
	}
	if code != creditd.EUNAVAILABLE {
		t.Fatalf("Account with the server gone: %s, want %s", code, creditd.EUNAVAILABLE)
	}
}

func dropSchema(tb testing.TB, dsn, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Logf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		tb.Logf("drop schema %s: %v", schema, err)
	}
}

// proxy forwards TCP connections to a server until Stop, which closes the listener and every
// connection: to its clients the server is gone.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(tb testing.TB, upstream string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	tb.Cleanup(p.Stop)
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) Stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
