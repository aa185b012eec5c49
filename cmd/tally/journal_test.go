package main

import (
	"strings"
	"testing"
)

// TestLedgerVerifyRefusesImpossibleJournals: `tally ledger verify` exits
// 255 naming the file and line for a journal no writer produces (before:
// a negative amount and a journal concatenated twice gave a verdict).
func TestLedgerVerifyRefusesImpossibleJournals(t *testing.T) {
	t.Parallel()
	hdr := `{"t":"hdr","v":1,"run":"r","inst":"i0","host":"","wall0":0,"epsMs":0,"low":50,"overdraft":false}` + "\n"
	one := hdr + `{"t":"open","a":"a","m":1,"bal":100}` + "\n" + `{"t":"beg","id":1,"a":"a","f":"x","amt":5,"m":2}` + "\n" +
		`{"t":"end","id":1,"o":"ok","bal":95,"m":3}` + "\n" + `{"t":"close","a":"a","m":4,"bal":95}` + "\n" + `{"t":"ftr","lines":4}` + "\n"
	tests := []struct{ name, body, want string }{
		{"negative amount", strings.Replace(one, `"amt":5`, `"amt":-5`, 1), "negative.ndjson line 3: beg line with amount -5"},
		{"concatenated twice", one + one, "twice.ndjson line 7: a second header after the footer (line 6)"},
	}
	dir := t.TempDir()
	write(t, dir, "good.ndjson", one)
	if r := tally(t, dir, "ledger", "verify", "good.ndjson"); r.code != 0 {
		t.Fatalf("the valid journal: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := map[string]string{"negative amount": "negative.ndjson", "concatenated twice": "twice.ndjson"}[tc.name]
			write(t, dir, name, tc.body)
			r := tally(t, dir, "ledger", "verify", name)
			if r.code != 255 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 255 and %q:\n%s%s", r.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}
