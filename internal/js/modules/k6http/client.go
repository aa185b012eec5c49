package k6http

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/metrics"
)

// responseType says what Response.body holds.
type responseType uint8

const (
	respText   responseType = iota // a string
	respBinary                     // an ArrayBuffer
	respNone                       // null (the body is still read)
)

// paramCookie is a request cookie: from the jar or from params.cookies.
type paramCookie struct {
	name, value string
	replace     bool
}

// request is one HTTP request prepared on the VU goroutine. The client runs
// it on any goroutine; everything it needs from the VU is captured here.
type request struct {
	ctx     context.Context // the VU's context
	state   *vustate.State  // read-only use: samples, metrics, system tags, logger
	method  string
	url     *url.URL
	rawURL  string // the URL as given, for the url tag of the first hop
	name    string // explicit name tag (params.tags.name or http.url); also the url tag
	header  http.Header
	host    string // params.headers.Host
	body    string
	hasBody bool

	timeout      time.Duration
	maxRedirects int
	respType     responseType
	callback     *expectedStatuses // nil: no response callback
	throw        bool
	jar          *cookieJar // nil: no cookie jar
	cookies      []paramCookie
	digest       bool

	tags []metrics.Tag     // the VU's tags merged with params.tags, sorted by key
	meta map[string]string // sample metadata (vu, iter), read-only

	res result // the outcome, allocated with the request
	// hop is the round trip in progress, also allocated with the request:
	// the functions of a round trip fill it through a pointer rather than
	// return it, which keeps their frames, and so the stack of the goroutine
	// running a round trip (the VU's, or a batch worker's), small.
	hop hop
}

// result is the outcome of a request: the last round trip's response, or
// the error that ended it.
type result struct {
	status     int
	statusText string
	proto      string
	url        string // the final URL
	header     http.Header
	body       []byte
	bodyNull   bool // responseType none, or no response
	timings    timings
	tls        *tls.ConnectionState
	remote     net.Addr

	errCode int
	err     string
	goErr   error // the underlying error of a failed request
	// interrupted: the request was cut off by the end of the VU's work
	// (gracefulStop, ramp-down, abort, interrupt). It emits no samples and
	// is not logged as a failure, as in k6; the Response still has status 0.
	interrupted bool

	// The request as last sent.
	sentMethod  string
	sentURL     string
	sentHeader  http.Header
	sentBody    string
	sentCookies []paramCookie
}

// failed reports whether the request failed without a response (status 0).
func (r *result) failed() bool { return r.goErr != nil }

// traffic routes the bytes a VU's connections move to the VU's current
// state counters.
type traffic struct {
	state atomic.Pointer[vustate.State]
}

func (t *traffic) add(sent bool, n int) {
	if n <= 0 {
		return
	}
	if s := t.state.Load(); s != nil {
		if sent {
			s.DataSent.Add(int64(n))
		} else {
			s.DataReceived.Add(int64(n))
		}
	}
}

// countingConn counts the bytes read and written on a connection.
type countingConn struct {
	net.Conn
	t *traffic
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.t.add(false, n)
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.t.add(true, n)
	return n, err
}

// client runs the requests of one VU with its own connections, so
// keep-alive connections are per VU. Plain-http requests go through h1, a
// synchronous HTTP/1.1 client; the rest (https with HTTP/2, proxies) through
// net/http's Transport.
type client struct {
	// transport is made by std at the first request that needs it (https,
	// a proxy): a VU that only sends plain-http requests through h1 never
	// pays for an http.Transport and its TLS configuration.
	transport atomic.Pointer[http.Transport]
	stdMu     sync.Mutex
	stdCfg    stdConfig
	h1        *h1        // nil: every request goes through transport
	asidePool *asidePool // the run's workers for batch items (nil: a goroutine each)
	traffic   *traffic
	limiter   *limiter // nil without the rps option
	now       func() time.Time
	debug     string // the httpDebug option: "" (off), "full" or anything else (headers)
	// userAgent is the User-Agent header sent when the request sets none
	// ([""]: send none).
	userAgent []string
	tracers   sync.Pool
	tagSets   *tagSets // the run's (shared by its VUs)

	// The VU context being watched, and the client's own context that is
	// cancelled with it: requests derive from the latter, so they share no
	// context (and no lock) with other VUs.
	ctxMu      sync.Mutex
	watched    context.Context
	base       context.Context
	cancelBase context.CancelFunc
	stopWatch  func() bool
}

