package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// same compares what must not depend on how a history was stored or split:
// verdicts, counts, intervals and findings by kind, per account.
func same(t *testing.T, what string, want, got *Report) {
	t.Helper()
	if got.Verdict != want.Verdict {
		t.Fatalf("%s: verdict %s, want %s\n%s", what, got.Verdict, want.Verdict, text(got))
	}
	if fmt.Sprint(got.Discrepancies) != fmt.Sprint(want.Discrepancies) {
		t.Fatalf("%s: discrepancies %v, want %v", what, got.Discrepancies, want.Discrepancies)
	}
	if got.Totals.Counts != want.Totals.Counts || got.Totals.Confirmed != want.Totals.Confirmed ||
		got.Totals.Leaked != want.Totals.Leaked || got.Totals.Overcharged != want.Totals.Overcharged {
		t.Fatalf("%s: totals %+v, want %+v", what, got.Totals, want.Totals)
	}
	for id, w := range want.Accounts {
		g := got.Accounts[id]
		if g == nil {
			t.Fatalf("%s: account %s missing", what, id)
		}
		if g.Verdict != w.Verdict || fmt.Sprint(g.Interval) != fmt.Sprint(w.Interval) || g.UnknownTaken != w.UnknownTaken {
			t.Fatalf("%s: account %s: %s %v %d, want %s %v %d", what, id, g.Verdict, g.Interval, g.UnknownTaken, w.Verdict, w.Interval, w.UnknownTaken)
		}
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The streamed journal, the exported journal and memory give one verdict,
// for correct histories and for buggy ones.
func TestJournalRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, b := range []bug{bugNone, bugLostUpdate, bugDoubleCharge, bugDupNotice, bugStaleRead} {
		t.Run(bugNames[b], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sink := &journalSink{}
			cfg := simConfig{seed: 3, accounts: 3, clients: 30, ops: 300, readFrac: 0.1, unknownFrac: 0.04,
				startFactor: 0.9, notices: true, log: true, versions: true, flags: true, used: true, replay: true,
				bug: b, bugRate: 0.05, journal: sink}
			s := runSim(t, cfg)
			mem, err := s.l.Verify(ctx, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			streamed := writeFile(t, dir, "streamed.ndjson", sink.buf)
			got, err := VerifyJournals(ctx, []string{streamed}, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			same(t, "streamed", mem, got)
			if len(got.Notes) != 0 {
				t.Errorf("notes on a complete journal: %v", got.Notes)
			}
			exported := filepath.Join(dir, "exported.ndjson")
			if err := s.l.ExportJournal(exported); err != nil {
				t.Fatal(err)
			}
			got, err = VerifyJournals(ctx, []string{exported}, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			same(t, "exported", mem, got)
			if b == bugNone && mem.Verdict != Pass {
				t.Fatalf("correct history: %s", text(mem))
			}
		})
	}
}

// splitJournal deals a journal's lines out to n instances of the same run:
// per account (disjoint) or per operation (shared accounts). Snapshots,
// notices and logs stay with instance 0, as with one designated process.
// Instance i started startNs[i] later than instance 0 (its m values are
// smaller by as much), its wall clock is off by skewNs[i], and each header
// claims a clock bound of epsMs.
func splitJournal(t *testing.T, journal []byte, n int, byAccount bool, epsMs float64, startNs, skewNs []int64) [][]byte {
	t.Helper()
	decode := func(b []byte) map[string]any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	num := func(v any) int64 {
		i, err := v.(json.Number).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	lines := bytes.Split(bytes.TrimSpace(journal), []byte("\n"))
	hdr := decode(lines[0])
	wall0 := num(hdr["wall0"])
	out := make([][]byte, n)
	counts := make([]int, n)
	owner := make(map[int64]int)
	acctOwner := make(map[string]int)
	shift := func(i int) int64 {
		if startNs == nil {
			return 0
		}
		return startNs[i]
	}
	for i := range out {
		hdr["inst"] = fmt.Sprintf("i%d", i)
		hdr["epsMs"] = epsMs
		w := wall0 + shift(i)
		if skewNs != nil {
			w += skewNs[i]
		}
		hdr["wall0"] = w
		b, _ := json.Marshal(hdr)
		out[i] = append(b, '\n')
	}
	for _, line := range lines[1:] {
		m := decode(line)
		to := 0
		switch m["t"] {
		case "ftr":
			continue
		case "beg", "rd":
			if byAccount {
				a := m["a"].(string)
				if _, ok := acctOwner[a]; !ok {
					acctOwner[a] = len(acctOwner) % n
				}
				to = acctOwner[a]
			} else {
				to = int(num(m["id"])) % n
			}
			if m["t"] == "beg" {
				owner[num(m["id"])] = to
			}
		case "end":
			to = owner[num(m["id"])]
		}
		if d := shift(to); d != 0 {
			for _, k := range []string{"m", "m0"} {
				if v, ok := m[k]; ok {
					m[k] = num(v) - d
				}
			}
		}
		b, _ := json.Marshal(m)
		out[to] = append(append(out[to], b...), '\n')
		counts[to]++
	}
	for i := range out {
		out[i] = appendFooter(out[i], int64(counts[i]))
	}
	return out
}

// One history split across three journals verifies to the same verdict as
// one instance, with disjoint and with shared accounts.
func TestJournalMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, b := range []bug{bugNone, bugLostUpdate, bugServerDebit, bugMissingNotice} {
		for _, byAccount := range []bool{true, false} {
			name := fmt.Sprintf("%s/disjoint=%v", bugNames[b], byAccount)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				sink := &journalSink{}
				cfg := simConfig{seed: 11, accounts: 3, clients: 40, ops: 400, readFrac: 0.1, unknownFrac: 0.04,
					startFactor: 0.9, notices: true, log: true, flags: true, bug: b, bugRate: 0.05, journal: sink}
				runSim(t, cfg)
				one := writeFile(t, dir, "one.ndjson", sink.buf)
				want, err := VerifyJournals(ctx, []string{one}, VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var paths []string
				for i, part := range splitJournal(t, sink.buf, 3, byAccount, 0, nil, nil) {
					paths = append(paths, writeFile(t, dir, fmt.Sprintf("i%d.ndjson", i), part))
				}
				got, err := VerifyJournals(ctx, paths, VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				same(t, name, want, got)
				if len(got.Instances) != 3 {
					t.Fatalf("instances %v", got.Instances)
				}
				shared := false
				for _, a := range got.Accounts {
					shared = shared || a.Shared
				}
				if shared == byAccount {
					t.Fatalf("shared accounts: %v, want %v", shared, !byAccount)
				}
				// the same merge through a Ledger of instance i0
				l, err := New(Config{Run: "sim", Instance: "main"})
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Merge(ctx, paths...); err != nil {
					t.Fatal(err)
				}
				got, err = l.Verify(ctx, VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				same(t, name+" via Merge", want, got)
			})
		}
	}
}

// A crash leaves a torn last line and no footer: the line is dropped,
// deductions never settled count as unknown, and no alarm is raised.
func TestJournalCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sink := &journalSink{}
	runSim(t, simConfig{seed: 5, accounts: 2, clients: 20, ops: 200, readFrac: 0.1, unknownFrac: 0.03,
		startFactor: 0.9, notices: true, journal: sink})
	lines := bytes.Split(bytes.TrimSpace(sink.buf), []byte("\n"))
	// drop the footer and the last 30 "end" lines (those deductions were in
	// flight when the process died), then tear the last line in half
	var kept [][]byte
	dropped := 0
	for i := len(lines) - 2; i >= 0; i-- {
		if dropped < 30 && bytes.Contains(lines[i], []byte(`"t":"end"`)) {
			dropped++
			continue
		}
		kept = append([][]byte{lines[i]}, kept...)
	}
	crashed := bytes.Join(kept, []byte("\n"))
	crashed = append(crashed, '\n')
	crashed = append(crashed, []byte(`{"t":"beg","id":99999,"a":"u0","f":"x","am`)...)
	path := writeFile(t, t.TempDir(), "crashed.ndjson", crashed)
	r, err := VerifyJournals(ctx, []string{path}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(r.Notes, "\n")
	if !strings.Contains(notes, "torn last line") || !strings.Contains(notes, "no footer") {
		t.Fatalf("notes %q", notes)
	}
	if r.Totals.Counts.Pending != 30 {
		t.Fatalf("pending %d, want 30", r.Totals.Counts.Pending)
	}
	if r.Verdict != Pass {
		t.Fatalf("verdict %s\n%s", r.Verdict, text(r))
	}
}

func TestJournalErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	hdr := `{"t":"hdr","v":1,"run":"r","inst":"i0","host":"","wall0":0,"epsMs":0,"low":50,"overdraft":false}`
	cases := []struct {
		name, body string
		line       int
		want       string
	}{
		{"empty", "", 0, "no header"},
		{"no header", `{"t":"beg","id":1,"a":"a","amt":5,"m":1}` + "\n", 1, "first line must be the header"},
		{"version", `{"t":"hdr","v":9}` + "\n", 1, "format version 9"},
		{"bad middle line", hdr + "\nnot json\n" + `{"t":"ftr","lines":1}` + "\n", 2, "not a JSON object"},
		{"missing field", hdr + "\n" + `{"t":"beg","id":1,"a":"a","m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, "beg line without amt"},
		{"bad outcome", hdr + "\n" + `{"t":"end","id":1,"o":"maybe","m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, `outcome "maybe"`},
		{"unknown type", hdr + "\n" + `{"t":"zzz","m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, `unknown line type "zzz"`},
		{"twice opened", hdr + "\n" + `{"t":"open","a":"a","m":1,"bal":5}` + "\n" + `{"t":"open","a":"a","m":2,"bal":5}` + "\n" + `{"t":"ftr","lines":2}` + "\n", 3, "opened twice"},
		// What a writer never produces (before, all but the last were
		// accepted: a verdict came out of an impossible journal).
		{"negative amount", hdr + "\n" + `{"t":"beg","id":1,"a":"a","amt":-5,"m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, "beg line with amount -5"},
		{"zero amount", hdr + "\n" + `{"t":"beg","id":1,"a":"a","amt":0,"m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, "beg line with amount 0"},
		{"negative charge", hdr + "\n" + `{"t":"end","id":1,"o":"ok","chg":-3,"m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, "negative charged -3"},
		{"id zero", hdr + "\n" + `{"t":"beg","id":0,"a":"a","amt":5,"m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, "id 0"},
		{"ended twice", hdr + "\n" + `{"t":"beg","id":1,"a":"a","amt":5,"m":1}` + "\n" + `{"t":"end","id":1,"o":"ok","m":2}` + "\n" + `{"t":"end","id":1,"o":"ok","m":3}` + "\n" + `{"t":"ftr","lines":3}` + "\n", 4, "operation 1 ended twice"},
		{"returns before the call", hdr + "\n" + `{"t":"rd","id":1,"a":"a","m0":9,"m":2,"bal":5}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 2, "returns before it is called"},
		{"line after the footer", hdr + "\n" + `{"t":"ftr","lines":0}` + "\n" + `{"t":"beg","id":1,"a":"a","amt":5,"m":1}` + "\n", 3, `a "beg" line after the footer (line 2)`},
		{"second header", hdr + "\n" + hdr + "\n" + `{"t":"ftr","lines":0}` + "\n", 2, "a second header (the first is line 1)"},
		{"concatenated twice", hdr + "\n" + `{"t":"beg","id":1,"a":"a","amt":5,"m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n" +
			hdr + "\n" + `{"t":"beg","id":1,"a":"a","amt":5,"m":1}` + "\n" + `{"t":"ftr","lines":1}` + "\n", 4, "a second header after the footer (line 3): two journals were concatenated"},
		{"negative footer", hdr + "\n" + `{"t":"ftr","lines":-1}` + "\n", 2, "footer counts -1 lines"},
		{"negative clock bound", `{"t":"hdr","v":1,"run":"r","inst":"i0","epsMs":-1}` + "\n", 1, "clock bound -1 ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".ndjson", []byte(tc.body))
			_, err := VerifyJournals(ctx, []string{path}, VerifyOptions{})
			var je *JournalError
			if !errors.As(err, &je) || !errors.Is(err, ErrBadJournal) {
				t.Fatalf("error %v, want a JournalError wrapping ErrBadJournal", err)
			}
			if je.Line != tc.line || !strings.Contains(err.Error(), tc.want) || je.Path != path {
				t.Fatalf("error %q (line %d), want line %d and %q", err, je.Line, tc.line, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := VerifyJournals(ctx, []string{filepath.Join(dir, "nope")}, VerifyOptions{})
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("different runs", func(t *testing.T) {
		a := writeFile(t, dir, "ra", []byte(hdr+"\n"))
		b := writeFile(t, dir, "rb", []byte(strings.Replace(hdr, `"run":"r"`, `"run":"other"`, 1)+"\n"))
		if _, err := VerifyJournals(ctx, []string{a, b}, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "from run") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("same instance twice", func(t *testing.T) {
		a := writeFile(t, dir, "ia", []byte(hdr+"\n"))
		if _, err := VerifyJournals(ctx, []string{a, a}, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "both instance") {
			t.Fatalf("error %v", err)
		}
	})
}

// Strings with quotes, control characters and invalid UTF-8 survive the journal.
func TestJournalStrings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sink := &journalSink{}
	s := newScript(t, Config{Journal: sink, Run: "r\"un", Instance: "i\n0"})
	acct := "a \"quoted\"\t\\ é \x01 \xff"
	s.open(acct, 10)
	op, err := s.l.Begin(ctx, acct, Deduction{Feature: "f\u2028x", Amount: 5})
	if err != nil {
		t.Fatal(err)
	}
	s.settle(2, op, Outcome{Kind: OK, Balance: 5, HasBalance: true, TxID: "tx\"1"})
	s.at(3).close(acct, 5)
	if err := s.l.CloseJournal(); err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(sink.buf), []byte("\n")) {
		if !json.Valid(line) {
			t.Fatalf("invalid JSON line %q", line)
		}
	}
	path := writeFile(t, t.TempDir(), "j", sink.buf)
	r, err := VerifyJournals(ctx, []string{path}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ToValidUTF8(acct, "\ufffd")
	if r.Verdict != Pass || r.Accounts[want] == nil {
		t.Fatalf("verdict %s, accounts %v", r.Verdict, r.AccountIDs())
	}
}

// After CloseJournal the journal is complete and bookkeeping goes on in memory.
func TestCloseJournalFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "live.ndjson")
	s := newScript(t, Config{JournalPath: path})
	s.open("a", 10)
	s.deduct(1, 2, "a", 5, okBal(5))
	if err := s.l.CloseJournal(); err != nil {
		t.Fatal(err)
	}
	s.deduct(3, 4, "a", 5, okBal(0)) // not journaled
	s.at(5).close("a", 0)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 5 || lines[4] != `{"t":"ftr","lines":3}` {
		t.Fatalf("journal:\n%s", b)
	}
	if r := s.verify(VerifyOptions{}); r.Verdict != Pass || r.Totals.Counts.OK != 2 {
		t.Fatalf("memory: %s", text(r))
	}
	if err := s.l.CloseJournal(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// Correct histories split across three instances that started at different
// times and whose clocks are off by up to their bound still pass, accounts
// shared or not.
func TestJournalMergeClockBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for seed := range uint64(60) {
		sink := &journalSink{}
		cfg := correctConfig(seed)
		cfg.journal = sink
		runSim(t, cfg)
		byAccount := seed%2 == 0
		start := []int64{0, 3 * ms, 11 * ms}
		skew := []int64{0, -4 * ms, 5 * ms} // within the 5 ms bound
		var paths []string
		for i, part := range splitJournal(t, sink.buf, 3, byAccount, 5, start, skew) {
			paths = append(paths, writeFile(t, dir, fmt.Sprintf("s%d-i%d.ndjson", seed, i), part))
		}
		r, err := VerifyJournals(ctx, paths, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != Pass {
			t.Fatalf("%v disjoint=%v: %s", cfg, byAccount, text(r))
		}
	}
}

// Journals split by account (each instance takes its accounts' snapshots,
// as when every instance opens and closes its own accounts), with clock
// bounds, start offsets and skews, give exactly the verdict, intervals and
// findings of the unsplit journal: an account seen by one instance keeps
// that instance's exact times.
func TestJournalMergeDisjointExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, b := range []bug{bugNone, bugLostUpdate, bugDoubleCharge, bugStaleRead, bugDupNotice} {
		sink := &journalSink{}
		cfg := simConfig{seed: 5, accounts: 4, clients: 40, ops: 400, readFrac: 0.1, unknownFrac: 0.04,
			startFactor: 0.9, notices: true, log: true, flags: true, versions: true, used: true,
			bug: b, bugRate: 0.05, journal: sink}
		runSim(t, cfg)
		want, err := VerifyJournals(ctx, []string{writeFile(t, dir, fmt.Sprintf("whole-%d.ndjson", b), sink.buf)}, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for i, part := range splitByAccount(t, sink.buf, []int64{0, 3 * ms, 11 * ms}, []int64{0, -4 * ms, 5 * ms}) {
			paths = append(paths, writeFile(t, dir, fmt.Sprintf("part-%d-i%d.ndjson", b, i), part))
		}
		got, err := VerifyJournals(ctx, paths, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		same(t, bugNames[b], want, got)
	}
}

// splitByAccount splits a journal into len(startNs) instances (clock bound
// 5 ms), account by account in name order, every line of an account going
// to its instance; instance i started startNs[i] later and misreports its
// start by skewNs[i].
func splitByAccount(t *testing.T, journal []byte, startNs, skewNs []int64) [][]byte {
	t.Helper()
	n := len(startNs)
	lines := bytes.Split(bytes.TrimSpace(journal), []byte("\n"))
	var hdr map[string]any
	hd := json.NewDecoder(bytes.NewReader(lines[0]))
	hd.UseNumber()
	if err := hd.Decode(&hdr); err != nil {
		t.Fatal(err)
	}
	type line struct {
		T  string  `json:"t"`
		A  string  `json:"a"`
		ID *uint64 `json:"id"`
	}
	var accts []string
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		var x line
		json.Unmarshal(l, &x)
		if x.A != "" && !seen[x.A] {
			seen[x.A] = true
			accts = append(accts, x.A)
		}
	}
	sort.Strings(accts)
	owner := map[string]int{}
	for i, a := range accts {
		owner[a] = i % n
	}
	out := make([][]byte, n)
	counts := make([]int, n)
	wall0, _ := hdr["wall0"].(json.Number).Int64()
	for i := range out {
		hdr["inst"] = fmt.Sprintf("i%d", i)
		hdr["epsMs"] = 5
		hdr["wall0"] = wall0 + startNs[i] + skewNs[i]
		b, _ := json.Marshal(hdr)
		out[i] = append(b, '\n')
	}
	begOwner := map[uint64]int{}
	for _, l := range lines[1:] {
		var x line
		json.Unmarshal(l, &x)
		if x.T == "ftr" {
			continue
		}
		to := owner[x.A]
		if x.T == "beg" {
			begOwner[*x.ID] = to
		} else if x.T == "end" {
			to = begOwner[*x.ID]
		}
		d := json.NewDecoder(bytes.NewReader(l))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"m", "m0"} {
			if v, ok := m[k]; ok {
				x, _ := v.(json.Number).Int64()
				m[k] = x - startNs[to]
			}
		}
		b, _ := json.Marshal(m)
		out[to] = append(append(out[to], b...), '\n')
		counts[to]++
	}
	for i := range out {
		out[i] = appendFooter(out[i], int64(counts[i]))
	}
	return out
}

// appendString must write what encoding/json writes (HTML escaping off),
// byte for byte: the journal's and internal/output's copies are pinned to
// the same oracle by this test, present in both packages.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \\`, "ctl \x00\x01\x1f\x7f", "nl \n cr \r tab \t",
		"line sep \u2028 para sep \u2029", "é ü 漢 🙂", "bad \xff utf8 \xc3", "html <&> stays",
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(appendString(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("appendString(%q) = %s, encoding/json writes %s", s, got, want.String())
		}
	}
}
