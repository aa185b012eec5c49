package js_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/modules/modulestest"
)

// A request cut off by the end of the VU's work (the iteration context is
// cancelled, as at gracefulStop, ramp-down, abort or interrupt) emits no
// http_req* samples, is not logged as a failed request, stops the
// iteration there (the code after it does not run) and the interrupted
// iteration is not counted; the bytes it moved are (data_sent,
// data_received).
func TestInterruptedRequest(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = w.Write([]byte(strings.Repeat("x", 1000)))
	}))
	t.Cleanup(func() { once.Do(func() { close(release) }); srv.Close() })

	for _, tc := range []struct{ name, call string }{
		{"sync", "http.get(BASE + '/slow')"},
		{"async", "await http.asyncRequest('GET', BASE + '/slow')"},
		{"batch", "http.batch([BASE + '/slow', BASE + '/fast'])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEnv(t, map[string]string{"main.js": `
import http from 'k6/http';
import { check } from 'k6';
const BASE = ` + strconv.Quote(srv.URL) + `;
export default async function () {
  http.get(BASE + '/fast');
  try {
    const res = ` + tc.call + `;
    check(res, { 'after the cut-off request': () => true });
  } catch (e) {
    globalThis.caught = String(e);
  }
  globalThis.after = true;
}`})
			v := e.VU(1)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
				}
				cancel()
			}()
			if v.RunIteration(ctx, &executor.Iteration{Scenario: modulestest.DefaultScenario.Executor()}) {
				t.Fatal("the iteration was counted as completed")
			}
			if v.Global("after") != nil || v.Global("caught") != nil {
				t.Errorf("code after the cut-off request ran: after=%v caught=%v", v.Global("after"), v.Global("caught"))
			}
			s := e.Samples()
			if _, n := s.Sum("http_reqs", nil); n != 1 && tc.name != "batch" {
				t.Errorf("http_reqs samples = %d, want 1 (the completed request only)", n)
			}
			if _, n := s.Sum("http_reqs", map[string]string{"url": srv.URL + "/slow"}); n != 0 {
				t.Errorf("the cut-off request emitted %d http_reqs samples", n)
			}
			if _, n := s.Sum("http_req_failed", map[string]string{"url": srv.URL + "/slow"}); n != 0 {
				t.Errorf("the cut-off request emitted http_req_failed")
			}
			if _, n := s.Sum("checks", nil); n != 0 {
				t.Errorf("%d checks ran after the cut-off request", n)
			}
			if _, n := s.Sum("iterations", nil); n != 0 {
				t.Errorf("the interrupted iteration was counted")
			}
			if recv, _ := s.Sum("data_received", nil); recv < 1000 {
				t.Errorf("data_received = %v, want the bytes of the completed request (>= 1000)", recv)
			}
			if sent, _ := s.Sum("data_sent", nil); sent <= 0 {
				t.Errorf("data_sent = %v, want > 0", sent)
			}
			if strings.Contains(e.Logs(), "Request Failed") {
				t.Errorf("the cut-off request was logged as failed:\n%s", e.Logs())
			}
		})
	}
}
