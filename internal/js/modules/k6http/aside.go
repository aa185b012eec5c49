package k6http

import (
	"sync/atomic"
	"time"
)

// A round trip is deep Go work (the HTTP/1.1 client, net, syscalls, header
// parsing, gzip): on a kept-alive connection 2 to 3 KiB of frames, which on
// top of the VU's own (its JS calls, 4.5 KiB or more at a request) can take
// the VU goroutine's stack past 8 KiB, while a worker's fits in 4 KiB
// (dials, deeper, run apart: see h1.acquire; BenchmarkAsideStack).
// Run on the VU's goroutine, every VU keeps that stack while it sleeps
// between iterations (a garbage collection halves it at best), although the
// JS it runs needs a quarter of it. The requests a VU waits for therefore
// run on a pool of worker goroutines: only as many hold a large stack as
// requests are in flight, and a VU's own stack stays at the size its JS
// needs. Handing a request over and back costs two goroutine switches
// (about 5 % of the CPU of a plain GET), so runs with few VUs, which go for
// throughput rather than memory, keep their round trips on the VU: requests
// go aside once more than asideAboveVUs VUs have made one (the threshold
// above which the engine also lowers the garbage collector's target). The
// other items of a small http.batch run on the same workers in every run:
// they need a goroutine besides the VU's anyway, and a worker's stack has
// already grown to a round trip's depth, where a new goroutine's would grow
// (and be copied) again for every item.

// asideAboveVUs is the number of VUs with an HTTP client above which
// requests run aside.
const asideAboveVUs = 200

// asideIdle is how long an idle worker waits for the next round trip before
// it exits and frees its stack.
const asideIdle = time.Second

// asideTask is work for a worker: a VU's own request (*asideJob) or a batch
// item (*batchItem). run must not panic.
type asideTask interface{ run() }

// asideJob is one request handed to a worker; done receives when res (or
// panicked, what c.do panicked with) is set.
type asideJob struct {
	c        *client
	rq       *request
	res      *result
	panicked any
	done     chan struct{}
}

// asidePool is one run's workers (owned by its RootModule): jobs hands a
// task to a waiting worker; with none waiting, hand starts one (counted in
// started). A VU's own requests go aside once many is set; the items of
// http.batch that the VU does not run itself always run on the workers,
// which keep the stack a round trip grows instead of growing a new
// goroutine's for every item.
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

// doAside runs c.do(rq) on a worker goroutine of the run's pool and waits
// for it, once the run has enough VUs (a client without a pool runs every
// round trip on the VU). It is called from the VU's goroutine only (the
// client's job is reused).
func (c *client) doAside(rq *request) *result {
	p := c.asidePool
	if p == nil || !p.many.Load() {
		return c.do(rq)
	}
	j := &c.aside
	if j.done == nil {
		j.done = make(chan struct{}, 1)
	}
	j.c, j.rq = c, rq
	p.hand(j)
	<-j.done
	res, panicked := j.res, j.panicked
	j.c, j.rq, j.res, j.panicked = nil, nil, nil, nil
	if panicked != nil {
		panic(panicked) // on the VU's goroutine, as if do had run there
	}
	return res
}

// run runs the job and signals done, a panic included.
func (j *asideJob) run() {
	defer func() {
		j.panicked = recover()
		j.done <- struct{}{}
	}()
	j.res = j.c.do(j.rq)
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
