package k6http

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/metrics"
)

// benchServerEnv makes the test binary act as the benchmark's HTTP server,
// so that the server's CPU is not counted as the generator's.
const benchServerEnv = "K6HTTP_BENCH_SERVER"

var benchBody = []byte(`{"account":"acct-1","balance":500,"currency":"credits"}`)

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		serveBench()
		return
	}
	os.Exit(m.Run())
}

func benchHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow" { // BenchmarkSparseRoundTrip: a server that works a while
		time.Sleep(3 * time.Millisecond)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(benchBody)
}

// serveBench serves benchHandler on a loopback port until stdin closes.
func serveBench() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go func() { _ = http.Serve(ln, http.HandlerFunc(benchHandler)) }() //nolint:gosec // bench server on loopback
	buf := make([]byte, 1)
	_, _ = os.Stdin.Read(buf)
}

// startBenchServer runs the server in a child process and returns its URL.
func startBenchServer(b *testing.B) string {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return "http://" + strings.TrimSpace(line) + "/balance"
}

// countingPusher counts samples and drops them.
type countingPusher struct{ n atomic.Int64 }

func (c *countingPusher) Push(s metrics.Samples) { c.n.Add(int64(len(s))) }

func benchVU(b *testing.B, url string, p metrics.Pusher, std bool) *fakeVU {
	v := newVU(b, withStd(std))
	v.st.Samples = p
	_ = v.rt.Set("URL", url)
	return v
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGet makes one GET per op through the module, as a script's
// `http.get(url)` line does, against a server in another process; h1 is
// the synchronous HTTP/1.1 path plain-http requests take, nethttp the
// net/http Transport path (https, proxies).
// runScript runs src once to warm the connections, then once per op, and
// reports the process's CPU per op divided by reqs (the requests of one run)
// as unit.
func runScript(b *testing.B, v *fakeVU, src string, reqs int, unit string) {
	prog := sobek.MustCompile("bench.js", src, false)
	if _, err := v.rt.RunProgram(prog); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.rt.RunProgram(prog); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/float64(reqs)/1e3, unit)
}

func BenchmarkGet(b *testing.B) {
	url := startBenchServer(b)
	scripts := []struct{ name, src string }{
		{"get", `http.get(URL)`},
		{"get+status", `http.get(URL).status === 200`},
		{"get+json_selector", `http.get(URL).json("balance") === 500`},
		{"get+params", `http.get(URL, {headers: {"X-Req": "1"}, tags: {name: "balance"}})`},
	}
	for _, tr := range transports {
		for _, s := range scripts {
			b.Run(tr.name+"/"+s.name, func(b *testing.B) {
				runScript(b, benchVU(b, url, &countingPusher{}, tr.std), s.src, 1, "cpu-µs/op")
			})
		}
	}
}

// BenchmarkGetVUs runs 50 goroutine VUs, each with its own runtime and
// module instance, sharing b.N GETs; it reports requests per second and
// the generator's CPU per request (the server runs in another process).
func BenchmarkGetVUs(b *testing.B) {
	url := startBenchServer(b)
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) { benchVUs(b, url, tr.std, 50) })
	}
}

func benchVUs(b *testing.B, url string, std bool, vus int) {
	p := &countingPusher{}
	list := make([]*fakeVU, vus)
	for i := range list {
		list[i] = benchVU(b, url, p, std)
	}
	prog := sobek.MustCompile("bench.js", `http.get(URL)`, false)
	b.ReportAllocs()
	var left atomic.Int64
	left.Store(int64(b.N))
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, v := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if _, err := v.rt.RunProgram(prog); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/req")
	if p.n.Load() < int64(b.N)*9 {
		b.Fatalf("samples = %d, want %d", p.n.Load(), b.N*9)
	}
}

// BenchmarkNewModuleInstance measures what k6/http adds to every VU before
// its first request (the exports object and its functions).
func BenchmarkNewModuleInstance(b *testing.B) {
	root := New()
	v := newVU(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = root.NewModuleInstance(v)
	}
}

// burstScript is race.js's hot loop in miniature: five POSTs built as
// request objects with headers, a name tag and a timeout, sent with
// http.batch, and one field read from each answer ("fresh": new objects for
// every request).
const burstScript = `
var reqs = [];
for (var i = 0; i < 5; i++) {
  reqs.push({method: 'POST', url: URL, body: '{"user_id":"u-1","feature":"deduct","usage":1}',
    params: {headers: {'Content-Type': 'application/json', Authorization: 'Bearer t0k3n', 'Idempotency-Key': 'key-' + i},
      tags: {name: 'deduct'}, timeout: '10s'}});
}
var res = http.batch(reqs);
for (var i = 0; i < res.length; i++) res[i].json('balance');
`

// burstKeptScript is the same burst as scripts/lib/credit.js builds it
// ("kept"): a frozen name tag per endpoint, and the request objects of each
// place in the burst written over.
const burstKeptScript = `
if (typeof TAGS === 'undefined') {
  globalThis.TAGS = Object.freeze({name: 'deduct'});
  globalThis.KEPT = [];
  for (var i = 0; i < 5; i++) {
    KEPT.push({method: 'POST', url: URL, body: null,
      params: {headers: {'Content-Type': 'application/json', Authorization: '', 'Idempotency-Key': ''}, tags: TAGS, timeout: '10s'}});
  }
}
var reqs = [];
for (var i = 0; i < 5; i++) {
  var r = KEPT[i];
  r.body = '{"user_id":"u-1","feature":"deduct","usage":1}';
  r.params.headers.Authorization = 'Bearer t0k3n';
  r.params.headers['Idempotency-Key'] = 'key-' + i;
  reqs.push(r);
}
var res = http.batch(reqs);
for (var i = 0; i < res.length; i++) res[i].json('balance');
`

// BenchmarkBatchBurst runs a burst of five once per op on the h1 path and
// reports the generator's CPU per request.
func BenchmarkBatchBurst(b *testing.B) {
	for _, bc := range []struct{ name, src string }{{"fresh", burstScript}, {"kept", burstKeptScript}} {
		b.Run(bc.name, func(b *testing.B) {
			url := startBenchServer(b)
			runScript(b, benchVU(b, url, &countingPusher{}, false), bc.src, 5, "cpu-µs/req")
		})
	}
}
