package dashboard_test

// Browser tests: a real run with the dashboard on, watched by headless
// Chromium (driven by chromedp), and its exported report opened from
// file://. They skip when Chromium cannot be found, except under CI=true.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	_ "github.com/tallyhq/tally/extension/ledger/ledgerjs" // k6/x/ledger
	"github.com/tallyhq/tally/internal/engine"
	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/syncbuf"
)

// findChromium returns the browser's path, or skips (fails under CI).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TALLY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but no Chromium was found (looked for chromium, chromium-browser, google-chrome, headless_shell and TALLY_CHROMIUM): .ci/run installs Debian's chromium")
	}
	t.Skip("browser test skipped: Chromium not found; install it (apt-get install chromium) or set TALLY_CHROMIUM to run it")
	return ""
}

// artifacts returns the directory for screenshots: $TALLY_ARTIFACTS or the
// test's temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TALLY_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab with what it requested and every
// console error or uncaught exception it saw.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx}
	// Open the tab first, so that the listener sees every event of the page.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	listen := func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.errors = append(b.errors, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.errors = append(b.errors, fmt.Sprintf("uncaught exception at %d:%d: %s", d.LineNumber, d.ColumnNumber, msg))
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				b.errors = append(b.errors, "request failed: "+ev.ErrorText)
			}
		}
	}
	if err := chromedp.Listen(ctx, listen); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkClean fails on console errors and on requests that leave
// 127.0.0.1 (file:, data: and about: are local).
func (b *browser) checkClean(t *testing.T, allowHTTP bool) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		t.Errorf("browser: %s", e)
	}
	if len(b.requests) == 0 {
		t.Error("no request was seen: the network watch is not working")
	}
	for _, raw := range b.requests {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("request to an unparsable URL %q", raw)
			continue
		}
		switch u.Scheme {
		case "file", "data", "about", "blob":
			continue
		case "http":
			if allowHTTP && u.Hostname() == "127.0.0.1" {
				continue
			}
		}
		t.Errorf("the page requested %s (only 127.0.0.1 is allowed)", raw)
	}
}

// chartPixels counts, per chart, the opaque coloured pixels on its canvas:
// the series' strokes (grid and axes are grey).
const chartPixels = `(() => {
  const out = {};
  for (const host of document.querySelectorAll('.chart')) {
    if (host.closest('[hidden]')) continue;
    const c = host.querySelector('canvas');
    if (!c) { out[host.id] = -1; continue; }
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const r = d[i], g = d[i + 1], b = d[i + 2];
      if (d[i + 3] > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
    }
    out[host.id] = n;
  }
  return out;
})()`

// shownFigures lists the figures the page shows with their summary names.
const shownFigures = `Array.from(document.querySelectorAll('[data-metric][data-stat]')).map((e) =>
  [e.dataset.metric, e.dataset.stat, e.dataset.value, e.textContent])`

const shownThresholds = `Array.from(document.querySelectorAll('[data-threshold]')).map((e) => [e.dataset.threshold, e.textContent])`

