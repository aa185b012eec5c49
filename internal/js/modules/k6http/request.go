package k6http

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/metrics"
)

const defaultTimeout = 60 * time.Second

func errInit(what string) error {
	return fmt.Errorf("%s in the init context is not supported: make requests in default(), setup() or teardown()", what)
}

// urlError is a URL that cannot be requested: such requests end with error
// code 1020 and no round trip.
type urlError struct{ msg string }

func (e *urlError) Error() string { return e.msg }

// parseURL turns the url argument (a string, an http.url object or anything
// with a string form) into a URL and its explicit name tag.
func (mi *Instance) parseURL(v sobek.Value) (string, *url.URL, string, error) {
	var raw, name string
	if t, ok := exportAs[*taggedURL](v); ok {
		raw, name = t.url, t.name
	}
	if raw == "" {
		if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
			return "", nil, "", &urlError{msg: "invalid URL: no URL given"}
		}
		raw = v.String()
	}
	if raw == mi.lastRaw && mi.lastURL != nil {
		// Scripts tend to request the same URLs again; the parsed URL is
		// never modified, so it can be shared.
		return raw, mi.lastURL, name, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw, nil, name, &urlError{msg: "invalid URL: " + err.Error()}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return raw, nil, name, &urlError{msg: fmt.Sprintf("invalid URL %q: the scheme must be http or https", raw)}
	}
	if u.Host == "" {
		return raw, nil, name, &urlError{msg: fmt.Sprintf("invalid URL %q: no host", raw)}
	}
	mi.lastRaw, mi.lastURL = raw, u
	return raw, u, name, nil
}

// maskURL returns u with its credentials hidden, for tags
// ("http://****:****@host/path").
func maskURL(u *url.URL) string {
	m := *u
	m.User = nil
	s := m.String()
	mask := "****@"
	if _, ok := u.User.Password(); ok {
		mask = "****:****@"
	}
	if i := strings.Index(s, "://"); i >= 0 {
		return s[:i+3] + mask + s[i+3:]
	}
	return s
}

// newRequest prepares a request from JS arguments on the VU goroutine.
// bodyV may be nil (no body). A *urlError means the URL is unusable.
func (mi *Instance) newRequest(st *vustate.State, method string, urlV, bodyV, paramsV sobek.Value) (*request, error) {
	raw, u, name, err := mi.parseURL(urlV)
	rq := &request{
		ctx: mi.client.context(mi.vu.Context()), state: st, method: method, url: u, name: name,
		timeout: defaultTimeout, maxRedirects: mi.maxRedirects, respType: mi.respType,
		callback: mi.callback, throw: mi.throw || st.Throw, jar: mi.vuJar(),
	}
	if err != nil {
		rq.rawURL = raw
		return rq, err
	}
	rq.rawURL = raw

	var userTags []metrics.Tag
	var compression string
	if p, ok := paramsV.(*sobek.Object); ok {
		if userTags, compression, err = mi.applyParams(rq, p); err != nil {
			return rq, err
		}
	} else if paramsV != nil && !sobek.IsUndefined(paramsV) && !sobek.IsNull(paramsV) {
		return rq, errors.New("params must be an object")
	}
	if bodyV != nil && !sobek.IsUndefined(bodyV) && !sobek.IsNull(bodyV) {
		if err := mi.setBody(rq, bodyV); err != nil {
			return rq, err
		}
	}
	if compression != "" && rq.hasBody {
		if err := compress(rq, compression); err != nil {
			return rq, err
		}
	}

	base := st.Tags().Tags()
	rq.tags = mergeTags(base, userTags)
	if st.SystemTags.Has(metrics.TagVU) || st.SystemTags.Has(metrics.TagIter) || len(st.Metadata) > 0 {
		// A copy: samples may outlive later changes of the VU's metadata.
		rq.meta = make(map[string]string, len(st.Metadata)+2)
		for k, v := range st.Metadata {
			rq.meta[k] = v
		}
		if st.SystemTags.Has(metrics.TagVU) {
			rq.meta["vu"] = strconv.FormatUint(st.VUID, 10)
		}
		if st.SystemTags.Has(metrics.TagIter) {
			rq.meta["iter"] = strconv.FormatInt(st.Iteration(), 10)
		}
	}
	return rq, nil
}

