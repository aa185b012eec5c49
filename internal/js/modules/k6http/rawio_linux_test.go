//go:build linux

package k6http

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// connPair dials a loopback listener and returns the client side (wrapped
// by wrap) and the server side.
func connPair(t testing.TB, wrap func(net.Conn) net.Conn) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return wrap(c), s
}

// errShape is what callers of a connection look at in an error: its text
// (without the ports), the net.OpError's op, and the errors it wraps.
func errShape(c net.Conn, err error) string {
	if err == nil {
		return "<nil>"
	}
	msg := strings.NewReplacer(c.LocalAddr().String(), "LOCAL", c.RemoteAddr().String(), "REMOTE").Replace(err.Error())
	var oe *net.OpError
	op := ""
	if errors.As(err, &oe) {
		op = oe.Op + "/" + oe.Net
	}
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	return strings.Join([]string{msg, op,
		boolStr("EOF", errors.Is(err, io.EOF)), boolStr("closed", errors.Is(err, net.ErrClosed)),
		boolStr("deadline", errors.Is(err, os.ErrDeadlineExceeded)), boolStr("timeout", timeout),
		boolStr("reset", errors.Is(err, syscall.ECONNRESET)), boolStr("pipe", errors.Is(err, syscall.EPIPE))}, " ")
}

func boolStr(name string, b bool) string {
	if b {
		return name
	}
	return "-"
}

// TestRawConnLikeTCPConn: a rawConn reads, writes and fails as the
// *net.TCPConn it wraps: data both ways, a write larger than the socket
// buffers (the wait for the socket to be writable), the end of the stream,
// a passed deadline, a closed connection and a reset by the peer give the
// same counts and the same errors (text, op, wrapped errors).
func TestRawConnLikeTCPConn(t *testing.T) {
	t.Parallel()
	cases := map[string]func(c, s net.Conn) []string{
		"echo": func(c, s net.Conn) []string {
			n, err := c.Write([]byte("ping"))
			buf := make([]byte, 16)
			m, _ := io.ReadFull(s, buf[:4])
			_, _ = s.Write([]byte("pong!"))
			k, rerr := io.ReadFull(c, buf[:5])
			z, zerr := c.Read(nil)
			return []string{strconv.Itoa(n), errShape(c, err), string(buf[:m]), strconv.Itoa(k), errShape(c, rerr), string(buf[:5]), strconv.Itoa(z), errShape(c, zerr)}
		},
		"large write": func(c, s net.Conn) []string {
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB: more than the buffers hold
			got := make(chan []byte)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(s, int64(len(big))))
				got <- b
			}()
			n, err := c.Write(big)
			return []string{strconv.Itoa(n), errShape(c, err), boolStr("same", bytes.Equal(<-got, big))}
		},
		"end of stream": func(c, s net.Conn) []string {
			_, _ = s.Write([]byte("last"))
			s.Close()
			b, err := io.ReadAll(c)
			n, err2 := c.Read(make([]byte, 4))
			return []string{string(b), errShape(c, err), strconv.Itoa(n), errShape(c, err2)}
		},
		"deadline": func(c, _ net.Conn) []string {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			n, err := c.Read(make([]byte, 4))
			_ = c.SetWriteDeadline(time.Unix(1, 0))
			w, werr := c.Write([]byte("x"))
			return []string{strconv.Itoa(n), errShape(c, err), strconv.Itoa(w), errShape(c, werr)}
		},
		"closed": func(c, _ net.Conn) []string {
			c.Close()
			n, err := c.Read(make([]byte, 4))
			w, werr := c.Write([]byte("x"))
			return []string{strconv.Itoa(n), errShape(c, err), strconv.Itoa(w), errShape(c, werr)}
		},
		"reset": func(c, s net.Conn) []string {
			_ = s.(*net.TCPConn).SetLinger(0)
			s.Close() // sends RST
			time.Sleep(20 * time.Millisecond)
			n, err := c.Read(make([]byte, 4))
			w, werr := c.Write([]byte("x"))
			return []string{strconv.Itoa(n), errShape(c, err), strconv.Itoa(w), errShape(c, werr)}
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := f(connPair(t, func(c net.Conn) net.Conn { return c }))
			c, s := connPair(t, newRawConn)
			if _, ok := c.(*rawConn); !ok {
				t.Fatalf("newRawConn returned %T, want *rawConn", c)
			}
			got := f(c, s)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("rawConn:\n%s\n*net.TCPConn:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// BenchmarkSparseRoundTrip: one HTTP request and its answer per op on a
// keep-alive connection to a server in another process that answers 3 ms
// after the request (a server's work: creditd's AI latency is 20 ms), the
// process idle meanwhile: the shape of a sparse run's requests. It reports
// the process's CPU (user+sys) per round trip. With syscall.Read/Write
// (tcp), the read of an answer that arrived while every goroutine waited
// wakes the runtime's monitor thread from its sleep, and it then polls
// every 20 µs for a millisecond; raw system calls (raw) do not wake it.
//
//	go test -run '^$' -bench SparseRoundTrip -benchtime 1000x ./internal/js/modules/k6http/
func BenchmarkSparseRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{{"tcp", func(c net.Conn) net.Conn { return c }}, {"raw", newRawConn}} {
		b.Run(bc.name, func(b *testing.B) {
			u, err := url.Parse(startBenchServer(b))
			if err != nil {
				b.Fatal(err)
			}
			tc, err := net.Dial("tcp", u.Host)
			if err != nil {
				b.Fatal(err)
			}
			c := bc.wrap(tc)
			defer c.Close()
			req := []byte("GET /slow HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n")
			br := bufio.NewReader(c)
			t0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64((cpuTime()-t0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
