// Package k6http is the built-in `k6/http` JS module: HTTP requests with
// k6's API (request/get/post/..., batch, asyncRequest, cookie jars,
// expected statuses, http.url and http.file) and the http_* metric samples of
// every round trip.
//
// Each VU gets its own instance with its own transport (keep-alive
// connections are per VU), cookie jar (reset at the start of every
// iteration unless noCookiesReset) and response callback. What VUs share is
// the run's rps limiter.
package k6http

import (
	"math"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/modules"
)

// RootModule is the k6/http module of one test run: the state its VUs
// share. It is safe for concurrent use.
type RootModule struct {
	now  func() time.Time
	noH1 bool // tests: send everything through net/http

	limOnce sync.Once
	lim     *limiter

	aside *asidePool // workers for batch items; first dials go aside once more than asideAboveVUs clients were made
	tags  *tagSets   // the tag sets of the run's requests

	mu      sync.Mutex
	clients map[*client]struct{}
}

var (
	_ modules.Module = (*RootModule)(nil)
	_ modules.Closer = (*RootModule)(nil)
)

// New returns the per-run root of k6/http.
func New() modules.Module {
	return &RootModule{now: time.Now, aside: newAsidePool(), tags: newTagSets()}
}

// NewModuleInstance returns the module as one VU sees it.
func (m *RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	mi := &Instance{root: m, vu: vu, rt: vu.Runtime(), lastIter: math.MinInt64, callback: defaultExpected}
	mi.exports = mi.rt.NewDynamicObject(&lazyObject{names: exportNames, make: mi.export})
	return mi
}

// Close closes the idle keep-alive connections of every VU.
func (m *RootModule) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.clients {
		c.close()
	}
	m.clients = nil
	return nil
}

// dropClient removes c from the clients Close closes.
func (m *RootModule) dropClient(c *client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.clients, c)
}

// limiterFor returns the run-wide rps limiter, or nil when rps is unset.
func (m *RootModule) limiterFor(o *options.Options) *limiter {
	m.limOnce.Do(func() {
		if rps := options.Int(o.RPS, 0); rps > 0 {
			m.lim = newLimiter(rps, m.now)
		}
	})
	return m.lim
}

func (m *RootModule) newClient(o *options.Options) *client {
	c := newClient(clientConfig{opts: o, limiter: m.limiterFor(o), now: m.now, noH1: m.noH1, aside: m.aside, tagSets: m.tags})
	m.mu.Lock()
	if m.clients == nil {
		m.clients = map[*client]struct{}{}
	}
	m.clients[c] = struct{}{}
	if len(m.clients) > asideAboveVUs {
		m.aside.many.Store(true)
	}
	m.mu.Unlock()
	return c
}

// Instance is k6/http as one VU sees it. Its methods run on the VU's
// goroutine.
type Instance struct {
	root    *RootModule
	vu      modules.VU
	rt      *sobek.Runtime
	exports *sobek.Object

	client   *client    // created at the first request, from the run's options
	jar      *cookieJar // the VU's jar
	lastIter int64      // the iteration the jar belongs to
	callback *expectedStatuses

	// Per-VU settings derived from the options at the first request.
	maxRedirects int
	respType     responseType
	throw        bool
	noJarReset   bool
	noVUReuse    bool

	lastRaw string   // the last URL parsed...
	lastURL *url.URL // ...and its parsed form
	frozen  frozenTags

	respProto, jarProto, urlProto *sobek.Object
	jsonParse                     sobek.Callable
}

var (
	_ modules.Instance = (*Instance)(nil)
	_ modules.Releaser = (*Instance)(nil)
)

// Release closes the VU's idle connections and drops its client from the
// root, so that a VU dropped before the run ends (the scenarios' VUs, once
// every scenario is done) frees its connections and buffers at once.
func (mi *Instance) Release() {
	c := mi.client
	if c == nil {
		return
	}
	mi.client = nil
	mi.root.dropClient(c)
	c.close()
}

