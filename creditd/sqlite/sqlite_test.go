package sqlite_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/fault"
	"github.com/tallyhq/tally/creditd/sqlite"
	"github.com/tallyhq/tally/creditd/storetest"
)

var _ fault.Raw = (*sqlite.DB)(nil)

// MustOpenDB opens a DB at path (a file or sqlite.Memory) and closes it when the test ends.
func MustOpenDB(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(path)
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustOpenDBSync is MustOpenDB with a synchronous setting.
func MustOpenDBSync(tb testing.TB, path, sync string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(path)
	db.Synchronous = sync
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	t.Parallel()
	t.Run("File", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, MustOpenDB(t, filepath.Join(t.TempDir(), "credit.db")), storetest.Config{})
	})
	// Memory mode differs only in its connections (one, shared by reads and writes): the same rules,
	// with a lighter concurrency load.
	t.Run("Memory", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, MustOpenDB(t, sqlite.Memory), storetest.Config{Workers: 50, Each: 20})
	})
}

func TestFaults(t *testing.T) {
	t.Parallel()
	db := MustOpenDB(t, filepath.Join(t.TempDir(), "credit.db"))
	storetest.RunFaults(t, db, db)
}

// TestReopen: closing and reopening the same file keeps every account, record and notice, applies no
// migration twice, and continues the id sequence.
func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credit.db")
	db := sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.MustCreate(t, db, "alice", 60)
	var last int64
	for i, key := range []string{"a", "b", "c"} {
		rc, err := db.Deduct(ctx, creditd.Deduction{UserID: "alice", Feature: "ai_search", Cost: int64(5 * (i + 1)), IdempotencyKey: key, Fingerprint: key, LowBalance: 50})
		if err != nil {
			t.Fatal(err)
		}
		last = rc.Transaction.ID
	}
	before := storetest.Snapshot(t, db, "alice")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := db.Account(ctx, "alice"); err == nil {
		t.Fatal("Account after Close succeeded")
	}
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}

	db2 := MustOpenDB(t, path)
	if after := storetest.Snapshot(t, db2, "alice"); !reflect.DeepEqual(after, before) {
		t.Fatalf("after reopen:\n%+v\nwant\n%+v", after, before)
	}
	rc, err := db2.Deduct(ctx, creditd.Deduction{UserID: "alice", Feature: "ai_search", Cost: 5, IdempotencyKey: "a", Fingerprint: "a", LowBalance: 50})
	if err != nil || !rc.Replayed {
		t.Fatalf("repeat of a key from before the restart = %+v, %v; want a replay", rc, err)
	}
	rc, err = db2.Deduct(ctx, creditd.Deduction{UserID: "alice", Feature: "ai_search", Cost: 5, Fingerprint: "d", LowBalance: 50})
	if err != nil || rc.Transaction.ID <= last || rc.Transaction.Version != 4 || rc.Transaction.BalanceAfter != 25 {
		t.Fatalf("deduct after reopen = %+v, %v", rc, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	for name, db := range map[string]*sqlite.DB{
		"missing directory": sqlite.NewDB(filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")),
		"bad synchronous":   {Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "OFF"},
		"empty path":        sqlite.NewDB(""),
	} {
		if err := db.Open(context.Background()); err == nil {
			db.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}
