package k6http

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// h1 is a synchronous HTTP/1.1 client for plain-http requests: the round
// trip runs entirely on the calling goroutine (one write, then reads), with
// keep-alive connections pooled per host. net/http's Transport hands every
// request to two connection goroutines, which on loopback roughly doubles
// the CPU a request costs; this path avoids that. Anything it does not
// handle (TLS, proxies, Expect: 100-continue) goes through net/http.
type h1 struct {
	dialer    *net.Dialer
	resolver  *net.Resolver
	hosts     *hostMap // the hosts option (nil: none)
	traffic   *traffic
	now       func() time.Time
	keepAlive bool
	maxIdle   int           // idle connections kept per host
	probeIdle time.Duration // idle connections older than this may be checked before reuse (usable)
	userAgent string        // sent when the request sets no User-Agent ("": none)
	// dialAside, when set and true, dials on a goroutine of its own (see
	// acquire): the run's asidePool.many.
	dialAside *atomic.Bool
	dialed    atomic.Int64 // dials counted while dialAside is true

	mu   sync.Mutex
	idle map[string][]*h1Conn
	open map[*h1Conn]struct{} // every open connection, idle or in use
	// aliveAfter is, per host, the longest idle time after which a probe
	// found a connection still open (see getIdle).
	aliveAfter map[string]time.Duration
}

// Buffers are attached to a connection only while a round trip uses them:
// idle keep-alive connections (one or more per VU) hold none, so a run with
// many VUs does not keep 8 KiB per idle connection. Within a round trip the
// writer is held only while the request is written, and the reader only
// once the answer starts to arrive (see prober.sendAndWait): a request in
// flight that waits for its answer holds neither, which in a run of 1,000
// VUs sending bursts of five is thousands of round trips at any moment.
var (
	readers = newFreeList(func() *bufio.Reader { return bufio.NewReaderSize(nil, 4096) })
	writers = newFreeList(func() *bufio.Writer { return bufio.NewWriterSize(nil, 4096) })
)

// maxFree is how many buffers of each kind a freeList keeps: 1,024 x 4 KiB,
// 4 MiB each for readers and writers at most. The list only ever holds as
// many as were in use at once, so a run keeps what its busiest moment
// needed: race.js's 200 VUs send bursts of five, up to 1,000 round trips at
// a time, and a cap of 256 made about one round trip in eight allocate and
// clear a new pair (BenchmarkBufferBurst).
const maxFree = 1024

// freeList keeps up to maxFree released buffers for the next round trips.
// A sync.Pool would drop them at every other garbage collection, and a busy
// run collects several times a second: about one round trip in eight then
// allocated a fresh 4 KiB buffer of each kind.
type freeList[T any] struct {
	mu   sync.Mutex
	free []T
	used int // buffers handed out and not put back
	make func() T
}

func newFreeList[T any](mk func() T) *freeList[T] {
	return &freeList[T]{make: mk}
}

// get returns a released buffer, or a new one.
func (l *freeList[T]) get() T {
	l.mu.Lock()
	l.used++
	if n := len(l.free); n > 0 {
		x := l.free[n-1]
		var zero T
		l.free[n-1] = zero
		l.free = l.free[:n-1]
		l.mu.Unlock()
		return x
	}
	l.mu.Unlock()
	return l.make()
}

// put releases x (reset by the caller); beyond maxFree it is left to the
// garbage collector.
func (l *freeList[T]) put(x T) {
	l.mu.Lock()
	l.used--
	if len(l.free) < maxFree {
		l.free = append(l.free, x)
	}
	l.mu.Unlock()
}

// inUse returns how many buffers of the list are held by round trips.
func (l *freeList[T]) inUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// attachWriter gives hc a writer for the request.
func (hc *h1Conn) attachWriter() {
	if hc.bw == nil {
		hc.bw = writers.get()
		hc.bw.Reset(hc.conn)
	}
}

