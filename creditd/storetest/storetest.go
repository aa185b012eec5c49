package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/tallyhq/tally/creditd"
)

// Workers and Each size the concurrency test by default: Workers goroutines × Each deductions on one
// account (credit-api.md's bar).
const (
	Workers = 200
	Each    = 50
)

// Config sizes Run's concurrency test; zero fields take Workers and Each.
type Config struct {
	Workers, Each int
}

// Run checks that s keeps every store rule of the credit API. Subtests run in parallel on accounts of
// their own, so s may hold other data; it is not closed.
func Run(t *testing.T, s creditd.Store, cfg Config) {
	if cfg.Workers == 0 {
		cfg.Workers = Workers
	}
	if cfg.Each == 0 {
		cfg.Each = Each
	}
	prefix := RunID()
	user := func(t *testing.T) string { return prefix + "-" + t.Name() }
	tests := []struct {
		name string
		fn   func(t *testing.T, s creditd.Store, user string)
	}{
		{"CreateAccount", testCreateAccount},
		{"CreateAccountExists", testCreateAccountExists},
		{"NotFound", testNotFound},
		{"Deduct", testDeduct},
		{"Insufficient", testInsufficient},
		{"ExactlyToZero", testExactlyToZero},
		{"Thresholds", testThresholds},
		{"JumpToZeroSkipsLowBalance", testJumpToZero},
		{"Idempotency", testIdempotency},
		{"ReplayAfterDepletion", testReplayAfterDepletion},
		{"Pagination", testPagination},
		{"DeleteAccount", testDeleteAccount},
		{"Ping", func(t *testing.T, s creditd.Store, _ string) { must(t, s.Ping(context.Background())) }},
		{"ConcurrentDeductions", func(t *testing.T, s creditd.Store, user string) {
			testConcurrentDeductions(t, s, user, cfg.Workers, cfg.Each)
		}},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentThresholds", testConcurrentThresholds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, s, user(t))
		})
	}
}

// RunID returns a random hex string that makes user ids (or schema names) unique per test run.
func RunID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func testCreateAccount(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	a, err := s.CreateAccount(ctx, user, 500)
	must(t, err)
	if a.UserID != user || a.Granted != 500 || a.Remaining != 500 || a.Used != 0 || a.Version != 0 || a.CreatedAt.IsZero() {
		t.Fatalf("CreateAccount = %+v", a)
	}
	got, err := s.Account(ctx, user)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("Account = %+v, want %+v", got, a)
	}
	txs, err := s.Transactions(ctx, user, 0, 10)
	must(t, err)
	ns, err := s.Notices(ctx, user)
	must(t, err)
	if len(txs) != 0 || len(ns) != 0 || txs == nil || ns == nil {
		t.Fatalf("new account: transactions %v, notices %v; want two empty, non-nil lists", txs, ns)
	}
}

func testCreateAccountExists(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	before := MustCreate(t, s, user, 100)
	_, err := s.CreateAccount(ctx, user, 999)
	wantCode(t, err, creditd.ECONFLICT)
	if got := MustAccount(t, s, user); !reflect.DeepEqual(got, before) {
		t.Fatalf("after a refused create: %+v, want %+v", got, before)
	}
}

func testNotFound(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	_, err := s.Account(ctx, user)
	wantCode(t, err, creditd.ENOTFOUND)
	_, err = s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 5, Fingerprint: "x"})
	wantCode(t, err, creditd.ENOTFOUND)
	_, err = s.Transactions(ctx, user, 0, 10)
	wantCode(t, err, creditd.ENOTFOUND)
	_, err = s.Notices(ctx, user)
	wantCode(t, err, creditd.ENOTFOUND)
	_, err = s.TransactionByKey(ctx, user, "k")
	wantCode(t, err, creditd.ENOTFOUND)
	wantCode(t, s.DeleteAccount(ctx, user), creditd.ENOTFOUND)
}

