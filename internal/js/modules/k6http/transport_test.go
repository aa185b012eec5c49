package k6http

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/options"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	t.Run("insecureSkipTLSVerify", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withOptions(options.Options{InsecureSkipTLSVerify: ptr(true)}))
		_ = v.rt.Set("BASE", srv.URL)
		v.expect(`const r = http.get(BASE + "/");
			return r.status === 200 && r.proto === "HTTP/2.0" && r.body === "HTTP/2.0" && r.tls_version === http.TLS_1_3 &&
				r.tls_cipher_suite.startsWith("TLS_") && r.timings.tls_handshaking > 0 && r.timings.connecting > 0 ||
				[r.status, r.proto, r.tls_version, r.tls_cipher_suite, r.timings];`)
		tags := v.samples()[0].Tags.Map()
		if tags["tls_version"] != "tls1.3" || tags["proto"] != "HTTP/2.0" {
			t.Fatalf("tags = %v", tags)
		}
		var tlsMS float64
		for _, s := range v.samples() {
			if s.Metric.Name == "http_req_tls_handshaking" {
				tlsMS = s.Value
			}
		}
		if tlsMS <= 0 {
			t.Fatalf("http_req_tls_handshaking = %v", tlsMS)
		}
	})
	t.Run("unknown authority", func(t *testing.T) {
		t.Parallel()
		v := newVU(t)
		_ = v.rt.Set("BASE", srv.URL)
		v.expect(`const r = http.get(BASE + "/"); return r.status === 0 && r.error_code === 1310 || [r.error_code, r.error];`)
	})
}

// TestTransportOnDemand checks that a VU sending only plain-http requests
// makes no http.Transport, and that its first https request makes one.
func TestTransportOnDemand(t *testing.T) {
	t.Parallel()
	plain := newFixture(t)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	v := newVU(t, withOptions(options.Options{InsecureSkipTLSVerify: ptr(true)}))
	_ = v.rt.Set("BASE", plain.URL)
	_ = v.rt.Set("TLS", tlsSrv.URL)
	v.expect(`return http.get(BASE + "/get").status === 200;`)
	if v.mi.client.transport.Load() != nil {
		t.Fatal("a plain-http request made the http.Transport")
	}
	v.expect(`return http.get(TLS + "/").status === 200;`)
	if v.mi.client.transport.Load() == nil {
		t.Fatal("no http.Transport after an https request")
	}
}

// TestStaleKeepAlive checks that a keep-alive connection the server closed
// while idle is not used for the next request.
func TestStaleKeepAlive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		probe  time.Duration
		method string
		ok     bool
	}{
		{"probed POST", 10 * time.Millisecond, "POST", true},
		{"retried GET", 0, "GET", true},
		{"unprobed POST is not retried", 0, "POST", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("ok"))
			}))
			srv.Config.IdleTimeout = 20 * time.Millisecond
			srv.Start()
			t.Cleanup(srv.Close)
			v := newVU(t)
			_ = v.rt.Set("BASE", srv.URL)
			_ = v.rt.Set("METHOD", tc.method)
			v.expect(`return http.get(BASE).status === 200;`)
			v.mi.client.h1.probeIdle = tc.probe
			time.Sleep(150 * time.Millisecond)
			v.expect(`const r = http.request(METHOD, BASE, "x"); globalThis.r = r; return true;`)
			got := v.run(`r.status`).ToInteger() == 200
			if got != tc.ok {
				t.Fatalf("second request ok = %v, want %v (%s)", got, tc.ok, v.run(`r.error`))
			}
		})
	}
}

func TestInvalidHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			v := newVU(t, withStd(tr.std))
			_ = v.rt.Set("BASE", f.URL)
			v.expect(`const r = http.get(BASE + "/get", {headers: {"X-Bad": "a\r\nInjected: 1"}});
				return r.status === 0 && r.error_code === 1000 && r.error.includes("X-Bad") || [r.status, r.error_code, r.error];`)
		})
	}
}

func TestHTTPDebug(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t, withOptions(options.Options{HTTPDebug: ptr("full")}))
	_ = v.rt.Set("BASE", f.URL)
	v.run(`http.post(BASE + "/post", "the-body")`)
	logs := v.logs.String()
	for _, want := range []string{"Request:", "POST /post HTTP/1.1", "the-body", "Response:", "200 OK"} {
		if !strings.Contains(logs, want) {
			t.Errorf("debug log lacks %q:\n%s", want, logs)
		}
	}
}

