package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"

	"github.com/tallyhq/tally/creditd"
)

// object is a decoded JSON request body: one object, fields kept raw until a handler reads them.
type object map[string]json.RawMessage

// readObject reads the request body as exactly one JSON object (nothing before or after it).
func readObject(r *http.Request) (object, error) {
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
