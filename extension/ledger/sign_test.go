package ledger

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestAmountSign: the sign convention of logged debits is detected from
// the balance chain (or, on a log too short for it, from the amounts alone,
// else assumed positive), can be forced, and is named in the verdict; a
// log written with negative debits verifies like one with positive debits.
func TestAmountSign(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		forced    AmountSign
		amounts   []int64 // deductions, each ok
		sign      int64   // how the log writes them: 1 or -1
		noBalance bool    // log records without balance_after
		want      AmountSign
		basis     string
		verdict   Verdict
	}{
		{name: "positive chain", amounts: []int64{5, 3, 4}, sign: 1, want: SignPositive, basis: "balance chain", verdict: Pass},
		{name: "negative chain", amounts: []int64{5, 3, 4}, sign: -1, want: SignNegative, basis: "balance chain", verdict: Pass},
		{name: "one negative record", amounts: []int64{5}, sign: -1, want: SignNegative, basis: "amounts", verdict: Pass},
		{name: "one positive record", amounts: []int64{5}, sign: 1, want: SignPositive, basis: "assumed", verdict: Pass},
		{name: "negative without balances", amounts: []int64{5, 3}, sign: -1, noBalance: true, want: SignNegative, basis: "amounts", verdict: Pass},
		{name: "forced negative", forced: SignNegative, amounts: []int64{5, 3}, sign: -1, want: SignNegative, basis: "configured", verdict: Pass},
		{name: "forced positive on a negative log", forced: SignPositive, amounts: []int64{5, 3}, sign: -1, want: SignPositive, basis: "configured", verdict: Fail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, Config{AmountSign: tc.forced})
			s.open("a", 100)
			bal := int64(100)
			var log []LogTx
			for i, amt := range tc.amounts {
				bal -= amt
				op := s.deduct(int64(10*i+1), int64(10*i+5), "a", amt, okBal(bal))
				log = append(log, LogTx{ID: op.Key, Feature: "f", Amount: tc.sign * amt, BalanceAfter: bal, HasBalance: !tc.noBalance, Key: op.Key})
			}
			s.serverLog("a", log...)
			s.close("a", bal)
			r := s.verify(VerifyOptions{})
			if r.AmountSign == nil || r.AmountSign.Sign != tc.want || r.AmountSign.Basis != tc.basis {
				t.Fatalf("amount sign %+v, want %s by %s", r.AmountSign, tc.want, tc.basis)
			}
			if r.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s\n%s", r.Verdict, tc.verdict, text(r))
			}
			if !strings.Contains(text(r), "log amounts   debits "+string(tc.want)) {
				t.Fatalf("the verdict does not name the convention:\n%s", text(r))
			}
		})
	}
}

// TestAmountSignJournal: a configured sign travels in the journal header,
// so `tally ledger verify` reads the log the same way.
func TestAmountSignJournal(t *testing.T) {
	t.Parallel()
	s := newScript(t, Config{AmountSign: SignNegative})
	s.open("a", 100)
	op := s.deduct(1, 2, "a", 5, okBal(95))
	s.serverLog("a", LogTx{ID: "t1", Feature: "f", Amount: -5, BalanceAfter: 95, HasBalance: true, Key: op.Key})
	s.close("a", 95)
	path := filepath.Join(t.TempDir(), "j.ndjson")
	if err := s.l.ExportJournal(path); err != nil {
		t.Fatal(err)
	}
	r, err := VerifyJournals(context.Background(), []string{path}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.AmountSign == nil || r.AmountSign.Sign != SignNegative || r.AmountSign.Basis != "configured" || r.Verdict != Pass {
		t.Fatalf("sign %+v verdict %s\n%s", r.AmountSign, r.Verdict, text(r))
	}
}