// TestResponseFraming covers bodies without Content-Length: chunked, and
// delimited by the server closing the connection.
func TestResponseFraming(t *testing.T) {
	t.Parallel()
	chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i < 3; i++ {
			_, _ = w.Write([]byte(strings.Repeat("x", 3000)))
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(chunked.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Raw: 1\r\n\r\nuntil the end")
			}()
		}
	}()

	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			v := newVU(t, withStd(tr.std))
			_ = v.rt.Set("CHUNKED", chunked.URL)
			_ = v.rt.Set("RAW", "http://"+ln.Addr().String())
			v.expect(`const a = http.get(CHUNKED); if (a.body.length !== 9000) return "chunked: " + a.body.length;
				const b = http.get(RAW); const c = http.get(RAW);
				return b.body === "until the end" && b.headers["X-Raw"] === "1" && c.status === 200 || [b.status, b.body, c.error];`)
		})
	}
}

func TestDiscardResponseBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t, withOptions(options.Options{DiscardResponseBodies: ptr(true)}), withSystemTags("ip", "status"))
	_ = v.rt.Set("BASE", f.URL)
	v.expect(`const r = http.get(BASE + "/bytes/5000"); const t = http.get(BASE + "/text", {responseType: "text"});
		return r.body === null && r.status === 200 && t.body === "plain text fixture\n";`)
	if v.st.DataReceived.Load() < 5000 {
		t.Fatalf("discarded body not counted: %d bytes received", v.st.DataReceived.Load())
	}
	if ip, _ := v.samples()[0].Tags.Get("ip"); ip != "127.0.0.1" {
		t.Fatalf("ip tag = %q", ip)
	}
}

func TestUserAgentOption(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tr := range transports {
		for _, tc := range []struct {
			name, ua, want string
		}{
			{"custom", "probe/1", `"probe/1"`},
			{"empty sends none", "", "undefined"},
		} {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				v := newVU(t, withStd(tr.std), withOptions(options.Options{UserAgent: ptr(tc.ua)}))
				_ = v.rt.Set("BASE", f.URL)
				v.expect(`const r = http.get(BASE + "/get"); return r.json("headers.User-Agent") === ` + tc.want + ` || r.json("headers");`)
			})
		}
	}
}

// TestReleaseClosesConnections: releasing a VU's instance closes its idle
// keep-alive connection at once and drops its client from the root (which
// would otherwise keep it until the run ends); a second Release does nothing.
func TestReleaseClosesConnections(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	v := newVU(t)
	_ = v.rt.Set("BASE", srv.URL)
	v.expect(`return http.get(BASE).status === 200 && http.get(BASE).status === 200;`)
	root := v.mi.root
	if len(root.clients) != 1 {
		t.Fatalf("root has %d clients, want 1", len(root.clients))
	}
	v.mi.Release()
	v.mi.Release()
	if len(root.clients) != 0 || v.mi.client != nil {
		t.Errorf("after Release: root has %d clients, instance client %v; want none", len(root.clients), v.mi.client)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was not closed by Release")
	}
}

// TestRoundTripsOnVU checks that a VU's own requests run on its goroutine,
// in a run of few VUs and of many (no worker is started for them), with
// their results unchanged, and that the other item of a batch of two goes
// to a worker. The workers are the run's own (its RootModule's), so other
// tests' requests do not count.
func TestRoundTripsOnVU(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t)
	_ = v.rt.Set("BASE", f.URL)
	before := v.mi.root.aside.started.Load()
	v.expect(`return http.get(BASE + "/get").status === 200;`)
	v.mi.root.aside.many.Store(true) // as in a run of more than asideAboveVUs VUs
	v.expect(`for (let i = 0; i < 50; i++) {
			const r = http.get(BASE + "/get?i=" + i);
			if (r.status !== 200 || r.url !== BASE + "/get?i=" + i) return [i, r.status, r.url];
		}
		return true;`)
	if n := v.mi.root.aside.started.Load() - before; n != 0 {
		t.Fatalf("51 requests of a VU started %d workers, want them on the VU", n)
	}
	v.expect(`const b = http.batch([BASE + "/get?b=1", BASE + "/get?b=2"]);
		return b[0].status === 200 && b[1].url === BASE + "/get?b=2" || b;`)
	if n := v.mi.root.aside.started.Load() - before; n != 1 {
		t.Fatalf("a batch of two started %d workers, want 1", n)
	}
}

