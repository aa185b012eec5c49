//go:build linux

package k6http

// h1's TCP connections read and write with raw system calls (no
// entersyscall/exitsyscall around them), through the connection's
// syscall.RawConn, which still parks on the poller when the socket is not
// ready and still honours deadlines and Close. A socket of the poller is
// non-blocking, so these calls never block a thread.
//
// Why: when every P of the process is idle (a sparse run: VUs thinking for
// seconds between requests), the runtime's monitor thread (sysmon) sleeps
// until the next timer. A system call made through syscall.Syscall wakes it
// from that sleep as if a P had been stuck in a system call, and it then
// polls every 20 µs for a millisecond before backing off: about 60 wakeups
// of a thread for every request that follows a pause. On normal.js quick
// that was 28,000 nanosleep calls for 4,450 requests and 14 % of tally's CPU
// (docs/benchmarks.md, "Issue 14, idle lane"). A raw call does not wake it.

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawConn is a *net.TCPConn whose Read and Write use raw system calls; the
// rest (Close, addresses, deadlines, SyscallConn) is the TCP connection's.
// Its errors are those of *net.TCPConn: io.EOF at the end of the stream,
// otherwise a *net.OpError of op "read" or "write".
type rawConn struct {
	*net.TCPConn
	rc syscall.RawConn
	// the callbacks and their state, made once per connection, so that a
	// Read or Write does not allocate; one reader and one writer at a time
	// (h1 uses a connection from one goroutine).
	rd, wr     func(fd uintptr) bool
	rb, wb     []byte
	rn, wn     int
	rerr, werr error
}

// newRawConn wraps c when it is a TCP connection with a file descriptor;
// otherwise it returns c.
func newRawConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawConn{TCPConn: tc, rc: rc}
	r.rd = func(fd uintptr) bool {
		r.rn, r.rerr = rawRead(fd, r.rb)
		return r.rerr != syscall.EAGAIN
	}
	r.wr = func(fd uintptr) bool {
		for r.wn < len(r.wb) {
			n, err := rawWrite(fd, r.wb[r.wn:])
			if err == syscall.EAGAIN {
				return false // wait until writable, then go on
			}
			if err != nil {
				r.werr = err
				return true
			}
			if n == 0 {
				r.werr = io.ErrUnexpectedEOF
				return true
			}
			r.wn += n
		}
		return true
	}
	return r
}

// Read reads as (*net.TCPConn).Read does.
func (r *rawConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.rb, r.rn, r.rerr = b, 0, nil
	err := r.rc.Read(r.rd)
	n, rerr := r.rn, r.rerr
	r.rb, r.rerr = nil, nil
	switch {
	case err != nil: // closed, deadline passed: the poller's error
		return 0, r.opError("read", err)
	case rerr != nil:
		return 0, r.opError("read", os.NewSyscallError("read", rerr))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b as (*net.TCPConn).Write does.
func (r *rawConn) Write(b []byte) (int, error) {
	r.wb, r.wn, r.werr = b, 0, nil
	err := r.rc.Write(r.wr)
	n, werr := r.wn, r.werr
	r.wb, r.werr = nil, nil
	switch {
	case err != nil:
		return n, r.opError("write", err)
	case werr == io.ErrUnexpectedEOF:
		return n, werr
	case werr != nil:
		return n, r.opError("write", os.NewSyscallError("write", werr))
	}
	return n, nil
}

// opError returns err as the *net.OpError of op the TCP connection would
// return: the raw connection reports the poller's errors with op "raw-read"
// or "raw-write".
func (r *rawConn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: err}
}

// rawRead is read(2) on a non-blocking descriptor without entersyscall; it
// retries when interrupted.
func rawRead(fd uintptr, b []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, b) }

// rawWrite is write(2) on a non-blocking descriptor without entersyscall;
// it retries when interrupted.
func rawWrite(fd uintptr, b []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, b) }

// rawIO is the system call trap (read or write) on fd and b, retried when
// interrupted.
func rawIO(trap, fd uintptr, b []byte) (int, error) {
	for {
		n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}
