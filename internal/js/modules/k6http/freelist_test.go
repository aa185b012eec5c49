package k6http

import (
	"bufio"
	"runtime"
	"sync"
	"testing"
)

// TestFreeListKeepsBuffersAcrossGC: a released buffer is handed out again
// after garbage collections (a sync.Pool drops it by the second one), and
// no more than maxFree are kept.
func TestFreeListKeepsBuffersAcrossGC(t *testing.T) {
	made := 0
	l := newFreeList(func() *bufio.Reader { made++; return bufio.NewReaderSize(nil, 4096) })
	r := l.get()
	l.put(r)
	runtime.GC()
	runtime.GC()
	if got := l.get(); got != r || made != 1 {
		t.Fatalf("after two collections: got a new buffer (%d made), want the released one", made)
	}
	for range maxFree + 10 {
		l.put(bufio.NewReaderSize(nil, 16))
	}
	if n := len(l.free); n != maxFree {
		t.Fatalf("%d buffers kept, want %d", n, maxFree)
	}
}

// BenchmarkBufferReuse takes and releases a 4 KiB buffer per op, with two
// garbage collections in between: a VU's keep-alive connection idle for
// its think time (100-300 ms in race.js) while a busy run collects several
// times a second. ns/op is mostly the two collections; B/op is the point.
func BenchmarkBufferReuse(b *testing.B) {
	b.Run("sync.Pool", func(b *testing.B) {
		p := sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
		b.ReportAllocs()
		for b.Loop() {
			p.Put(p.Get())
			runtime.GC()
			runtime.GC()
		}
	})
	b.Run("freeList", func(b *testing.B) {
		l := newFreeList(func() *bufio.Reader { return bufio.NewReaderSize(nil, 4096) })
		b.ReportAllocs()
		for b.Loop() {
			l.put(l.get())
			runtime.GC()
			runtime.GC()
		}
	})
}

// BenchmarkBufferBurst takes 600 buffers at once and releases them, per op:
// race.js's 200 VUs sending their bursts of five together. Every buffer
// beyond maxFree is allocated again at the next burst.
func BenchmarkBufferBurst(b *testing.B) {
	l := newFreeList(func() *bufio.Reader { return bufio.NewReaderSize(nil, 4096) })
	held := make([]*bufio.Reader, 600)
	b.ReportAllocs()
	for b.Loop() {
		for i := range held {
			held[i] = l.get()
		}
		for _, r := range held {
			l.put(r)
		}
	}
}
