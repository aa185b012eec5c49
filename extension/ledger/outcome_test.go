package ledger

import (
	"strings"
	"testing"
)

// TestOutcomeLine: the summary says plainly whether integrity or availability failed a run.
func TestOutcomeLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		verdict Verdict
		failed  []string
		want    []string // substrings; nil: an empty line
	}{
		{"nothing failed", Pass, nil, nil},
		{"availability only", Pass, []string{"http_req_failed"}, []string{"integrity: PASS", "not integrity", "http_req_failed"}},
		{"latency and checks", Pass, []string{"checks", "http_req_duration{name:deduct}"}, []string{"integrity: PASS", "availability, latency or checks", "checks, http_req_duration{name:deduct}"}},
		{"a ledger threshold with a PASS verdict", Pass, []string{"ledger_unknown_outcomes", "http_req_failed"}, []string{"integrity: PASS", "ledger thresholds failed: ledger_unknown_outcomes", "outside the ledger: http_req_failed"}},
		{"integrity failed", Fail, []string{"ledger_discrepancies"}, []string{"integrity: FAIL", "failed on integrity"}},
		{"integrity and availability failed", Fail, []string{"http_req_failed", "ledger_discrepancies"}, []string{"integrity: FAIL", "outside the ledger: http_req_failed"}},
		{"undecided", Undecided, []string{"http_req_failed"}, []string{"integrity: UNKNOWN", "http_req_failed"}},
	}
	for _, tt := range tests {
		got := OutcomeLine(tt.verdict, tt.failed)
		if tt.want == nil {
			if got != "" {
				t.Errorf("%s: %q, want nothing", tt.name, got)
			}
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q does not say %q", tt.name, got, w)
			}
		}
	}
}