// checkPage checks the page once it shows the final state: every chart drew,
// the figures equal the summary export, the threshold states match it, and
// the ledger verdict is there with its finding.
func checkPage(t *testing.T, b *browser, export map[string]map[string]any) {
	t.Helper()
	pixels := run(t, b, chromedp.Evaluate[map[string]int](chartPixels))
	figures := run(t, b, chromedp.Evaluate[[][]string](shownFigures))
	ths := run(t, b, chromedp.Evaluate[[][]string](shownThresholds))
	verdict := run(t, b, chromedp.Text(chromedp.CSS("#verdict-ledger")))
	finding := run(t, b, chromedp.Text(chromedp.CSS("table.findings tbody")))
	for _, id := range []string{"chart-vus", "chart-failed", "chart-latency", "chart-endpoints", "chart-iterations",
		"chart-checks", "chart-ledger", "chart-ledger-bad"} {
		if n, ok := pixels[id]; !ok || n < 50 {
			t.Errorf("chart %s drew %d coloured pixels (found %v): blank", id, n, ok)
		}
	}
	seen := map[string]bool{}
	for _, f := range figures {
		metric, stat, raw, text := f[0], f[1], f[2], f[3]
		seen[metric+"."+stat] = true
		want, ok := export[metric][stat].(float64)
		if !ok {
			t.Errorf("page shows %s %s = %s, which the summary export lacks", metric, stat, raw)
			continue
		}
		got, err := strconv.ParseFloat(raw, 64)
		if err != nil || got != want {
			t.Errorf("page shows %s %s = %s, summary export has %v", metric, stat, raw, want)
		}
		if shown, ok := parseShown(text); !ok || !near(shown, want) {
			t.Errorf("page shows %s %s as %q, summary export has %v", metric, stat, text, want)
		}
	}
	for _, must := range []string{"http_reqs.count", "http_reqs.rate", "http_req_failed.value", "http_req_duration.p(95)",
		"http_req_duration.med", "iterations.count", "checks.value", "vus_max.value", "ledger_discrepancies.count"} {
		if !seen[must] {
			t.Errorf("page does not show %s", must)
		}
	}
	if len(figures) < 40 {
		t.Errorf("page shows only %d figures of the summary", len(figures))
	}
	if len(ths) != 4 {
		t.Errorf("thresholds shown: %v, want 4", ths)
	}
	for _, th := range ths {
		metric, expr, _ := strings.Cut(th[0], " ")
		failed, ok := export[metric]["thresholds"].(map[string]any)[expr].(bool)
		want := "pass"
		if failed {
			want = "fail"
		}
		if !ok || th[1] != want {
			t.Errorf("threshold %s shown as %s, summary export says failed=%v (found %v)", th[0], th[1], failed, ok)
		}
	}
	if verdict != "ledger: FAIL" || !strings.Contains(finding, "account acct-2") || !strings.Contains(finding, "lost update") {
		t.Errorf("ledger verdict %q, findings %q", verdict, finding)
	}
}

var shownRE = regexp.MustCompile(`^(-?[0-9.]+)\s*(µs|ms|s|m|%|/s|B|kB|MB|GB)?$`)

// parseShown reads a figure as the page formats it back into the summary's
// unit (ms for times, ratios for %).
func parseShown(s string) (float64, bool) {
	m := shownRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	switch m[2] {
	case "µs":
		v /= 1000
	case "s":
		v *= 1000
	case "m":
		v *= 60000
	case "%":
		v /= 100
	case "kB":
		v *= 1e3
	case "MB":
		v *= 1e6
	case "GB":
		v *= 1e9
	}
	return v, true
}

// near tells whether a shown (rounded) figure matches the exact value.
func near(shown, want float64) bool {
	return math.Abs(shown-want) <= math.Max(0.006*math.Abs(want), 0.006)
}

const script = `
import http from 'k6/http';
import { check, sleep } from 'k6';
import ledger from 'k6/x/ledger';

ledger.configure({ lowThreshold: -1 });

export const options = {
  scenarios: { load: { executor: 'constant-vus', vus: 3, duration: '6s' } },
  thresholds: {
    http_req_duration: ['p(95)<5000'],
    'http_req_duration{name:orders}': ['max<5000'],
    checks: ['rate>0.5'],
    ledger_discrepancies: ['count==0'],
  },
};

export function setup() {
  ledger.open('acct-1', { balance: 100 });
  ledger.open('acct-2', { balance: 100 });
  for (let i = 0; i < 4; i++) ledger.settle(ledger.begin('acct-1', { feature: 'search', amount: 5 }), { outcome: 'ok' });
  ledger.settle(ledger.begin('acct-2', { feature: 'search', amount: 5 }), { outcome: 'ok' });
  ledger.settle(ledger.begin('acct-2', { feature: 'search', amount: 500 }), { outcome: 'insufficient' });
}

export default function () {
  const r = http.get(__ENV.BASE + '/orders', { tags: { name: 'orders' } });
  check(r, { 'orders answered 200': (res) => res.status === 200 });
  http.get(__ENV.BASE + '/missing', { tags: { name: 'missing' } });
  sleep(0.05);
}

export function teardown() {
  ledger.close('acct-1', { balance: 80 });
  ledger.close('acct-2', { balance: 100 }); // the 5 credits confirmed were never taken: a lost update
  ledger.verify();
}
`

var dashURL = regexp.MustCompile(`web dashboard: (http://[0-9.:]+)`)

