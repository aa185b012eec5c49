package creditd_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tallyhq/tally/creditd"
)

func TestRatesCost(t *testing.T) {
	t.Parallel()
	r := creditd.DefaultRates()
	tests := []struct {
		feature string
		usage   int64
		cost    int64
		code    string
	}{
		{"ai_search", 1, 5, ""},
		{"ai_recommendations", 2, 6, ""},
		{"live_dubbing", creditd.MaxCredits, creditd.MaxCredits, ""},
		{"ai_search", creditd.MaxCredits / 5, creditd.MaxCredits / 5 * 5, ""},
		{"ai_search", creditd.MaxCredits/5 + 1, 0, creditd.EAMOUNT}, // product over 2^53-1
		{"ai_search", 1 << 62, 0, creditd.EAMOUNT},                  // usage itself too large
		{"ai_search", 0, 0, creditd.EAMOUNT},
		{"ai_search", -1, 0, creditd.EAMOUNT},
		{"teleport", 1, 0, creditd.EFEATURE},
	}
	for _, tt := range tests {
		cost, err := r.Cost(tt.feature, tt.usage)
		if cost != tt.cost || creditd.ErrorCode(err) != tt.code {
			t.Errorf("Cost(%s, %d) = %d, %v; want %d, %q", tt.feature, tt.usage, cost, err, tt.cost, tt.code)
		}
	}
}

func TestRatesSet(t *testing.T) {
	t.Parallel()
	r := creditd.DefaultRates()
	if err := r.Set("ai_search=7, translate=2"); err != nil {
		t.Fatal(err)
	}
	if r.String() != "ai_recommendations=3,ai_search=7,live_dubbing=1,translate=2" {
		t.Fatalf("rates = %s", r)
	}
	for _, bad := range []string{"", "ai_search", "ai_search=", "ai_search=0", "ai_search=-1", "ai_search=1.5",
		"AI=1", "a b=1", "x=1000000001", "=3"} {
		if err := creditd.DefaultRates().Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]creditd.Latency{
		"0":           {},
		"200ms":       {Base: 200 * time.Millisecond},
		"200ms±50ms":  {Base: 200 * time.Millisecond, Jitter: 50 * time.Millisecond},
		"1s+-250ms":   {Base: time.Second, Jitter: 250 * time.Millisecond},
		" 10ms±0 ":    {Base: 10 * time.Millisecond},
		"0±5ms":       {Jitter: 5 * time.Millisecond},
		"1.5s±1500ms": {Base: 1500 * time.Millisecond, Jitter: 1500 * time.Millisecond},
	} {
		got, err := creditd.ParseLatency(in)
		if err != nil || got != want {
			t.Errorf("ParseLatency(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "-1s", "1s±", "1s±-1ms", "1s±2s±3s", "10"} {
		if _, err := creditd.ParseLatency(bad); err == nil {
			t.Errorf("ParseLatency(%q) accepted", bad)
		}
	}
	l := creditd.Latency{Base: 100 * time.Millisecond, Jitter: 20 * time.Millisecond}
	if l.Draw(0) != 80*time.Millisecond || l.Draw(0.5) != 100*time.Millisecond || l.Draw(1) != 120*time.Millisecond {
		t.Errorf("Draw spans %v..%v", l.Draw(0), l.Draw(1))
	}
	if (creditd.Latency{Base: time.Millisecond, Jitter: time.Second}).Draw(0) != 0 {
		t.Error("Draw went below zero")
	}
}

func TestNoticesDue(t *testing.T) {
	t.Parallel()
	for after, want := range map[int64][]creditd.NoticeKind{
		51: nil, 50: {creditd.LowBalance}, 1: {creditd.LowBalance}, 0: {creditd.Depleted}, -3: {creditd.Depleted},
	} {
		if got := creditd.NoticesDue(after, 50); !reflect.DeepEqual(got, want) {
			t.Errorf("NoticesDue(%d, 50) = %v, want %v", after, got, want)
		}
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	orig := creditd.Transaction{ID: 7, Fingerprint: creditd.Fingerprint("a")}
	rc, err := creditd.Replay(orig, creditd.Deduction{IdempotencyKey: "k", Fingerprint: creditd.Fingerprint("a")})
	if err != nil || !rc.Replayed || rc.Transaction.ID != 7 {
		t.Fatalf("same request: %+v, %v", rc, err)
	}
	if _, err := creditd.Replay(orig, creditd.Deduction{IdempotencyKey: "k", Fingerprint: creditd.Fingerprint("b")}); creditd.ErrorCode(err) != creditd.EIDEMPOTENCY {
		t.Fatalf("other request: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{"alice": true, "a.b_c-d@e:f+g": true, "": false, "a b": false, "a/b": false,
		string(make([]byte, 129)): false, "é": false} {
		if err := creditd.ValidateUserID(id); (err == nil) != ok {
			t.Errorf("ValidateUserID(%q) = %v", id, err)
		}
	}
	for key, ok := range map[string]bool{"run:1:42": true, "~!": true, "": false, "a b": false, "tab\t": false} {
		if err := creditd.ValidateKey(key); (err == nil) != ok {
			t.Errorf("ValidateKey(%q) = %v", key, err)
		}
	}
}

// stubStore charges everything and records what it was asked.
type stubStore struct {
	creditd.Store
	got []creditd.Deduction
}

func (s *stubStore) Deduct(_ context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	s.got = append(s.got, d)
	return creditd.Receipt{Transaction: creditd.Transaction{ID: 1, Amount: d.Cost, BalanceAfter: 10}}, nil
}

// TestModelTimeCutShort: a model call cut short by the request's deadline still answers (the credits
// are spent); a cancelled request does not.
func TestModelTimeCutShort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sleepErr error
		ok       bool
	}{{nil, true}, {context.DeadlineExceeded, true}, {context.Canceled, false}} {
		st := &stubStore{}
		svc := &creditd.Service{Store: st, Rates: creditd.DefaultRates(), AILatency: creditd.Latency{Base: time.Hour},
			Sleep: func(context.Context, time.Duration) error { return tc.sleepErr }}
		rc, results, err := svc.Search(context.Background(), "u", "q", 3, "")
		if (err == nil) != tc.ok || (tc.ok && (len(results) != 3 || rc.Transaction.Amount != 5)) {
			t.Errorf("sleep error %v: %+v %d results, %v", tc.sleepErr, rc, len(results), err)
		}
		if len(st.got) != 1 || st.got[0].Cost != 5 || st.got[0].Fingerprint == "" {
			t.Errorf("store got %+v", st.got)
		}
	}
}