// Exports returns the module's exports: a default object whose properties
// are also the named exports.
func (mi *Instance) Exports() modules.Exports { return modules.Exports{Default: mi.exports} }

// TLS versions and OCSP values k6/http exports as constants.
var constants = map[string]string{
	"TLS_1_0": "tls1.0", "TLS_1_1": "tls1.1", "TLS_1_2": "tls1.2", "TLS_1_3": "tls1.3",
	"OCSP_STATUS_GOOD": "good", "OCSP_STATUS_REVOKED": "revoked", "OCSP_STATUS_UNKNOWN": "unknown",
	"OCSP_REASON_UNSPECIFIED": "unspecified", "OCSP_REASON_KEY_COMPROMISE": "key_compromise",
	"OCSP_REASON_CA_COMPROMISE": "ca_compromise", "OCSP_REASON_AFFILIATION_CHANGED": "affiliation_changed",
	"OCSP_REASON_SUPERSEDED": "superseded", "OCSP_REASON_CESSATION_OF_OPERATION": "cessation_of_operation",
	"OCSP_REASON_CERTIFICATE_HOLD": "certificate_hold", "OCSP_REASON_REMOVE_FROM_CRL": "remove_from_crl",
	"OCSP_REASON_PRIVILEGE_WITHDRAWN": "privilege_withdrawn", "OCSP_REASON_AA_COMPROMISE": "aa_compromise",
}