// setHeader sets a request header (key in canonical form), creating the
// header map on first use: most requests need none.
func (rq *request) setHeader(key, value string) {
	if rq.header == nil {
		rq.header = make(http.Header, 4)
	}
	rq.header[key] = []string{value}
}

// applyParams reads a params object into rq. It returns the request's own
// tags, sorted, and the compression asked for.
func (mi *Instance) applyParams(rq *request, p *sobek.Object) ([]metrics.Tag, string, error) {
	if err := applyHeaders(rq, p.Get("headers")); err != nil {
		return nil, "", err
	}
	tags, err := mi.applyTags(rq, p.Get("tags"))
	if err != nil {
		return nil, "", err
	}
	for _, rp := range requestParams {
		v := p.Get(rp.name)
		if v == nil || sobek.IsUndefined(v) || (sobek.IsNull(v) && !rp.null) {
			continue
		}
		if err := rp.apply(rq, v); err != nil {
			return nil, "", err
		}
	}
	var compression string
	if v := p.Get("compression"); isSet(v) {
		compression = v.String()
	}
	return tags, compression, nil
}

// applyHeaders sets params.headers on rq; a Host header sets the request's
// host instead.
func applyHeaders(rq *request, v sobek.Value) error {
	if !isSet(v) {
		return nil
	}
	h, ok := v.(*sobek.Object)
	if !ok {
		return errors.New("params.headers must be an object")
	}
	keys := h.Keys()
	if len(keys) == 0 {
		return nil
	}
	if rq.header == nil {
		rq.header = make(http.Header, len(keys))
	}
	values := make([]string, 0, len(keys)) // one array behind every header's value
	for _, k := range keys {
		val := h.Get(k)
		if !isSet(val) {
			continue
		}
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if ck == "Host" {
			rq.host = val.String()
			continue
		}
		values = append(values, val.String())
		rq.header[ck] = values[len(values)-1 : len(values) : len(values)]
	}
	return nil
}

// applyTags is readTags, with the tags of objects that cannot change (see
// frozenTags) read once.
func (mi *Instance) applyTags(rq *request, v sobek.Value) ([]metrics.Tag, error) {
	t, isObj := v.(*sobek.Object)
	if isObj {
		if m, ok := mi.frozen.memo[t]; ok {
			if m.named {
				rq.name = m.name
			}
			return m.tags, nil
		}
	}
	tags, err := readTags(rq, v)
	if err != nil || !isObj || len(mi.frozen.memo) >= maxFrozenTags || !mi.frozen.again(t) {
		return tags, err
	}
	if mi.frozenCheck(t) {
		if mi.frozen.memo == nil {
			mi.frozen.memo = make(map[*sobek.Object]tagsMemo)
		}
		named := false
		for _, tg := range tags {
			if tg.Key == "name" {
				named = true
			}
		}
		mi.frozen.memo[t] = tagsMemo{tags: tags, name: rq.name, named: named}
	} else {
		mi.frozen.no[mi.frozen.nextNo] = t
		mi.frozen.nextNo = (mi.frozen.nextNo + 1) % len(mi.frozen.no)
	}
	return tags, nil
}

// frozenTags remembers the tags of the params.tags objects of a VU that
// cannot change: frozen, with data properties of primitive values only (a
// script's tags per endpoint, made once, as scripts/lib/credit.js does).
// An object is looked at the second time it is seen, so that objects made
// for one request each cost no look.
type frozenTags struct {
	seen     [8]*sobek.Object // seen once
	nextSeen int
	no       [8]*sobek.Object // looked at, not frozen
	nextNo   int
	memo     map[*sobek.Object]tagsMemo // at most maxFrozenTags
	check    sobek.Callable             // frozenCheckSrc, made at the first look
}