// releaseWriter returns hc's writer to its pool once the request is sent.
func (hc *h1Conn) releaseWriter() {
	if hc.bw != nil {
		hc.bw.Reset(nil)
		writers.put(hc.bw)
		hc.bw = nil
	}
}

// attachReader gives hc a reader for the answer.
func (hc *h1Conn) attachReader() {
	if hc.br == nil {
		hc.br = readers.get()
		hc.br.Reset(hc.conn)
	}
}

// detach returns hc's buffers to the pools. A reader still holding bytes
// the server sent early stays attached, so nothing is lost.
func (hc *h1Conn) detach() {
	if hc.br != nil && hc.br.Buffered() == 0 {
		hc.br.Reset(nil)
		readers.put(hc.br)
		hc.br = nil
	}
	hc.releaseWriter()
}

// h1Conn is a pooled connection; br and bw are set during round trips.
type h1Conn struct {
	conn      *countingConn
	probe     *prober      // made on the first probe or send
	flush     func() error // hc.sendBuffered, made once
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	idle      bool // in the idle list (under h1.mu): no round trip to interrupt
}

func newH1(dialer *net.Dialer, t *traffic, now func() time.Time, keepAlive bool, maxIdle int, userAgent string) *h1 {
	return &h1{dialer: dialer, resolver: net.DefaultResolver, traffic: t, now: now, keepAlive: keepAlive, userAgent: userAgent,
		maxIdle: maxIdle, probeIdle: 10 * time.Millisecond,
		idle: map[string][]*h1Conn{}, open: map[*h1Conn]struct{}{}}
}

// hop is the outcome of one round trip, its body already read.
type hop struct {
	status     int
	statusText string
	proto      string
	header     http.Header
	body       []byte
	timings    timings
	remote     net.Addr
	tls        *tls.ConnectionState
}

// hopRequest is what one round trip sends.
type hopRequest struct {
	method  string
	url     *url.URL
	host    string // Host header override
	header  http.Header
	body    string
	hasBody bool
	keep    bool // keep the body (false: read and discard)
}

// addrOf returns the host:port to dial for u.
func addrOf(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

func (c *h1) getIdle(key string) *h1Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[key]
	for len(list) > 0 {
		hc := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		c.idle[key] = list
		hc.idle = false
		if !c.usable(key, hc) {
			delete(c.open, hc)
			_ = hc.conn.Close()
			continue
		}
		return hc
	}
	return nil
}

// usable reports whether the idle connection hc to key may be reused,
// probing it when it was idle longer than probeIdle. A server closes an
// idle connection once it was idle for its idle timeout: when a connection
// to the host was found open after an idle time d, one idle for less (7/8
// of d, a margin for the server's own clock) is open as far as that timeout
// goes, and is not probed. A VU that thinks for 100-300 ms between
// requests then pays the probe's system call a few times per host instead
// of before every request. A connection found closed forgets what was
// learnt, as does a request that fails on a reused connection (forget).
// c.mu is held.
func (c *h1) usable(key string, hc *h1Conn) bool {
	idle := c.now().Sub(hc.idleSince)
	if c.probeIdle <= 0 || idle <= c.probeIdle {
		return true
	}
	if d, ok := c.aliveAfter[key]; ok && idle < d-d/8 {
		return true
	}
	if !hc.alive() {
		delete(c.aliveAfter, key)
		return false
	}
	if idle > c.aliveAfter[key] {
		if c.aliveAfter == nil {
			c.aliveAfter = map[string]time.Duration{}
		}
		c.aliveAfter[key] = idle
	}
	return true
}

// forget drops what usable learnt about key's connections: one of them
// failed when reused.
func (c *h1) forget(key string) {
	c.mu.Lock()
	delete(c.aliveAfter, key)
	c.mu.Unlock()
}

// alive probes an idle connection (see prober).
func (hc *h1Conn) alive() bool {
	return hc.poller().alive()
}

