package ledger_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tallyhq/tally/extension/ledger"
)

// A lost update: the second deduction began after the first had returned,
// yet the server reported the same balance after both.
func Example() {
	var now int64 // a manual clock, for a deterministic example
	l, err := ledger.New(ledger.Config{Run: "demo", Clock: func() int64 { return now }})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	l.Open(ctx, "alice", ledger.Snapshot{Balance: 100}) // setup: the account is idle

	for _, t := range []int64{10, 30} {
		now = t
		op, _ := l.Begin(ctx, "alice", ledger.Deduction{Feature: "ai_search", Amount: 5})
		fmt.Println("send with Idempotency-Key:", op.Key)
		now = t + 5
		l.SettleHTTP(ctx, op, ledger.HTTPResult{Status: 200, Body: []byte(`{"remaining_credits":95,"credits_charged":5}`)})
	}

	now = 100
	l.Close(ctx, "alice", ledger.Snapshot{Balance: 95}) // teardown, after the settle delay
	report, _ := l.Verify(ctx, ledger.VerifyOptions{})
	fmt.Println("verdict:", report.Verdict, "discrepancies:", report.Discrepancies)
	ledger.WriteText(os.Stdout, report)
	// Output:
	// send with Idempotency-Key: demo:i0:1
	// send with Idempotency-Key: demo:i0:2
	// verdict: fail discrepancies: map[lost_update:2]
	// ledger: FAIL
	//   accounts      1: 0 passed, 1 failed, 0 undecided, 0 not exercised
	//   deductions    2: 2 ok, 0 insufficient, 0 rejected, 0 unknown (0 never settled); 0 resolved by replay or log (included)
	//   reads         0
	//   credits       start 100, end 95, confirmed 10, taken by unknown requests 0, still unresolved 0
	//   losses        5 credits leaked, 0 overcharged
	//   discrepancies 2: lost_update 2
	//
	// findings:
	//   account alice: lost_update, 5 credits
	//       expected balance after #2 at most 90 (95 after #1, minus its 5 credits)
	//       seen     95 (the same balance again: one debit overwrote the other)
	//       ops      #1 #2
	//   account alice: lost_update, 5 credits
	//       expected final balance in [90, 90]
	//       seen     95: 5 credits confirmed but never taken
	//       note     lost updates, or confirmations without a debit
	//
	// notes:
	//   account alice: real-time order not checked: lost updates break the balance order it relies on
}
