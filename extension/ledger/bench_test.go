package ledger

import (
	"context"
	"io"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the hot path and of verification. Commands and figures:
// docs/benchmarks.md, section "ledger".

// BenchmarkBeginSettle measures one Begin plus one ok Settle (with its
// online checks), from 1 goroutine and from 1,000 at once, spread over 100
// accounts or all on one.
func BenchmarkBeginSettle(b *testing.B) {
	for _, bc := range []struct {
		name       string
		goroutines int
		accounts   int
		journal    bool
		observer   bool
	}{
		{"goroutines=1/accounts=100", 1, 100, false, false},
		{"goroutines=1000/accounts=100", 1000, 100, false, false},
		{"goroutines=1000/accounts=1", 1000, 1, false, false},
		{"goroutines=1000/accounts=100/journal+observer", 1000, 100, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{}
			if bc.journal {
				cfg.Journal = io.Discard
			}
			if bc.observer {
				var n atomic.Int64
				cfg.Observer = ObserverFunc(func(context.Context, Sample) { n.Add(1) })
			}
			l, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			names := make([]string, bc.accounts)
			for i := range names {
				names[i] = "acct-" + strconv.Itoa(i)
				if err := l.Open(ctx, names[i], Snapshot{Balance: 1 << 60}); err != nil {
					b.Fatal(err)
				}
			}
			// each goroutine walks the accounts from its own starting point;
			// balances after are distinct per account, as on a correct server
			type counter struct {
				atomic.Int64
				_ [56]byte // one cache line each
			}
			seq := make([]counter, len(names))
			var worker atomic.Int64
			body := func(next func() bool) {
				w := int(worker.Add(1))
				for i := w; next(); i++ {
					k := i % len(names)
					op, err := l.Begin(ctx, names[k], Deduction{Feature: "ai_search", Amount: 5})
					if err != nil {
						b.Fatal(err)
					}
					bal := int64(1<<60) - 5*seq[k].Add(1)
					if err := l.Settle(ctx, op, Outcome{Kind: OK, Balance: bal, HasBalance: true}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportAllocs()
			// CPU time per operation (all threads, GC included) is reported
			// too: on a shared machine it moves much less than wall time.
			cpu0 := cpuNs()
			defer func() {
				if cpu0 > 0 {
					b.ReportMetric(float64(cpuNs()-cpu0)/float64(b.N), "cpu-ns/op")
				}
			}()
			if bc.goroutines == 1 {
				b.ResetTimer()
				i := 0
				body(func() bool { i++; return i <= b.N })
				return
			}
			b.SetParallelism((bc.goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) { body(pb.Next) })
		})
	}
}

// BenchmarkBeginSettleFloor is the floor BenchmarkBeginSettle is compared
// with, side by side: per operation, twice, lock an account's mutex, read
// the clock and store a record of the same size in a chunked list. It is
// what any shared bookkeeping with per-account locks must pay.
func BenchmarkBeginSettleFloor(b *testing.B) {
	for _, bc := range []struct {
		name                 string
		goroutines, accounts int
	}{{"goroutines=1/accounts=100", 1, 100}, {"goroutines=1000/accounts=100", 1000, 100}, {"goroutines=1000/accounts=1", 1000, 1}} {
		b.Run(bc.name, func(b *testing.B) {
			type acct struct {
				mu   sync.Mutex
				list chunked[opRec]
			}
			accts := make([]acct, bc.accounts)
			start := time.Now()
			var worker atomic.Int64
			body := func(next func() bool) {
				w := int(worker.Add(1))
				for i := w; next(); i++ {
					a := &accts[i%len(accts)]
					a.mu.Lock()
					idx := a.list.add(opRec{id: uint64(i), amount: 5, call: int64(time.Since(start))})
					a.mu.Unlock()
					a.mu.Lock()
					a.list.at(idx).ret = int64(time.Since(start))
					a.mu.Unlock()
				}
			}
			b.ReportAllocs()
			cpu0 := cpuNs()
			defer func() {
				if cpu0 > 0 {
					b.ReportMetric(float64(cpuNs()-cpu0)/float64(b.N), "cpu-ns/op")
				}
			}()
			if bc.goroutines == 1 {
				b.ResetTimer()
				i := 0
				body(func() bool { i++; return i <= b.N })
				return
			}
			b.SetParallelism((bc.goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) { body(pb.Next) })
		})
	}
}

func benchConfigs() []struct {
	name string
	cfg  simConfig
} {
	return []struct {
		name string
		cfg  simConfig
	}{
		// 100,000 operations (90 % deductions, 10 % reads) over 100 accounts, 1,000 clients
		{"ops=100k/accounts=100", simConfig{seed: 1, accounts: 100, clients: 1000, ops: 100_000, readFrac: 0.1,
			unknownFrac: 0.005, startFactor: 0.9, notices: true, versions: true}},
		// normal.js quick's shape: ~5,000 operations over 150 accounts, 150 clients
		{"ops=5k/accounts=150", simConfig{seed: 3, accounts: 150, clients: 150, ops: 5_000, readFrac: 0.3,
			unknownFrac: 0.005, startFactor: 0.9, notices: true, versions: true}},
		// 20,000 operations on one account at 500-way concurrency
		{"ops=20k/accounts=1/clients=500", simConfig{seed: 2, accounts: 1, clients: 500, ops: 20_000, readFrac: 0.1,
			unknownFrac: 0.005, startFactor: 0.9, notices: true, versions: true}},
		// the same with every unknown resolved by replay
		{"ops=20k/accounts=1/clients=500/resolved", simConfig{seed: 2, accounts: 1, clients: 500, ops: 20_000, readFrac: 0.1,
			unknownFrac: 0.005, startFactor: 0.9, notices: true, versions: true, replay: true}},
		// 100k with the server log handed over (the key join resolves unknowns)
		{"ops=100k/accounts=100/log", simConfig{seed: 1, accounts: 100, clients: 1000, ops: 100_000, readFrac: 0.1,
			unknownFrac: 0.005, startFactor: 0.9, notices: true, versions: true, log: true}},
	}
}

// BenchmarkVerify measures the fast checks (no deep check), including the
// copy of the bookkeeping they start with.
func BenchmarkVerify(b *testing.B) {
	for _, bc := range benchConfigs() {
		b.Run(bc.name, func(b *testing.B) {
			s := runSim(b, bc.cfg)
			ctx := context.Background()
			held := heldMiB()
			peak := watchPeak()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := s.l.Verify(ctx, VerifyOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if r.Verdict != Pass {
					b.Fatalf("verdict %s\n%s", r.Verdict, text(r))
				}
			}
			b.ReportMetric(held, "held-MiB")
			b.ReportMetric(peak()-held, "peak-extra-MiB")
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkVerifyDeep measures verification with the porcupine deep check
// at its default budgets (5 s per account, 60 s in total, 256 MiB estimated
// search memory per account).
func BenchmarkVerifyDeep(b *testing.B) {
	for _, bc := range benchConfigs() {
		b.Run(bc.name, func(b *testing.B) {
			s := runSim(b, bc.cfg)
			ctx := context.Background()
			held := heldMiB()
			peak := watchPeak()
			b.ReportAllocs()
			b.ResetTimer()
			var r *Report
			for b.Loop() {
				var err error
				if r, err = s.l.Verify(ctx, VerifyOptions{Deep: DeepAuto}); err != nil {
					b.Fatal(err)
				}
				if r.Verdict != Pass || r.Deep.Illegal > 0 {
					b.Fatalf("verdict %s\n%s", r.Verdict, text(r))
				}
			}
			b.ReportMetric(float64(r.Deep.OK), "lin-ok")
			b.ReportMetric(float64(r.Deep.OutOfBudget), "lin-unknown")
			b.ReportMetric(held, "held-MiB")
			b.ReportMetric(peak()-held, "peak-extra-MiB")
			runtime.KeepAlive(s)
		})
	}
}

// heldMiB is the live heap after a collection: the bookkeeping being
// verified (and the simulated server that produced it).
func heldMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// watchPeak samples the live heap objects every 2 ms until the returned
// function is called, which returns the largest sample in MiB.
func watchPeak() func() float64 {
	done := make(chan struct{})
	res := make(chan float64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				res <- float64(peak) / (1 << 20)
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		return <-res
	}
}

// chunkLen is the number of items in a full chunk.
const chunkLen = 1024

// chunked is an append-only list kept in chunks of chunkLen items (how the
// Ledger kept every record before it spilled them): growing it never
// copies more than one chunk.
// The first chunk grows from small, so an account with few operations
// stays small. Not safe for concurrent use; the shard lock guards it.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

// add appends v and returns its index.
func (c *chunked[T]) add(v T) int {
	k := len(c.chunks)
	if k == 0 || len(c.chunks[k-1]) == chunkLen {
		size := chunkLen
		if k == 0 {
			size = 8
		}
		c.chunks = append(c.chunks, make([]T, 0, size))
		k++
	}
	c.chunks[k-1] = append(c.chunks[k-1], v)
	c.n++
	return c.n - 1
}

// at returns the item at index i; the pointer is valid until the next add.
func (c *chunked[T]) at(i int) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

// len returns the number of items.
func (c *chunked[T]) len() int { return c.n }

// flat copies the items into one slice.
func (c *chunked[T]) flat() []T {
	out := make([]T, 0, c.n)
	for _, ch := range c.chunks {
		out = append(out, ch...)
	}
	return out
}
