package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestLedgerErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newScript(t, Config{})
	l := s.l
	if _, err := l.Begin(ctx, "a", Deduction{Amount: 0}); !errors.Is(err, ErrBadAmount) {
		t.Errorf("amount 0: %v, want ErrBadAmount", err)
	}
	if _, err := l.Begin(ctx, "", Deduction{Amount: 5}); !errors.Is(err, ErrBadAccount) {
		t.Errorf("empty account: %v", err)
	}
	s.open("a", 10)
	if err := l.Open(ctx, "a", Snapshot{Balance: 10}); !errors.Is(err, ErrAlreadyOpen) {
		t.Errorf("second open: %v", err)
	}
	op := s.begin(1, "a", 5)
	if err := l.Settle(ctx, op, Outcome{}); !errors.Is(err, ErrBadOutcome) {
		t.Errorf("pending outcome: %v", err)
	}
	if err := l.Settle(ctx, op, Outcome{Kind: Unknown}); !errors.Is(err, ErrBadOutcome) {
		t.Errorf("unknown without cause: %v", err)
	}
	s.settle(2, op, okBal(5))
	if err := l.Settle(ctx, op, okBal(5)); !errors.Is(err, ErrAlreadySettled) {
		t.Errorf("second settle: %v", err)
	}
	if err := l.SettleReplay(ctx, op, okBal(5)); !errors.Is(err, ErrNotUnresolved) {
		t.Errorf("replay of a settled op: %v", err)
	}
	if err := l.SettleReplayID(ctx, 999, okBal(5)); !errors.Is(err, ErrNoSuchOp) {
		t.Errorf("replay of a missing op: %v", err)
	}
	if err := l.Settle(ctx, Op{}, okBal(5)); !errors.Is(err, ErrNoSuchOp) {
		t.Errorf("zero op: %v", err)
	}
	if _, err := l.Begin(ctx, "a", Deduction{Amount: 1, Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Begin(ctx, "a", Deduction{Amount: 1, Key: "k"}); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("duplicate key: %v", err)
	}
	s.close("a", 5)
	if err := l.Close(ctx, "a", Snapshot{Balance: 5}); !errors.Is(err, ErrAlreadyClosed) {
		t.Errorf("second close: %v", err)
	}
}

func TestKeysAndIDs(t *testing.T) {
	t.Parallel()
	s := newScript(t, Config{Run: "run7", Instance: "east"})
	a := s.begin(1, "a", 5)
	b := s.begin(2, "b", 5)
	if a.Key != "run7:east:1" || b.Key != "run7:east:2" || a.ID != 1 || b.ID != 2 {
		t.Fatalf("keys %q %q ids %d %d", a.Key, b.Key, a.ID, b.ID)
	}
}

// Unknown outcomes replayed with the same key become definite: the interval
// check turns exact.
func TestReplayResolvesUnknowns(t *testing.T) {
	t.Parallel()
	s := newScript(t, Config{})
	s.open("a", 100)
	u1 := s.deduct(1, 9, "a", 5, timeout()) // applied
	s.deduct(2, 9, "a", 3, timeout())       // never applied
	s.begin(3, "a", 4)                      // never settled, never applied
	unk := s.l.Unknowns()
	if len(unk) != 3 || unk[0].ID != u1.ID {
		t.Fatalf("unknowns %+v", unk)
	}
	s.now = 20
	if err := s.l.SettleReplay(s.ctx, unk[0], okBal(95)); err != nil {
		t.Fatal(err)
	}
	s.now = 21
	if err := s.l.SettleReplayID(s.ctx, unk[1].ID, okBal(92)); err != nil { // applied by the replay
		t.Fatal(err)
	}
	s.now = 22
	if err := s.l.SettleReplay(s.ctx, unk[2], Outcome{Kind: Unknown, Cause: CauseTimeout}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.l.Unknowns()); n != 1 {
		t.Fatalf("%d unknowns left, want 1", n)
	}
	s.at(30).close("a", 92)
	r := s.verify(VerifyOptions{})
	a := r.Accounts["a"]
	if r.Verdict != Pass || a.Counts.Resolved != 2 || a.Counts.Unknown != 1 || a.Confirmed != 8 || a.Unresolved != 4 {
		t.Fatalf("verdict %s, account %+v\n%s", r.Verdict, a, text(r))
	}
	if a.Interval == nil || a.Interval.Hi != 92 || a.Interval.Lo != 88 || a.UnknownTaken != 0 {
		t.Fatalf("interval %+v taken %d", a.Interval, a.UnknownTaken)
	}
}

