package k6http

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grafana/sobek"
)

// props holds the own properties of the Go-backed JS objects below, in
// insertion order.
type props struct {
	m    map[string]sobek.Value
	keys []string
}

func (p *props) Get(k string) sobek.Value { return p.m[k] }

func (p *props) Set(k string, v sobek.Value) bool {
	if p.m == nil {
		p.m = make(map[string]sobek.Value)
	}
	if _, ok := p.m[k]; !ok {
		p.keys = append(p.keys, k)
	}
	p.m[k] = v
	return true
}

func (p *props) Has(k string) bool { _, ok := p.m[k]; return ok }

func (p *props) Delete(k string) bool {
	if _, ok := p.m[k]; ok {
		delete(p.m, k)
		for i, x := range p.keys {
			if x == k {
				p.keys = append(p.keys[:i], p.keys[i+1:]...)
				break
			}
		}
	}
	return true
}

func (p *props) Keys() []string { return p.keys }

// taggedURL is what http.url`...` returns: the URL and its name tag (the
// template with ${} placeholders).
type taggedURL struct {
	props
	url, name string
}

// fileData is what http.file() returns: a multipart file part.
type fileData struct {
	props
	data        []byte
	filename    string
	contentType string
}

// callbackObject is what http.expectedStatuses() returns.
type callbackObject struct {
	props
	cb *expectedStatuses
}

// jsJar is a cookie jar as JS sees it: either a jar of its own (new
// http.CookieJar()) or the VU's jar (http.cookieJar()), which is replaced at
// every iteration.
type jsJar struct {
	props
	mi  *Instance
	own *cookieJar
}

func (j *jsJar) resolve() *cookieJar {
	if j.own != nil {
		return j.own
	}
	return j.mi.currentJar()
}

// callbackOf reads a response callback argument: null or an
// http.expectedStatuses() result.
func callbackOf(v sobek.Value) (*expectedStatuses, error) {
	if sobek.IsNull(v) {
		return nil, nil
	}
	if c, ok := exportAs[*callbackObject](v); ok {
		return c.cb, nil
	}
	return nil, errors.New("only null or the result of http.expectedStatuses() is supported as a response callback")
}

func (mi *Instance) jsSetResponseCallback(call sobek.FunctionCall) sobek.Value {
	cb, err := callbackOf(call.Argument(0))
	if err != nil {
		panic(mi.rt.NewTypeError("http.setResponseCallback: " + err.Error()))
	}
	mi.callback = cb
	return sobek.Undefined()
}

func (mi *Instance) jsExpectedStatuses(call sobek.FunctionCall) sobek.Value {
	if len(call.Arguments) == 0 {
		panic(mi.rt.NewTypeError("http.expectedStatuses needs at least one status code or {min, max} range"))
	}
	e := &expectedStatuses{}
	for i, a := range call.Arguments {
		if o, ok := a.(*sobek.Object); ok {
			lo, hi := o.Get("min"), o.Get("max")
			if !isIntValue(lo) || !isIntValue(hi) {
				panic(mi.rt.NewTypeError(fmt.Sprintf("http.expectedStatuses: argument %d must be an integer status or an object {min, max} of integers", i+1)))
			}
			e.ranges = append(e.ranges, statusRange{int(lo.ToInteger()), int(hi.ToInteger())})
			continue
		}
		if !isIntValue(a) {
			panic(mi.rt.NewTypeError(fmt.Sprintf("http.expectedStatuses: argument %d must be an integer status or an object {min, max} of integers, not %s", i+1, a.String())))
		}
		n := int(a.ToInteger())
		e.ranges = append(e.ranges, statusRange{n, n})
	}
	return mi.rt.NewDynamicObject(&callbackObject{cb: e})
}

func isIntValue(v sobek.Value) bool {
	if v == nil || !sobek.IsNumber(v) {
		return false
	}
	f := v.ToFloat()
	return f == float64(int64(f))
}

// jsURL is the http.url tagged template: the name tag is the template with
// ${} in place of each value.
func (mi *Instance) jsURL(call sobek.FunctionCall) sobek.Value {
	parts, ok := call.Argument(0).(*sobek.Object)
	if !ok {
		panic(mi.rt.NewTypeError("http.url must be used as a tagged template: http.url`https://host/items/${id}`"))
	}
	n := int(parts.Get("length").ToInteger())
	var name, u strings.Builder
	for i := 0; i < n; i++ {
		s := parts.Get(fmt.Sprint(i)).String()
		name.WriteString(s)
		u.WriteString(s)
		if i+1 < n {
			name.WriteString("${}")
			u.WriteString(call.Argument(i + 1).String())
		}
	}
	t := &taggedURL{url: u.String(), name: name.String()}
	t.Set("url", mi.rt.ToValue(t.url))
	t.Set("name", mi.rt.ToValue(t.name))
	o := mi.rt.NewDynamicObject(t)
	_ = o.SetPrototype(mi.urlPrototype())
	return o
}

func (mi *Instance) urlPrototype() *sobek.Object {
	if mi.urlProto == nil {
		p := mi.rt.NewObject()
		_ = p.Set("toString", func(call sobek.FunctionCall) sobek.Value {
			if t, ok := exportAs[*taggedURL](call.This); ok {
				return mi.rt.ToValue(t.url)
			}
			return mi.rt.ToValue("")
		})
		mi.urlProto = p
	}
	return mi.urlProto
}

