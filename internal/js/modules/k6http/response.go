package k6http

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/grafana/sobek"
	"github.com/tidwall/gjson"

	"github.com/tallyhq/tally/internal/js/modules/k6html"
)

// The own properties of a Response, in the order Object.keys shows them.
const (
	fStatus = iota
	fStatusText
	fProto
	fURL
	fHeaders
	fCookies
	fBody
	fTimings
	fTLSVersion
	fTLSCipherSuite
	fOCSP
	fRemoteIP
	fRemotePort
	fError
	fErrorCode
	fRequest
	nFields
)

var responseKeys = [nFields]string{
	"status", "status_text", "proto", "url", "headers", "cookies", "body", "timings",
	"tls_version", "tls_cipher_suite", "ocsp", "remote_ip", "remote_port", "error", "error_code", "request",
}

var responseKeyList = responseKeys[:]

func responseField(key string) int {
	switch key {
	case "status":
		return fStatus
	case "status_text":
		return fStatusText
	case "proto":
		return fProto
	case "url":
		return fURL
	case "headers":
		return fHeaders
	case "cookies":
		return fCookies
	case "body":
		return fBody
	case "timings":
		return fTimings
	case "tls_version":
		return fTLSVersion
	case "tls_cipher_suite":
		return fTLSCipherSuite
	case "ocsp":
		return fOCSP
	case "remote_ip":
		return fRemoteIP
	case "remote_port":
		return fRemotePort
	case "error":
		return fError
	case "error_code":
		return fErrorCode
	case "request":
		return fRequest
	}
	return -1
}

// response is the Go side of a JS Response. Its properties are computed on
// first access and cached, so a script that only reads status pays for
// nothing else.
type response struct {
	mi    *Instance
	res   *result
	rt    *sobek.Runtime
	respT responseType

	vals    [nFields]sobek.Value
	deleted uint32 // bit set of deleted own properties
	extra   map[string]sobek.Value
	extraK  []string

	json      sobek.Value // cached json() without selector
	validJSON int8        // 0 unknown, 1 valid, -1 invalid
}

var _ sobek.DynamicObject = (*response)(nil)

// newResponse wraps res in a JS Response.
func (mi *Instance) newResponse(rq *request, res *result) sobek.Value {
	r := &response{mi: mi, res: res, rt: mi.rt, respT: rq.respType}
	o := mi.rt.NewDynamicObject(r)
	_ = o.SetPrototype(mi.responseProto())
	return o
}

// Get returns the property key, computing it on first access.
func (r *response) Get(key string) sobek.Value {
	i := responseField(key)
	if i < 0 {
		if r.extra != nil {
			return r.extra[key]
		}
		return nil
	}
	if r.deleted&(1<<i) != 0 {
		return nil
	}
	if v := r.vals[i]; v != nil {
		return v
	}
	v := r.compute(i)
	r.vals[i] = v
	return v
}

// Set stores a property; scripts may overwrite or add properties.
func (r *response) Set(key string, val sobek.Value) bool {
	if i := responseField(key); i >= 0 {
		r.vals[i] = val
		r.deleted &^= 1 << i
		return true
	}
	if r.extra == nil {
		r.extra = make(map[string]sobek.Value)
	}
	if _, ok := r.extra[key]; !ok {
		r.extraK = append(r.extraK, key)
	}
	r.extra[key] = val
	return true
}

// Has reports whether key is an own property.
func (r *response) Has(key string) bool {
	if i := responseField(key); i >= 0 {
		return r.deleted&(1<<i) == 0
	}
	_, ok := r.extra[key]
	return ok
}

// Delete removes an own property.
func (r *response) Delete(key string) bool {
	if i := responseField(key); i >= 0 {
		r.deleted |= 1 << i
		r.vals[i] = nil
		return true
	}
	if _, ok := r.extra[key]; ok {
		delete(r.extra, key)
		for j, k := range r.extraK {
			if k == key {
				r.extraK = append(r.extraK[:j], r.extraK[j+1:]...)
				break
			}
		}
	}
	return true
}

// Keys lists the own properties.
func (r *response) Keys() []string {
	if r.deleted == 0 && len(r.extraK) == 0 {
		return responseKeyList
	}
	keys := make([]string, 0, nFields+len(r.extraK))
	for i, k := range responseKeys {
		if r.deleted&(1<<i) == 0 {
			keys = append(keys, k)
		}
	}
	return append(keys, r.extraK...)
}