// TestBatchOnWorkers checks that the items of small batches (those the
// batch limits let run all at once) run on the run's workers, with their
// results in order; and that a batch larger
// than batchPerHost gives each item a goroutine of its own (no worker keeps
// the stack of an item that only waited for its turn).
func TestBatchOnWorkers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t)
	_ = v.rt.Set("BASE", f.URL)
	before := v.mi.root.aside.started.Load()
	v.expect(`for (let b = 0; b < 20; b++) {
			const r = http.batch([BASE + "/get?i=0&b=" + b, BASE + "/get?i=1&b=" + b,
				BASE + "/get?i=2&b=" + b, BASE + "/get?i=3&b=" + b]);
			for (let i = 0; i < 4; i++) {
				if (r[i].status !== 200 || r[i].json('query.i') !== String(i) || r[i].json('query.b') !== String(b)) {
					return [b, i, r[i].status, r[i].url];
				}
			}
		}
		return true;`)
	// How often a worker is reused depends on the scheduler (one that has
	// just finished may not be waiting yet when the next batch comes): that
	// the items run on workers at all is what is checked here, the reuse is
	// what BenchmarkBatchBurst's CPU profile shows (no runtime.copystack).
	n := v.mi.root.aside.started.Load() - before
	if n < 1 || n > 60 {
		t.Fatalf("20 batches of 4 started %d workers, want 1 to 60 (3 items each on a worker)", n)
	}
	before += n
	v.expect(`const r = http.batch(Array.from({length: 7}, (_, i) => BASE + "/get?i=" + i));
		return r.every((x, i) => x.status === 200 && x.json('query.i') === String(i));`)
	if n := v.mi.root.aside.started.Load() - before; n != 0 {
		t.Fatalf("a batch of 7 (batchPerHost 6) started %d workers, want none", n)
	}
}

// TestManyVUsDialAside checks that first dials go aside once more than
// asideAboveVUs VUs have an HTTP client, and not before.
func TestManyVUsDialAside(t *testing.T) {
	t.Parallel()
	root := New().(*RootModule)
	for i := 0; i < asideAboveVUs; i++ {
		root.newClient(&options.Options{})
	}
	if root.aside.many.Load() {
		t.Fatalf("%d VUs already dial aside", asideAboveVUs)
	}
	c := root.newClient(&options.Options{})
	if !root.aside.many.Load() || !c.asidePool.many.Load() {
		t.Fatalf("%d VUs do not dial aside", asideAboveVUs+1)
	}
}

// TestKeepAliveAcrossIterations checks that a VU keeps its keep-alive
// connection from one iteration to the next: the end of an iteration
// (its context cancelled, as ramping-vus does) interrupts round trips in
// progress, not idle connections, and a connection idle for longer than
// its last request's timeout is still reused.
func TestKeepAliveAcrossIterations(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	v := newVU(t)
	_ = v.rt.Set("BASE", srv.URL)
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		v.ctx = ctx
		v.expect(`return http.get(BASE, { timeout: 20 }).status === 200;`)
		cancel() // the iteration ends
		time.Sleep(40 * time.Millisecond)
		if n := conns.Load(); n != 1 {
			t.Fatalf("iteration %d: %d connections opened, want 1", i, n)
		}
	}
}

// TestNoBuffersWhileWaiting checks that round trips waiting for their
// answers hold no buffer: the writer goes back once the request is sent,
// the reader comes only when the answer arrives. The answers are then read
// as before. It counts the buffers the process's free lists have handed
// out (reading a connection's fields while its round trip runs would be a
// data race), so it does not run in parallel with the other tests.
func TestNoBuffersWhileWaiting(t *testing.T) {
	f := newFixture(t)
	ten := int64(10)
	v := newVU(t, withOptions(options.Options{BatchPerHost: &ten}))
	_ = v.rt.Set("BASE", f.URL)
	baseR, baseW := readers.inUse(), writers.inUse()
	done := make(chan string, 1)
	go func() {
		res := v.run(`(function(){
			const r = http.batch(Array.from({length: 8}, () => ["POST", BASE + "/delay/300", "x".repeat(100)]));
			return r.map((x) => x.status + ":" + x.json("delayed")).join(",");
		})()`)
		done <- res.String()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.inFlight.Load() < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight, want 8", f.inFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}
	// The server has all 8 requests; a writer goes back right after its
	// request is written, so allow a moment for the last ones.
	r, w := readers.inUse()-baseR, writers.inUse()-baseW
	for w != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		r, w = readers.inUse()-baseR, writers.inUse()-baseW
	}
	h := v.mi.client.h1
	h.mu.Lock()
	open := len(h.open)
	h.mu.Unlock()
	if open != 8 || r != 0 || w != 0 {
		t.Errorf("%d connections waiting for their answers, holding %d readers and %d writers; want 8, 0 and 0", open, r, w)
	}
	if got, want := <-done, strings.Repeat("200:true,", 7)+"200:true"; got != want {
		t.Errorf("answers %s, want %s", got, want)
	}
}

