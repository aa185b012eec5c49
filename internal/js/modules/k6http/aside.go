package k6http

import (
	"sync/atomic"
	"time"
)

// A round trip is deep Go work (the HTTP/1.1 client, net, syscalls, header
// parsing, gzip): on a kept-alive connection 2 to 3 KiB of frames
// (BenchmarkAsideStack). A VU runs its own requests (and the item of an
// http.batch it runs itself) on its goroutine: the round trip fits in the
// 8 KiB its JS needs at a request, or grows it briefly (a collection halves
// a stack again once a quarter of it is used, as a sleeping VU's is), and a
// run of thousands of VUs waking together needs no goroutine besides each
// VU for the requests in flight. (Until the round trip's frames were made
// smaller, it went to a worker in runs of more than asideAboveVUs VUs: at
// 3,000 sleeping VUs of bench/vus100.js that held 2,000-3,000 workers of 4
// KiB, more than the VUs' stacks grow; docs/benchmarks.md.) The other items
// of a small http.batch run on the run's pool of worker goroutines: they
// need a goroutine besides the VU's anyway, and a worker's stack has already
// grown to a round trip's depth, where a new goroutine's would grow (and be
// copied) again for every item. Dials are deeper still (see h1.acquire):
// once a run has more than asideAboveVUs VUs, a client's first dials run on
// a goroutine of their own.

// asideAboveVUs is the number of VUs with an HTTP client above which a
// client's first dials run on a goroutine of their own.
const asideAboveVUs = 200

// asideIdle is how long an idle worker waits for the next round trip before
// it exits and frees its stack.
const asideIdle = time.Second

// asideTask is work for a worker: an item of an http.batch (*batchItem).
// run must not panic.
type asideTask interface{ run() }

// asidePool is one run's workers (owned by its RootModule): jobs hands a
// task to a waiting worker; with none waiting, hand starts one (counted in
// started). The items of http.batch that the VU does not run itself run on
// the workers, which keep the stack a round trip grows instead of growing a
// new goroutine's for every item. Once many is set, the clients' first
// dials run aside (h1.acquire).
type asidePool struct {
	jobs    chan asideTask
	started atomic.Int64
	many    atomic.Bool // more than asideAboveVUs VUs have an HTTP client
}

func newAsidePool() *asidePool { return &asidePool{jobs: make(chan asideTask)} }

// hand runs t on a waiting worker, or on a new one when none waits.
func (p *asidePool) hand(t asideTask) {
	select {
	case p.jobs <- t:
	default:
		p.started.Add(1)
		go p.worker(t)
	}
}

// worker runs t, then the tasks handed to it until it has been idle for
// asideIdle.
func (p *asidePool) worker(t asideTask) {
	idle := time.NewTimer(asideIdle)
	defer idle.Stop()
	for {
		t.run()
		idle.Reset(asideIdle)
		select {
		case t = <-p.jobs:
		case <-idle.C:
			return
		}
	}
}
