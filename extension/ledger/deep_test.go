package ledger

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDeepCheck(t *testing.T) {
	t.Parallel()
	t.Run("correct histories are linearizable or unknown, never illegal", func(t *testing.T) {
		t.Parallel()
		okSeen := 0
		for seed := range uint64(40) {
			cfg := correctConfig(seed)
			cfg.ops = min(cfg.ops, 150)
			s := runSim(t, cfg)
			r := mustVerify(t, s.l, VerifyOptions{Deep: DeepAuto, AccountBudget: 250 * time.Millisecond, MemoryBudget: 32 << 20})
			if r.Verdict != Pass || r.Deep.Illegal != 0 {
				t.Fatalf("%v: %s", cfg, text(r))
			}
			okSeen += r.Deep.OK
		}
		if okSeen == 0 {
			t.Fatal("no account was found linearizable")
		}
	})
	t.Run("a lost update is not linearizable", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s := newScript(t, Config{})
		s.open("a", 100)
		s.deduct(1, 3, "a", 5, Outcome{Kind: OK})
		s.deduct(4, 6, "a", 5, Outcome{Kind: OK})
		s.at(10).close("a", 95)
		r := s.verify(VerifyOptions{Deep: DeepAuto, VisualizeDir: dir})
		a := r.Accounts["a"]
		if a.Linearizable != LinIllegal || r.Discrepancies[KindNotLinearizable] != 1 || r.Deep.Illegal != 1 {
			t.Fatalf("linearizable %s\n%s", a.Linearizable, text(r))
		}
		var f Finding
		for _, x := range a.Anomalies {
			if x.Kind == KindNotLinearizable {
				f = x
			}
		}
		path := strings.TrimPrefix(f.Detail, "visualization: ")
		if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), "<html") {
			t.Fatalf("visualization %q: %v", f.Detail, err)
		}
	})
	t.Run("unresolved unknowns at 500 clients run out of budget: unknown, not a failure", func(t *testing.T) {
		t.Parallel()
		s := runSim(t, simConfig{seed: 1, accounts: 1, clients: 500, ops: 3000, unknownFrac: 0.01, startFactor: 0.9})
		r := mustVerify(t, s.l, VerifyOptions{Deep: DeepAuto, AccountBudget: 200 * time.Millisecond})
		a := r.Accounts["u0"]
		if r.Verdict != Pass {
			t.Fatalf("verdict %s\n%s", r.Verdict, text(r))
		}
		if a.Linearizable == LinIllegal || (a.Linearizable == LinOutOfBudget) != (r.Deep.OutOfBudget == 1) {
			t.Fatalf("linearizable %s, deep %+v", a.Linearizable, r.Deep)
		}
	})
	t.Run("memory budget", func(t *testing.T) {
		t.Parallel()
		s := runSim(t, simConfig{seed: 2, accounts: 1, clients: 300, ops: 2000, unknownFrac: 0.02, startFactor: 0.9})
		start := time.Now()
		r := mustVerify(t, s.l, VerifyOptions{Deep: DeepAuto, MemoryBudget: 1 << 10, AccountBudget: time.Minute})
		if a := r.Accounts["u0"]; a.Linearizable != LinOutOfBudget || r.Verdict != Pass {
			t.Fatalf("linearizable %s, verdict %s", a.Linearizable, r.Verdict)
		}
		if el := time.Since(start); el > 20*time.Second {
			t.Fatalf("a 1 KiB budget took %s", el)
		}
	})
	t.Run("an account nothing touched is not exercised, not linearizable", func(t *testing.T) {
		t.Parallel()
		s := newScript(t, Config{})
		s.open("a", 100)
		s.open("idle", 100)
		s.deduct(1, 3, "a", 5, Outcome{Kind: OK, Balance: 95, HasBalance: true})
		s.at(10).close("a", 95)
		s.at(10).close("idle", 100)
		r := s.verify(VerifyOptions{Deep: DeepAuto})
		if got := r.Accounts["idle"].Linearizable; got != LinNotExercised {
			t.Fatalf("idle account: linearizable %s, want %s", got, LinNotExercised)
		}
		if r.Deep.OK != 1 || r.Deep.NotExercised != 1 || r.Accounts["a"].Linearizable != LinOK {
			t.Fatalf("deep %+v, a %s: want 1 linearizable, 1 not exercised", r.Deep, r.Accounts["a"].Linearizable)
		}
		if !strings.Contains(text(r), "1 linearizable, 0 not, 0 out of budget, 0 skipped, 1 not exercised") {
			t.Fatalf("text:\n%s", text(r))
		}
	})
	t.Run("accounts left when the total budget is spent are counted once, not noted each", func(t *testing.T) {
		t.Parallel()
		s := runSim(t, simConfig{seed: 5, accounts: 30, clients: 10, ops: 300, startFactor: 0.9})
		r := mustVerify(t, s.l, VerifyOptions{Deep: DeepAuto, TotalBudget: time.Nanosecond})
		if r.Deep.NotRun == 0 || r.Deep.NotRun > r.Deep.OutOfBudget || r.Verdict != Pass {
			t.Fatalf("deep %+v, verdict %s: want accounts not run, within out of budget", r.Deep, r.Verdict)
		}
		for id, a := range r.Accounts {
			for _, n := range a.Notes {
				if strings.Contains(n, "not run") {
					t.Fatalf("account %s has the note %q", id, n)
				}
			}
		}
		want := fmt.Sprintf("%d out of budget (%d of them not run: the total budget was spent first)", r.Deep.OutOfBudget, r.Deep.NotRun)
		if !strings.Contains(text(r), want) {
			t.Fatalf("want %q in:\n%s", want, text(r))
		}
	})
	t.Run("too many operations", func(t *testing.T) {
		t.Parallel()
		s := runSim(t, simConfig{seed: 3, accounts: 1, clients: 10, ops: 100, startFactor: 0.9})
		r := mustVerify(t, s.l, VerifyOptions{Deep: DeepAuto, MaxOps: 10})
		if a := r.Accounts["u0"]; a.Linearizable != LinSkipped || r.Deep.Skipped != 1 {
			t.Fatalf("linearizable %s", a.Linearizable)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		s := runSim(t, simConfig{seed: 4, accounts: 3, clients: 10, ops: 100, startFactor: 0.9})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.l.Verify(ctx, VerifyOptions{Deep: DeepAuto}); err == nil {
			t.Fatal("verify under a cancelled context succeeded")
		}
	})
}