// context returns the context requests made under the VU context vuCtx
// run in: cancelling vuCtx cancels it and interrupts the round trips in
// progress. Watching starts once per distinct vuCtx (an iteration or a
// scenario), not per request.
func (c *client) context(vuCtx context.Context) context.Context {
	if vuCtx.Done() == nil {
		return vuCtx
	}
	c.ctxMu.Lock()
	defer c.ctxMu.Unlock()
	if vuCtx == c.watched {
		return c.base
	}
	if c.stopWatch != nil {
		c.stopWatch()
		c.cancelBase()
	}
	base, cancel := context.WithCancel(context.WithoutCancel(vuCtx))
	h := c.h1
	c.watched, c.base, c.cancelBase = vuCtx, base, cancel
	c.stopWatch = context.AfterFunc(vuCtx, func() {
		cancel()
		// The VU may already be in its next iteration (ramping-vus ends each
		// iteration's context): interrupt only while vuCtx is still the one
		// requests run under, or the next request's connection gets a past
		// deadline (i/o timeout). context() switches under the same lock.
		c.ctxMu.Lock()
		defer c.ctxMu.Unlock()
		if h != nil && c.watched == vuCtx {
			h.interrupt()
		}
	})
	return base
}

// clientConfig is what a client is built from.
type clientConfig struct {
	opts    *options.Options
	limiter *limiter
	now     func() time.Time
	dialer  *net.Dialer // nil: the default
	// noH1 sends every request through net/http (tests compare both paths).
	noH1 bool
	// aside is the run's pool of workers for batch items, and tells when
	// first dials go aside (nil: neither).
	aside *asidePool
	// tagSets is the run's table of tag sets (nil: one for this client).
	tagSets *tagSets
}

func newClient(cfg clientConfig) *client {
	o := cfg.opts
	perHost := int(options.Int(o.BatchPerHost, options.DefaultBatchPerHost))
	if b := int(options.Int(o.Batch, options.DefaultBatch)); b > perHost {
		perHost = b
	}
	c := &client{traffic: &traffic{}, limiter: cfg.limiter, now: cfg.now, asidePool: cfg.aside, debug: options.String(o.HTTPDebug, ""),
		userAgent: []string{options.String(o.UserAgent, defaultUserAgent())}, tagSets: cfg.tagSets}
	if c.tagSets == nil {
		c.tagSets = newTagSets()
	}
	dialer := cfg.dialer
	if dialer == nil {
		dialer = &net.Dialer{KeepAlive: 30 * time.Second}
	}
	keepAlive := !options.Bool(o.NoConnectionReuse)
	hosts := newHostMap(o.Hosts)
	c.stdCfg = stdConfig{opts: o, dialer: dialer, hosts: hosts, perHost: perHost, keepAlive: keepAlive}
	if !cfg.noH1 && os.Getenv("HTTP_PROXY") == "" && os.Getenv("http_proxy") == "" {
		c.h1 = newH1(dialer, c.traffic, c.now, keepAlive, perHost, c.userAgent[0])
		c.h1.hosts = hosts
		if cfg.aside != nil {
			c.h1.dialAside = &cfg.aside.many
		}
	}
	c.tracers.New = func() any { return newTracer(c.now) }
	return c
}

// stdConfig is what the client's http.Transport is built from.
type stdConfig struct {
	opts      *options.Options
	dialer    *net.Dialer
	hosts     *hostMap
	perHost   int
	keepAlive bool
}

// std returns the client's http.Transport, making it on first use (the
// requests of a batch may ask concurrently).
func (c *client) std() *http.Transport {
	if t := c.transport.Load(); t != nil {
		return t
	}
	c.stdMu.Lock()
	defer c.stdMu.Unlock()
	if t := c.transport.Load(); t != nil {
		return t
	}
	cfg := c.stdCfg
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			addr = cfg.hosts.resolve(addr)
			if host, _, err := net.SplitHostPort(addr); err == nil && isInvalidHost(host) {
				// RFC 6761 §6.4: names under .invalid never resolve.
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			conn, err := cfg.dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, t: c.traffic}, nil
		},
		TLSClientConfig:     newTLSConfig(cfg.opts),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: cfg.perHost,
		IdleConnTimeout:     90 * time.Second,
		DisableKeepAlives:   !cfg.keepAlive,
	}
	c.transport.Store(t)
	return t
}

func isInvalidHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "invalid" || strings.HasSuffix(host, ".invalid")
}

