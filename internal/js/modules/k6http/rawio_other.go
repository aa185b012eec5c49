//go:build !linux

package k6http

import "net"

// newRawConn returns c: raw system calls are used on Linux only
// (rawio_linux.go).
func newRawConn(c net.Conn) net.Conn { return c }
