//go:build unix

package k6http

import (
	"net"
	"syscall"
)

// alive reports whether an idle keep-alive connection is still open: a
// non-blocking read must find nothing to read (EAGAIN), not EOF or data.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var rerr error
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), b[:])
		return true
	})
	return err == nil && n <= 0 && rerr == syscall.EAGAIN
}
