//go:build unix && !linux

package k6http

// peekWait returns nil on this platform: the round trip attaches its reader
// before the answer arrives and waits in the read.
func peekWait(*prober) func(fd uintptr) bool { return nil }
