//go:build !unix

package k6http

import "net"

// alive cannot probe connections on this platform; a stale connection is
// detected when the request on it fails (idempotent requests are retried).
func alive(net.Conn) bool { return true }