// tagsMemo is the tags of a frozen tags object, and its name tag if named.
type tagsMemo struct {
	tags  []metrics.Tag
	name  string
	named bool
}

// maxFrozenTags bounds the tags objects a VU remembers.
const maxFrozenTags = 64

// again reports whether t was seen before (and not found unchanging).
func (f *frozenTags) again(t *sobek.Object) bool {
	for _, o := range f.no {
		if o == t {
			return false
		}
	}
	for i, o := range f.seen {
		if o == t {
			f.seen[i] = nil
			return true
		}
	}
	f.seen[f.nextSeen] = t
	f.nextSeen = (f.nextSeen + 1) % len(f.seen)
	return false
}

// frozenCheckSrc tells whether an object's own string-keyed properties
// can never change nor read differently: frozen, and each a data property
// holding a primitive other than a symbol.
const frozenCheckSrc = `(function (o) {
  if (!Object.isFrozen(o)) return false;
  const names = Object.getOwnPropertyNames(o);
  for (let i = 0; i < names.length; i++) {
    const d = Object.getOwnPropertyDescriptor(o, names[i]);
    if (!('value' in d)) return false;
    const t = typeof d.value;
    if (t === 'symbol' || t === 'function' || (t === 'object' && d.value !== null)) return false;
  }
  return true;
})`

var frozenCheckProg = sobek.MustCompile("k6/http/frozen-tags.js", frozenCheckSrc, true)

// frozenCheck runs frozenCheckSrc on t; false when it cannot.
func (mi *Instance) frozenCheck(t *sobek.Object) bool {
	if mi.frozen.check == nil {
		fv, err := mi.rt.RunProgram(frozenCheckProg)
		if err != nil {
			return false
		}
		fn, ok := sobek.AssertFunction(fv)
		if !ok {
			return false
		}
		mi.frozen.check = fn
	}
	res, err := mi.frozen.check(sobek.Undefined(), t)
	return err == nil && res.ToBoolean()
}

// readTags returns params.tags sorted by key; the name tag also names the
// request (its URL group).
func readTags(rq *request, v sobek.Value) ([]metrics.Tag, error) {
	if !isSet(v) {
		return nil, nil
	}
	t, ok := v.(*sobek.Object)
	if !ok {
		return nil, errors.New("params.tags must be an object")
	}
	keys := t.Keys()
	tags := make([]metrics.Tag, 0, len(keys))
	for _, k := range keys {
		val := t.Get(k)
		if !isSet(val) {
			continue
		}
		tags = append(tags, metrics.Tag{Key: k, Value: val.String()})
		if k == "name" {
			rq.name = val.String()
		}
	}
	slices.SortFunc(tags, func(a, b metrics.Tag) int { return strings.Compare(a.Key, b.Key) })
	return tags, nil
}

// requestParams are the params that set one field of a request each, in
// the order they are read (the first bad one is the error). An undefined
// param is skipped; so is null, unless null means something (null).
var requestParams = []struct {
	name  string
	null  bool
	apply func(rq *request, v sobek.Value) error
}{
	{"timeout", false, func(rq *request, v sobek.Value) error {
		d, err := parseTimeout(v)
		if err != nil {
			return err
		}
		rq.timeout = d
		return nil
	}},
	{"responseType", false, applyResponseType},
	{"redirects", false, func(rq *request, v sobek.Value) error {
		n := v.ToInteger()
		if n < 0 {
			return fmt.Errorf("invalid params.redirects %d: use a number >= 0", n)
		}
		rq.maxRedirects = int(n)
		return nil
	}},
	{"responseCallback", true, func(rq *request, v sobek.Value) error {
		cb, err := callbackOf(v)
		if err != nil {
			return fmt.Errorf("params.responseCallback: %w", err)
		}
		rq.callback = cb
		return nil
	}},
	{"throw", false, func(rq *request, v sobek.Value) error { rq.throw = v.ToBoolean(); return nil }},
	{"jar", true, applyJar},
	{"cookies", false, applyCookies},
	{"auth", false, applyAuth},
}

