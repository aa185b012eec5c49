package e2e

import (
	"net"
	"net/http"
	"path/filepath"
	"regexp"
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

// outOfCredit is the out-of-credit criterion of thresholds/normal.json and spike.json as the summary
// reports it failed: the ledger counts the refusals it classified as insufficient by the configuration.
var outOfCredit = regexp.MustCompile(`ledger_ops\{outcome:insufficient\}\n\s*✗ 'count==0' count=[1-9]`)

// TestOutOfCredit: normal.js and spike.js fail on a refusal for insufficient credits whatever status the
// service answers it with (402 from creditd; 409 from the second service, whose CONFIG sets
// insufficientStatus): with accounts opened nearly empty, the criterion is reported failed and the run
// exits 99 while the ledger passes (refusing to overdraw is correct); with the usual accounts it passes.
func TestOutOfCredit(t *testing.T) {
	skipShort(t)
	alt := "CONFIG=" + filepath.Join(root, "e2e", "testdata", "altcredit.json")
	cases := []struct {
		name, script string
		altService   bool
		env          []string
		refusals     bool // the run must fail on the out-of-credit criterion
	}{
		{name: "creditd-normal-empty", script: "normal.js", env: []string{"INITIAL_CREDITS=15"}, refusals: true},
		{name: "alt-normal-empty", script: "normal.js", altService: true, env: []string{alt, "INITIAL_CREDITS=15"}, refusals: true},
		{name: "alt-spike-empty", script: "spike.js", altService: true, env: []string{alt, "INITIAL_CREDITS=15"}, refusals: true},
		{name: "alt-normal", script: "normal.js", altService: true, env: []string{alt}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var url string
			if tc.altService {
				url = startAlt(t, altcredit.Bugs{})
			} else {
				url = startCreditd(t).URL
			}
			r := tally(t, tc.script, url, tc.env...)
			if !strings.Contains(ledgerSection(r.stdout), "ledger: PASS") {
				t.Fatalf("a correct service keeps its books: want the ledger verdict PASS\n%s", r)
			}
			if tc.refusals {
				if r.code != 99 || !outOfCredit.MatchString(r.stdout) {
					t.Fatalf("want exit 99 and ledger_ops{outcome:insufficient} reported failed\n%s", r)
				}
				return
			}
			// Latency is gated by TestNormal; here only that no refusal is counted where none happened.
			if !strings.Contains(r.stdout, "ledger_ops{outcome:insufficient}\n    ✓ 'count==0' count=0") {
				t.Fatalf("want ledger_ops{outcome:insufficient} reported passed with count 0\n%s", r)
			}
		})
	}
}
