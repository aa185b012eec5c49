package syncbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/tallyhq/tally/internal/syncbuf"
)

// Concurrent writers and a reader: every write lands whole (run with -race).
func TestConcurrentWritesAndReads(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("ab\n"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	got := b.String()
	if n := strings.Count(got, "ab\n"); n != 400 || len(got) != 1200 {
		t.Fatalf("%d whole writes in %d bytes, want 400 in 1200", n, len(got))
	}
}
