//go:build unix && !linux

package k6http

import "syscall"

// rawRead is read(2) on a non-blocking descriptor (through syscall.Read
// outside Linux: see rawio_linux.go).
func rawRead(fd uintptr, b []byte) (int, error) { return syscall.Read(int(fd), b) }
