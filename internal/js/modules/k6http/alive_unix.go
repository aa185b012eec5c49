//go:build unix

package k6http

import (
	"net"
	"syscall"
)

// prober checks whether an idle keep-alive connection is still open: a
// non-blocking read must find nothing to read (EAGAIN), not EOF or data.
// The raw connection and the read callback are made once per connection,
// so a probe before every reuse allocates nothing.
type prober struct {
	rc   syscall.RawConn
	read func(fd uintptr) bool
	wait func(fd uintptr) bool // nil: await cannot wait without reading
	n    int
	err  error
	b    [1]byte
}

// newProber returns c's prober; nil when c has no file descriptor (every
// probe then reports the connection alive).
func newProber(c net.Conn) *prober {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &prober{rc: rc}
	p.read = func(fd uintptr) bool {
		p.n, p.err = syscall.Read(int(fd), p.b[:])
		return true
	}
	p.wait = peekWait(p)
	return p
}

// await waits until the connection has something to read (data, the end
// of the stream, an error) or its deadline passes, without reading it: the
// wait callback peeks at one byte and asks the poller to wait while there
// is nothing (EAGAIN). What ended the wait is left to the read that
// follows.
func (p *prober) await() {
	if p == nil || p.wait == nil {
		return
	}
	_ = p.rc.Read(p.wait)
}

// alive probes the connection once.
func (p *prober) alive() bool {
	if p == nil {
		return true
	}
	err := p.rc.Read(p.read)
	return err == nil && p.n <= 0 && p.err == syscall.EAGAIN
}
