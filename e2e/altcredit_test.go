package e2e

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/e2e/altcredit"
)

// startAlt serves an altcredit service with bugs on a free loopback port until the test ends.
func startAlt(t *testing.T, bugs altcredit.Bugs) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: altcredit.New(bugs).Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestAltService: race.js against a second credit service, written apart from creditd and unlike it in
// every convention the configuration covers (testdata/altcredit.json: paths, fields, signed debit
// amounts in its log, cursor paging, notices without ids, no version): clean, and with connections
// dropped after commit (a correct service: unknown outcomes the audit resolves), it passes with exit 0;
// with each bug it fails with exit 99 naming the class.
func TestAltService(t *testing.T) {
	skipShort(t)
	config := "CONFIG=" + filepath.Join(root, "e2e", "testdata", "altcredit.json")
	// Integrity and error rate as in thresholds/race.json; latency loosened: five runs share the machine.
	thresholds := "THRESHOLDS=" + filepath.Join(root, "e2e", "testdata", "race-e2e-thresholds.json")
	cases := []struct {
		name  string
		bugs  altcredit.Bugs
		kinds []string // nil: the run must pass
	}{
		{name: "correct"},
		{name: "drop-after-commit", bugs: altcredit.Bugs{DropAfterCommit: 0.005}},
		{name: "refund-on-refusal", bugs: altcredit.Bugs{RefundOnRefusal: true}, kinds: []string{"lost_update", "stale_read"}},
		{name: "lost-update", bugs: altcredit.Bugs{LostUpdate: 0.2}, kinds: []string{"lost_update"}},
		{name: "duplicate-notice", bugs: altcredit.Bugs{DuplicateNotice: true}, kinds: []string{"notification_duplicate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := startAlt(t, tc.bugs)
			r := tally(t, "race.js", url, config, thresholds)
			led := ledgerSection(r.stdout)
			if tc.kinds == nil {
				if r.code != 0 || !strings.Contains(led, "ledger: PASS") || !strings.Contains(led, "discrepancies 0") {
					t.Fatalf("want exit 0 and a clean ledger verdict against the correct second service\n%s", r)
				}
				if !strings.Contains(led, "debits negative") {
					t.Fatalf("want the verdict to say the log's debits were read as negative amounts\n%s", r)
				}
				return
			}
			if r.code != 99 || !strings.Contains(led, "ledger: FAIL") {
				t.Fatalf("want exit 99 and the ledger verdict FAIL\n%s", r)
			}
			found := false
			for _, k := range tc.kinds {
				found = found || strings.Contains(led, k)
			}
			if !found {
				t.Fatalf("want the summary to name %s\n%s", strings.Join(tc.kinds, " or "), r)
			}
		})
	}
}