func testDeduct(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 500)
	rc, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 5, Fingerprint: "f1", LowBalance: 50})
	must(t, err)
	tx := rc.Transaction
	if rc.Replayed || tx.ID <= 0 || tx.UserID != user || tx.Feature != "ai_search" || tx.Amount != 5 || tx.BalanceAfter != 495 ||
		tx.Version != 1 || tx.IdempotencyKey != "" || tx.Fingerprint != "f1" || tx.CreatedAt.IsZero() || len(rc.Notices) != 0 {
		t.Fatalf("Deduct = %+v", rc)
	}
	a := MustAccount(t, s, user)
	if a.Remaining != 495 || a.Used != 5 || a.Version != 1 || a.Granted != 500 {
		t.Fatalf("account after deduct: %+v", a)
	}
	txs, err := s.Transactions(ctx, user, 0, 10)
	must(t, err)
	if len(txs) != 1 || !reflect.DeepEqual(txs[0], tx) {
		t.Fatalf("Transactions = %+v, want [%+v]", txs, tx)
	}
	rc2, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "live_dubbing", Cost: 7, IdempotencyKey: "k2", Fingerprint: "f2", LowBalance: 50})
	must(t, err)
	if rc2.Transaction.ID <= tx.ID || rc2.Transaction.BalanceAfter != 488 || rc2.Transaction.Version != 2 || rc2.Transaction.IdempotencyKey != "k2" {
		t.Fatalf("second Deduct = %+v", rc2)
	}
	got, err := s.TransactionByKey(ctx, user, "k2")
	must(t, err)
	if !reflect.DeepEqual(got, rc2.Transaction) {
		t.Fatalf("TransactionByKey = %+v, want %+v", got, rc2.Transaction)
	}
}

func testInsufficient(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 12)
	must2(s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 5, Fingerprint: "a", LowBalance: 50}))(t)
	before := Snapshot(t, s, user)
	_, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 8, IdempotencyKey: "k", Fingerprint: "b", LowBalance: 50})
	wantCode(t, err, creditd.EINSUFFICIENT)
	var e *creditd.Error
	if !errors.As(err, &e) || e.Remaining != 7 || e.Required != 8 {
		t.Fatalf("insufficient error = %#v, want Remaining 7 Required 8", err)
	}
	if after := Snapshot(t, s, user); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused deduction changed the account:\nbefore %+v\nafter  %+v", before, after)
	}
	_, err = s.TransactionByKey(ctx, user, "k")
	wantCode(t, err, creditd.ENOTFOUND)
}

func testExactlyToZero(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 10)
	rc, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 10, Fingerprint: "a", LowBalance: 50})
	must(t, err)
	if rc.Transaction.BalanceAfter != 0 || !slices.Equal(rc.Notices, []creditd.NoticeKind{creditd.Depleted}) {
		t.Fatalf("Deduct to zero = %+v", rc)
	}
	_, err = s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 1, Fingerprint: "b", LowBalance: 50})
	wantCode(t, err, creditd.EINSUFFICIENT)
	a := MustAccount(t, s, user)
	if a.Remaining != 0 || a.Used != 10 || !a.DepletedNotified || a.LowBalanceNotified {
		t.Fatalf("account = %+v", a)
	}
}

func testThresholds(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 100)
	want := []struct {
		cost    int64
		after   int64
		notices []creditd.NoticeKind
	}{
		{49, 51, nil},
		{1, 50, []creditd.NoticeKind{creditd.LowBalance}}, // at the threshold counts
		{10, 40, nil}, // at most once
		{39, 1, nil},
		{1, 0, []creditd.NoticeKind{creditd.Depleted}},
	}
	for i, w := range want {
		rc, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: w.cost, Fingerprint: fmt.Sprint(i), LowBalance: 50})
		must(t, err)
		if rc.Transaction.BalanceAfter != w.after || !slices.Equal(rc.Notices, w.notices) {
			t.Fatalf("step %d: Deduct(%d) = after %d notices %v, want %d %v", i, w.cost, rc.Transaction.BalanceAfter, rc.Notices, w.after, w.notices)
		}
	}
	ns, err := s.Notices(ctx, user)
	must(t, err)
	if len(ns) != 2 || ns[0].Kind != creditd.LowBalance || ns[0].Remaining != 50 || ns[1].Kind != creditd.Depleted || ns[1].Remaining != 0 ||
		ns[0].UserID != user || ns[0].TransactionID <= 0 || ns[0].CreatedAt.IsZero() || ns[0].ID >= ns[1].ID {
		t.Fatalf("Notices = %+v", ns)
	}
	a := MustAccount(t, s, user)
	if !a.LowBalanceNotified || !a.DepletedNotified {
		t.Fatalf("flags = %+v", a)
	}
}

func testJumpToZero(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 60)
	rc, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 60, Fingerprint: "a", LowBalance: 50})
	must(t, err)
	ns, err := s.Notices(ctx, user)
	must(t, err)
	if !slices.Equal(rc.Notices, []creditd.NoticeKind{creditd.Depleted}) || len(ns) != 1 || ns[0].Kind != creditd.Depleted {
		t.Fatalf("60 -> 0: receipt notices %v, stored %+v; want only depleted", rc.Notices, ns)
	}
}

