package storetest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/fault"
)

// RunFaults shows, on a real store, that each fault mode breaks the invariant it exists to break, and
// that the same workload on the correct path breaks nothing. raw must reach the same database as s.
func RunFaults(t *testing.T, s creditd.Store, raw fault.Raw) {
	prefix := RunID()
	// Each case runs one workload on a fresh account through the store wrapped in one fault (or none)
	// and names the invariants that must break.
	tests := []struct {
		name    string
		spec    string
		granted int64
		work    func(ctx context.Context, s creditd.Store, user string) []Outcome
		want    []string // must all be broken; empty: nothing may break
	}{
		{"Correct/Contended", "", 20000, contended, nil},
		{"Correct/RunDry", "", 100, runDry, nil},
		{"Correct/Serial", "", 100, serial, nil},
		{"LostUpdate", "lost-update=2ms", 20000, contended, []string{VLostUpdate, VLeaked, VVersion}},
		{"DoubleCharge", "double-charge", 100, serial, []string{VOvercharged, VExtraRecord}},
		{"PhantomCharge", "phantom-charge", 100, serial, []string{VChargeWithoutService, VOvercharged}},
		{"Overdraft", "overdraft", 100, runDry, []string{VOverdraft}},
		{"DuplicateNotify", "duplicate-notify", 100, serial, []string{VDuplicateNotice}},
		{"LostRecord", "lost-record", 100, serial, []string{VMissingRecord, VRecordSum}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			specs, err := fault.Parse(tt.spec)
			must(t, err)
			fs := fault.Wrap(s, raw, specs, fault.Env{})
			user := prefix + "-" + t.Name()
			MustCreate(t, s, user, tt.granted)
			outcomes := tt.work(ctx, fs, user)
			broken, err := Audit(ctx, s, user, tt.granted, outcomes)
			must(t, err)
			if len(tt.want) == 0 && len(broken) > 0 {
				t.Fatalf("correct path broke %v", broken)
			}
			for _, w := range tt.want {
				if !slices.Contains(broken, w) {
					t.Errorf("%s broke %v; want %s among them", tt.spec, broken, w)
				}
			}
		})
	}
	t.Run("StaleRead", func(t *testing.T) {
		t.Parallel()
		testStaleRead(t, s, raw, prefix+"-stale")
	})
	t.Run("Slow", func(t *testing.T) {
		t.Parallel()
		testSlow(t, s, raw, prefix+"-slow")
	})
}

// contended: 16 workers × 10 deductions of 5 on a rich account.
func contended(ctx context.Context, s creditd.Store, user string) []Outcome {
	return Hammer(ctx, s, user, "x", 16, 10, func(int, int) int64 { return 5 })
}

// runDry: 32 workers × 10 deductions of 5 on an account that covers 20 of them.
func runDry(ctx context.Context, s creditd.Store, user string) []Outcome {
	return Hammer(ctx, s, user, "x", 32, 10, func(int, int) int64 { return 5 })
}

// serial: 15 deductions of 7, one at a time, from 100 down past both thresholds (and 402s at the end).
func serial(ctx context.Context, s creditd.Store, user string) []Outcome {
	return Hammer(ctx, s, user, "x", 1, 15, func(int, int) int64 { return 7 })
}

// testStaleRead: with a frozen clock, a read after a deduction must see it; stale-read answers from
// the cache filled by the read before.
func testStaleRead(t *testing.T, s creditd.Store, raw fault.Raw, user string) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name  string
		spec  string
		stale bool
	}{{"correct", "", false}, {"stale-read", "stale-read", true}} {
		specs, err := fault.Parse(tc.spec)
		must(t, err)
		fs := fault.Wrap(s, raw, specs, fault.Env{Now: clock})
		u := user + "-" + tc.name
		MustCreate(t, s, u, 100)
		if a, err := fs.Account(ctx, u); err != nil || a.Remaining != 100 {
			t.Fatalf("%s: first read = %+v, %v", tc.name, a, err)
		}
		_, err = fs.Deduct(ctx, creditd.Deduction{UserID: u, Feature: "ai_search", Cost: 5, Fingerprint: "f", LowBalance: 50})
		must(t, err)
		a, err := fs.Account(ctx, u)
		must(t, err)
		if stale := a.Remaining != 95; stale != tc.stale {
			t.Fatalf("%s: read after a deduction returned = %+v; stale = %v, want %v", tc.name, a, stale, tc.stale)
		}
		if tc.stale {
			now = now.Add(fault.DefaultStaleReadTTL) // the cache is at most the TTL old
			if a, _ := fs.Account(ctx, u); a.Remaining != 95 {
				t.Fatalf("stale-read after the TTL = %+v, want fresh", a)
			}
		}
	}
}

// testSlow: slow delays every store call by its duration; the correct path does not sleep.
func testSlow(t *testing.T, s creditd.Store, raw fault.Raw, user string) {
	ctx := context.Background()
	for _, tc := range []struct {
		spec  string
		calls int64
	}{{"", 0}, {"slow=40ms", 3}} {
		var slept atomic.Int64
		env := fault.Env{Sleep: func(ctx context.Context, d time.Duration) error {
			slept.Add(1)
			return creditd.Sleep(ctx, d)
		}}
		specs, err := fault.Parse(tc.spec)
		must(t, err)
		fs := fault.Wrap(s, raw, specs, env)
		u := user + "-" + tc.spec
		start := time.Now()
		must2(fs.CreateAccount(ctx, u, 10))(t)
		must2(fs.Deduct(ctx, creditd.Deduction{UserID: u, Feature: "ai_search", Cost: 5, Fingerprint: "f", LowBalance: 50}))(t)
		must2(fs.Account(ctx, u))(t)
		if got := slept.Load(); got != tc.calls {
			t.Fatalf("%q: %d delayed calls, want %d", tc.spec, got, tc.calls)
		}
		if el := time.Since(start); tc.calls > 0 && el < 120*time.Millisecond {
			t.Fatalf("%q: three calls took %v, want at least 3×40ms", tc.spec, el)
		}
	}
}
