package k6http

import (
	"syscall"
	"unsafe"
)

// peekWait returns p's wait callback: recv(MSG_PEEK) of one byte, which
// takes nothing from the socket; false (wait for the poller) only while
// there is nothing to read. The raw system call allocates nothing, unlike
// syscall.Recvfrom, whose address buffer escapes.
func peekWait(p *prober) func(fd uintptr) bool {
	return func(fd uintptr) bool {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.b[0])), 1,
			syscall.MSG_PEEK, 0, 0)
		return errno != syscall.EAGAIN
	}
}
