package k6http

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
)

// h1Response is a parsed HTTP/1.1 response head.
type h1Response struct {
	status     int
	statusText string // "200 OK"
	proto      string // "HTTP/1.1"
	header     http.Header
	close      bool // the connection cannot be reused after this response

	// Body framing.
	noBody        bool
	chunked       bool
	contentLength int64 // -1: until the connection closes
}

// errFallback means the head needs net/http's parser: it was left unread.
var errFallback = errors.New("response head needs the general parser")

// headSep ends a response head. Heads larger than the bufio.Reader's
// buffer go through net/http's parser.
const headSep = "\r\n\r\n"

// readHead parses a response head from br without consuming anything when
// it returns errFallback. The head is copied into one string that all
// header keys and values point into, so a typical response costs three
// allocations (that string, the header map, the values slice). Anything
// unusual (obsolete line folding, a head larger than br's buffer, bare LF
// line ends, an unknown transfer coding, a bad Content-Length) returns
// errFallback.
func readHead(br *bufio.Reader, method string) (*h1Response, error) {
	n := br.Buffered()
	if n == 0 {
		n = 1
	}
	var buf []byte
	end := -1
	for {
		b, err := br.Peek(n)
		if err != nil && len(b) == 0 {
			return nil, err
		}
		buf = b
		if end = bytes.Index(buf, []byte(headSep)); end >= 0 {
			break
		}
		if bytes.Contains(buf, []byte("\n\n")) {
			return nil, errFallback // bare LF line ends
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, errFallback
			}
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		// Ask for one more byte than we have: Peek reads what is available.
		n = len(buf) + 1
		if n > br.Size() {
			return nil, errFallback
		}
	}
	head := string(buf[:end+2]) // keeps the CRLF of the last header line
	r, ok := parseHead(head, method)
	if !ok {
		return nil, errFallback
	}
	_, _ = br.Discard(end + len(headSep))
	return r, nil
}

// parseHead parses the status line and headers of head (lines ending in
// CRLF). ok is false for anything that needs the general parser.
func parseHead(head, method string) (*h1Response, bool) {
	line, rest, ok := strings.Cut(head, "\r\n")
	if !ok {
		return nil, false
	}
	r, ok := parseStatusLine(line)
	if !ok {
		return nil, false
	}
	f, ok := r.parseHeaders(rest)
	if !ok {
		return nil, false
	}
	return r, r.frame(method, f)
}

// parseStatusLine parses "HTTP/1.x NNN reason".
func parseStatusLine(line string) (*h1Response, bool) {
	if strings.IndexByte(line, '\n') >= 0 {
		return nil, false
	}
	proto, status, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(proto) != 8 {
		return nil, false
	}
	status = strings.TrimLeft(status, " ")
	if len(status) < 3 {
		return nil, false
	}
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 100 || code > 999 || (len(status) > 3 && status[3] != ' ') {
		return nil, false
	}
	return &h1Response{status: code, statusText: status, proto: protoString(proto), contentLength: -1}, true
}

// protoString returns proto ("HTTP/1.x") as a string of its own: proto is a
// slice of the response's whole head, and the proto tag of the run's table
// of tag sets (tagSets) outlives the response, so the table would keep
// response heads, ~0.1 KiB each, for the sake of eight bytes.
func protoString(proto string) string {
	switch proto {
	case "HTTP/1.1":
		return "HTTP/1.1"
	case "HTTP/1.0":
		return "HTTP/1.0"
	}
	return strings.Clone(proto)
}

// framing holds the header values that decide how a body is framed and
// whether the connection stays open.
type framing struct {
	te, cl, connection string
}

// parseHeaders reads the header lines of rest (each ending in CRLF) into
// r.header and returns the framing headers.
func (r *h1Response) parseHeaders(rest string) (framing, bool) {
	var f framing
	lines := strings.Count(rest, "\r\n")
	r.header = make(http.Header, lines)
	values := make([]string, 0, lines)
	for rest != "" {
		var l string
		l, rest, _ = strings.Cut(rest, "\r\n")
		if l == "" || l[0] == ' ' || l[0] == '\t' || strings.IndexByte(l, '\n') >= 0 || strings.IndexByte(l, '\r') >= 0 {
			return f, false // obsolete line folding or stray line ends
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || !validToken(k) {
			return f, false
		}
		v = strings.Trim(v, " \t")
		k = textproto.CanonicalMIMEHeaderKey(k) // no allocation when already canonical
		if vs, dup := r.header[k]; dup {
			r.header[k] = append(vs[:len(vs):len(vs)], v)
		} else {
			values = append(values, v)
			r.header[k] = values[len(values)-1 : len(values) : len(values)]
		}
		switch k {
		case "Transfer-Encoding":
			if f.te != "" {
				return f, false
			}
			f.te = v
		case "Content-Length":
			if f.cl != "" && f.cl != v {
				return f, false
			}
			f.cl = v
		case "Connection":
			f.connection += "," + v
		}
	}
	return f, true
}

// frame sets how r's body is framed and whether the connection closes
// after it, from the framing headers f and the request's method.
func (r *h1Response) frame(method string, f framing) bool {
	// As net/http: a "close" token closes the connection and removes the
	// Connection header; HTTP/1.0 closes unless asked to keep alive.
	if hasToken(f.connection, "close") {
		r.close = true
		r.header.Del("Connection")
	} else if r.proto == "HTTP/1.0" {
		r.close = !hasToken(f.connection, "keep-alive")
	}
	code := r.status
	switch {
	case method == http.MethodHead || code/100 == 1 || code == http.StatusNoContent || code == http.StatusNotModified:
		r.noBody = true
	case f.te != "":
		if !strings.EqualFold(f.te, "chunked") {
			return false
		}
		r.chunked = true
		r.header.Del("Content-Length")
		r.header.Del("Transfer-Encoding")
	case f.cl != "":
		n, err := strconv.ParseInt(f.cl, 10, 64)
		if err != nil || n < 0 {
			return false
		}
		r.contentLength = n
	default:
		r.close = true // the body ends when the server closes the connection
	}
	return true
}

// hasToken reports whether the comma-separated list s holds tok
// (case-insensitive).
func hasToken(s, tok string) bool {
	for s != "" {
		var t string
		t, s, _ = strings.Cut(s, ",")
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// readH1Body reads the body framed by r from br. keep=false discards it.
func readH1Body(br *bufio.Reader, r *h1Response, keep bool) ([]byte, error) {
	switch {
	case r.noBody:
		if keep {
			return []byte{}, nil
		}
		return nil, nil
	case r.chunked:
		cr := httputil.NewChunkedReader(br)
		var b []byte
		var err error
		if keep {
			b, err = io.ReadAll(cr)
		} else {
			_, err = io.Copy(io.Discard, cr)
		}
		if err != nil {
			return nil, err
		}
		// Trailer fields, up to the empty line, are read and dropped.
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return nil, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				return b, nil
			}
		}
	case r.contentLength >= 0:
		if !keep {
			_, err := br.Discard(int(r.contentLength))
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if r.contentLength > 64<<20 {
			return io.ReadAll(io.LimitReader(br, r.contentLength))
		}
		b := make([]byte, r.contentLength)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		return b, nil
	default:
		if keep {
			return io.ReadAll(br)
		}
		_, err := io.Copy(io.Discard, br)
		return nil, err
	}
}
