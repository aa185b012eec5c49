package k6http

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// TestReadHeadMatchesNetHTTP parses raw responses with readHead/readH1Body
// and with net/http's ReadResponse and compares what scripts can see.
func TestReadHeadMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, raw string
		fallback          bool // readHead must leave it to net/http
	}{
		{"content length", "GET", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", false},
		{"no headers", "GET", "HTTP/1.1 204 No Content\r\n\r\n", false},
		{"no reason phrase", "GET", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", false},
		{"non-canonical keys, spaces", "GET", "HTTP/1.1 404 Not Found\r\ncontent-length:  3 \r\nx-TRACE-id:\tabc\r\n\r\nnop", false},
		{"repeated header", "GET", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n", false},
		{"chunked with trailer", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n", false},
		{"chunked and length", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n1\r\nz\r\n0\r\n\r\n", false},
		{"close delimited", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof", false},
		{"no length, keep-alive asked", "GET", "HTTP/1.1 200 OK\r\n\r\nuntil eof", false},
		{"http/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"http/1.0 keep-alive", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false},
		{"connection close token", "GET", "HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 2\r\n\r\nok", false},
		{"head with length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", false},
		{"not modified", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false},
		{"redirect", "GET", "HTTP/1.1 302 Found\r\nLocation: /get\r\nContent-Length: 0\r\n\r\n", false},
		{"obsolete folding", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n", true},
		{"unknown transfer coding", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", true},
		{"bad content length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", true},
		{"conflicting content lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", true},
		{"bare LF", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", true},
		{"huge head", "GET", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 0\r\n\r\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var req *http.Request
			if tc.method == "HEAD" {
				req = &http.Request{Method: "HEAD"}
			}
			want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.raw)), req)
			var wantBody []byte
			if err == nil {
				wantBody, err = io.ReadAll(want.Body)
			}
			wantErr := err

			br := bufio.NewReaderSize(strings.NewReader(tc.raw), 4096)
			r, err := readHead(br, tc.method)
			if tc.fallback {
				if !errors.Is(err, errFallback) {
					t.Fatalf("readHead = %v, want errFallback", err)
				}
				// Nothing was consumed: net/http reads it from br as it would
				// have from the start.
				if _, err := http.ReadResponse(br, req); (err == nil) != (wantErr == nil) {
					t.Fatalf("after fallback: %v, direct: %v", err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readHead: %v", err)
			}
			if wantErr != nil {
				t.Fatalf("net/http failed (%v) where readHead did not", wantErr)
			}
			body, err := readH1Body(br, r, true)
			if err != nil {
				t.Fatalf("readH1Body: %v", err)
			}
			if r.status != want.StatusCode || r.statusText != want.Status || r.proto != want.Proto {
				t.Errorf("status line = %d %q %q, want %d %q %q", r.status, r.statusText, r.proto, want.StatusCode, want.Status, want.Proto)
			}
			if !reflect.DeepEqual(r.header, want.Header) {
				t.Errorf("header = %v, want %v", r.header, want.Header)
			}
			if string(body) != string(wantBody) {
				t.Errorf("body = %q, want %q", body, wantBody)
			}
			if r.close != want.Close {
				t.Errorf("close = %v, want %v", r.close, want.Close)
			}
		})
	}
}

// TestReadHeadPipelined checks that a response head arriving in pieces and
// followed by the next response is split correctly.
func TestReadHeadPipelined(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	go func() {
		for _, part := range []string{"HTTP/1.1 200 OK\r\nContent-", "Length: 3\r", "\n\r\nabcHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nz"} {
			_, _ = pw.Write([]byte(part))
		}
		_ = pw.Close()
	}()
	br := bufio.NewReader(pr)
	for _, want := range []struct {
		status int
		body   string
	}{{200, "abc"}, {201, "z"}} {
		r, err := readHead(br, "GET")
		if err != nil {
			t.Fatal(err)
		}
		b, err := readH1Body(br, r, true)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != want.status || string(b) != want.body {
			t.Fatalf("got %d %q, want %d %q", r.status, b, want.status, want.body)
		}
	}
}

// TestProtoOwnsItsBytes checks that a parsed response's proto does not
// point into its head: cached tag sets keep the proto after the response is
// gone, and must not keep the head with it.
func TestProtoOwnsItsBytes(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0", "HTTP/1.2"} {
		head := proto + " 200 OK\r\nContent-Length: 0\r\nX-Padding: " + strings.Repeat("x", 200) + "\r\n"
		r, ok := parseHead(head, http.MethodGet)
		if !ok {
			t.Fatalf("%s: not parsed", proto)
		}
		if r.proto != proto {
			t.Errorf("proto = %q, want %q", r.proto, proto)
		}
		start := uintptr(unsafe.Pointer(unsafe.StringData(head)))
		if p := uintptr(unsafe.Pointer(unsafe.StringData(r.proto))); p >= start && p < start+uintptr(len(head)) {
			t.Errorf("%s: proto points into the response head", proto)
		}
	}
}

// TestHeadFallback: the answer to a HEAD request that readHead leaves to
// net/http (an obsolete folded header) is parsed as one, without a body
// although it has a Content-Length, on both transports, twice on one
// kept-alive connection (h1 passes the process's shared headRequest).
func TestHeadFallback(t *testing.T) {
	forTransports(t, func(t *testing.T, std bool) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for range 2 {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 1234\r\n\r\n")
			}
		}()
		v := newVU(t, withStd(std))
		_ = v.rt.Set("URL", "http://"+ln.Addr().String()+"/")
		got := v.run(`const a = http.head(URL, {timeout: "5s"}), b = http.head(URL, {timeout: "5s"});
			[a.status, a.body, a.headers["Content-Length"], b.status, b.error].join(",")`).String()
		if want := "200,,1234,200,"; got != want {
			t.Errorf("HEAD answers: %q, want %q", got, want)
		}
	})
}