// sendBuffered writes what hc's writer holds and gives the writer back
// (hc.flush, for sendAndWait: the wait for the answer that follows holds
// no buffer).
func (hc *h1Conn) sendBuffered() error {
	err := hc.bw.Flush()
	hc.releaseWriter()
	return err
}

// poller returns hc's prober, made on first use (nil where the platform
// has none: its methods then do nothing).
func (hc *h1Conn) poller() *prober {
	if hc.probe == nil {
		hc.probe = newProber(hc.conn.Conn)
	}
	return hc.probe
}

func (c *h1) putIdle(key string, hc *h1Conn) {
	hc.detach()
	// No deadline while idle: the last round trip's would fail the liveness
	// probe once it passed (a VU thinking longer than its request timeout).
	_ = hc.conn.SetDeadline(time.Time{})
	hc.idleSince = c.now()
	c.mu.Lock()
	if list := c.idle[key]; len(list) < c.maxIdle {
		hc.idle = true
		c.idle[key] = append(list, hc)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.closeConn(hc)
}

// closeConn closes a connection that is not idle.
func (c *h1) closeConn(hc *h1Conn) {
	c.mu.Lock()
	delete(c.open, hc)
	c.mu.Unlock()
	_ = hc.conn.Close()
	if hc.br != nil {
		hc.br.Reset(nil)
		readers.put(hc.br)
		hc.br = nil
	}
	hc.detach()
}

// interrupt makes the I/O of every round trip in progress fail now. Idle
// connections are left alone: a past deadline on them would fail the
// liveness probe before their next reuse (an i/o timeout, not a closed
// connection), and they would be closed and dialed again. ramping-vus ends
// every iteration's context, so that was most VUs' connections once per
// iteration (race.js smoke: 518 connects for 10,039 requests instead of
// about 240).
func (c *h1) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for hc := range c.open {
		if !hc.idle {
			_ = hc.conn.SetDeadline(aLongTimeAgo)
		}
	}
}

// closeIdle closes every idle connection.
func (c *h1) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = map[string][]*h1Conn{}
	for _, list := range idle {
		for _, hc := range list {
			delete(c.open, hc)
		}
	}
	c.mu.Unlock()
	for _, list := range idle {
		for _, hc := range list {
			_ = hc.conn.Close()
		}
	}
}

// dial opens a connection to addr, timing the DNS lookup and the connect.
func (c *h1) dial(ctx context.Context, addr string, tm *timings) (*h1Conn, error) {
	host, port, err := net.SplitHostPort(c.hosts.resolve(addr))
	if err != nil {
		return nil, err
	}
	if isInvalidHost(host) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	ips := []string{host}
	if net.ParseIP(host) == nil {
		t0 := c.now()
		addrs, err := c.resolver.LookupHost(ctx, host)
		tm.lookingUp = c.now().Sub(t0)
		if err != nil {
			return nil, err
		}
		ips = addrs
	}
	t0 := c.now()
	var conn net.Conn
	for _, ip := range ips {
		conn, err = c.dialer.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
		if err == nil {
			break
		}
	}
	tm.connecting = c.now().Sub(t0)
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: newRawConn(conn), t: c.traffic}
	hc := &h1Conn{conn: cc}
	hc.flush = hc.sendBuffered
	c.mu.Lock()
	c.open[hc] = struct{}{}
	c.mu.Unlock()
	return hc, nil
}

// idempotent reports whether a request may be sent again after a stale
// keep-alive connection failed (as net/http does).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// roundTrip runs one request/response exchange. ctx interrupts it; deadline
// bounds it.
func (c *h1) roundTrip(ctx context.Context, deadline time.Time, hr *hopRequest, h *hop) error {
	stale, err := c.try(ctx, deadline, hr, h)
	if stale {
		c.forget(addrOf(hr.url))
	}
	if stale && idempotent(hr.method) {
		*h = hop{}
		_, err = c.try(ctx, deadline, hr, h)
	}
	return err
}

var aLongTimeAgo = time.Unix(1, 0)

