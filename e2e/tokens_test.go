package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/e2e/altcredit"
)

// TestNoTokensInArtifacts: no account token appears in the summary export (setup_data), the text
// summary, the log or the ledger's journal of a race.js run.
func TestNoTokensInArtifacts(t *testing.T) {
	skipShort(t)
	svc := altcredit.New(altcredit.Bugs{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	dir := t.TempDir()
	export := filepath.Join(dir, "summary.json")
	journal := filepath.Join(dir, "journal.ndjson")
	r := tally(t, "race.js", "http://"+ln.Addr().String(), "CONFIG="+filepath.Join(root, "e2e", "testdata", "altcredit.json"),
		"JOURNAL="+journal, "--summary-export="+export)
	exp, err := os.ReadFile(export)
	if err != nil {
		t.Fatalf("no summary export: %v\n%s", err, r)
	}
	jr, err := os.ReadFile(journal)
	if err != nil {
		t.Fatalf("no journal: %v\n%s", err, r)
	}
	if !strings.Contains(string(exp), `"setup_data"`) {
		t.Fatalf("the export has no setup_data to check:\n%.2000s", exp)
	}
	tokens := svc.Tokens()
	if len(tokens) == 0 {
		t.Fatalf("the service issued no token\n%s", r)
	}
	for _, tok := range tokens {
		for name, text := range map[string]string{"summary export": string(exp), "journal": string(jr), "stdout": r.stdout, "stderr": r.stderr} {
			if strings.Contains(text, tok) {
				t.Fatalf("token %s appears in the %s", tok, name)
			}
		}
	}
}