// collect records the observer's samples.
type collect struct {
	mu sync.Mutex
	s  []Sample
}

func (c *collect) Observe(_ context.Context, s Sample) {
	c.mu.Lock()
	c.s = append(c.s, s)
	c.mu.Unlock()
}

func (c *collect) sum(metric string, tags Tags) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := 0.0
	for _, s := range c.s {
		if s.Metric == metric && (tags == Tags{} || s.Tags == tags) {
			v += s.Value
		}
	}
	return v
}

func (c *collect) count(metric string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.s {
		if s.Metric == metric {
			n++
		}
	}
	return n
}

func TestObserverSamples(t *testing.T) {
	t.Parallel()
	obs := &collect{}
	s := newScript(t, Config{Observer: obs})
	s.open("a", 100)
	// every counter at zero on first use
	for _, m := range Metrics {
		if m.Type == Counter && obs.count(m.Name) != 1 {
			t.Fatalf("%s: %d zero samples", m.Name, obs.count(m.Name))
		}
	}
	s.deduct(1, 3, "a", 5, okBal(95))
	s.deduct(4, 6, "a", 5, okBal(95)) // lost update, caught online
	s.deduct(7, 8, "a", 5, timeout())
	s.read(9, 10, "a", 120) // above every bound: stale, caught online
	s.at(20).close("a", 95)
	if v := obs.sum(MetricOps, Tags{Kind: "deduct", Outcome: "ok", Feature: "f"}); v != 2 {
		t.Errorf("ok deductions %v", v)
	}
	if v := obs.sum(MetricOps, Tags{Kind: "deduct", Outcome: "unknown", Feature: "f"}); v != 1 {
		t.Errorf("unknown deductions %v", v)
	}
	if v := obs.sum(MetricCreditsConfirmed, Tags{Feature: "f"}); v != 10 {
		t.Errorf("credits confirmed %v", v)
	}
	if v := obs.sum(MetricOnlineViolations, Tags{Kind: string(KindLostUpdate)}); v < 1 {
		t.Errorf("online lost updates %v", v)
	}
	if v := obs.sum(MetricOnlineViolations, Tags{Kind: string(KindStaleRead)}); v != 1 {
		t.Errorf("online stale reads %v", v)
	}
	r := s.verify(VerifyOptions{})
	if v := obs.sum(MetricDiscrepancies, Tags{}); int(v) != r.DiscrepancyCount() || v == 0 {
		t.Errorf("discrepancies %v, report %d", v, r.DiscrepancyCount())
	}
	if v := obs.sum(MetricDiscrepancies, Tags{Kind: string(KindLostUpdate)}); int(v) != r.Discrepancies[KindLostUpdate] {
		t.Errorf("lost updates %v, report %d", v, r.Discrepancies[KindLostUpdate])
	}
	if v := obs.sum(MetricUnknownOutcomes, Tags{}); v != 1 {
		t.Errorf("unknown outcomes %v", v)
	}
	if v := obs.sum(MetricCreditsLeaked, Tags{}); int64(v) != r.Totals.Leaked || v == 0 {
		t.Errorf("leaked %v, report %d", v, r.Totals.Leaked)
	}
	if n := obs.count(MetricAccountsVerified); n != 1 {
		t.Errorf("%d account samples", n)
	}
}