// useH1 reports whether a round trip can go through the synchronous client.
func (c *client) useH1(u *url.URL, header http.Header) bool {
	if c.h1 == nil || u.Scheme != "http" {
		return false
	}
	_, expect := header["Expect"]
	_, te := header["Transfer-Encoding"]
	return !expect && !te
}

// bodyReader is a request body over a string.
type bodyReader struct {
	s string
	i int
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}

func (r *bodyReader) Close() error { return nil }

func newBody(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return &bodyReader{s: s}, nil }
}

// stdState is what the net/http path of one request needs across hops.
type stdState struct {
	ctx    context.Context
	cancel context.CancelFunc
	tr     *tracer
}

func (c *client) newStd(parent context.Context, deadline time.Time) *stdState {
	ctx, cancel := context.WithDeadline(parent, deadline)
	tr := c.tracers.Get().(*tracer)
	return &stdState{ctx: httptrace.WithClientTrace(ctx, &tr.trace), cancel: cancel, tr: tr}
}

func (c *client) releaseStd(s *stdState) {
	if s != nil {
		s.cancel()
		c.tracers.Put(s.tr)
	}
}

// stdRoundTrip runs one round trip through net/http's Transport.
func (c *client) stdRoundTrip(s *stdState, hr *hopRequest, h *hop) error {
	header := hr.header
	if _, ok := header["User-Agent"]; !ok {
		// net/http would send its own User-Agent otherwise ("" sends none).
		header = header.Clone()
		if header == nil {
			header = make(http.Header, 1)
		}
		header["User-Agent"] = c.userAgent
	}
	hreq := &http.Request{
		Method: hr.method, URL: hr.url, Header: header, Host: hr.host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if hr.hasBody {
		hreq.ContentLength = int64(len(hr.body))
		hreq.GetBody = newBody(hr.body)
		hreq.Body, _ = hreq.GetBody()
		if len(hr.body) == 0 {
			hreq.Body = http.NoBody
		}
	}
	ctx := s.ctx
	transport := c.std()
	if transport.TLSClientConfig.GetClientCertificate != nil {
		ctx = withTLSHost(ctx, hr.url.Hostname())
	}
	hreq = hreq.WithContext(ctx)
	s.tr.reset()
	resp, err := transport.RoundTrip(hreq)
	if err != nil {
		h.timings = s.tr.done(0)
		return err
	}
	b, err := readBody(resp, hr.keep)
	h.timings = s.tr.done(s.tr.offset())
	if err != nil {
		return err
	}
	h.status, h.statusText, h.proto, h.header, h.body = resp.StatusCode, resp.Status, resp.Proto, resp.Header, b
	h.tls, h.remote = resp.TLS, s.tr.remote
	return nil
}

// do runs rq: round trips including redirects and the digest challenge,
// emitting the samples of each round trip. Network errors end up in the
// result.
func (c *client) do(rq *request) *result {
	deadline := c.now().Add(rq.timeout)
	res := &rq.res
	st := hopState{method: rq.method, u: rq.url, rawURL: rq.rawURL, body: rq.body, hasBody: rq.hasBody, header: rq.header}
	digestTried := false
	var std *stdState
	defer func() { c.releaseStd(std) }()
	for redirects := 0; ; {
		if c.limiter != nil {
			if err := c.limiter.Wait(rq.ctx); err != nil {
				res.setError(err, nil)
				res.url = st.rawURL
				res.interrupted = rq.ctx.Err() != nil
				return res
			}
		}
		h := &rq.hop
		*h = hop{}
		err := c.roundTrip(rq, &st, deadline, &std, h)
		now := c.now()
		if err != nil {
			c.recordError(rq, &st, h, err, deadline, now)
			return res
		}
		c.record(rq, &st, h, now)
		if !digestTried && st.digestRetry(rq, h) {
			digestTried = true
			continue
		}
		if !c.redirect(rq, &st, h, redirects) {
			return res
		}
		redirects++
	}
}

// hopState is what changes from one round trip of a request to the next:
// a redirect changes the URL (and may turn the request into a GET without
// a body), the digest challenge adds an Authorization header.
type hopState struct {
	method  string
	u       *url.URL
	rawURL  string // u as the url tag shows it
	body    string
	hasBody bool
	header  http.Header
}

// roundTrip sends one hop: cookies and basic auth for its URL, then the
// request through the fast HTTP/1.1 path or the standard transport.
func (c *client) roundTrip(rq *request, st *hopState, deadline time.Time, std **stdState, h *hop) error {
	var cookies []paramCookie
	cookies, st.header = rq.cookiesFor(st.u, st.header)
	if !rq.digest && st.u.User != nil {
		if _, ok := st.header["Authorization"]; !ok {
			pw, _ := st.u.User.Password()
			st.header = withHeader(st.header, "Authorization", basicAuth(st.u.User.Username(), pw))
		}
	}
	res := &rq.res
	res.sentMethod, res.sentURL, res.sentHeader, res.sentBody, res.sentCookies = st.method, st.rawURL, st.header, st.body, cookies
	hr := hopRequest{method: st.method, url: st.u, host: rq.host, header: st.header, body: st.body, hasBody: st.hasBody,
		keep: rq.respType != respNone}
	if c.debug != "" {
		c.logRequest(rq.state.Logger, &hr)
	}
	c.traffic.state.Store(rq.state)
	if c.useH1(st.u, st.header) {
		if err := validHeaders(st.header); err != nil {
			return err
		}
		return c.h1.roundTrip(rq.ctx, deadline, &hr, h)
	}
	if *std == nil {
		*std = c.newStd(rq.ctx, deadline)
	}
	return c.stdRoundTrip(*std, &hr, h)
}

// recordError ends the request with a failed hop. A request cut off by the
// end of the test is not a failure of the service: it emits no samples. A
// passed deadline is a timeout.
func (c *client) recordError(rq *request, st *hopState, h *hop, err error, deadline, now time.Time) {
	res := &rq.res
	if cerr := rq.ctx.Err(); cerr != nil {
		res.setError(cerr, nil)
		res.interrupted = true
		res.url = st.rawURL
		res.timings = h.timings
		return
	}
	var ctxErr error
	if !now.Before(deadline) {
		ctxErr = context.DeadlineExceeded
	}
	res.setError(err, ctxErr)
	res.url = st.rawURL
	res.timings = h.timings
	c.emit(rq, res, st.method, st.u, st.rawURL, now)
}

// record makes the hop's response the request's result, emits its samples
// and stores its cookies in the jar.
func (c *client) record(rq *request, st *hopState, h *hop, now time.Time) {
	if c.debug != "" {
		c.logResponse(rq.state.Logger, h)
	}
	res := &rq.res
	res.status, res.statusText, res.proto = h.status, h.statusText, h.proto
	res.header, res.body, res.bodyNull = h.header, h.body, rq.respType == respNone
	res.url = st.rawURL
	res.tls, res.remote = h.tls, h.remote
	res.timings = h.timings
	if h.status >= 400 {
		res.errCode = 1000 + h.status
	} else {
		res.errCode = 0
	}
	c.emit(rq, res, st.method, st.u, st.rawURL, now)
	if rq.jar != nil {
		if lines := h.header["Set-Cookie"]; len(lines) > 0 {
			rq.jar.setCookies(st.u, parseSetCookies(lines))
		}
	}
}

// digestRetry answers a digest challenge (401 with WWW-Authenticate:
// Digest) once: it reports whether the request should be sent again with
// the Authorization header it added.
func (st *hopState) digestRetry(rq *request, h *hop) bool {
	if !rq.digest || h.status != http.StatusUnauthorized || st.u.User == nil {
		return false
	}
	chal := h.header.Get("Www-Authenticate")
	if !strings.HasPrefix(strings.ToLower(chal), "digest ") {
		return false
	}
	auth, err := digestAuthorization(chal, st.method, st.u, st.body)
	if err != nil {
		return false
	}
	st.header = withHeader(st.header.Clone(), "Authorization", auth)
	return true
}

// redirect moves st to the hop's Location when the response is a redirect
// the request may follow (redirects so far < params.redirects): credentials
// and cookies are dropped across origins, and 301/302/303 turn any method
// but GET and HEAD into a GET without a body. It reports whether to go on.
func (c *client) redirect(rq *request, st *hopState, h *hop, redirects int) bool {
	if !isRedirect(h.status) {
		return false
	}
	loc := h.header.Get("Location")
	if loc == "" {
		return false
	}
	if redirects >= rq.maxRedirects {
		if rq.maxRedirects > 0 {
			rq.state.Logger.Warn("Stopped after "+strconv.Itoa(redirects)+" redirects and returned the redirection",
				"url", st.rawURL)
		}
		return false
	}
	next, err := st.u.Parse(loc)
	if err != nil {
		return false
	}
	if next.Host != st.u.Host || next.Scheme != st.u.Scheme {
		st.header = st.header.Clone()
		st.header.Del("Authorization")
		st.header.Del("Cookie")
	}
	switch h.status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther:
		if st.method != http.MethodGet && st.method != http.MethodHead {
			st.method, st.body, st.hasBody = http.MethodGet, "", false
			st.header = st.header.Clone()
			st.header.Del("Content-Type")
			st.header.Del("Content-Encoding")
		}
	}
	st.u = next
	st.rawURL = next.String()
	return true
}

