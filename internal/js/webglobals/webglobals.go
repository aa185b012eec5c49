// Package webglobals defines the Web-platform globals k6 scripts use without
// an import: crypto (randomUUID, getRandomValues, subtle.digest), TextEncoder
// and TextDecoder (UTF-8).
package webglobals

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strings"
	"unicode/utf8"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/js/jsbuf"
)

// Names are the globals this package defines.
var Names = []string{"crypto", "TextEncoder", "TextDecoder"}

// New returns a new value of the global name (one of Names) for rt, or nil
// for another name. Each call makes a new object: callers that define the
// globals lazily call it once per runtime, when the script first reads name.
func New(rt *sobek.Runtime, name string) sobek.Value {
	switch name {
	case "crypto":
		return newCrypto(rt)
	case "TextEncoder":
		return rt.ToValue(textEncoder(rt))
	case "TextDecoder":
		return rt.ToValue(textDecoder(rt))
	}
	return nil
}

// Install defines every one of Names on rt's global object now.
func Install(rt *sobek.Runtime) error {
	for _, name := range Names {
		if err := rt.Set(name, New(rt, name)); err != nil {
			return err
		}
	}
	return nil
}

// domError returns an Error object named like the DOMException the Web
// platform throws.
func domError(rt *sobek.Runtime, name, msg string) *sobek.Object {
	ctor, _ := sobek.AssertConstructor(rt.Get("Error"))
	e, err := ctor(nil, rt.ToValue(msg))
	if err != nil {
		return rt.NewGoError(fmt.Errorf("%s: %s", name, msg))
	}
	_ = e.Set("name", name)
	return e
}

func newCrypto(rt *sobek.Runtime) *sobek.Object {
	c := rt.NewObject()
	_ = c.Set("randomUUID", func(sobek.FunctionCall) sobek.Value { return rt.ToValue(randomUUID()) })
	_ = c.Set("getRandomValues", func(call sobek.FunctionCall) sobek.Value { return getRandomValues(rt, call.Argument(0)) })
	_ = c.Set("subtle", newSubtle(rt))
	return c
}

// randomUUID returns a random (version 4) UUID in its canonical form.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var integerArrays = map[string]bool{
	"Int8Array": true, "Uint8Array": true, "Uint8ClampedArray": true, "Int16Array": true,
	"Uint16Array": true, "Int32Array": true, "Uint32Array": true, "BigInt64Array": true, "BigUint64Array": true,
}

// getRandomValues fills an integer typed array in place and returns it.
func getRandomValues(rt *sobek.Runtime, v sobek.Value) sobek.Value {
	o, ok := v.(*sobek.Object)
	name := ""
	if ok {
		if ctor, isObj := o.Get("constructor").(*sobek.Object); isObj && ctor.Get("name") != nil {
			name = ctor.Get("name").String()
		}
	}
	b, isBin := jsbuf.View(v)
	if !ok || !isBin || !integerArrays[name] {
		panic(domError(rt, "TypeMismatchError", "crypto.getRandomValues needs an integer typed array, e.g. new Uint8Array(16)"))
	}
	if len(b) > 65536 {
		panic(domError(rt, "QuotaExceededError", fmt.Sprintf("crypto.getRandomValues fills at most 65536 bytes, this array has %d", len(b))))
	}
	_, _ = rand.Read(b)
	return v
}

// newSubtle returns crypto.subtle: digest works; the key operations reject
// with NotSupportedError naming the method.
func newSubtle(rt *sobek.Runtime) *sobek.Object {
	s := rt.NewObject()
	_ = s.Set("digest", func(call sobek.FunctionCall) sobek.Value {
		p, resolve, reject := rt.NewPromise()
		algo := call.Argument(0)
		if o, ok := algo.(*sobek.Object); ok && o.Get("name") != nil {
			algo = o.Get("name")
		}
		var h hash.Hash
		switch strings.ToUpper(algo.String()) {
		case "SHA-1":
			h = sha1.New()
		case "SHA-256":
			h = sha256.New()
		case "SHA-384":
			h = sha512.New384()
		case "SHA-512":
			h = sha512.New()
		default:
			_ = reject(domError(rt, "NotSupportedError", fmt.Sprintf("crypto.subtle.digest: unsupported algorithm %q: use SHA-1, SHA-256, SHA-384 or SHA-512", algo.String())))
			return rt.ToValue(p)
		}
		data, ok := jsbuf.View(call.Argument(1))
		if !ok {
			_ = reject(rt.NewTypeError("crypto.subtle.digest needs the data as an ArrayBuffer or typed array"))
			return rt.ToValue(p)
		}
		h.Write(data)
		_ = resolve(jsbuf.NewArrayBuffer(rt, h.Sum(nil)))
		return rt.ToValue(p)
	})
	for _, m := range []string{"encrypt", "decrypt", "sign", "verify", "generateKey", "deriveKey", "deriveBits",
		"importKey", "exportKey", "wrapKey", "unwrapKey"} {
		_ = s.Set(m, func(sobek.FunctionCall) sobek.Value {
			p, _, reject := rt.NewPromise()
			_ = reject(domError(rt, "NotSupportedError", "crypto.subtle."+m+" is not supported by tally (only crypto.subtle.digest is); "+
				"for HMAC signatures use hmac() or createHMAC() from 'k6/crypto'"))
			return rt.ToValue(p)
		})
	}
	return s
}