// try makes one attempt; stale reports a failure on a reused connection
// before any byte of the response arrived (the server may have closed it
// while it was idle).
func (c *h1) try(ctx context.Context, deadline time.Time, hr *hopRequest, h *hop) (stale bool, err error) {
	key := addrOf(hr.url)
	start := c.now()
	hc, reused, err := c.acquire(ctx, deadline, key, &h.timings)
	if err != nil {
		h.timings.blocked = c.now().Sub(start)
		return false, err
	}
	hc.attachWriter()
	gotConn := c.now()
	h.timings.blocked = gotConn.Sub(start)
	h.remote = hc.conn.RemoteAddr()
	_ = hc.conn.SetDeadline(deadline)
	keepConn := false
	defer func() {
		if keepConn {
			c.putIdle(key, hc)
		} else {
			c.closeConn(hc)
		}
	}()

	if err := ctx.Err(); err != nil {
		return false, err
	}
	gzipped := c.writeRequest(hc.bw, hr)
	var wrote time.Time
	if hc.br == nil { // nothing held from earlier: send, then wait without a buffer
		wrote, err = hc.poller().sendAndWait(hc.flush, c.now)
	} else {
		err = hc.bw.Flush()
		wrote = c.now()
	}
	hc.releaseWriter()
	if err != nil {
		return reused, err
	}
	h.timings.sending = wrote.Sub(gotConn)

	hc.attachReader()
	if _, err = hc.br.Peek(1); err != nil {
		return reused && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)), err
	}
	first := c.now()
	h.timings.waiting = first.Sub(wrote)
	keep, err := c.readResponse(hc.br, hr, h)
	if err != nil {
		return false, err
	}
	h.timings.receiving = c.now().Sub(first)
	h.timings.duration = h.timings.sending + h.timings.waiting + h.timings.receiving
	keepConn = keep && c.keepAlive
	if gzipped && strings.EqualFold(h.header.Get("Content-Encoding"), "gzip") {
		// The body was decoded; hide the encoding the script did not ask
		// for, as net/http does.
		h.header.Del("Content-Encoding")
		h.header.Del("Content-Length")
	}
	return false, nil
}

// acquire returns an idle connection to key, or dials one (timing the
// lookup and the connect into tm); reused tells which.
//
// In runs of many VUs (c.dialAside reports true), the dial runs on a
// goroutine of its own, which ends with it: net's dial path (resolving, the
// dialer's fallbacks, the socket and its connect) is about 2.5 KiB of frames
// on top of the round trip's, more than the rest of a round trip needs. Run
// where the round trip runs, it would grow every VU's stack (and the batch
// workers') to twice the size at its first requests, all at once when a run
// starts; they keep that stack until collections halve it. The handoff costs
// a dial CPU (BenchmarkGetNewConnection), so runs of few VUs, which go for
// throughput, dial where the round trip runs, and so do the dials of a
// client beyond its first maxIdle (those its keep-alive pool can keep): a
// run that dials for every request (noConnectionReuse, a server closing
// its connections) would pay the handoff every time.
func (c *h1) acquire(ctx context.Context, deadline time.Time, key string, tm *timings) (*h1Conn, bool, error) {
	if hc := c.getIdle(key); hc != nil {
		return hc, true, nil
	}
	if c.dialAside == nil || !c.dialAside.Load() || c.dialed.Add(1) > int64(c.maxIdle) {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		hc, err := c.dial(dctx, key, tm)
		return hc, false, err
	}
	hc, err := c.dialApart(ctx, deadline, key, tm)
	return hc, false, err
}

// dialApart is dial on a goroutine of its own (see acquire). It is a
// function of its own because the goroutine writes its results through
// variables it shares with its caller, which therefore live on the heap:
// in acquire, they were allocated at every round trip, a kept-alive one
// included (two allocations per request).
func (c *h1) dialApart(ctx context.Context, deadline time.Time, key string, tm *timings) (hc *h1Conn, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		dctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		hc, err = c.dial(dctx, key, tm)
	}()
	<-done
	return hc, err
}