func (r *response) compute(i int) sobek.Value {
	rt, res := r.rt, r.res
	switch i {
	case fStatus:
		return rt.ToValue(res.status)
	case fStatusText:
		return rt.ToValue(res.statusText)
	case fProto:
		return rt.ToValue(res.proto)
	case fURL:
		return rt.ToValue(res.url)
	case fHeaders:
		return r.headersObject()
	case fCookies:
		return r.cookiesObject()
	case fBody:
		return r.bodyValue()
	case fTimings:
		return r.timingsObject()
	case fTLSVersion:
		if res.tls != nil {
			return rt.ToValue(tlsVersionName(res.tls.Version))
		}
		return rt.ToValue("")
	case fTLSCipherSuite:
		if res.tls != nil {
			return rt.ToValue(tls.CipherSuiteName(res.tls.CipherSuite))
		}
		return rt.ToValue("")
	case fOCSP:
		o := rt.NewObject()
		_ = o.Set("produced_at", 0)
		_ = o.Set("this_update", 0)
		_ = o.Set("next_update", 0)
		_ = o.Set("revoked_at", 0)
		_ = o.Set("revocation_reason", "")
		_ = o.Set("status", "unknown")
		return o
	case fRemoteIP, fRemotePort:
		ip, port := "", 0
		if res.remote != nil {
			if h, p, err := net.SplitHostPort(res.remote.String()); err == nil {
				ip = h
				port, _ = strconv.Atoi(p)
			}
		}
		if i == fRemoteIP {
			return rt.ToValue(ip)
		}
		return rt.ToValue(port)
	case fError:
		return rt.ToValue(res.err)
	case fErrorCode:
		return rt.ToValue(res.errCode)
	case fRequest:
		return r.requestObject()
	}
	return sobek.Undefined()
}

// bodyBytes returns the body, or nil when the body is null.
func (r *response) bodyBytes() ([]byte, bool) {
	if r.res.bodyNull {
		return nil, false
	}
	return r.res.body, true
}

// unsafeString views b as a string; b is never modified afterwards.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (r *response) bodyValue() sobek.Value {
	b, ok := r.bodyBytes()
	if !ok {
		return sobek.Null()
	}
	if r.respT == respBinary {
		return r.rt.ToValue(r.rt.NewArrayBuffer(b))
	}
	return r.rt.ToValue(unsafeString(b))
}

func (r *response) headersObject() sobek.Value {
	o := r.rt.NewObject()
	h := r.res.header
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_ = o.Set(k, strings.Join(h[k], ", "))
	}
	return o
}

func (r *response) cookiesObject() sobek.Value {
	rt := r.rt
	o := rt.NewObject()
	byName := map[string][]any{}
	var order []string
	for _, line := range r.res.header["Set-Cookie"] {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		var expires int64
		if !c.Expires.IsZero() {
			expires = c.Expires.UnixMilli()
		}
		co := rt.NewObject()
		_ = co.Set("name", c.Name)
		_ = co.Set("value", c.Value)
		_ = co.Set("domain", c.Domain)
		_ = co.Set("path", c.Path)
		_ = co.Set("http_only", c.HttpOnly)
		_ = co.Set("secure", c.Secure)
		_ = co.Set("max_age", c.MaxAge)
		_ = co.Set("expires", expires)
		if _, ok := byName[c.Name]; !ok {
			order = append(order, c.Name)
		}
		byName[c.Name] = append(byName[c.Name], co)
	}
	for _, n := range order {
		_ = o.Set(n, rt.NewArray(byName[n]...))
	}
	return o
}

func (r *response) timingsObject() sobek.Value {
	t := r.res.timings
	o := r.rt.NewObject()
	_ = o.Set("duration", ms(t.duration))
	_ = o.Set("blocked", ms(t.blocked))
	_ = o.Set("looking_up", ms(t.lookingUp))
	_ = o.Set("connecting", ms(t.connecting))
	_ = o.Set("tls_handshaking", ms(t.tlsHandshaking))
	_ = o.Set("sending", ms(t.sending))
	_ = o.Set("waiting", ms(t.waiting))
	_ = o.Set("receiving", ms(t.receiving))
	return o
}

func (r *response) requestObject() sobek.Value {
	rt, res := r.rt, r.res
	o := rt.NewObject()
	_ = o.Set("method", res.sentMethod)
	_ = o.Set("url", res.sentURL)
	h := rt.NewObject()
	sent := res.sentHeader
	if _, ok := sent["User-Agent"]; !ok && r.mi.client != nil && r.mi.client.userAgent[0] != "" {
		sent = sent.Clone()
		if sent == nil {
			sent = http.Header{}
		}
		sent["User-Agent"] = r.mi.client.userAgent
	}
	keys := make([]string, 0, len(sent))
	for k := range sent {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := make([]any, 0, len(sent[k]))
		for _, v := range sent[k] {
			vals = append(vals, v)
		}
		_ = h.Set(k, rt.NewArray(vals...))
	}
	_ = o.Set("headers", h)
	_ = o.Set("body", res.sentBody)
	c := rt.NewObject()
	byName := map[string][]any{}
	var order []string
	for _, pc := range res.sentCookies {
		co := rt.NewObject()
		_ = co.Set("name", pc.name)
		_ = co.Set("value", pc.value)
		_ = co.Set("replace", pc.replace)
		if _, ok := byName[pc.name]; !ok {
			order = append(order, pc.name)
		}
		byName[pc.name] = append(byName[pc.name], co)
	}
	for _, n := range order {
		_ = c.Set(n, rt.NewArray(byName[n]...))
	}
	_ = o.Set("cookies", c)
	return o
}

