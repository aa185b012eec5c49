package ledger

import (
	"context"
	"strings"
	"testing"
)

// script writes a history by hand on a manual clock: h.at(t) sets the time
// of the next call.
type script struct {
	tb  testing.TB
	l   *Ledger
	now int64
	ctx context.Context
}

func newScript(tb testing.TB, cfg Config) *script {
	tb.Helper()
	s := &script{tb: tb, ctx: context.Background()}
	cfg.Clock = func() int64 { return s.now }
	if cfg.Run == "" {
		cfg.Run = "r"
	}
	l, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.l = l
	return s
}

func (s *script) at(t int64) *script { s.now = t; return s }

func (s *script) open(acct string, bal int64) {
	s.tb.Helper()
	s.openSnap(acct, Snapshot{Balance: bal})
}

func (s *script) openSnap(acct string, sn Snapshot) {
	s.tb.Helper()
	if err := s.l.Open(s.ctx, acct, sn); err != nil {
		s.tb.Fatal(err)
	}
}

func (s *script) close(acct string, bal int64) {
	s.tb.Helper()
	s.closeSnap(acct, Snapshot{Balance: bal})
}

func (s *script) closeSnap(acct string, sn Snapshot) {
	s.tb.Helper()
	if err := s.l.Close(s.ctx, acct, sn); err != nil {
		s.tb.Fatal(err)
	}
}

// begin starts a deduction of amount at time t.
func (s *script) begin(t int64, acct string, amount int64) Op {
	s.tb.Helper()
	s.now = t
	op, err := s.l.Begin(s.ctx, acct, Deduction{Feature: "f", Amount: amount})
	if err != nil {
		s.tb.Fatal(err)
	}
	return op
}

func (s *script) settle(t int64, op Op, o Outcome) {
	s.tb.Helper()
	s.now = t
	if err := s.l.Settle(s.ctx, op, o); err != nil {
		s.tb.Fatal(err)
	}
}

// deduct records a whole deduction [call, ret] with outcome o.
func (s *script) deduct(call, ret int64, acct string, amount int64, o Outcome) Op {
	s.tb.Helper()
	op := s.begin(call, acct, amount)
	s.settle(ret, op, o)
	return op
}

func (s *script) read(call, ret int64, acct string, bal int64) {
	s.tb.Helper()
	s.readSnap(call, ret, acct, Snapshot{Balance: bal})
}

func (s *script) readSnap(call, ret int64, acct string, sn Snapshot) {
	s.tb.Helper()
	s.now = call
	rd, err := s.l.BeginRead(s.ctx, acct)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.now = ret
	if err := s.l.SettleRead(s.ctx, rd, sn); err != nil {
		s.tb.Fatal(err)
	}
}

func (s *script) verify(opts VerifyOptions) *Report {
	s.tb.Helper()
	r, err := s.l.Verify(s.ctx, opts)
	if err != nil {
		s.tb.Fatal(err)
	}
	checkGrouped(s.tb, s.l, opts) // every scripted history: read back in groups, the same verdict
	return r
}

func okBal(bal int64) Outcome { return Outcome{Kind: OK, Balance: bal, HasBalance: true} }

func timeout() Outcome { return Outcome{Kind: Unknown, Cause: CauseTimeout} }

func text(r *Report) string {
	var b strings.Builder
	WriteText(&b, r)
	return b.String()
}

func (s *script) serverLog(acct string, txs ...LogTx) {
	s.tb.Helper()
	if err := s.l.ServerLog(s.ctx, acct, txs); err != nil {
		s.tb.Fatal(err)
	}
}

func (s *script) notices(acct string, list ...Notice) {
	s.tb.Helper()
	if err := s.l.Notifications(s.ctx, acct, list); err != nil {
		s.tb.Fatal(err)
	}
}