// readResponse reads the response to hr from br into h: status, header and
// body (decoded when kept), skipping informational responses. keep tells
// whether the server lets the connection be reused.
func (c *h1) readResponse(br *bufio.Reader, hr *hopRequest, h *hop) (keep bool, err error) {
	for {
		r, err := readHead(br, hr.method)
		if errors.Is(err, errFallback) {
			return c.readGeneral(br, hr, h)
		}
		if err != nil {
			return false, err
		}
		if r.status/100 == 1 && r.status != http.StatusSwitchingProtocols {
			continue // informational: 100 Continue, 103 Early Hints
		}
		body, err := readH1Body(br, r, hr.keep)
		if err != nil {
			return false, err
		}
		if hr.keep {
			if body, err = decodeBody(body, r.header); err != nil {
				return false, err
			}
		}
		h.status, h.statusText, h.proto, h.header, h.body = r.status, r.statusText, r.proto, r.header, body
		return !r.close, nil
	}
}

// headRequest is what http.ReadResponse needs to parse the answer to a HEAD
// request (it reads the method only, and the request is never changed): one
// for the process, not one in every VU's client.
var headRequest = &http.Request{Method: http.MethodHead}

// readGeneral reads a response through net/http's parser, for heads
// readHead leaves alone.
func (c *h1) readGeneral(br *bufio.Reader, hr *hopRequest, h *hop) (bool, error) {
	var req *http.Request // nil: parse as the answer to a GET
	if hr.method == http.MethodHead {
		req = headRequest
	}
	var resp *http.Response
	var err error
	for {
		if resp, err = http.ReadResponse(br, req); err != nil {
			return false, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	body, err := readBody(resp, hr.keep)
	if err != nil {
		return false, err
	}
	h.status, h.statusText, h.proto, h.header, h.body = resp.StatusCode, resp.Status, resp.Proto, resp.Header, body
	return !resp.Close, nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// writeRequest writes the request head and body into w. It returns whether
// it asked for a gzip response itself (which it then decodes, as net/http
// does).
func (c *h1) writeRequest(w *bufio.Writer, hr *hopRequest) bool {
	u := hr.url
	w.WriteString(hr.method)
	w.WriteByte(' ')
	if p := u.EscapedPath(); p != "" {
		w.WriteString(p)
	} else {
		w.WriteByte('/')
	}
	if u.ForceQuery || u.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(u.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	if hr.host != "" {
		w.WriteString(hr.host)
	} else {
		w.WriteString(u.Host)
	}
	w.WriteString("\r\n")
	if _, ok := hr.header["User-Agent"]; !ok && c.userAgent != "" {
		w.WriteString("User-Agent: ")
		w.WriteString(c.userAgent)
		w.WriteString("\r\n")
	}
	for k, vs := range hr.header {
		if k == "Content-Length" {
			continue // framed from the body below, as net/http does
		}
		for _, v := range vs {
			if k == "User-Agent" && v == "" {
				continue
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if hr.hasBody || hr.method == http.MethodPost || hr.method == http.MethodPut || hr.method == http.MethodPatch {
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(len(hr.body)), 10)) // no allocation
		w.WriteString("\r\n")
	}
	if !c.keepAlive {
		w.WriteString("Connection: close\r\n")
	}
	gzipped := false
	if _, ok := hr.header["Accept-Encoding"]; !ok && hr.method != http.MethodHead {
		if _, ok := hr.header["Range"]; !ok {
			w.WriteString("Accept-Encoding: gzip\r\n")
			gzipped = true
		}
	}
	w.WriteString("\r\n")
	w.WriteString(hr.body)
	return gzipped
}

// validHeaders reports a header that cannot be sent as is.
func validHeaders(h http.Header) error {
	for k, vs := range h {
		if !validToken(k) {
			return fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("invalid value for header %q", k)
			}
		}
	}
	return nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
