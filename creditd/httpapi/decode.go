package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tallyhq/tally/creditd"
)

// object is a decoded JSON request body: one object, fields kept raw until a handler reads them.
type object map[string]json.RawMessage

// readObject reads the request body as exactly one JSON object (nothing before or after it), sent as
// Content-Type: application/json, in valid UTF-8.
func readObject(r *http.Request) (object, error) {
	if err := checkContentType(r.Header); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, creditd.Errorf(creditd.ETOOLARGE, "request body is over the %d-byte limit", tooLarge.Limit)
	} else if err != nil {
		return nil, creditd.Errorf(creditd.EINVALID, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, creditd.Errorf(creditd.EINVALID, "request body is empty; send a JSON object")
	}
	if err := checkUTF8(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj object
	if err := dec.Decode(&obj); err != nil {
		return nil, creditd.Errorf(creditd.EINVALID, "request body is not a JSON object: %s", jsonError(err))
	}
	if obj == nil {
		return nil, creditd.Errorf(creditd.EINVALID, "request body is null; send a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, creditd.Errorf(creditd.EINVALID, "request body has data after its JSON object (at byte %d)", dec.InputOffset())
	}
	return obj, nil
}

// checkContentType accepts a body only with one Content-Type header of application/json, optionally with
// charset=utf-8 (any case); anything else is EMEDIATYPE (415).
func checkContentType(h http.Header) error {
	const want = "send the body as JSON with the header Content-Type: application/json"
	values := h.Values("Content-Type")
	switch len(values) {
	case 0:
		return creditd.Errorf(creditd.EMEDIATYPE, "missing Content-Type header; %s", want)
	case 1:
	default:
		return creditd.Errorf(creditd.EMEDIATYPE, "%d Content-Type headers; %s", len(values), want)
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil || mt != "application/json" {
		return creditd.Errorf(creditd.EMEDIATYPE, "Content-Type %.100q is not supported; %s", values[0], want)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return creditd.Errorf(creditd.EMEDIATYPE, "Content-Type %.100q: parameter %s=%.40s is not supported (JSON is UTF-8; charset=utf-8 is the only parameter accepted)", values[0], k, v)
		}
	}
	return nil
}

// checkUTF8 refuses a body that is not valid UTF-8, or whose strings hold a \u escape of a lone UTF-16
// surrogate: encoding/json would store either as U+FFFD, i.e. not what the client sent.
func checkUTF8(data []byte) error {
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c < utf8.RuneSelf && c != '\\':
			i++
		case c == '\\':
			if i+1 < len(data) && data[i+1] == 'u' {
				r1, ok1 := hex4(data, i+2)
				if ok1 && utf16.IsSurrogate(r1) {
					r2, ok2 := rune(0), false
					if r1 < 0xdc00 && i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
						r2, ok2 = hex4(data, i+8)
					}
					if !ok2 || utf16.DecodeRune(r1, r2) == utf8.RuneError {
						return creditd.Errorf(creditd.EENCODING, "request body has a lone UTF-16 surrogate \\u%04x at byte %d; escape characters outside the BMP as a surrogate pair", r1, i)
					}
					i += 12
					continue
				}
			}
			i += 2 // an escape pair; a bad one is the JSON decoder's to report
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return creditd.Errorf(creditd.EENCODING, "request body is not valid UTF-8 (byte 0x%02x at offset %d); send JSON text in UTF-8", c, i)
			}
			i += size
		}
	}
	return nil
}

// hex4 reads the 4 hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[i:i+4]), 16, 32)
	return rune(n), err == nil
}

// idempotencyKey returns the request's Idempotency-Key ("" when the header is absent). An empty header
// or more than one is refused: either would otherwise silently mean "no key" or "the first key".
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", creditd.Errorf(creditd.EINVALID, "%d Idempotency-Key headers; send at most one", len(values))
	case values[0] == "":
		return "", creditd.Errorf(creditd.EINVALID, "empty Idempotency-Key header; send 1 to %d visible ASCII characters, or no header for a request without a key", creditd.MaxKeyLength)
	}
	return values[0], nil
}

func jsonError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("found a JSON %s", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends too early"
	}
	return err.Error()
}

// kind names a raw JSON value's type for error messages.
func kind(raw json.RawMessage) string {
	switch b := bytes.TrimSpace(raw); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "a string"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	case b[0] == 'n':
		return "null"
	}
	return "a number"
}

// body reads a request's JSON object field by field. The first error
// sticks: later reads return zero values, so a handler reads every field
// and checks err once; the error is the first problem in reading order.
type body struct {
	obj object
	err error
}

// readBody reads the request body (readObject); a bad body is body.err.
func readBody(r *http.Request) *body {
	obj, err := readObject(r)
	return &body{obj: obj, err: err}
}

// str reads a required string field.
func (b *body) str(name string) string {
	if b.err != nil {
		return ""
	}
	s, err := b.obj.str(name)
	b.err = err
	return s
}

// integer reads a whole-number field (object.integer); present is false
// when an optional field is absent or after an error.
func (b *body) integer(name string, required bool, code string) (n int64, present bool) {
	if b.err != nil {
		return 0, false
	}
	n, present, b.err = b.obj.integer(name, required, code)
	return n, present
}

// metadata reads the optional "metadata" object in canonical form.
func (b *body) metadata() string {
	if b.err != nil {
		return ""
	}
	m, err := b.obj.metadata()
	b.err = err
	return m
}

// str reads a required string field.
func (o object) str(name string) (string, error) {
	raw, ok := o[name]
	if !ok {
		return "", creditd.Errorf(creditd.EINVALID, "missing field %q (a string)", name)
	}
	var s string
	if kind(raw) != "a string" || json.Unmarshal(raw, &s) != nil {
		return "", creditd.Errorf(creditd.EINVALID, "field %q must be a string, got %s", name, kind(raw))
	}
	return s, nil
}

var wholeNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// integer reads a whole-number field; required says whether it may be absent (then 0, false).
// A number that is not whole, or too large for int64, is reported with code.
func (o object) integer(name string, required bool, code string) (int64, bool, error) {
	raw, ok := o[name]
	if !ok || (!required && kind(raw) == "null") {
		if required {
			return 0, false, creditd.Errorf(creditd.EINVALID, "missing field %q (a whole number)", name)
		}
		return 0, false, nil
	}
	if kind(raw) != "a number" {
		return 0, false, creditd.Errorf(creditd.EINVALID, "field %q must be a whole number, got %s", name, kind(raw))
	}
	text := string(bytes.TrimSpace(raw))
	if !wholeNumber.MatchString(text) {
		return 0, false, creditd.Errorf(code, "field %q must be a whole number, got %.40s", name, text)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, false, creditd.Errorf(code, "field %q is out of range: %.40s", name, text)
	}
	return n, true, nil
}

// metadata reads the optional "metadata" object and returns it in canonical form (keys sorted), so
// that equal metadata fingerprints equally however it was spelled.
func (o object) metadata() (string, error) {
	raw, ok := o["metadata"]
	if !ok || kind(raw) == "null" {
		return "null", nil
	}
	if kind(raw) != "an object" {
		return "", creditd.Errorf(creditd.EINVALID, "field \"metadata\" must be an object, got %s", kind(raw))
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", creditd.Errorf(creditd.EINVALID, "field \"metadata\": %s", jsonError(err))
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return "", creditd.Errorf(creditd.EINVALID, "field \"metadata\": %v", err)
	}
	return string(canon), nil
}