func applyResponseType(rq *request, v sobek.Value) error {
	switch s := v.String(); s {
	case "text":
		rq.respType = respText
	case "binary":
		rq.respType = respBinary
	case "none":
		rq.respType = respNone
	default:
		return fmt.Errorf("invalid params.responseType %q: use \"text\", \"binary\" or \"none\"", s)
	}
	return nil
}

// applyJar sets the request's cookie jar; null means no jar at all.
func applyJar(rq *request, v sobek.Value) error {
	if sobek.IsNull(v) {
		rq.jar = nil
		return nil
	}
	j, ok := exportAs[*jsJar](v)
	if !ok {
		return errors.New("params.jar must be a cookie jar (http.cookieJar() or new http.CookieJar())")
	}
	rq.jar = j.resolve()
	return nil
}

// applyCookies reads params.cookies: name -> value, or name -> {value,
// replace}.
func applyCookies(rq *request, v sobek.Value) error {
	c, ok := v.(*sobek.Object)
	if !ok {
		return errors.New("params.cookies must be an object")
	}
	for _, k := range c.Keys() {
		pc := paramCookie{name: k}
		val := c.Get(k)
		if o, ok := val.(*sobek.Object); ok {
			if vv := o.Get("value"); isSet(vv) {
				pc.value = vv.String()
			}
			if r := o.Get("replace"); isSet(r) {
				pc.replace = r.ToBoolean()
			}
		} else if isSet(val) {
			pc.value = val.String()
		}
		rq.cookies = append(rq.cookies, pc)
	}
	return nil
}

func applyAuth(rq *request, v sobek.Value) error {
	switch s := strings.ToLower(v.String()); s {
	case "basic":
	case "digest":
		rq.digest = true
	case "ntlm":
		return errors.New("params.auth \"ntlm\" is not supported by tally; use \"basic\" or \"digest\"")
	default:
		return fmt.Errorf("invalid params.auth %q: use \"basic\" or \"digest\"", s)
	}
	return nil
}

func isSet(v sobek.Value) bool {
	return v != nil && !sobek.IsUndefined(v) && !sobek.IsNull(v)
}

// exportAs returns the Go value behind a JS object made by this package.
// It compares the export type first: exporting a plain object would copy
// it, and everything it holds, into Go maps only to find it is not a T.
func exportAs[T any](v sobek.Value) (T, bool) {
	var zero T
	o, ok := v.(*sobek.Object)
	if !ok || o.ExportType() != reflect.TypeFor[T]() {
		return zero, false
	}
	t, ok := o.Export().(T)
	return t, ok
}

