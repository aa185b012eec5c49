//go:build unix

package k6http

import (
	"net"
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