// parseSetCookies parses Set-Cookie header lines, skipping invalid ones.
func parseSetCookies(lines []string) []*http.Cookie {
	out := make([]*http.Cookie, 0, len(lines))
	for _, l := range lines {
		if c, err := http.ParseSetCookie(l); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// setError records a failed round trip.
func (r *result) setError(err, ctxErr error) {
	r.errCode, r.err = classify(err, ctxErr)
	r.goErr = err
	if r.errCode == codeTimeout {
		r.goErr = errTimeout
	}
	r.status, r.statusText, r.proto = 0, "", ""
	r.header, r.body, r.bodyNull = nil, nil, true
}

// cookiesFor sets the Cookie header of a round trip to u from the jar and
// params.cookies, and returns the cookies sent and the header.
func (rq *request) cookiesFor(u *url.URL, header http.Header) ([]paramCookie, http.Header) {
	var jarCookies []*http.Cookie
	if rq.jar != nil {
		jarCookies = rq.jar.cookies(u)
	}
	if len(jarCookies) == 0 && len(rq.cookies) == 0 {
		return nil, header
	}
	sent := make([]paramCookie, 0, len(jarCookies)+len(rq.cookies))
	for _, jc := range jarCookies {
		replaced := false
		for _, pc := range rq.cookies {
			if pc.replace && pc.name == jc.Name {
				replaced = true
				break
			}
		}
		if !replaced {
			sent = append(sent, paramCookie{name: jc.Name, value: jc.Value})
		}
	}
	sent = append(sent, rq.cookies...)
	var b strings.Builder
	for i, c := range sent {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.name)
		b.WriteByte('=')
		b.WriteString(c.value)
	}
	return sent, withHeader(header, "Cookie", b.String())
}

// withHeader sets key (canonical) in h, creating h when nil, and returns h.
func withHeader(h http.Header, key, value string) http.Header {
	if h == nil {
		h = make(http.Header, 2)
	}
	h[key] = []string{value}
	return h
}

// readBody reads the whole response body (keep=false discards it after
// reading) and decodes a gzip or deflate Content-Encoding that the
// transport left alone (when the script set Accept-Encoding itself).
func readBody(resp *http.Response, keep bool) ([]byte, error) {
	defer resp.Body.Close() //nolint:errcheck // read errors are what matter
	if resp.Body == http.NoBody {
		if keep {
			return []byte{}, nil
		}
		return nil, nil
	}
	if !keep {
		_, err := io.Copy(io.Discard, resp.Body)
		return nil, err
	}
	var b []byte
	var err error
	if cl := resp.ContentLength; cl >= 0 && cl <= 64<<20 {
		b = make([]byte, cl)
		_, err = io.ReadFull(resp.Body, b)
	} else {
		b, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		return nil, err
	}
	if resp.Uncompressed {
		return b, nil
	}
	return decodeBody(b, resp.Header)
}

// decodeBody decodes a gzip or deflate Content-Encoding, as k6 does.
func decodeBody(b []byte, h http.Header) ([]byte, error) {
	if len(b) == 0 {
		return b, nil
	}
	ce := h["Content-Encoding"]
	if len(ce) == 0 {
		return b, nil
	}
	switch strings.ToLower(ce[0]) {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("decode gzip response body: %w", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("decode gzip response body: %w", err)
		}
		return out, nil
	case "deflate":
		out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
		if err != nil {
			return nil, fmt.Errorf("decode deflate response body: %w", err)
		}
		return out, nil
	}
	return b, nil
}

// closeIdle closes the client's idle keep-alive connections.
func (c *client) closeIdle() {
	if t := c.transport.Load(); t != nil {
		t.CloseIdleConnections()
	}
	if c.h1 != nil {
		c.h1.closeIdle()
	}
}

// close stops watching the VU context and closes idle connections; the
// client stays usable.
func (c *client) close() {
	c.ctxMu.Lock()
	if c.stopWatch != nil {
		c.stopWatch()
		c.cancelBase()
		c.stopWatch, c.watched = nil, nil
	}
	c.ctxMu.Unlock()
	c.closeIdle()
}