func TestDeepStep(t *testing.T) {
	t.Parallel()
	open := pState{open: true, bal: 10, ver: 3}
	cases := []struct {
		name string
		s    pState
		in   pInput
		out  pOutput
		ok   bool
		next pState
	}{
		{"open", pState{}, pInput{kind: pOpen}, pOutput{st: pValue, bal: 10, ver: 3}, true, open},
		{"open twice", open, pInput{kind: pOpen}, pOutput{st: pValue, bal: 10}, false, open},
		{"deduct before open", pState{}, pInput{kind: pDeduct, amt: 1}, pOutput{st: pOK}, false, pState{}},
		{"ok", open, pInput{kind: pDeduct, amt: 4}, pOutput{st: pOK, bal: 6, hasBal: true, ver: 4, hasVer: true}, true, pState{true, 6, 4}},
		{"ok wrong balance", open, pInput{kind: pDeduct, amt: 4}, pOutput{st: pOK, bal: 7, hasBal: true}, false, open},
		{"ok wrong version", open, pInput{kind: pDeduct, amt: 4}, pOutput{st: pOK, bal: 6, hasBal: true, ver: 3, hasVer: true}, false, open},
		{"ok overdrawn", open, pInput{kind: pDeduct, amt: 11}, pOutput{st: pOK}, false, open},
		{"insufficient", open, pInput{kind: pDeduct, amt: 11}, pOutput{st: pInsufficient}, true, open},
		{"insufficient wrongly", open, pInput{kind: pDeduct, amt: 10}, pOutput{st: pInsufficient}, false, open},
		{"unknown applies", open, pInput{kind: pDeduct, amt: 10}, pOutput{st: pUnknown}, true, pState{true, 0, 4}},
		{"unknown cannot overdraw", open, pInput{kind: pDeduct, amt: 11}, pOutput{st: pUnknown}, true, open},
		{"snapshot", open, pInput{kind: pSnap}, pOutput{st: pValue, bal: 10}, true, open},
		{"snapshot differs", open, pInput{kind: pSnap}, pOutput{st: pValue, bal: 9}, false, open},
	}
	for _, tc := range cases {
		ok, next := step(tc.s, tc.in, tc.out, false)
		if ok != tc.ok || (ok && next != tc.next) {
			t.Errorf("%s: step = %v %+v, want %v %+v", tc.name, ok, next, tc.ok, tc.next)
		}
	}
}

func mustVerify(t *testing.T, l *Ledger, opts VerifyOptions) *Report {
	t.Helper()
	r, err := l.Verify(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
