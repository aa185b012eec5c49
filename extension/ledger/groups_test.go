package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

// wholeReport verifies a Ledger's bookkeeping as one history held in memory
// at once (how Verify worked before it read groups back): the reference
// the grouped verification must equal.
func wholeReport(tb testing.TB, l *Ledger, opts VerifyOptions) *Report {
	tb.Helper()
	srcs := []source{liveSource{l}}
	var notes []string
	for _, st := range l.merged {
		srcs = append(srcs, st)
		notes = append(notes, st.notes...)
	}
	parts := make([]*journalData, 0, len(srcs))
	for _, s := range srcs {
		d := &journalData{inst: s.header(), accounts: make(map[string]*account)}
		for k := range shardCount {
			names := make(map[string]int64)
			s.census(k, names)
			all := make(map[string]bool, len(names))
			for n := range names {
				all[n] = true
			}
			g, err := load(s, k, all, nil)
			if err != nil {
				tb.Fatal(err)
			}
			for n, a := range g.accounts {
				d.accounts[n] = a
			}
		}
		parts = append(parts, d)
	}
	h, err := mergeHistory(parts)
	if err != nil {
		tb.Fatal(err)
	}
	h.notes = notes
	if l.jw != nil {
		if err := l.jw.failure(); err != nil {
			h.notes = append(h.notes, "the journal is incomplete: "+err.Error())
		}
	}
	opts.allSegments = len(srcs) > 1
	r, err := verifyHistory(context.Background(), h, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// sameReport fails unless two reports say the same (times aside).
func sameReport(tb testing.TB, what string, want, got *Report) {
	tb.Helper()
	norm := func(r *Report) []byte {
		c := *r
		c.Elapsed, c.Deep.Elapsed = 0, 0
		b, err := json.MarshalIndent(&c, "", " ")
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	if w, g := norm(want), norm(got); !bytes.Equal(w, g) {
		tb.Fatalf("%s: the reports differ\nwant %s\ngot  %s", what, w, g)
	}
	if !reflect.DeepEqual(want.Discrepancies, got.Discrepancies) {
		tb.Fatalf("%s: discrepancies %v, want %v", what, got.Discrepancies, want.Discrepancies)
	}
}

// checkGrouped verifies l whole, in groups of one record (every account
// on its own) and as Verify does, and fails unless all three agree.
func checkGrouped(tb testing.TB, l *Ledger, opts VerifyOptions) {
	tb.Helper()
	if opts.Deep != DeepOff {
		return // the deep check's budgets make its results depend on timing
	}
	want := wholeReport(tb, l, opts)
	srcs := []source{liveSource{l}}
	var notes []string
	for _, st := range l.merged {
		srcs = append(srcs, st)
		notes = append(notes, st.notes...)
	}
	if l.jw != nil {
		if err := l.jw.failure(); err != nil {
			notes = append(notes, "the journal is incomplete: "+err.Error())
		}
	}
	o := opts
	o.allSegments = len(srcs) > 1
	o.groupRecords = 1
	if groups := planGroups(srcs, 1); len(groups) > shardCount && !splits(groups) {
		tb.Fatal("more groups than partitions, yet none shares its partition")
	}
	got, err := verifySources(context.Background(), srcs, notes, o)
	if err != nil {
		tb.Fatal(err)
	}
	sameReport(tb, "one account a group", want, got)
}

// TestGroupedVerifyEqualsWhole: on the simulator's histories, correct and
// with each bug, the verdict read back a group at a time (every account
// its own group) and the one from a history held whole are the same, and
// so is the one from the journal read back.
func TestGroupedVerifyEqualsWhole(t *testing.T) {
	t.Parallel()
	var cfgs []simConfig
	for seed := range uint64(40) {
		cfg := correctConfig(seed)
		cfg.accounts += 3
		cfgs = append(cfgs, cfg)
	}
	// 150 accounts: partitions hold several accounts, so groups of one
	// account split them (splitter) before they are read
	cfgs = append(cfgs, simConfig{seed: 99, accounts: 150, clients: 300, ops: 6000, readFrac: 0.1, unknownFrac: 0.02,
		startFactor: 0.9, log: true, notices: true, replay: true, flags: true})
	for b := bugLostUpdate; b <= bugPrice; b++ {
		cfgs = append(cfgs, simConfig{seed: uint64(b), accounts: 6, clients: 40, ops: 600, readFrac: 0.1, unknownFrac: 0.02,
			startFactor: 0.9, log: true, notices: true, replay: b%2 == 0, versions: b%3 == 0, flags: true, bug: b, bugRate: 0.2})
	}
	for _, cfg := range cfgs {
		cfg.journal = &journalSink{}
		s := runSim(t, cfg)
		checkGrouped(t, s.l, VerifyOptions{})
		want := wholeReport(t, s.l, VerifyOptions{})
		if err := s.l.CloseJournal(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "j.ndjson")
		if err := os.WriteFile(path, cfg.journal.buf, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := VerifyJournals(context.Background(), []string{path}, VerifyOptions{groupRecords: 1})
		if err != nil {
			t.Fatal(err)
		}
		want.Instances = got.Instances
		sameReport(t, cfg.String()+" journal", want, got)
	}
}

// TestForeignKeyAcrossGroups: a logged debit that carries the key of a
// deduction on another account is named as such when the two accounts are
// verified in different groups, as when they are verified together.
func TestForeignKeyAcrossGroups(t *testing.T) {
	t.Parallel()
	s := newScript(t, Config{})
	s.open("a", 100)
	s.open("b", 100)
	op := s.deduct(1, 3, "a", 5, okBal(95))
	s.at(10).close("a", 95)
	s.at(10).close("b", 95)
	s.serverLog("a")
	s.serverLog("b", LogTx{ID: "t9", Amount: 5, BalanceAfter: 95, HasBalance: true, Key: op.Key})
	if partOf("a") == partOf("b") {
		t.Log("a and b share a partition; groups of one record still split them")
	}
	r := s.verify(VerifyOptions{}) // checks every account its own group too
	found := false
	for _, f := range r.Accounts["b"].Anomalies {
		found = found || f.Kind == KindServerOnlyDebit && bytes.Contains([]byte(f.Seen), []byte(`the key of #1, a deduction on account "a"`))
	}
	if !found {
		t.Fatalf("findings on b: %+v", r.Accounts["b"].Anomalies)
	}
}

// TestRetainedRecordsBounded: a live Ledger keeps in memory only the
// deductions in flight and those left unknown, however many were settled;
// the rest is spilled (to files, here in a directory the test watches: it
// stays empty because the files are unlinked at creation).
func TestRetainedRecordsBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	l, err := New(Config{SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Discard()
	const accounts, inFlight = 10, 7
	retained := func() (n int) {
		for i := range l.shards {
			sh := &l.shards[i]
			for _, a := range sh.accounts {
				n += len(a.fly) + len(a.held) + len(a.ops) + len(a.reads) + len(a.log)
			}
		}
		return n
	}
	for i := range accounts {
		if err := l.Open(ctx, "a"+string(rune('0'+i)), Snapshot{Balance: 1 << 40}); err != nil {
			t.Fatal(err)
		}
	}
	var window []Op
	unknown := 0
	var peak [2]int
	for round, n := range []int{20_000, 200_000} {
		for i := range n {
			op, err := l.Begin(ctx, "a"+string(rune('0'+i%accounts)), Deduction{Feature: "f", Amount: 1})
			if err != nil {
				t.Fatal(err)
			}
			window = append(window, op)
			if len(window) > inFlight {
				o := Outcome{Kind: OK}
				if i%10_000 == 0 {
					o, unknown = Outcome{Kind: Unknown, Cause: CauseTimeout}, unknown+1
				}
				if err := l.Settle(ctx, window[0], o); err != nil {
					t.Fatal(err)
				}
				window = window[1:]
			}
			if i%1000 == 0 {
				peak[round] = max(peak[round], retained())
			}
		}
	}
	if limit := accounts*(inFlight+1) + unknown; peak[1] > limit || peak[1] > peak[0]+unknown {
		t.Fatalf("retained records: %d after 20,000 deductions, %d after 220,000 (limit %d)", peak[0], peak[1], limit)
	}
	files := 0
	for i := range l.shards {
		if l.shards[i].spill.f != nil {
			files++
		}
		if n := len(l.shards[i].spill.buf); n > spillChunk+64 {
			t.Fatalf("shard %d buffers %d bytes", i, n)
		}
	}
	if files == 0 {
		t.Fatal("nothing was spilled to a file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("spill files left in %s: %v", dir, ents)
	}
	r, err := l.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Totals.Counts.Deductions; got != 220_000 {
		t.Fatalf("verified %d deductions, want 220,000", got)
	}
	runtime.KeepAlive(window)
}

// TestSpillUnwritable: when the spill files cannot be created, records
// stay in memory and the verdict is the same.
func TestSpillUnwritable(t *testing.T) {
	t.Parallel()
	cfg := simConfig{seed: 7, accounts: 3, clients: 50, ops: 20_000, readFrac: 0.1, unknownFrac: 0.01, startFactor: 0.9, log: true, notices: true}
	s := runSim(t, cfg)
	want := wholeReport(t, s.l, VerifyOptions{})
	cfg.spillDir = filepath.Join(t.TempDir(), "missing", "dir")
	s2 := runSim(t, cfg)
	for i := range s2.l.shards {
		if s2.l.shards[i].spill.err != nil && s2.l.shards[i].spill.f != nil {
			t.Fatal("a spill file exists though it could not be created")
		}
	}
	errs := 0
	for i := range s2.l.shards {
		if s2.l.shards[i].spill.err != nil {
			errs++
		}
	}
	if errs == 0 {
		t.Fatal("no spill failed: the test does not test")
	}
	got, err := s2.l.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameReport(t, "unwritable spill", want, got)
}

// splits reports whether some partition has several groups.
func splits(groups []group) bool {
	for i := 1; i < len(groups); i++ {
		if groups[i].part == groups[i-1].part {
			return true
		}
	}
	return false
}