func testIdempotency(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 100)
	MustCreate(t, s, user+"-other", 100)
	d := creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 5, IdempotencyKey: "key-1", Fingerprint: "body-1", LowBalance: 50}
	first, err := s.Deduct(ctx, d)
	must(t, err)
	before := Snapshot(t, s, user)
	again, err := s.Deduct(ctx, d)
	must(t, err)
	if !again.Replayed || !reflect.DeepEqual(again.Transaction, first.Transaction) {
		t.Fatalf("repeat = %+v, want replay of %+v", again, first)
	}
	other := d
	other.Fingerprint = "body-2"
	_, err = s.Deduct(ctx, other)
	wantCode(t, err, creditd.EIDEMPOTENCY)
	if after := Snapshot(t, s, user); !reflect.DeepEqual(after, before) {
		t.Fatalf("a replay or a refused repeat changed the account:\nbefore %+v\nafter  %+v", before, after)
	}
	// Keys are per account.
	elsewhere := d
	elsewhere.UserID = user + "-other"
	rc, err := s.Deduct(ctx, elsewhere)
	must(t, err)
	if rc.Replayed || rc.Transaction.ID == first.Transaction.ID {
		t.Fatalf("same key on another account = %+v, want a new charge", rc)
	}
}

func testReplayAfterDepletion(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 5)
	d := creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 5, IdempotencyKey: "only", Fingerprint: "f", LowBalance: 50}
	first, err := s.Deduct(ctx, d)
	must(t, err)
	again, err := s.Deduct(ctx, d)
	must(t, err)
	if !again.Replayed || again.Transaction.ID != first.Transaction.ID {
		t.Fatalf("repeat on an empty account = %+v, %v; want the original answer, not 402", again, err)
	}
}

func testPagination(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 1000)
	var ids []int64
	for i := range 7 {
		rc, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 1, Fingerprint: fmt.Sprint(i), LowBalance: 50})
		must(t, err)
		ids = append(ids, rc.Transaction.ID)
	}
	var got []int64
	after := int64(0)
	for {
		page, err := s.Transactions(ctx, user, after, 3)
		must(t, err)
		if len(page) > 3 {
			t.Fatalf("page of %d > limit 3", len(page))
		}
		for _, tx := range page {
			got = append(got, tx.ID)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged ids = %v, want %v", got, ids)
	}
	page, err := s.Transactions(ctx, user, ids[len(ids)-1], 3)
	must(t, err)
	if len(page) != 0 {
		t.Fatalf("after the last id: %v, want none", page)
	}
}

func testDeleteAccount(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 60)
	rc, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 20, IdempotencyKey: "k", Fingerprint: "f", LowBalance: 50})
	must(t, err)
	must(t, s.DeleteAccount(ctx, user))
	_, err = s.Account(ctx, user)
	wantCode(t, err, creditd.ENOTFOUND)
	wantCode(t, s.DeleteAccount(ctx, user), creditd.ENOTFOUND)
	// A new account of the same name starts clean: no records, no notices, the key is free again.
	MustCreate(t, s, user, 60)
	if snap := Snapshot(t, s, user); len(snap.Transactions) != 0 || len(snap.Notices) != 0 {
		t.Fatalf("recreated account has old data: %+v", snap)
	}
	rc2, err := s.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 20, IdempotencyKey: "k", Fingerprint: "f", LowBalance: 50})
	must(t, err)
	if rc2.Replayed || rc2.Transaction.ID <= rc.Transaction.ID {
		t.Fatalf("deduct on recreated account = %+v; want a new charge with a larger id than %d", rc2, rc.Transaction.ID)
	}
}

// testConcurrentDeductions is credit-api.md's concurrency bar: workers × each deductions (costing 1 to
// 5) race on one account that covers two thirds of them; nothing may leak, overdraw or repeat.
func testConcurrentDeductions(t *testing.T, s creditd.Store, user string, workers, each int) {
	ctx := context.Background()
	granted := int64(2 * workers * each) // demand is 3 × workers × each credits, so the account runs dry
	MustCreate(t, s, user, granted)
	outcomes := Hammer(ctx, s, user, "c", workers, each, func(w, i int) int64 { return int64(1 + (w+i)%5) })
	var ok, refused int
	for _, o := range outcomes {
		switch creditd.ErrorCode(o.Err) {
		case "":
			ok++
		case creditd.EINSUFFICIENT:
			refused++
		default:
			t.Fatalf("deduction failed: %v", o.Err)
		}
	}
	broken, err := Audit(ctx, s, user, granted, outcomes)
	must(t, err)
	if len(broken) > 0 {
		t.Fatalf("correct path broke invariants %v", broken)
	}
	a := MustAccount(t, s, user)
	if a.Remaining < 0 || a.Remaining >= 5 || a.Version != int64(ok) || ok+refused != workers*each {
		t.Fatalf("account %+v after %d ok and %d refused", a, ok, refused)
	}
	ns, err := s.Notices(ctx, user)
	must(t, err)
	count := map[creditd.NoticeKind]int{}
	for _, n := range ns {
		count[n.Kind]++
	}
	wantDepleted := 0
	if a.Remaining == 0 {
		wantDepleted = 1
	}
	if count[creditd.LowBalance] != 1 || count[creditd.Depleted] != wantDepleted {
		t.Fatalf("notices %v with %d remaining; want 1 low_balance and %d depleted", count, a.Remaining, wantDepleted)
	}
}