// parseTimeout reads params.timeout: a duration string or milliseconds.
func parseTimeout(v sobek.Value) (time.Duration, error) {
	var d time.Duration
	if sobek.IsNumber(v) {
		d = time.Duration(v.ToFloat() * float64(time.Millisecond))
	} else {
		var err error
		if d, err = options.ParseDuration(v.String()); err != nil {
			return 0, fmt.Errorf("invalid params.timeout: %w", err)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("invalid params.timeout %q: it must be positive", v.String())
	}
	return d, nil
}

// bytesOf returns the bytes of an ArrayBuffer, typed array or DataView.
func bytesOf(rt *sobek.Runtime, v sobek.Value) ([]byte, bool) {
	o, ok := v.(*sobek.Object)
	if !ok {
		return nil, false
	}
	switch x := o.Export().(type) {
	case sobek.ArrayBuffer:
		return x.Bytes(), true
	case []byte, []int8, []uint16, []int16, []uint32, []int32, []float32, []float64, []int64, []uint64:
		if o.ClassName() == "Array" {
			return nil, false
		}
		var b []byte
		if err := rt.ExportTo(v, &b); err != nil {
			return nil, false
		}
		return b, true
	}
	if o.ClassName() == "Object" && o.Get("buffer") != nil && o.Get("byteLength") != nil {
		var b []byte
		if err := rt.ExportTo(v, &b); err == nil {
			return b, true // a DataView
		}
	}
	return nil, false
}

// setBody encodes a request body: a string as is, bytes as bytes, an object
// as a form (multipart when it holds an http.file()).
func (mi *Instance) setBody(rq *request, v sobek.Value) error {
	rq.hasBody = true
	if b, ok := bytesOf(mi.rt, v); ok {
		rq.body = string(b)
		return nil
	}
	o, ok := v.(*sobek.Object)
	if !ok || o.ClassName() == "String" {
		rq.body = v.String()
		return nil
	}
	if f, ok := exportAs[*fileData](o); ok {
		rq.body = string(f.data)
		return nil
	}
	keys := o.Keys()
	multi := false
	for _, k := range keys {
		if _, ok := exportAs[*fileData](o.Get(k)); ok {
			multi = true
			break
		}
	}
	if multi {
		return mi.multipartBody(rq, o, keys)
	}
	form := url.Values{}
	for _, k := range keys {
		val := o.Get(k)
		switch {
		case val == nil || sobek.IsUndefined(val) || sobek.IsNull(val):
			form[k] = append(form[k], "")
		case isArray(val):
			arr := val.(*sobek.Object)
			n := int(arr.Get("length").ToInteger())
			for i := 0; i < n; i++ {
				e := arr.Get(strconv.Itoa(i))
				if isSet(e) {
					form[k] = append(form[k], e.String())
				} else {
					form[k] = append(form[k], "")
				}
			}
		default:
			form[k] = append(form[k], val.String())
		}
	}
	rq.body = form.Encode()
	if _, ok := rq.header["Content-Type"]; !ok {
		rq.setHeader("Content-Type", "application/x-www-form-urlencoded")
	}
	return nil
}

func isArray(v sobek.Value) bool {
	o, ok := v.(*sobek.Object)
	return ok && o.ClassName() == "Array"
}

func (mi *Instance) multipartBody(rq *request, o *sobek.Object, keys []string) error {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, k := range keys {
		val := o.Get(k)
		if f, ok := exportAs[*fileData](val); ok {
			name := f.filename
			if name == "" {
				name = k
			}
			h := make(textproto.MIMEHeader)
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, escapeQuotes(k), escapeQuotes(name)))
			h.Set("Content-Type", f.contentType)
			part, err := w.CreatePart(h)
			if err != nil {
				return err
			}
			if _, err := part.Write(f.data); err != nil {
				return err
			}
			continue
		}
		s := ""
		if isSet(val) {
			s = val.String()
		}
		if err := w.WriteField(k, s); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	rq.body = buf.String()
	if _, ok := rq.header["Content-Type"]; !ok {
		rq.setHeader("Content-Type", w.FormDataContentType())
	}
	return nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }

// compress encodes the body with the comma-separated encodings, in order.
func compress(rq *request, algos string) error {
	body := []byte(rq.body)
	var applied []string
	for _, a := range strings.Split(algos, ",") {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" {
			continue
		}
		var buf bytes.Buffer
		switch a {
		case "gzip":
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
		case "deflate":
			zw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
			_, _ = zw.Write(body)
			_ = zw.Close()
		default:
			return fmt.Errorf("unsupported params.compression %q: use \"gzip\" and/or \"deflate\"", a)
		}
		body = buf.Bytes()
		applied = append(applied, a)
	}
	rq.body = string(body)
	if len(applied) > 0 {
		rq.setHeader("Content-Encoding", strings.Join(applied, ", "))
	}
	return nil
}