// TestBrowser runs a test with the dashboard on, watches it live in
// Chromium, then opens the exported report from disk.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	b := newBrowser(t)
	shots := artifacts(t)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		if r.URL.Path != "/orders" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()

	dir := t.TempDir()
	report := filepath.Join(dir, "report.html")
	summaryPath := filepath.Join(dir, "summary.json")
	logs := &syncbuf.Buffer{}
	var stdout, stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- engine.Run(context.Background(), engine.Config{
			ScriptPath: filepath.Join(dir, "dash.js"), Source: []byte(script), Env: map[string]string{"BASE": srv.URL},
			Outputs:       []string{"web-dashboard=port=0&period=500ms&export=" + url.QueryEscape(report)},
			SummaryExport: summaryPath, SummaryMode: "compact", Quiet: true,
			Stdout: &stdout, Stderr: &stderr, Logger: slog.New(slog.NewTextHandler(logs, nil)), Version: "test",
		})
	}()
	var page string
	for deadline := time.Now().Add(30 * time.Second); page == ""; time.Sleep(20 * time.Millisecond) {
		if m := dashURL.FindStringSubmatch(logs.String()); m != nil {
			page = m[1] + "/"
		} else if time.Now().After(deadline) {
			t.Fatalf("no dashboard address logged:\n%s", logs.String())
		}
	}

	// Live: the page fills in while the run goes on, then shows the end.
	// On a busy machine Chromium may come up after the run ended: then the
	// page shows the final state at once, which the checks below cover.
	if err := chromedp.Do(b.ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state] #chart-latency canvas`)),
	); err != nil {
		t.Fatalf("live page: %v\nlogs:\n%s", err, logs.String())
	}
	liveReqs := liveRequestCount(t, b)
	live := run(t, b, chromedp.FullScreenshot(100))
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the run did not end")
	}
	if exitcode.Of(runErr) != exitcode.ThresholdsFailed {
		t.Fatalf("run: %v (want exit code 99: ledger_discrepancies count==0 fails)\nlogs:\n%s", runErr, logs.String())
	}
	if err := chromedp.Do(b.ctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state="final"] #summary table`))); err != nil {
		t.Fatalf("final state: %v", err)
	}
	final := run(t, b, chromedp.FullScreenshot(100))
	writeShot(t, shots, "dashboard-live.png", live)
	writeShot(t, shots, "dashboard-final.png", final)
	export := readExport(t, summaryPath)
	if _, err := strconv.ParseFloat(liveReqs, 64); err != nil {
		t.Errorf("live request count %q", liveReqs)
	}
	checkPage(t, b, export)
	status := run(t, b, chromedp.Text(chromedp.CSS("#status")))
	if !strings.HasPrefix(status, "failed") {
		t.Errorf("status %q, want failed (a threshold failed)", status)
	}
	b.checkClean(t, true)

	// The report, from disk, in a fresh tab: no network at all.
	st, err := os.Stat(report)
	if err != nil {
		t.Fatalf("no report: %v\nlogs:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "HTML report written to") {
		t.Errorf("the report's path was not logged:\n%s", logs.String())
	}
	rb := newBrowser(t)
	if err := chromedp.Do(rb.ctx,
		chromedp.Navigate("file://"+report),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="final"] #summary table`)),
	); err != nil {
		t.Fatalf("report: %v", err)
	}
	shot := run(t, rb, chromedp.FullScreenshot(100))
	writeShot(t, shots, "report.png", shot)
	writeShot(t, shots, "report-top.png", run(t, rb, chromedp.CaptureScreenshot())) // the README's picture
	checkPage(t, rb, export)
	rb.checkClean(t, false)
	t.Logf("report: %d bytes; screenshots in %s", st.Size(), shots)
}

// run runs one action in the browser's tab and fails the test on error.
func run[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeShot(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if len(b) == 0 {
		t.Errorf("screenshot %s is empty", name)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Error(err)
	}
}

func readExport(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Metrics) == 0 {
		t.Fatal(errors.New("summary export without metrics"))
	}
	return doc.Metrics
}

// liveRequestCount returns the request tile's text while the page is live.
// The page may turn live a moment before the first update fills the tiles
// (a busy machine widens that moment), so it waits for the text, up to 30 s.
// A page that opened after the run ended shows the final state: "0" then,
// the final checks cover it.
func liveRequestCount(t *testing.T, b *browser) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		state := run(t, b, chromedp.Evaluate[string](`document.body.dataset.state`))
		if state != "live" {
			t.Logf("the page opened after the run ended (state %q): no live check", state)
			return "0"
		}
		text := strings.TrimSpace(run(t, b, chromedp.Evaluate[string](
			`(document.querySelector('#tiles [data-live="http_reqs"]') || {}).textContent || ''`)))
		if text != "" || time.Now().After(deadline) {
			return text
		}
		time.Sleep(50 * time.Millisecond)
	}
}