// jsFile is http.file(data, filename?, contentType?).
func (mi *Instance) jsFile(call sobek.FunctionCall) sobek.Value {
	d := call.Argument(0)
	f := &fileData{contentType: "application/octet-stream"}
	if b, ok := bytesOf(mi.rt, d); ok {
		f.data = append([]byte(nil), b...)
	} else if isSet(d) {
		f.data = []byte(d.String())
	} else {
		panic(mi.rt.NewTypeError("http.file needs the file's data (a string or an ArrayBuffer)"))
	}
	if v := call.Argument(1); isSet(v) {
		f.filename = v.String()
	}
	if v := call.Argument(2); isSet(v) {
		f.contentType = v.String()
	}
	f.Set("data", mi.rt.ToValue(mi.rt.NewArrayBuffer(f.data)))
	f.Set("filename", mi.rt.ToValue(f.filename))
	f.Set("content_type", mi.rt.ToValue(f.contentType))
	return mi.rt.NewDynamicObject(f)
}

// jsCookieJar is http.cookieJar(): the VU's jar.
func (mi *Instance) jsCookieJar(sobek.FunctionCall) sobek.Value { return mi.newJarObject(nil) }

// jsNewCookieJar is `new http.CookieJar()`: a jar of its own.
func (mi *Instance) jsNewCookieJar(sobek.ConstructorCall) *sobek.Object {
	return mi.newJarObject(newCookieJar())
}

func (mi *Instance) newJarObject(own *cookieJar) *sobek.Object {
	o := mi.rt.NewDynamicObject(&jsJar{mi: mi, own: own})
	_ = o.SetPrototype(mi.jarPrototype())
	return o
}

func (mi *Instance) jarPrototype() *sobek.Object {
	if mi.jarProto != nil {
		return mi.jarProto
	}
	rt := mi.rt
	this := func(call sobek.FunctionCall, method string) (*cookieJar, *url.URL) {
		j, ok := exportAs[*jsJar](call.This)
		if !ok {
			panic(rt.NewTypeError("CookieJar." + method + "() called on something that is not a cookie jar"))
		}
		raw := call.Argument(0)
		if !isSet(raw) {
			panic(rt.NewTypeError("CookieJar." + method + "() needs a URL"))
		}
		u, err := url.Parse(raw.String())
		if err != nil || u.Host == "" {
			panic(rt.NewTypeError(fmt.Sprintf("CookieJar.%s(): invalid URL %q", method, raw.String())))
		}
		return j.resolve(), u
	}
	p := rt.NewObject()
	_ = p.Set("cookiesForURL", func(call sobek.FunctionCall) sobek.Value {
		jar, u := this(call, "cookiesForURL")
		o := rt.NewObject()
		byName := map[string][]any{}
		var order []string
		for _, c := range jar.cookies(u) {
			if _, ok := byName[c.Name]; !ok {
				order = append(order, c.Name)
			}
			byName[c.Name] = append(byName[c.Name], c.Value)
		}
		for _, n := range order {
			_ = o.Set(n, rt.NewArray(byName[n]...))
		}
		return o
	})
	_ = p.Set("set", func(call sobek.FunctionCall) sobek.Value {
		jar, u := this(call, "set")
		name := call.Argument(1)
		if !isSet(name) || name.String() == "" {
			panic(rt.NewTypeError("CookieJar.set() needs a cookie name"))
		}
		c := &http.Cookie{Name: name.String()}
		if v := call.Argument(2); isSet(v) {
			c.Value = v.String()
		}
		if o, ok := call.Argument(3).(*sobek.Object); ok {
			if err := cookieOptions(rt, c, o); err != nil {
				panic(rt.NewTypeError("CookieJar.set(): " + err.Error()))
			}
		}
		jar.setCookies(u, []*http.Cookie{c})
		return sobek.Undefined()
	})
	_ = p.Set("clear", func(call sobek.FunctionCall) sobek.Value {
		jar, u := this(call, "clear")
		jar.clear(u)
		return sobek.Undefined()
	})
	_ = p.Set("delete", func(call sobek.FunctionCall) sobek.Value {
		jar, u := this(call, "delete")
		name := call.Argument(1)
		if !isSet(name) {
			panic(rt.NewTypeError("CookieJar.delete() needs a cookie name"))
		}
		jar.delete(u, name.String())
		return sobek.Undefined()
	})
	mi.jarProto = p
	return p
}

// cookieOptions applies the options of CookieJar.set(): domain, path,
// expires (a date string, a Date or epoch milliseconds), max_age, secure,
// http_only.
func cookieOptions(rt *sobek.Runtime, c *http.Cookie, o *sobek.Object) error {
	if v := o.Get("domain"); isSet(v) {
		c.Domain = v.String()
	}
	if v := o.Get("path"); isSet(v) {
		c.Path = v.String()
	}
	if v := o.Get("max_age"); isSet(v) {
		c.MaxAge = int(v.ToInteger())
	}
	if v := o.Get("secure"); isSet(v) {
		c.Secure = v.ToBoolean()
	}
	if v := o.Get("http_only"); isSet(v) {
		c.HttpOnly = v.ToBoolean()
	}
	if v := o.Get("expires"); isSet(v) {
		switch x := v.Export().(type) {
		case time.Time:
			c.Expires = x
		case int64:
			c.Expires = time.UnixMilli(x)
		case float64:
			c.Expires = time.UnixMilli(int64(x))
		default:
			t, err := http.ParseTime(v.String())
			if err != nil {
				if t, err = time.Parse(time.RFC3339, v.String()); err != nil {
					return fmt.Errorf("invalid expires %q: use a date string, a Date or epoch milliseconds", v.String())
				}
			}
			c.Expires = t
		}
	}
	_ = rt
	return nil
}
