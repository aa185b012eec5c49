package ledgerjs

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/extension/ledger"
	"github.com/tallyhq/tally/modules/modulestest"
)

// A deduction whose request is cut off by the end of the test emits no
// HTTP samples (k6's behaviour), but the ledger must not take it as
// uncharged: the service may have committed it. It stays an unknown
// outcome (never settled), which verification treats as possibly charged;
// a Response of such a request, should a script get hold of one, has
// status 0 and maps to unknown too (TestRealResponses: refused, timeout).
func TestInterruptedDeductionIsUnknown(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			arrived <- struct{}{}
			select { // the service has committed but not answered yet
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		fmt.Fprint(w, `{"success":true,"credits_charged":5,"remaining_credits":95,"transaction_id":"tx-1","version":1}`)
	}))
	defer srv.Close()
	defer close(release)
	e := modulestest.Must(t, `import ledger from 'k6/x/ledger';
import http from 'k6/http';
ledger.configure({ run: 'r' });
export default function () {
  ledger.open('a', { balance: 100 });
  const ok = ledger.begin('a', { feature: 'ai_search', amount: 5 });
  ledger.settleHttp(ok, http.post(`+jsString(srv.URL+"/ok")+`, '{}', { headers: { 'Idempotency-Key': ok.key } }));
  const op = ledger.begin('a', { feature: 'ai_search', amount: 5 });
  const res = http.post(`+jsString(srv.URL+"/slow")+`, '{}', { headers: { 'Idempotency-Key': op.key } });
  globalThis.settled = ledger.settleHttp(op, res);
}`, modulestest.Options{})
	v := e.VU(1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
		}
		cancel()
	}()
	if v.Once(ctx, modulestest.DefaultScenario) {
		t.Fatal("the iteration completed")
	}
	if _, n := e.Samples().Sum("http_reqs", nil); n != 1 {
		t.Errorf("http_reqs samples = %d, want 1 (the completed deduction only)", n)
	}
	if strings.Contains(e.Logs(), "Request Failed") {
		t.Errorf("the cut-off request was logged as a failure:\n%s", e.Logs())
	}
	r, err := rootOf(t, e).Ledger().Verify(context.Background(), ledger.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Totals.Counts
	if c.Deductions != 2 || c.OK != 1 || c.Unknown != 1 {
		t.Errorf("counts %+v, want 2 deductions: 1 ok, 1 unknown", c)
	}
	if r.Verdict == ledger.Fail {
		t.Errorf("verdict %v: an interrupted deduction is not a discrepancy\n%v", r.Verdict, r.Findings())
	}
}
