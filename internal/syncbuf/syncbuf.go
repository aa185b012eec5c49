// Package syncbuf is a bytes.Buffer safe for concurrent use. Tests read
// what a run writes while it is still writing (VUs log from their own
// goroutines, a child process's output is copied by os/exec's goroutines),
// which a plain bytes.Buffer does not allow under the race detector. It is
// one small package so that the harness (modules/modulestest) and the tests
// of cmd/tally and the dashboard share one copy.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer whose Write and String may be called from
// different goroutines. The zero value is empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
