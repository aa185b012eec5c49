package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/tallyhq/tally/target"
	"github.com/tallyhq/tally/target/fault"
	"github.com/tallyhq/tally/target/postgres"
	"github.com/tallyhq/tally/target/storetest"
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
	if _, err := db.Deduct(ctx, target.Deduction{UserID: "alice", Feature: "ai_search", Cost: 15, IdempotencyKey: "a", Fingerprint: "a", LowBalance: 50}); err != nil {
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