// responseProto returns the prototype of the VU's Response objects. Its
// methods are made when the script first reads them.
func (mi *Instance) responseProto() *sobek.Object {
	if mi.respProto == nil {
		mi.respProto = mi.rt.NewDynamicObject(&lazyObject{names: responseMethods, make: mi.responseMethod})
	}
	return mi.respProto
}

// responseMethods are the names of the Response prototype's methods.
var responseMethods = []string{"json", "html", "submitForm", "clickLink"}

// responseMethod returns the Response method called name, or nil.
func (mi *Instance) responseMethod(name string) sobek.Value {
	switch name {
	case "json":
		return mi.rt.ToValue(mi.jsJSON)
	case "html":
		return mi.rt.ToValue(mi.jsHTML)
	case "submitForm", "clickLink":
		return mi.rt.ToValue(func(sobek.FunctionCall) sobek.Value {
			panic(mi.rt.NewGoError(errors.New("Response." + name + "() is not supported by tally")))
		})
	}
	return nil
}

func (mi *Instance) thisResponse(call sobek.FunctionCall, method string) *response {
	r, ok := exportAs[*response](call.This)
	if !ok {
		panic(mi.rt.NewTypeError("Response." + method + "() called on something that is not a Response"))
	}
	return r
}

// jsHTML is Response.html(selector?): the body parsed as HTML, as a k6/html
// Selection of the document (or of the nodes selector matches).
func (mi *Instance) jsHTML(call sobek.FunctionCall) sobek.Value {
	r := mi.thisResponse(call, "html")
	b, ok := r.bodyBytes()
	if !ok {
		panic(mi.rt.NewGoError(errors.New("the body is null, so it cannot be parsed as HTML: " +
			"the request failed, or responseType is \"none\"")))
	}
	sel := k6html.Parse(mi.rt, string(b))
	if s := call.Argument(0); !sobek.IsUndefined(s) && !sobek.IsNull(s) {
		sel = sel.Find(s.String())
	}
	return mi.rt.ToValue(sel)
}

// jsJSON is Response.json(selector?).
func (mi *Instance) jsJSON(call sobek.FunctionCall) sobek.Value {
	r := mi.thisResponse(call, "json")
	b, ok := r.bodyBytes()
	if !ok {
		panic(mi.rt.NewGoError(errors.New("the body is null, so it cannot be parsed as JSON: " +
			"the request failed, or responseType is \"none\"")))
	}
	sel := call.Argument(0)
	if !isSet(sel) {
		if r.json == nil {
			s := unsafeString(b)
			if r.respT == respBinary {
				s = string(b) // the script may change the ArrayBuffer's bytes
			}
			r.json = mi.parseJSON(s)
		}
		return r.json
	}
	if r.validJSON == 0 {
		r.validJSON = -1
		if gjson.ValidBytes(b) {
			r.validJSON = 1
		}
	}
	if r.validJSON < 0 {
		return sobek.Undefined()
	}
	res := gjson.GetBytes(b, sel.String())
	if !res.Exists() {
		return sobek.Undefined()
	}
	switch res.Type {
	case gjson.Null:
		return sobek.Null()
	case gjson.False:
		return mi.rt.ToValue(false)
	case gjson.True:
		return mi.rt.ToValue(true)
	case gjson.Number:
		return mi.rt.ToValue(res.Num)
	case gjson.String:
		return mi.rt.ToValue(res.Str)
	}
	return mi.parseJSON(res.Raw)
}

// parseJSON runs the runtime's JSON.parse on s (throwing its SyntaxError).
func (mi *Instance) parseJSON(s string) sobek.Value {
	if mi.jsonParse == nil {
		j := mi.rt.Get("JSON").ToObject(mi.rt)
		f, ok := sobek.AssertFunction(j.Get("parse"))
		if !ok {
			panic(mi.rt.NewTypeError("JSON.parse is not a function"))
		}
		mi.jsonParse = f
	}
	v, err := mi.jsonParse(sobek.Undefined(), mi.rt.ToValue(s))
	if err != nil {
		panic(err)
	}
	return v
}
