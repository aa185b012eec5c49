package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRulesOutcome(t *testing.T) {
	t.Parallel()
	okBody := `{"success":true,"credits_charged":5,"remaining_credits":95,"transaction_id":"t-9","version":12}`
	cases := []struct {
		name  string
		rules Rules
		res   HTTPResult
		want  Outcome
	}{
		{"200 with every field", DefaultRules(), HTTPResult{Status: 200, Body: []byte(okBody)},
			Outcome{Kind: OK, Status: 200, Balance: 95, HasBalance: true, Version: 12, HasVersion: true, TxID: "t-9", Charged: 5, HasCharged: true}},
		{"200 with a numeric transaction id", DefaultRules(), HTTPResult{Status: 200, Body: []byte(`{"remaining_credits":95.0,"transaction_id":42}`)},
			Outcome{Kind: OK, Status: 200, Balance: 95, HasBalance: true, TxID: "42"}},
		{"200 with a garbled body", DefaultRules(), HTTPResult{Status: 200, Body: []byte(`<html>`)},
			Outcome{Kind: OK, Status: 200}},
		{"200 with a fractional balance", DefaultRules(), HTTPResult{Status: 200, Body: []byte(`{"remaining_credits":9.5}`)},
			Outcome{Kind: OK, Status: 200}},
		{"402", DefaultRules(), HTTPResult{Status: 402, Body: []byte(`{"error":"insufficient_credits","remaining_credits":3}`)},
			Outcome{Kind: Insufficient, Status: 402, Balance: 3, HasBalance: true}},
		{"400", DefaultRules(), HTTPResult{Status: 400, Body: []byte(`{"error":"bad"}`)},
			Outcome{Kind: Rejected, Status: 400}},
		{"408 is unknown", DefaultRules(), HTTPResult{Status: 408}, Outcome{Kind: Unknown, Status: 408, Cause: CauseError}},
		{"500", DefaultRules(), HTTPResult{Status: 500}, Outcome{Kind: Unknown, Status: 500, Cause: CauseError}},
		{"timeout", DefaultRules(), HTTPResult{Timeout: true}, Outcome{Kind: Unknown, Cause: CauseTimeout}},
		{"connection error", DefaultRules(), HTTPResult{}, Outcome{Kind: Unknown, Cause: CauseError}},
		{"302 is unknown", DefaultRules(), HTTPResult{Status: 302}, Outcome{Kind: Unknown, Status: 302, Cause: CauseError}},
		{"custom: 409 insufficient, nested field", Rules{
			OK: MustStatusSet("200"), Insufficient: MustStatusSet("409"), Rejected: MustStatusSet("400-499"),
			Fields: Fields{Balance: "data.balance"},
		}, HTTPResult{Status: 409, Body: []byte(`{"data":{"balance":2}}`)},
			Outcome{Kind: Insufficient, Status: 409, Balance: 2, HasBalance: true}},
	}
	for _, tc := range cases {
		if got := tc.rules.Outcome(tc.res); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestOutcomeFields(t *testing.T) {
	t.Parallel()
	// what a binding gets from JSON.parse: float64 numbers
	got := DefaultRules().OutcomeFields(200, false, map[string]any{"remaining_credits": 95.0, "transaction_id": 17.0, "version": int64(3)})
	want := Outcome{Kind: OK, Status: 200, Balance: 95, HasBalance: true, TxID: "17", Version: 3, HasVersion: true}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestParseStatusSet(t *testing.T) {
	t.Parallel()
	s, err := ParseStatusSet("402", "5xx", "420-422", " 0 ")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []int{0, 402, 500, 599, 420, 421, 422} {
		if !s.Has(c) {
			t.Errorf("missing %d", c)
		}
	}
	for _, c := range []int{1, 401, 499, 600, 423, -1, 1000} {
		if s.Has(c) {
			t.Errorf("has %d", c)
		}
	}
	for _, bad := range []string{"4x", "abc", "600-500", "1000", "-1", "xx5"} {
		if _, err := ParseStatusSet(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseBodies(t *testing.T) {
	t.Parallel()
	s, err := ParseSnapshot([]byte(`{"user_id":"u","balance":40,"remaining_credits":40,"used_credits":60,"version":7,"low_balance_notified":true,"depleted_notified":false}`))
	want := Snapshot{Balance: 40, Used: 60, HasUsed: true, Version: 7, HasVersion: true, LowNotified: true, HasFlags: true}
	if err != nil || s != want {
		t.Fatalf("snapshot %+v %v", s, err)
	}
	if _, err := ParseSnapshot([]byte(`{"user_id":"u"}`)); !errors.Is(err, ErrBadOutcome) {
		t.Errorf("balance-less body: %v", err)
	}
	ns, err := ParseNotices([]byte(`{"notifications":[{"kind":"low_balance","remaining_credits":45,"created_at":"x"},{"kind":"depleted","remaining_credits":0}]}`))
	if err != nil || len(ns) != 2 || ns[0] != (Notice{Kind: NoticeLow, Remaining: 45, HasRemaining: true, CreatedAt: "x"}) || ns[1].Kind != NoticeDepleted {
		t.Fatalf("notices %+v %v", ns, err)
	}
	txs, err := ParseServerLog([]byte(`{"transactions":[{"id":17,"feature":"ai_search","amount":5,"balance_after":95,"idempotency_key":"r:i:1"}]}`))
	if err != nil || len(txs) != 1 || txs[0] != (LogTx{ID: "17", Feature: "ai_search", Amount: 5, BalanceAfter: 95, HasBalance: true, Key: "r:i:1"}) {
		t.Fatalf("log %+v %v", txs, err)
	}
	if _, err := ParseServerLog([]byte(`{"transactions":[{"id":1}]}`)); err == nil {
		t.Error("transaction without amount parsed")
	}
	if _, err := ParseNotices([]byte(`[]`)); err == nil {
		t.Error("a list parsed as a notifications body")
	}
}

func TestSettleHTTP(t *testing.T) {
	t.Parallel()
	s := newScript(t, Config{})
	s.open("a", 100)
	op := s.begin(1, "a", 5)
	s.now = 2
	o, err := s.l.SettleHTTP(context.Background(), op, HTTPResult{Status: 200, Body: []byte(`{"remaining_credits":95}`)})
	if err != nil || o.Kind != OK || o.Balance != 95 {
		t.Fatalf("%+v %v", o, err)
	}
	s.at(3).close("a", 95)
	if r := s.verify(VerifyOptions{}); r.Verdict != Pass {
		t.Fatal(text(r))
	}
}

// TestParseServerLogAsMaps: reading a transactions body in place gives what
// decoding it into maps gave (parseServerLogMaps, the way it was read
// before), for every shape of field the maps accepted or refused.
func TestParseServerLogAsMaps(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"transactions":[]}`,
		`{"transactions":null}`,
		`{"transactions":{}}`,
		`{"other":[]}`,
		`[]`,
		``,
		`  {"transactions":[{"id":17,"feature":"ai_search","amount":5,"balance_after":95,"idempotency_key":"r:i:1","created_at":"2026-12-05T08:00:00Z"}]}  `,
		`{"transactions":[{"id":"tx-1","feature":"f","amount":5.0,"balance_after":"95","idempotency_key":"k\u00e9\"q","created_at":1733385600}]}`,
		`{"transactions":[{"id":1.5,"amount":"7"},{"id":true,"amount":1e3,"balance_after":null},{"id":null,"amount":-3,"balance_after":2.5}]}`,
		`{"transactions":[{"id":1,"amount":9007199254740993},{"id":2,"amount":1e300}]}`,
		`{"transactions":[{"id":1,"amount":1.5}]}`,
		`{"transactions":[{"id":1,"amount":"x"}]}`,
		`{"transactions":[{"id":1}]}`,
		`{"transactions":[{"id":1,"amount":5},7]}`,
		`{"transactions":[{"id":1,"amount":5,"feature":{"a":1},"idempotency_key":[1]}]}`,
		`{"transactions":[{"id":1,"amount":5}]} trailing`,
		`{"transactions":[{"id":1,"amount":5,}]}`,
		`{"transactions":[{"id":1,"amount":5}],"next":{"transactions":[]}}`,
		`{"transactions":[{"id":1,"amount":5,"amount":6,"id":"x","f\u0065ature":"esc"}]}`,
	}
	for _, b := range bodies {
		got, gerr := ParseServerLog([]byte(b))
		want, werr := parseServerLogMaps([]byte(b))
		if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) || !slices.Equal(got, want) {
			t.Errorf("%s:\n got %+v %v\nwant %+v %v", b, got, gerr, want, werr)
		}
	}
}

// BenchmarkParseServerLog reads a page of 1,000 transactions as creditd
// writes them.
func BenchmarkParseServerLog(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"transactions":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%d","user_id":"tally-r-abc-%d","feature":"live_dubbing","amount":%d,"balance_after":%d,"idempotency_key":"tally-r-abc:i0:%d","created_at":"2026-12-05T08:00:%02d.123456Z"}`,
			1000+i, i%8, 1+i%5, 5000-i, i, i%60)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	for _, impl := range []struct {
		name  string
		parse func([]byte) ([]LogTx, error)
	}{{"in-place", ParseServerLog}, {"maps", parseServerLogMaps}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if txs, err := impl.parse(body); err != nil || len(txs) != 1000 {
					b.Fatal(len(txs), err)
				}
			}
		})
	}
}
