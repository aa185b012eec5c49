// Package jsbuf converts between JS binary values (ArrayBuffer, typed arrays,
// DataView) and Go byte slices, for the modules that take "a string or an
// ArrayBuffer" as input.
package jsbuf

import (
	"github.com/grafana/sobek"
)

// View returns the bytes a JS ArrayBuffer, typed array or DataView refers
// to. The slice shares memory with the JS value: writing to it changes what
// the script sees. ok is false for any other value.
func View(v sobek.Value) (b []byte, ok bool) {
	o, isObj := v.(*sobek.Object)
	if !isObj {
		return nil, false
	}
	if ab, isAB := o.Export().(sobek.ArrayBuffer); isAB {
		return ab.Bytes(), true
	}
	if o.ClassName() == "Array" {
		return nil, false
	}
	buf := o.Get("buffer")
	if buf == nil {
		return nil, false
	}
	bo, isObj := buf.(*sobek.Object)
	if !isObj {
		return nil, false
	}
	ab, isAB := bo.Export().(sobek.ArrayBuffer)
	if !isAB {
		return nil, false
	}
	all := ab.Bytes()
	off, n := o.Get("byteOffset"), o.Get("byteLength")
	if off == nil || n == nil {
		return nil, false
	}
	start, length := off.ToInteger(), n.ToInteger()
	if start < 0 || length < 0 || start+length > int64(len(all)) {
		return nil, false
	}
	return all[start : start+length], true
}

// Input returns the bytes of a value a module accepts as data: the UTF-8
// encoding of a string (or of any non-binary value's string form), or the
// bytes of an ArrayBuffer, typed array or DataView (copied).
func Input(v sobek.Value) []byte {
	if b, ok := View(v); ok {
		return append([]byte(nil), b...)
	}
	if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
		return nil
	}
	return []byte(v.String())
}

// IsBinary reports whether v is an ArrayBuffer, typed array or DataView.
func IsBinary(v sobek.Value) bool {
	_, ok := View(v)
	return ok
}

// NewArrayBuffer returns a JS ArrayBuffer holding a copy of b.
func NewArrayBuffer(rt *sobek.Runtime, b []byte) sobek.Value {
	return rt.ToValue(rt.NewArrayBuffer(append([]byte(nil), b...)))
}
