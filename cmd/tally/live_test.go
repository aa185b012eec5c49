package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startPrometheus starts the prometheus binary on a free loopback port with the remote-write receiver and
// returns its base URL. Without the binary the test fails under CI (.ci/run installs it) and is skipped
// elsewhere, saying how to install it.
func startPrometheus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed; .ci/run installs it (apt-get install prometheus)")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := write(t, dir, "prometheus.yml", "global:\n  scrape_interval: 1m\n")
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--web.enable-remote-write-receiver", "--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--config.file="+cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logf.Name())
	t.Fatalf("prometheus did not become ready:\n%s", b)
	return ""
}

// promQuery returns the values of an instant query, by the label named by.
func promQuery(t *testing.T, base, query, by string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &doc); err != nil || doc.Status != "success" {
		t.Fatalf("query %s: %v %s", query, err, b)
	}
	out := map[string]float64{}
	for _, r := range doc.Data.Result {
		v, _ := strconv.ParseFloat(r.Value[1].(string), 64)
		out[r.Metric[by]] = v
	}
	return out
}

const liveScript = `
import http from 'k6/http';
import { check } from 'k6';
export const options = {
  scenarios: { a: { executor: 'shared-iterations', vus: 4, iterations: 120 } },
  thresholds: { http_req_duration: ['p(95)<5000'] },
};
export default function () {
  const res = http.get(__ENV.TARGET + '/item', { tags: { name: 'item' } });
  check(res, { 'status is 200': (r) => r.status === 200 });
}
`

// TestPrometheusRemoteWrite runs a test with --out experimental-prometheus-rw against a real Prometheus
// and reads the request count back through its query API: it equals the summary's, and the series carry
// the instance and run_id labels.
func TestPrometheusRemoteWrite(t *testing.T) {
	t.Parallel()
	prom := startPrometheus(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprint(w, "ok")
	}))
	defer target.Close()
	dir := t.TempDir()
	write(t, dir, "live.js", liveScript)
	cmd := exec.Command(binary, "run", "-q", "--out", "experimental-prometheus-rw", "--summary-export", "summary.json", "live.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TARGET="+target.URL, "RUN_ID=prw-test", "INSTANCE=gen-1",
		"K6_PROMETHEUS_RW_SERVER_URL="+prom+"/api/v1/write", "K6_PROMETHEUS_RW_PUSH_INTERVAL=500ms",
		"K6_PROMETHEUS_RW_TREND_STATS=p(95),p(99),count")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tally: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "dropped") || strings.Contains(stderr.String(), "failed") {
		t.Errorf("the output reported losses against a live Prometheus:\n%s", stderr.String())
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	want := sum.Metrics["http_reqs"]["count"].(float64)
	got := promQuery(t, prom, `sum by (instance) (k6_http_reqs_total{run_id="prw-test"})`, "instance")
	if got["gen-1"] != want || want != 120 {
		t.Errorf("Prometheus has %v requests by instance; the summary reports %v (want 120 for gen-1)", got, want)
	}
	p95 := promQuery(t, prom, `k6_http_req_duration_p95{name="item",instance="gen-1"}`, "name")["item"]
	sp95 := sum.Metrics["http_req_duration"]["p(95)"].(float64) / 1000
	if p95 <= 0 || p95 > 5 {
		t.Errorf("k6_http_req_duration_p95 = %v s (summary p95 %v s): want a positive value in seconds", p95, sp95)
	}
	checks := promQuery(t, prom, `k6_checks_rate{instance="gen-1"}`, "check")
	if checks["status is 200"] != 1 {
		t.Errorf("k6_checks_rate by check = %v, want status is 200 at 1", checks)
	}
}
