//go:build unix

package k6http

import (
	"net"
	"syscall"
	"time"
)

// prober checks whether an idle keep-alive connection is still open: a
// non-blocking read must find nothing to read (EAGAIN), not EOF or data.
// It also sends a request and waits for its answer (sendAndWait). The raw
// connection and the callbacks are made once per connection, so neither
// allocates.
type prober struct {
	rc   syscall.RawConn
	read func(fd uintptr) bool
	n    int
	err  error
	b    [1]byte

	// sendAndWait's state: its callback, what it sends with, and what the
	// send gave.
	send     func(fd uintptr) bool
	flush    func() error
	now      func() time.Time
	sent     bool
	sendErr  error
	sentTime time.Time
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
		p.n, p.err = rawRead(fd, p.b[:])
		return true
	}
	p.send = func(uintptr) bool {
		if p.sent {
			return true // woken: the answer is readable (or the wait ended)
		}
		p.sent = true
		p.sendErr = p.flush()
		p.sentTime = p.now()
		return p.sendErr != nil // sent: wait until readable
	}
	return p
}

// alive probes the connection once.
func (p *prober) alive() bool {
	if p == nil {
		return true
	}
	err := p.rc.Read(p.read)
	return err == nil && p.n <= 0 && p.err == syscall.EAGAIN
}

// sendAndWait sends a request with flush (which writes it to the
// connection) and then parks the caller until the connection has something
// to read, its deadline passes or it is closed; it returns flush's error
// and when flush returned. The wait takes no system call and no buffer (the
// round trip attaches its reader once it returns), and the read of the
// answer that follows finds it at once, where reading right after the
// write costs a read that finds nothing (EAGAIN) before the poller waits:
// an answer is never there the moment its request was written. The write
// happens inside the raw read, after the poller cleared the connection's
// readiness, so only what arrives after it, at any moment, wakes the wait
// (a wait started after the write could miss an answer that came first).
// A failed wait is left to the read that follows, which reports it.
// Without a prober (nil), flush runs alone.
func (p *prober) sendAndWait(flush func() error, now func() time.Time) (time.Time, error) {
	if p == nil {
		err := flush()
		return now(), err
	}
	p.flush, p.now, p.sent, p.sendErr = flush, now, false, nil
	_ = p.rc.Read(p.send)
	p.flush, p.now = nil, nil
	if !p.sent { // the read could not start (closed, deadline passed): send as usual
		err := flush()
		return now(), err
	}
	return p.sentTime, p.sendErr
}
