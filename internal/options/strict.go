package options

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SyntaxError is a config file that is not exactly one JSON object: a JSON
// syntax error, trailing data, another kind of value, or a key given
// twice. Line and Column (1-based, in bytes) say where.
type SyntaxError struct {
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// position converts a byte offset of data to a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// decodeObject decodes data as exactly one JSON object: nothing before or
// after it but white space, and no top-level key twice. Errors are
// *SyntaxError.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	fail := func(off int64, format string, args ...any) error {
		l, c := position(data, off)
		return &SyntaxError{Line: l, Column: c, Msg: fmt.Sprintf(format, args...)}
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg := se.Error()
			switch {
			case msg == "unexpected end of JSON input":
				msg += " (the file is truncated: a value, ] or } is missing at the end)"
			case strings.HasPrefix(msg, "invalid character") && isTrailing(data, se.Offset):
				msg = "unexpected data after the JSON object (a config file holds exactly one object)"
			}
			// Offset counts the bytes read, including the offending one.
			return nil, fail(max(se.Offset-1, 0), "%s", msg)
		}
		return nil, fail(0, "not valid JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fail(dec.InputOffset(), "%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		start := len(data) - len(bytes.TrimLeft(data, " \t\r\n"))
		return nil, fail(int64(start), "options must be a JSON object such as {\"vus\": 10}, got %s", kindOf(tok))
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		keyOff := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fail(dec.InputOffset(), "%v", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fail(dec.InputOffset(), "%v", err)
		}
		if _, dup := out[key]; dup {
			return nil, fail(keyOff+int64(skipSpaceAndComma(data[keyOff:])), "option %q is given twice; keep one", key)
		}
		out[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(dec.InputOffset(), "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail(dec.InputOffset(), "unexpected data after the JSON object (a config file holds exactly one object)")
	}
	return out, nil
}

// isTrailing reports whether the syntax error at off (1-based) follows a
// complete JSON value.
func isTrailing(data []byte, off int64) bool {
	if off < 1 || off > int64(len(data)) {
		return false
	}
	return json.Valid(bytes.TrimSpace(data[:off-1]))
}

func skipSpaceAndComma(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r', ',':
		default:
			return i
		}
	}
	return len(b)
}

func kindOf(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}
