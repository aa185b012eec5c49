package ledger

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText renders a report in plain words: the verdict, the totals, then
// every listed finding (account, class, expected vs. seen, the operations
// involved) and the notes. It is the end-of-test summary's ledger section
// and the output of `tally ledger verify`.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("ledger: %s\n", verdictWord(r.Verdict))
	for _, line := range r.Figures() {
		p("  %s\n", line)
	}
	ids := r.AccountIDs()
	first := true
	for _, id := range ids {
		a := r.Accounts[id]
		if len(a.Anomalies) == 0 {
			continue
		}
		if first {
			p("\nfindings:\n")
			first = false
		}
		for _, f := range a.Anomalies {
			p("  account %s: %s", quoteIfNeeded(id), f.Kind)
			if f.Credits != 0 {
				p(", %s", plural(f.Credits, "credit"))
			}
			p("\n")
			p("      expected %s\n", f.Expected)
			p("      seen     %s\n", f.Seen)
			if len(f.Ops) > 0 {
				p("      ops      %s\n", strings.Join(f.Ops, " "))
			}
			if f.Detail != "" {
				p("      note     %s\n", f.Detail)
			}
		}
		if a.Omitted > 0 {
			p("  account %s: %d more findings not listed\n", quoteIfNeeded(id), a.Omitted)
		}
	}
	var notes []string
	notes = append(notes, r.Notes...)
	for _, id := range ids {
		a := r.Accounts[id]
		for _, n := range a.Notes {
			notes = append(notes, fmt.Sprintf("account %s: %s", quoteIfNeeded(id), n))
		}
	}
	if len(notes) > 0 {
		p("\nnotes:\n")
		const maxNotes = 50
		for i, n := range notes {
			if i == maxNotes {
				p("  ... and %d more\n", len(notes)-maxNotes)
				break
			}
			p("  %s\n", n)
		}
	}
	return bw.Flush()
}

// Figures returns the totals of a report in plain words, one line each, as
// WriteText shows them under the verdict: accounts, deductions, reads,
// credits, losses, the deep check, discrepancies by kind and the instances.
func (r *Report) Figures() []string {
	var out []string
	p := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	t := &r.Totals
	p("accounts      %d: %d passed, %d failed, %d undecided, %d not exercised", t.Accounts, t.Passed, t.Failed, t.Undecided, t.NotExercised)
	c := t.Counts
	// The buckets add up to the total; replays are inside ok and insufficient.
	byLog := ""
	if c.LogCharged+c.LogNotCharged > 0 {
		byLog = fmt.Sprintf("%d charged and %d not charged by the server log, ", c.LogCharged, c.LogNotCharged)
	}
	p("deductions    %d: %d ok, %d insufficient, %d rejected, %s%d unknown (%d never settled); %d resolved by replay or log (included)",
		c.Deductions, c.OK, c.Insufficient, c.Rejected, byLog, c.Unknown, c.Pending, c.Resolved)
	p("reads         %d", c.Reads)
	p("credits       start %d, end %d, confirmed %d, taken by unknown requests %d, still unresolved %d",
		t.Start, t.End, t.Confirmed, t.UnknownTaken, t.Unresolved)
	p("losses        %d credits leaked, %d overcharged", t.Leaked, t.Overcharged)
	if r.AmountSign != nil {
		p("log amounts   %s", r.AmountSign.Text())
	}
	if r.Deep.Mode != DeepOff.String() {
		notRun := ""
		if r.Deep.NotRun > 0 {
			notRun = fmt.Sprintf(" (%d of them not run: the total budget was spent first)", r.Deep.NotRun)
		}
		p("deep check    %d linearizable, %d not, %d out of budget%s, %d skipped, %d not exercised (%s)",
			r.Deep.OK, r.Deep.Illegal, r.Deep.OutOfBudget, notRun, r.Deep.Skipped, r.Deep.NotExercised, r.Deep.Elapsed.Round(time.Millisecond))
	}
	if n := r.DiscrepancyCount(); n > 0 {
		var parts []string
		for _, k := range Kinds {
			if c := r.Discrepancies[k]; c > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, c))
			}
		}
		p("discrepancies %d: %s", n, strings.Join(parts, ", "))
	} else {
		p("discrepancies 0")
	}
	if r.Segments != nil {
		p("segments      %s", r.Segments.Text())
	}
	if len(r.Instances) > 1 {
		p("instances     %s", strings.Join(r.Instances, ", "))
	}
	return out
}

// Headline is the verdict in one sentence.
func (r *Report) Headline() string { return "ledger: " + verdictWord(r.Verdict) }

// Text describes a finding in plain words on one line: the class, the
// credits involved, what was expected and what was seen, the operations
// and the note.
func (f *Finding) Text() string {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(string(f.Kind), "_", " "))
	if f.Credits != 0 {
		fmt.Fprintf(&b, ", %s", plural(f.Credits, "credit"))
	}
	fmt.Fprintf(&b, ": expected %s; seen %s", f.Expected, f.Seen)
	if len(f.Ops) > 0 {
		fmt.Fprintf(&b, " (operations %s)", strings.Join(f.Ops, " "))
	}
	if f.Detail != "" {
		fmt.Fprintf(&b, ". %s", f.Detail)
	}
	return b.String()
}

// OutcomeLine says in one line how a run's failed thresholds relate to the
// ledger's verdict, so that a reader of the summary does not take one for
// the other: "integrity: PASS — ..." when the books are right and only
// thresholds outside the ledger (availability, latency, checks) failed;
// "integrity: FAIL — ..." when the verdict is FAIL. failed lists the metrics
// with a failed threshold; ledger_* metrics are the ledger's own. It is
// empty when no threshold failed.
func OutcomeLine(v Verdict, failed []string) string {
	if len(failed) == 0 {
		return ""
	}
	var own, other []string
	for _, m := range failed {
		if strings.HasPrefix(m, "ledger_") {
			own = append(own, m)
		} else {
			other = append(other, m)
		}
	}
	switch {
	case v == Fail:
		return "integrity: FAIL — credits are out of place (findings above); the run failed on integrity" +
			list(", and on thresholds outside the ledger: ", other)
	case v == Pass && len(own) == 0:
		return "integrity: PASS — every credit is accounted for; the thresholds that failed are on availability, " +
			"latency or checks, not integrity: " + strings.Join(other, ", ")
	case v == Pass:
		return "integrity: PASS — no credit out of place, but ledger thresholds failed: " + strings.Join(own, ", ") +
			list("; and outside the ledger: ", other)
	}
	return "integrity: UNKNOWN — not everything could be checked" + list("; failed thresholds: ", failed)
}

func list(prefix string, items []string) string {
	if len(items) == 0 {
		return ""
	}
	return prefix + strings.Join(items, ", ")
}

func verdictWord(v Verdict) string {
	switch v {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	}
	return "UNDECIDED (nothing wrong found, but not everything could be checked)"
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func plural(n int64, word string) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