// exportNames are the names k6/http exports, sorted.
var exportNames = func() []string {
	names := []string{"request", "get", "head", "post", "put", "patch", "del", "options", "batch",
		"asyncRequest", "setResponseCallback", "expectedStatuses", "url", "file", "cookieJar", "CookieJar"}
	for k := range constants {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}()

// export returns the JS value of the export called name, or nil.
func (mi *Instance) export(name string) sobek.Value {
	var f any
	switch name {
	case "request":
		f = mi.jsRequest
	case "get":
		f = mi.verb("GET", false)
	case "head":
		f = mi.verb("HEAD", false)
	case "post":
		f = mi.verb("POST", true)
	case "put":
		f = mi.verb("PUT", true)
	case "patch":
		f = mi.verb("PATCH", true)
	case "del":
		f = mi.verb("DELETE", true)
	case "options":
		f = mi.verb("OPTIONS", true)
	case "batch":
		f = mi.jsBatch
	case "asyncRequest":
		f = mi.jsAsyncRequest
	case "setResponseCallback":
		f = mi.jsSetResponseCallback
	case "expectedStatuses":
		f = mi.jsExpectedStatuses
	case "url":
		f = mi.jsURL
	case "file":
		f = mi.jsFile
	case "cookieJar":
		f = mi.jsCookieJar
	case "CookieJar":
		f = mi.jsNewCookieJar
	default:
		c, ok := constants[name]
		if !ok {
			return nil
		}
		f = c
	}
	return mi.rt.ToValue(f)
}

// lazyObject is an object whose properties, names, are made on first
// access: the module's default export and the Response prototype, so a VU
// pays only for the functions its script uses. What the script assigns or
// deletes stays in the object. The values made or assigned are a list in
// the order they came: a script uses a few of them, so a search in order is
// as quick as a map lookup, and two maps per VU cost ~0.5 KiB.
type lazyObject struct {
	names []string // in the order Keys lists them
	make  func(name string) sobek.Value
	vals  []lazyValue
	gone  map[string]bool // deleted names
}

// lazyValue is one property of a lazyObject that was made or assigned.
type lazyValue struct {
	key string
	val sobek.Value
}

// find returns the index of key in e.vals, or -1.
func (e *lazyObject) find(key string) int {
	for i := range e.vals {
		if e.vals[i].key == key {
			return i
		}
	}
	return -1
}

func (e *lazyObject) Get(key string) sobek.Value {
	if i := e.find(key); i >= 0 {
		return e.vals[i].val
	}
	if e.gone[key] {
		return nil
	}
	v := e.make(key)
	if v != nil {
		e.vals = append(e.vals, lazyValue{key: key, val: v})
	}
	return v
}

func (e *lazyObject) Set(key string, val sobek.Value) bool {
	if i := e.find(key); i >= 0 {
		e.vals[i].val = val
	} else {
		e.vals = append(e.vals, lazyValue{key: key, val: val})
	}
	delete(e.gone, key)
	return true
}

func (e *lazyObject) Has(key string) bool {
	if e.find(key) >= 0 {
		return true
	}
	return slices.Contains(e.names, key) && !e.gone[key]
}

func (e *lazyObject) Delete(key string) bool {
	if i := e.find(key); i >= 0 {
		e.vals = slices.Delete(e.vals, i, i+1)
	}
	if slices.Contains(e.names, key) {
		if e.gone == nil {
			e.gone = map[string]bool{}
		}
		e.gone[key] = true
	}
	return true
}

// Keys lists names (less the deleted ones), then the keys the script
// added, in the order added.
func (e *lazyObject) Keys() []string {
	if len(e.vals) == 0 && len(e.gone) == 0 {
		return e.names
	}
	keys := make([]string, 0, len(e.names)+len(e.vals))
	for _, k := range e.names {
		if !e.gone[k] {
			keys = append(keys, k)
		}
	}
	for _, v := range e.vals {
		if !slices.Contains(e.names, v.key) {
			keys = append(keys, v.key)
		}
	}
	return keys
}

// state returns the VU's full state, or nil in the init context.
func (mi *Instance) state() *vustate.State {
	if mi.vu.InitEnv() != nil {
		return nil
	}
	p, ok := mi.vu.(vustate.Provider)
	if !ok {
		return nil
	}
	return p.FullState()
}

// mustState returns the VU's state, throwing in the init context.
func (mi *Instance) mustState(what string) *vustate.State {
	st := mi.state()
	if st == nil {
		panic(mi.rt.NewGoError(errInit(what)))
	}
	mi.sync(st)
	return st
}

// sync prepares the instance for a request in the current iteration: it
// creates the client at the first request and, when the iteration changed,
// replaces the cookie jar and drops idle connections as the options ask.
func (mi *Instance) sync(st *vustate.State) {
	if mi.client == nil {
		o := st.Options
		if o == nil {
			o = &options.Options{}
		}
		mi.client = mi.root.newClient(o)
		mi.maxRedirects = int(options.Int(o.MaxRedirects, options.DefaultMaxRedirects))
		if options.Bool(o.DiscardResponseBodies) {
			mi.respType = respNone
		}
		mi.throw = options.Bool(o.Throw)
		mi.noJarReset = options.Bool(o.NoCookiesReset)
		mi.noVUReuse = options.Bool(o.NoVUConnectionReuse)
	}
	if it := st.Iteration(); it != mi.lastIter {
		first := mi.lastIter == math.MinInt64
		mi.lastIter = it
		if !first {
			if !mi.noJarReset && mi.jar != nil && mi.jar.used.Load() {
				mi.jar = nil // a new one is made when needed
			}
			if mi.noVUReuse {
				mi.client.closeIdle()
			}
		}
	}
}

// currentJar returns the VU's jar, replaced first if a new iteration began.
func (mi *Instance) currentJar() *cookieJar {
	if st := mi.state(); st != nil {
		mi.sync(st)
	}
	return mi.vuJar()
}

// vuJar returns the VU's jar, making it on first use.
func (mi *Instance) vuJar() *cookieJar {
	if mi.jar == nil {
		mi.jar = newCookieJar()
	}
	return mi.jar
}

var userAgentOnce = sync.OnceValue(func() string {
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return options.DefaultUserAgent + v
})

// defaultUserAgent is "tally/<version>", used when the userAgent option is unset.
func defaultUserAgent() string { return userAgentOnce() }
