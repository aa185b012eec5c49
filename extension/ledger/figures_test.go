package ledger

import (
	"context"
	"testing"
)

// TestFiguresAgree: the outcome buckets add up to the deductions, the
// ledger_credits_confirmed metric ends equal to the verdict's confirmed
// credits (unknown outcomes the server log shows charged included), and an
// account nothing touched is "not exercised", never verified.
func TestFiguresAgree(t *testing.T) {
	t.Parallel()
	confirmed := map[string]float64{}
	verified := []float64{}
	obs := ObserverFunc(func(_ context.Context, s Sample) {
		switch s.Metric {
		case MetricCreditsConfirmed:
			confirmed[s.Tags.Feature] += s.Value
		case MetricAccountsVerified:
			verified = append(verified, s.Value)
		}
	})
	s := newScript(t, Config{Observer: obs})
	s.open("a", 100)
	s.open("idle", 100)
	s.deduct(1, 2, "a", 5, okBal(95))
	lost := s.deduct(3, 4, "a", 3, timeout())   // applied: its key is in the log
	unseen := s.deduct(5, 6, "a", 7, timeout()) // never applied: not in the log
	s.deduct(7, 8, "a", 500, Outcome{Kind: Insufficient})
	s.serverLog("a",
		LogTx{ID: "t1", Feature: "f", Amount: 5, BalanceAfter: 95, HasBalance: true, Key: "r:i0:1"},
		LogTx{ID: "t2", Feature: "f", Amount: 3, BalanceAfter: 92, HasBalance: true, Key: lost.Key})
	_ = unseen
	s.close("a", 92)
	s.close("idle", 100)
	r := s.verify(VerifyOptions{})
	if r.Verdict != Pass {
		t.Fatalf("verdict %s\n%s", r.Verdict, text(r))
	}
	c := r.Totals.Counts
	if sum := c.OK + c.Insufficient + c.Rejected + c.LogCharged + c.LogNotCharged + c.Unknown; sum != c.Deductions || c.LogCharged != 1 || c.LogNotCharged != 1 {
		t.Fatalf("buckets %+v add up to %d, want %d deductions with one charged and one not by the log", c, sum, c.Deductions)
	}
	if r.Totals.Confirmed != 8 || confirmed["f"] != float64(r.Totals.Confirmed) {
		t.Fatalf("ledger_credits_confirmed %v, verdict confirmed %d (want 8 and equal)", confirmed["f"], r.Totals.Confirmed)
	}
	if got := r.Accounts["idle"].Verdict; got != NotExercised || r.Totals.NotExercised != 1 || r.Totals.Passed != 1 {
		t.Fatalf("idle account %s, totals %+v: want not exercised, one passed", got, r.Totals)
	}
	if len(verified) != 1 || verified[0] != 1 {
		t.Fatalf("ledger_accounts_verified samples %v: want one 1 (the idle account is not counted)", verified)
	}

	// Only idle accounts: nothing was verified.
	s2 := newScript(t, Config{})
	s2.open("idle", 10)
	s2.close("idle", 10)
	if r := s2.verify(VerifyOptions{}); r.Verdict != Undecided {
		t.Fatalf("a run without any operation must be undecided, got %s\n%s", r.Verdict, text(r))
	}
}