// A correct server hit by 1,000 goroutines at once, through the real clock:
// the ledger must keep up (under -race too) and the verdict must pass.
func TestConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	const workers, perWorker, accounts = 1000, 10, 20
	obs := &collect{}
	l, err := New(Config{Observer: obs, Journal: &journalSink{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type acct struct {
		mu  sync.Mutex
		bal int64
	}
	server := make([]*acct, accounts)
	for i := range server {
		server[i] = &acct{bal: 150}
		if err := l.Open(ctx, acctName(i), Snapshot{Balance: 150}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range perWorker {
				i := rng.IntN(accounts)
				amt := 1 + rng.Int64N(5)
				a := server[i]
				if rng.IntN(10) == 0 {
					rd, _ := l.BeginRead(ctx, acctName(i))
					a.mu.Lock()
					b := a.bal
					a.mu.Unlock()
					if err := l.SettleRead(ctx, rd, Snapshot{Balance: b}); err != nil {
						t.Error(err)
					}
					continue
				}
				op, err := l.Begin(ctx, acctName(i), Deduction{Feature: "x", Amount: amt})
				if err != nil {
					t.Error(err)
					return
				}
				a.mu.Lock()
				var o Outcome
				switch {
				case rng.IntN(50) == 0: // timed out, applied or not
					if rng.IntN(2) == 0 && a.bal >= amt {
						a.bal -= amt
					}
					o = timeout()
				case a.bal >= amt:
					a.bal -= amt
					o = okBal(a.bal)
				default:
					o = Outcome{Kind: Insufficient, Balance: a.bal, HasBalance: true}
				}
				a.mu.Unlock()
				if err := l.Settle(ctx, op, o); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i, a := range server {
		if err := l.Close(ctx, acctName(i), Snapshot{Balance: a.bal}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.CloseJournal(); err != nil {
		t.Fatal(err)
	}
	r, err := l.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Pass || r.Totals.Accounts != accounts {
		t.Fatalf("verdict %s\n%s", r.Verdict, text(r))
	}
	if v := obs.sum(MetricOnlineViolations, Tags{}); v != 0 {
		t.Fatalf("%v online violations on a correct server", v)
	}
	if c := r.Totals.Counts; c.OK+c.Insufficient+c.Unknown+c.Reads != workers*perWorker {
		t.Fatalf("counts %+v", c)
	}
}

func acctName(i int) string { return "acct-" + string(rune('a'+i%26)) + string(rune('a'+i/26)) }

// TestFlySlotsReleased: an account raced on by many deductions at once
// keeps no slots for them once none is in flight (a long run visits
// account after account), and ops settled before the release still cannot
// be settled twice.
func TestFlySlotsReleased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newScript(t, Config{})
	s.open("a", 1000)
	ops := make([]Op, 300)
	for i := range ops {
		ops[i] = s.begin(int64(1+i), "a", 1)
	}
	a := ops[0].acct
	if len(a.fly) != len(ops) {
		t.Fatalf("in flight: %d slots, want %d", len(a.fly), len(ops))
	}
	for i, op := range ops[:len(ops)-1] {
		s.settle(int64(400+i), op, okBal(int64(999-i)))
	}
	if len(a.fly) != len(ops) {
		t.Fatalf("one still in flight: %d slots, want %d", len(a.fly), len(ops))
	}
	last := ops[len(ops)-1]
	s.settle(800, last, okBal(700))
	if cap(a.fly) > keepFly || len(a.free) != 0 {
		t.Fatalf("none in flight: %d slots (cap %d), %d free, want at most %d", len(a.fly), cap(a.fly), len(a.free), keepFly)
	}
	if err := s.l.Settle(ctx, ops[0], okBal(1)); !errors.Is(err, ErrAlreadySettled) {
		t.Errorf("settle after release: %v, want ErrAlreadySettled", err)
	}
	next := s.begin(900, "a", 1)
	if err := s.l.Settle(ctx, last, okBal(1)); !errors.Is(err, ErrAlreadySettled) {
		t.Errorf("stale op beside a new one in slot %d: %v, want ErrAlreadySettled", next.idx, err)
	}
	s.settle(901, next, okBal(699))
	s.close("a", 699)
	if r := s.verify(VerifyOptions{}); r.Verdict != Pass {
		t.Fatalf("verdict %v, want pass: %+v", r.Verdict, r)
	}
}
