package fault_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/fault"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []fault.Spec
	}{
		{"", nil},
		{"none", nil},
		{"lost-update", []fault.Spec{{Name: "lost-update", Probability: 1, Delay: fault.DefaultLostUpdatePause}}},
		{"phantom-charge:0.25, slow=50ms:0.5", []fault.Spec{{Name: "phantom-charge", Probability: 0.25},
			{Name: "slow", Probability: 0.5, Delay: 50 * time.Millisecond}}},
		{"stale-read=1s", []fault.Spec{{Name: "stale-read", Probability: 1, Delay: time.Second}}},
	}
	for _, tt := range tests {
		got, err := fault.Parse(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		for i, s := range got {
			again, err := fault.Parse(s.String())
			if err != nil || again[0] != got[i] {
				t.Errorf("Parse(%q.String() = %q) = %+v, %v", tt.in, s.String(), again, err)
			}
		}
	}
	for _, bad := range []string{"lost-updates", "slow:0", "slow:1.5", "slow:x", "slow=fast", "slow=-1s", "overdraft=1s",
		"slow,slow", "slow,", ":0.5"} {
		if _, err := fault.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if len(fault.Names()) != 8 {
		t.Errorf("Names() = %v", fault.Names())
	}
}

// mockStore is a creditd.Store and fault.Raw of function fields; nil fields panic if called.
type mockStore struct {
	creditd.Store
	DeductFn      func(context.Context, creditd.Deduction) (creditd.Receipt, error)
	AccountFn     func(context.Context, string) (creditd.Account, error)
	ByKeyFn       func(context.Context, string, string) (creditd.Transaction, error)
	WriteBackFn   func(context.Context, creditd.Account, creditd.Transaction, []creditd.Notice) (creditd.Transaction, error)
	DeleteTxFn    func(context.Context, string, int64) error
	AddNoticeFn   func(context.Context, creditd.Notice) error
	mu            sync.Mutex
	deductions    []creditd.Deduction
	deletedTx     []int64
	addedNotices  []creditd.Notice
	writtenBack   []creditd.Account
	writtenRecord []creditd.Transaction
}

func (m *mockStore) Deduct(ctx context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	m.mu.Lock()
	m.deductions = append(m.deductions, d)
	m.mu.Unlock()
	return m.DeductFn(ctx, d)
}
func (m *mockStore) Account(ctx context.Context, u string) (creditd.Account, error) {
	return m.AccountFn(ctx, u)
}
func (m *mockStore) TransactionByKey(ctx context.Context, u, k string) (creditd.Transaction, error) {
	return m.ByKeyFn(ctx, u, k)
}
func (m *mockStore) WriteBack(ctx context.Context, a creditd.Account, t creditd.Transaction, n []creditd.Notice) (creditd.Transaction, error) {
	m.writtenBack, m.writtenRecord = append(m.writtenBack, a), append(m.writtenRecord, t)
	return m.WriteBackFn(ctx, a, t, n)
}
func (m *mockStore) DeleteTransaction(ctx context.Context, u string, id int64) error {
	m.deletedTx = append(m.deletedTx, id)
	return nil
}
func (m *mockStore) AddNotice(ctx context.Context, n creditd.Notice) error {
	m.addedNotices = append(m.addedNotices, n)
	return nil
}

func charged(balanceAfter int64, notices ...creditd.NoticeKind) func(context.Context, creditd.Deduction) (creditd.Receipt, error) {
	return func(_ context.Context, d creditd.Deduction) (creditd.Receipt, error) {
		return creditd.Receipt{Transaction: creditd.Transaction{ID: 42, UserID: d.UserID, Amount: d.Cost, BalanceAfter: balanceAfter}, Notices: notices}, nil
	}
}

func wrap(t *testing.T, m *mockStore, spec string, env fault.Env) creditd.Store {
	t.Helper()
	specs, err := fault.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return fault.Wrap(m, m, specs, env)
}

var d = creditd.Deduction{UserID: "u", Feature: "ai_search", Cost: 5, IdempotencyKey: "k", Fingerprint: "f", LowBalance: 50}

func TestWrapNone(t *testing.T) {
	t.Parallel()
	m := &mockStore{}
	if s := fault.Wrap(m, m, nil, fault.Env{}); s != creditd.Store(m) {
		t.Fatal("Wrap without faults changed the store")
	}
}

func TestProbability(t *testing.T) {
	t.Parallel()
	m := &mockStore{DeductFn: charged(90)}
	s := wrap(t, m, "phantom-charge:0.5", fault.Env{Rand: func() float64 { return 0.7 }})
	if _, err := s.Deduct(context.Background(), d); err != nil {
		t.Fatalf("coin 0.7 >= p 0.5 took the faulty path: %v", err)
	}
	s = wrap(t, m, "phantom-charge:0.5", fault.Env{Rand: func() float64 { return 0.3 }})
	if _, err := s.Deduct(context.Background(), d); err == nil {
		t.Fatal("coin 0.3 < p 0.5 took the correct path")
	}
}

func TestPhantomCharge(t *testing.T) {
	t.Parallel()
	m := &mockStore{DeductFn: charged(90)}
	s := wrap(t, m, "phantom-charge", fault.Env{})
	if _, err := s.Deduct(context.Background(), d); creditd.ErrorCode(err) != creditd.EINTERNAL || len(m.deductions) != 1 {
		t.Fatalf("phantom charge: %v after %d deductions", err, len(m.deductions))
	}
	m.DeductFn = func(context.Context, creditd.Deduction) (creditd.Receipt, error) {
		return creditd.Receipt{Replayed: true}, nil
	}
	if _, err := s.Deduct(context.Background(), d); err != nil {
		t.Fatalf("a replay failed: %v", err)
	}
}

func TestDoubleCharge(t *testing.T) {
	t.Parallel()
	m := &mockStore{DeductFn: charged(90)}
	s := wrap(t, m, "double-charge", fault.Env{})
	rc, err := s.Deduct(context.Background(), d)
	if err != nil || rc.Transaction.BalanceAfter != 90 || len(m.deductions) != 2 || m.deductions[0].IdempotencyKey != "k" ||
		m.deductions[1].IdempotencyKey != "" || m.deductions[1].Cost != 5 {
		t.Fatalf("double charge: %+v, %v; store saw %+v", rc, err, m.deductions)
	}
}

func TestLostRecord(t *testing.T) {
	t.Parallel()
	m := &mockStore{DeductFn: charged(90)}
	s := wrap(t, m, "lost-record", fault.Env{})
	if rc, err := s.Deduct(context.Background(), d); err != nil || rc.Transaction.ID != 42 || !reflect.DeepEqual(m.deletedTx, []int64{42}) {
		t.Fatalf("lost record: %+v, %v, deleted %v", rc, err, m.deletedTx)
	}
}

func TestDuplicateNotify(t *testing.T) {
	t.Parallel()
	m := &mockStore{DeductFn: charged(40)}
	s := wrap(t, m, "duplicate-notify", fault.Env{})
	s.Deduct(context.Background(), d)
	if len(m.addedNotices) != 1 || m.addedNotices[0].Kind != creditd.LowBalance || m.addedNotices[0].DedupKey != "low_balance#42" {
		t.Fatalf("notices added %+v", m.addedNotices)
	}
	m.addedNotices = nil
	m.DeductFn = charged(40, creditd.LowBalance) // the correct path recorded it: nothing to add
	s.Deduct(context.Background(), d)
	m.DeductFn = charged(60) // outside the bands
	s.Deduct(context.Background(), d)
	if len(m.addedNotices) != 0 {
		t.Fatalf("notices added %+v", m.addedNotices)
	}
}

// TestOverdraft: the floor is dropped exactly when another deduction on the account is in flight.
func TestOverdraft(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	m := &mockStore{}
	m.DeductFn = func(_ context.Context, d creditd.Deduction) (creditd.Receipt, error) {
		if d.Feature == "first" {
			close(entered)
			<-release
		}
		return creditd.Receipt{}, nil
	}
	s := wrap(t, m, "overdraft", fault.Env{})
	first, other := d, d
	first.Feature = "first"
	other.UserID = "someone-else"
	done := make(chan struct{})
	go func() { s.Deduct(context.Background(), first); close(done) }()
	<-entered
	s.Deduct(context.Background(), d)     // same account, contended
	s.Deduct(context.Background(), other) // other account, not contended
	close(release)
	<-done
	s.Deduct(context.Background(), d) // alone again
	got := map[string]int64{}
	for _, x := range m.deductions {
		got[x.Feature+"/"+x.UserID] += x.Overdraft
	}
	want := map[string]int64{"first/u": 0, "ai_search/u": creditd.MaxCredits, "ai_search/someone-else": 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("overdraft floors %v, want %v", got, want)
	}
}

// TestLostUpdate: read, pause, write back the computed balance (and a record saying so).
func TestLostUpdate(t *testing.T) {
	t.Parallel()
	var paused time.Duration
	m := &mockStore{
		ByKeyFn: func(context.Context, string, string) (creditd.Transaction, error) {
			return creditd.Transaction{}, creditd.Errorf(creditd.ENOTFOUND, "none")
		},
		AccountFn: func(context.Context, string) (creditd.Account, error) {
			return creditd.Account{UserID: "u", Granted: 100, Remaining: 52, Used: 48, Version: 9}, nil
		},
		WriteBackFn: func(_ context.Context, _ creditd.Account, t creditd.Transaction, _ []creditd.Notice) (creditd.Transaction, error) {
			t.ID = 77
			return t, nil
		},
	}
	s := wrap(t, m, "lost-update=3ms", fault.Env{Sleep: func(_ context.Context, d time.Duration) error { paused += d; return nil }})
	rc, err := s.Deduct(context.Background(), d)
	if err != nil || rc.Transaction.ID != 77 || rc.Transaction.BalanceAfter != 47 || rc.Transaction.Version != 10 || paused != 3*time.Millisecond {
		t.Fatalf("lost update: %+v, %v, paused %v", rc, err, paused)
	}
	a := m.writtenBack[0]
	if a.Remaining != 47 || a.Used != 53 || a.Version != 10 || !a.LowBalanceNotified || len(m.deductions) != 0 {
		t.Fatalf("written back %+v (and %d atomic deductions)", a, len(m.deductions))
	}
	// An idempotency key seen before is replayed, as on the correct path.
	m.ByKeyFn = func(context.Context, string, string) (creditd.Transaction, error) {
		return creditd.Transaction{ID: 5, Fingerprint: "f"}, nil
	}
	if rc, err := s.Deduct(context.Background(), d); err != nil || !rc.Replayed || rc.Transaction.ID != 5 {
		t.Fatalf("replay under lost-update: %+v, %v", rc, err)
	}
	// Not enough credits: refused like the correct path.
	m.ByKeyFn = func(context.Context, string, string) (creditd.Transaction, error) {
		return creditd.Transaction{}, creditd.Errorf(creditd.ENOTFOUND, "none")
	}
	big := d
	big.Cost = 60
	if _, err := s.Deduct(context.Background(), big); creditd.ErrorCode(err) != creditd.EINSUFFICIENT {
		t.Fatalf("insufficient under lost-update: %v", err)
	}
}