// utf8Labels are the WHATWG labels of the UTF-8 encoding.
var utf8Labels = map[string]bool{"utf-8": true, "utf8": true, "unicode-1-1-utf-8": true,
	"unicode11utf8": true, "unicode20utf8": true, "x-unicode20utf8": true}

func newUint8Array(rt *sobek.Runtime, b []byte) sobek.Value {
	ctor, _ := sobek.AssertConstructor(rt.Get("Uint8Array"))
	o, err := ctor(nil, rt.ToValue(rt.NewArrayBuffer(b)))
	if err != nil {
		panic(err)
	}
	return o
}

// textEncoder is the TextEncoder constructor: encode(string) returns the
// UTF-8 bytes as a Uint8Array; encodeInto(string, Uint8Array) writes them.
func textEncoder(rt *sobek.Runtime) func(sobek.ConstructorCall) *sobek.Object {
	return func(call sobek.ConstructorCall) *sobek.Object {
		this := call.This
		_ = this.DefineDataProperty("encoding", rt.ToValue("utf-8"), sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
		_ = this.Set("encode", func(c sobek.FunctionCall) sobek.Value {
			s := ""
			if a := c.Argument(0); !sobek.IsUndefined(a) {
				s = a.String()
			}
			return newUint8Array(rt, []byte(s))
		})
		_ = this.Set("encodeInto", func(c sobek.FunctionCall) sobek.Value {
			s := c.Argument(0).String()
			dst, ok := jsbuf.View(c.Argument(1))
			if !ok {
				panic(rt.NewTypeError("TextEncoder.encodeInto needs a Uint8Array as its second argument"))
			}
			read, written := 0, 0
			for _, r := range s {
				n := utf8.RuneLen(r)
				if n < 0 {
					r, n = utf8.RuneError, 3
				}
				if written+n > len(dst) {
					break
				}
				utf8.EncodeRune(dst[written:], r)
				written += n
				read++
				if r > 0xFFFF {
					read++ // two UTF-16 code units
				}
			}
			res := rt.NewObject()
			_ = res.Set("read", read)
			_ = res.Set("written", written)
			return res
		})
		return nil
	}
}

// textDecoder is the TextDecoder constructor (UTF-8 only): decode(bytes,
// {stream}) returns a string, replacing invalid bytes with U+FFFD unless
// {fatal: true}, which throws; a leading BOM is dropped unless ignoreBOM.
func textDecoder(rt *sobek.Runtime) func(sobek.ConstructorCall) *sobek.Object {
	return func(call sobek.ConstructorCall) *sobek.Object {
		label := "utf-8"
		if a := call.Argument(0); !sobek.IsUndefined(a) {
			label = strings.ToLower(strings.TrimSpace(a.String()))
		}
		if !utf8Labels[label] {
			panic(domError(rt, "RangeError", fmt.Sprintf("TextDecoder: unsupported encoding %q: tally decodes UTF-8 only", label)))
		}
		var fatal, ignoreBOM bool
		if o, ok := call.Argument(1).(*sobek.Object); ok {
			fatal = o.Get("fatal") != nil && o.Get("fatal").ToBoolean()
			ignoreBOM = o.Get("ignoreBOM") != nil && o.Get("ignoreBOM").ToBoolean()
		}
		this := call.This
		ro := func(name string, v any) {
			_ = this.DefineDataProperty(name, rt.ToValue(v), sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
		}
		ro("encoding", "utf-8")
		ro("fatal", fatal)
		ro("ignoreBOM", ignoreBOM)
		var pending []byte // an incomplete sequence kept by {stream: true}
		bomSeen := false
		_ = this.Set("decode", func(c sobek.FunctionCall) sobek.Value {
			in := c.Argument(0)
			var data []byte
			if !sobek.IsUndefined(in) {
				b, ok := jsbuf.View(in)
				if !ok {
					panic(rt.NewTypeError("TextDecoder.decode needs an ArrayBuffer, a typed array or a DataView"))
				}
				data = b
			}
			stream := false
			if o, ok := c.Argument(1).(*sobek.Object); ok && o.Get("stream") != nil {
				stream = o.Get("stream").ToBoolean()
			}
			buf := append(append([]byte(nil), pending...), data...)
			pending = nil
			if stream {
				cut := len(buf)
				for i := len(buf) - 1; i >= 0 && i >= len(buf)-3; i-- {
					if utf8.RuneStart(buf[i]) {
						if !utf8.FullRune(buf[i:]) {
							cut = i
						}
						break
					}
				}
				pending = append(pending, buf[cut:]...)
				buf = buf[:cut]
			}
			if !ignoreBOM && !bomSeen && len(buf) >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF {
				buf = buf[3:]
			}
			if len(buf) > 0 {
				bomSeen = stream
			}
			if !stream {
				bomSeen = false
			}
			if utf8.Valid(buf) {
				return rt.ToValue(string(buf))
			}
			if fatal {
				panic(rt.NewTypeError("TextDecoder: the data is not valid UTF-8"))
			}
			var sb strings.Builder
			for len(buf) > 0 {
				r, n := utf8.DecodeRune(buf)
				sb.WriteRune(r) // RuneError for an invalid byte is U+FFFD
				buf = buf[n:]
			}
			return rt.ToValue(sb.String())
		})
		return nil
	}
}
