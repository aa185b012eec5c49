//go:build unix

package k6http

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// loopbackPair returns both ends of a loopback TCP connection.
func loopbackPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

// waitFor polls cond for up to a second (the peer's close or write reaches
// the client asynchronously).
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

func TestProber(t *testing.T) {
	tests := []struct {
		name  string
		peer  func(net.Conn)
		alive bool
	}{
		{"idle", func(net.Conn) {}, true},
		{"closed by the server", func(s net.Conn) { _ = s.Close() }, false},
		{"unexpected bytes", func(s net.Conn) { _, _ = s.Write([]byte("HTTP/1.1 408 Request Timeout\r\n\r\n")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := loopbackPair(t)
			p := newProber(c)
			if p == nil {
				t.Fatal("no prober for a TCP connection")
			}
			if !p.alive() {
				t.Fatal("a fresh connection probed dead")
			}
			tt.peer(s)
			if tt.alive {
				if !p.alive() || !p.alive() {
					t.Fatal("an idle open connection probed dead")
				}
				return
			}
			if !waitFor(func() bool { return !p.alive() }) {
				t.Fatal("the connection still probes alive")
			}
		})
	}
}

// TestProberAllocs: probing an idle connection before its reuse allocates
// nothing (it used to cost a raw-connection wrapper and a closure each time).
func TestProberAllocs(t *testing.T) {
	c, _ := loopbackPair(t)
	p := newProber(c)
	if n := testing.AllocsPerRun(100, func() { p.alive() }); n != 0 {
		t.Fatalf("a probe allocates %.0f times, want 0", n)
	}
}

// BenchmarkProbeIdle is the liveness probe every reuse of a keep-alive
// connection idle for more than 10 ms pays.
func BenchmarkProbeIdle(b *testing.B) {
	c, _ := loopbackPair(b)
	p := newProber(c)
	b.ReportAllocs()
	for b.Loop() {
		if !p.alive() {
			b.Fatal("probed dead")
		}
	}
}

// TestSendAndWait: the request is written, the wait ends when the answer is
// readable (also when it arrived before the wait began: an echo on loopback
// often does), when the deadline passes, and a failed write is reported.
func TestSendAndWait(t *testing.T) {
	c, s := loopbackPair(t)
	go func() { // echo every byte back at once
		buf := make([]byte, 64)
		for {
			n, err := s.Read(buf)
			if err != nil {
				return
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	p := newProber(c)
	for i := range 2000 {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		flush := func() error { _, err := c.Write([]byte{byte(i)}); return err }
		start := time.Now()
		if _, err := p.sendAndWait(flush, time.Now); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 4*time.Second {
			t.Fatalf("round %d: the wait missed the answer and ran into the deadline", i)
		}
		// Readable now: a non-blocking read (the probe's) finds the echo.
		if p.alive() || p.n != 1 || p.b[0] != byte(i) {
			t.Fatalf("round %d: read %d %v (%v), want the echo at once", i, p.n, p.b, p.err)
		}
	}

	quiet, _ := loopbackPair(t) // no answer: the deadline ends the wait
	_ = quiet.SetDeadline(time.Now().Add(50 * time.Millisecond))
	wrote := false
	if _, err := newProber(quiet).sendAndWait(func() error { wrote = true; return nil }, time.Now); err != nil || !wrote {
		t.Fatalf("sendAndWait = %v, wrote %v; want no error (the read reports the timeout) after writing", err, wrote)
	}

	failed := errors.New("write failed")
	if _, err := p.sendAndWait(func() error { return failed }, time.Now); err != failed {
		t.Fatalf("a failed write gave %v, want %v", err, failed)
	}
}

// TestSendAndWaitAllocs: sending and waiting on a connection allocates
// nothing.
func TestSendAndWaitAllocs(t *testing.T) {
	c, s := loopbackPair(t)
	go func() { _, _ = io.Copy(s, s) }()
	p := newProber(c)
	b := []byte{1}
	flush := func() error { _, err := c.Write(b); return err }
	n := testing.AllocsPerRun(100, func() {
		_, _ = p.sendAndWait(flush, time.Now)
		_, _ = c.Read(b)
	})
	if n != 0 {
		t.Fatalf("a send and wait allocates %.0f times, want 0", n)
	}
}

// TestProbeLearnsIdleTime: once a probe found a connection to a host open
// after an idle time d, connections idle for less are reused unprobed; a
// connection found closed, or a request failing on a reused one, makes
// every reuse probed again. The clock is the test's; the server closes its
// idle connections when told to.
func TestProbeLearnsIdleTime(t *testing.T) {
	var mu sync.Mutex
	idle := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		if s == http.StateIdle {
			idle[c] = true
		} else {
			delete(idle, c)
		}
		mu.Unlock()
	}
	srv.Start()
	t.Cleanup(srv.Close)
	closeIdle := func() { // the server drops its idle connection (it marks it idle after answering)
		t.Helper()
		closed := waitFor(func() bool {
			mu.Lock()
			defer mu.Unlock()
			for c, ok := range idle {
				if ok {
					_ = c.Close()
					delete(idle, c)
					return true
				}
			}
			return false
		})
		if !closed {
			t.Fatal("the server has no idle connection to close")
		}
	}
	now := time.Unix(1000, 0)
	c := newH1(&net.Dialer{}, &traffic{}, func() time.Time { return now }, true, 4, "")
	u, _ := url.Parse(srv.URL)
	post := func(step string, ok bool) {
		t.Helper()
		hr := hopRequest{method: "POST", url: u, header: http.Header{}, body: "x", hasBody: true, keep: true}
		err := c.roundTrip(context.Background(), time.Now().Add(5*time.Second), &hr, &hop{})
		if (err == nil) != ok {
			t.Fatalf("%s: error %v, want ok = %v", step, err, ok)
		}
	}
	post("first request", true)
	now = now.Add(300 * time.Millisecond)
	post("after 300 ms idle, probed and open", true) // learnt: open after 300 ms
	closeIdle()
	now = now.Add(100 * time.Millisecond)
	post("after 100 ms idle, not probed: the server's close goes unseen", false)
	post("a new connection", true)
	closeIdle()
	now = now.Add(100 * time.Millisecond)
	post("after the failure, probed again: closed, dialed again", true)
	now = now.Add(300 * time.Millisecond)
	post("after 300 ms idle, probed and open", true)
	now = now.Add(400 * time.Millisecond)
	closeIdle()
	post("after 400 ms idle (more than learnt), probed: closed, dialed again", true)
	closeIdle()
	now = now.Add(100 * time.Millisecond)
	post("after a closed one was found, probed again", true)
}