// TestFrozenTags checks that the tags of a frozen tags object are read once
// and used again, and that every object that could read differently is read
// at every request: one not frozen (changed between requests), a frozen one
// with a getter or an object value, and objects made per request (never
// looked at: no check function is even made for them).
func TestFrozenTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t)
	_ = v.rt.Set("BASE", f.URL)
	v.expect(`for (let i = 0; i < 5; i++) http.get(BASE + "/get", { tags: { name: "fresh" + i } });
		return true;`)
	if v.mi.frozen.check != nil || len(v.mi.frozen.memo) != 0 {
		t.Fatalf("objects made per request were looked at: %d remembered", len(v.mi.frozen.memo))
	}
	v.expect(`const T = Object.freeze({ name: "frozen", kind: "t" });
		let gn = 0, on = 0;
		const G = Object.freeze({ get name() { gn++; return "getter" + gn; } });
		const O = Object.freeze({ name: { toString() { on++; return "object" + on; } } });
		const M = { name: "mutable1" };
		for (let i = 0; i < 3; i++) {
			http.get(BASE + "/get", { tags: T });
			http.get(BASE + "/get", { tags: G });
			http.get(BASE + "/get", { tags: O });
			http.get(BASE + "/get", { tags: M });
			M.name = "mutable" + (i + 2);
		}
		// the getter read once a request, the value's toString twice (its tag, the request's name)
		return gn === 3 && on === 6 || [gn, on];`)
	if len(v.mi.frozen.memo) != 1 {
		t.Fatalf("%d tags objects remembered, want 1 (the frozen one of primitives)", len(v.mi.frozen.memo))
	}
	counts := map[string]int{
		"frozen": 3, "getter1": 1, "getter2": 1, "getter3": 1, "mutable1": 1, "mutable2": 1, "mutable3": 1,
	}
	for name, want := range counts {
		if n, _ := v.count("http_reqs", map[string]string{"name": name}); n != want {
			t.Errorf("http_reqs{name:%s} = %d, want %d", name, n, want)
		}
	}
	if n, _ := v.count("http_reqs", map[string]string{"name": "frozen", "kind": "t"}); n != 3 {
		t.Errorf("http_reqs{name:frozen,kind:t} = %d, want 3", n)
	}
}

// TestDialAside checks that in a run of many VUs, where a client's first
// dials run on goroutines of their own (h1.acquire), a request on a new
// connection gives what it gives when dialed where the round trip runs:
// the response and its connect timing, a refused connection's error and
// code, an unknown host's; and that dials beyond the first maxIdle (here,
// every request with noConnectionReuse) run inline again.
func TestDialAside(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	noReuse := true
	for _, aside := range []bool{false, true} {
		v := newVU(t, withOptions(options.Options{NoConnectionReuse: &noReuse}))
		_ = v.rt.Set("BASE", f.URL)
		v.mi.root.aside.many.Store(aside)
		v.expect(`for (let i = 0; i < 10; i++) {
				const r = http.get(BASE + "/get?i=" + i);
				if (r.status !== 200 || r.json("query.i") !== String(i) || !(r.timings.connecting >= 0) || r.error !== "") {
					return [i, r.status, r.timings.connecting, r.error];
				}
			}
			const refused = http.get("http://127.0.0.1:1/");
			const unknown = http.get("http://nowhere.tally.invalid/");
			return refused.status === 0 && refused.error_code === 1212 && refused.error.includes("refused") &&
				unknown.error_code === 1101 || [refused.error_code, refused.error, unknown.error_code, unknown.error];`)
		c := v.mi.client
		if c == nil || c.h1 == nil {
			t.Fatal("no h1 client")
		}
		want := int64(0)
		if aside {
			want = 12 // every dial counted; the first maxIdle went aside
		}
		if got := c.h1.dialed.Load(); got != want {
			t.Errorf("aside = %v: %d dials counted, want %d", aside, got, want)
		}
	}
}