func testConcurrentSameKey(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 1000)
	const n = 64
	var wg sync.WaitGroup
	results := make([]Outcome, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 5, IdempotencyKey: "same", Fingerprint: "f", LowBalance: 50}
			if i%2 == 1 {
				d.Fingerprint = "other body" // same key, different request: never charged
			}
			rc, err := s.Deduct(ctx, d)
			results[i] = Outcome{Deduction: d, Receipt: rc, Err: err}
		}()
	}
	wg.Wait()
	charged := 0
	var id int64
	var winner string
	for _, r := range results {
		if r.Err == nil && !r.Receipt.Replayed {
			charged++
			id = r.Receipt.Transaction.ID
			winner = r.Deduction.Fingerprint
		}
	}
	if charged != 1 {
		t.Fatalf("%d of %d concurrent repeats of one key charged; want exactly 1", charged, n)
	}
	for _, r := range results {
		switch {
		case r.Deduction.Fingerprint == winner && (r.Err != nil || r.Receipt.Transaction.ID != id):
			t.Fatalf("repeat with the winning body = %+v, %v; want transaction %d", r.Receipt, r.Err, id)
		case r.Deduction.Fingerprint != winner && creditd.ErrorCode(r.Err) != creditd.EIDEMPOTENCY:
			t.Fatalf("repeat with another body = %+v, %v; want %s", r.Receipt, r.Err, creditd.EIDEMPOTENCY)
		}
	}
	a := MustAccount(t, s, user)
	txs, err := s.Transactions(ctx, user, 0, 100)
	must(t, err)
	if a.Remaining != 995 || a.Version != 1 || len(txs) != 1 {
		t.Fatalf("after %d repeats: %+v with %d records; want one charge", n, a, len(txs))
	}
}

func testConcurrentThresholds(t *testing.T, s creditd.Store, user string) {
	ctx := context.Background()
	MustCreate(t, s, user, 100)
	outcomes := Hammer(ctx, s, user, "t", 50, 2, func(int, int) int64 { return 2 })
	broken, err := Audit(ctx, s, user, 100, outcomes)
	must(t, err)
	ns, err := s.Notices(ctx, user)
	must(t, err)
	if len(broken) > 0 || len(ns) != 2 || ns[0].Kind != creditd.LowBalance || ns[1].Kind != creditd.Depleted {
		t.Fatalf("racing across both thresholds: broken %v, notices %+v; want none broken and one of each", broken, ns)
	}
}

// State is everything stored for one account.
type State struct {
	Account      creditd.Account
	Transactions []creditd.Transaction
	Notices      []creditd.Notice
}

// Snapshot reads an account with all its records and notices.
func Snapshot(tb testing.TB, s creditd.Store, user string) State {
	tb.Helper()
	ctx := context.Background()
	a := MustAccount(tb, s, user)
	txs, err := AllTransactions(ctx, s, user)
	if err != nil {
		tb.Fatal(err)
	}
	ns, err := s.Notices(ctx, user)
	if err != nil {
		tb.Fatal(err)
	}
	return State{Account: a, Transactions: txs, Notices: ns}
}

// MustCreate creates an account or fails the test.
func MustCreate(tb testing.TB, s creditd.Store, user string, credits int64) creditd.Account {
	tb.Helper()
	a, err := s.CreateAccount(context.Background(), user, credits)
	if err != nil {
		tb.Fatalf("create %s: %v", user, err)
	}
	return a
}

// MustAccount reads an account or fails the test.
func MustAccount(tb testing.TB, s creditd.Store, user string) creditd.Account {
	tb.Helper()
	a, err := s.Account(context.Background(), user)
	if err != nil {
		tb.Fatalf("read %s: %v", user, err)
	}
	return a
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func must2[T any](_ T, err error) func(testing.TB) {
	return func(tb testing.TB) {
		tb.Helper()
		must(tb, err)
	}
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := creditd.ErrorCode(err); got != code {
		tb.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}
