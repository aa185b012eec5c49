package k6http

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/vustate"
)

// jsRequest is http.request(method, url, body?, params?).
func (mi *Instance) jsRequest(call sobek.FunctionCall) sobek.Value {
	st := mi.mustState("making HTTP requests")
	m := call.Argument(0)
	if !isSet(m) {
		panic(mi.rt.NewTypeError("http.request needs a method, e.g. http.request('GET', url)"))
	}
	return mi.run(st, strings.ToUpper(m.String()), call.Argument(1), call.Argument(2), call.Argument(3))
}

// verb returns http.get/head (url, params?) or http.post/... (url, body?, params?).
func (mi *Instance) verb(method string, withBody bool) func(sobek.FunctionCall) sobek.Value {
	return func(call sobek.FunctionCall) sobek.Value {
		st := mi.mustState("making HTTP requests")
		if withBody {
			return mi.run(st, method, call.Argument(0), call.Argument(1), call.Argument(2))
		}
		return mi.run(st, method, call.Argument(0), nil, call.Argument(1))
	}
}

// run makes one request and returns its Response.
func (mi *Instance) run(st *vustate.State, method string, urlV, bodyV, paramsV sobek.Value) sobek.Value {
	rq, err := mi.newRequest(st, method, urlV, bodyV, paramsV)
	if err != nil {
		return mi.requestError(rq, err)
	}
	return mi.finish(rq, mi.client.do(rq))
}

// requestError handles a request that could not be made: a bad URL becomes
// a Response with error code 1020 (or an exception with throw), anything
// else in the arguments is an exception.
func (mi *Instance) requestError(rq *request, err error) sobek.Value {
	var ue *urlError
	if !errors.As(err, &ue) {
		panic(mi.rt.NewTypeError(err.Error()))
	}
	res := &result{status: 0, err: ue.msg, errCode: codeInvalidURL, goErr: err, bodyNull: true,
		url: rq.rawURL, sentMethod: rq.method, sentURL: rq.rawURL, sentHeader: rq.header}
	return mi.finish(rq, res)
}

// finish turns a result into a Response, or throws for a failed request
// when throw is set. Failures are logged as warnings otherwise.
func (mi *Instance) finish(rq *request, res *result) sobek.Value {
	if res.interrupted {
		mi.interrupt()
	}
	if res.failed() {
		if rq.throw {
			panic(mi.rt.NewGoError(fmt.Errorf("%s %s: %s", rq.method, res.url, res.err)))
		}
		if rq.state != nil {
			logFailure(rq, res)
		}
	}
	return mi.newResponse(rq, res)
}

// jsAsyncRequest is http.asyncRequest(method, url, body?, params?): a
// Promise of the Response. The request runs on its own goroutine; the
// Promise settles on the VU's event loop.
func (mi *Instance) jsAsyncRequest(call sobek.FunctionCall) sobek.Value {
	st := mi.mustState("making HTTP requests")
	p, resolve, reject := mi.rt.NewPromise()
	m := call.Argument(0)
	if !isSet(m) {
		_ = reject(mi.rt.NewTypeError("http.asyncRequest needs a method, e.g. http.asyncRequest('GET', url)"))
		return mi.rt.ToValue(p)
	}
	rq, err := mi.newRequest(st, strings.ToUpper(m.String()), call.Argument(1), call.Argument(2), call.Argument(3))
	if err != nil {
		var ue *urlError
		if !errors.As(err, &ue) {
			_ = reject(mi.rt.NewTypeError(err.Error()))
			return mi.rt.ToValue(p)
		}
		settle(mi, rq, mi.errorResult(rq, ue), resolve, reject)
		return mi.rt.ToValue(p)
	}
	if st.Loop == nil {
		panic(mi.rt.NewGoError(errors.New("http.asyncRequest needs an event loop, and this VU has none")))
	}
	enqueue := st.Loop.RegisterCallback()
	c := mi.client
	go func() {
		res := c.do(rq)
		enqueue(func() error {
			settle(mi, rq, res, resolve, reject)
			return nil
		})
	}()
	return mi.rt.ToValue(p)
}

func (mi *Instance) errorResult(rq *request, ue *urlError) *result {
	return &result{status: 0, err: ue.msg, errCode: codeInvalidURL, goErr: ue, bodyNull: true,
		url: rq.rawURL, sentMethod: rq.method, sentURL: rq.rawURL, sentHeader: rq.header}
}

// settle resolves or rejects an asyncRequest Promise on the VU goroutine.
func settle(mi *Instance, rq *request, res *result, resolve, reject func(any) error) {
	if res.interrupted {
		mi.interrupt()
	}
	if res.failed() && rq.throw {
		_ = reject(mi.rt.NewGoError(fmt.Errorf("%s %s: %s", rq.method, res.url, res.err)))
		return
	}
	if res.failed() {
		logFailure(rq, res)
	}
	_ = resolve(mi.newResponse(rq, res))
}

// errRequestInterrupted stops the JS code of a VU whose request was cut off
// by the end of the test.
var errRequestInterrupted = errors.New("the request was interrupted by the end of the test")

// interrupt stops the VU's JS code at its next instruction, so an
// iteration whose request was cut off ends there as k6's does (no check
// or other code after the request runs), whichever of the request and the
// VU's own interrupt notices the end of the test first.
func (mi *Instance) interrupt() { mi.rt.Interrupt(errRequestInterrupted) }

// logFailure logs a failed request as k6 does ("Request Failed"); a request
// cut off by the end of the test is not the service's failure and is only
// logged at debug level.
func logFailure(rq *request, res *result) {
	if res.interrupted {
		rq.state.Logger.Debug("Request interrupted by the end of the test", "url", res.url)
		return
	}
	rq.state.Logger.Warn("Request Failed", "error", res.err, "error_code", res.errCode)
}

// batchItem is one request of http.batch. The items the VU's goroutine
// does not run itself run on the run's workers (run), with the batch's
// limits and wait group.
type batchItem struct {
	key string
	rq  *request
	err *urlError
	res *result

	mi              *Instance
	hostSem, global chan struct{}
	wg              *sync.WaitGroup
	panicked        any // what the round trip panicked with, on a worker
}

// jsBatch is http.batch(requests): the requests run concurrently (at most
// the batch option at once, batchPerHost per host); the result has the
// shape of the argument (array or object), in order.
func (mi *Instance) jsBatch(call sobek.FunctionCall) sobek.Value {
	st := mi.mustState("making HTTP requests with http.batch")
	arg, ok := call.Argument(0).(*sobek.Object)
	if !ok {
		panic(mi.rt.NewTypeError("http.batch needs an array or an object of requests"))
	}
	isArr := arg.ClassName() == "Array"
	var keys []string
	if isArr {
		n := int(arg.Get("length").ToInteger())
		keys = make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprint(i)
		}
	} else {
		keys = arg.Keys()
	}
	items := make([]batchItem, len(keys))
	for i, k := range keys {
		rq, err := mi.batchRequest(st, arg.Get(k))
		if err != nil {
			var ue *urlError
			if !errors.As(err, &ue) {
				panic(mi.rt.NewTypeError(fmt.Sprintf("http.batch: request %s: %s", k, err)))
			}
			items[i].err = ue
		}
		items[i].key, items[i].rq = k, rq
	}
	mi.runBatch(st, items)

	var out *sobek.Object
	if isArr {
		vals := make([]any, len(items))
		for i := range items {
			vals[i] = mi.finish(items[i].rq, items[i].res)
		}
		return mi.rt.NewArray(vals...)
	}
	out = mi.rt.NewObject()
	for i := range items {
		_ = out.Set(items[i].key, mi.finish(items[i].rq, items[i].res))
	}
	return out
}

// batchRequest reads one element of http.batch: a URL, an array
// [method, url, body?, params?] or an object {method, url, body, params}.
func (mi *Instance) batchRequest(st *vustate.State, v sobek.Value) (*request, error) {
	o, ok := v.(*sobek.Object)
	if _, isURL := exportAs[*taggedURL](v); !ok || isURL {
		return mi.newRequest(st, "GET", v, nil, nil)
	}
	var method, urlV, bodyV, paramsV sobek.Value
	if o.ClassName() == "Array" {
		method, urlV, bodyV, paramsV = o.Get("0"), o.Get("1"), o.Get("2"), o.Get("3")
	} else {
		method, urlV, bodyV, paramsV = o.Get("method"), o.Get("url"), o.Get("body"), o.Get("params")
	}
	m := "GET"
	if isSet(method) {
		m = strings.ToUpper(method.String())
	}
	if m == "GET" || m == "HEAD" {
		bodyV = nil
	}
	return mi.newRequest(st, m, urlV, bodyV, paramsV)
}

// runBatch runs the items concurrently within the batch limits. The last
// item runs on the VU's own goroutine, which would otherwise only wait. A
// batch the limits let run all at once (no more items than batch and
// batchPerHost) needs no semaphores, and its other items run on the run's
// workers (asidePool), whose stacks have already grown to a round trip's
// depth; the items of a larger batch get a goroutine each, which waits for
// its turn and exits when done.
func (mi *Instance) runBatch(st *vustate.State, items []batchItem) {
	o := st.Options
	if o == nil {
		o = &options.Options{}
	}
	limit := int(options.Int(o.Batch, options.DefaultBatch))
	perHost := int(options.Int(o.BatchPerHost, options.DefaultBatchPerHost))
	if limit <= 0 {
		limit = len(items)
	}
	small := len(items) <= max(limit, 1) && (perHost <= 0 || len(items) <= perHost)
	var global chan struct{}
	var hosts map[hostID]chan struct{}
	if !small {
		global = make(chan struct{}, max(limit, 1))
		hosts = map[hostID]chan struct{}{}
	}
	var wg sync.WaitGroup
	last := -1 // the item the VU's goroutine runs
	for i := range items {
		if items[i].err == nil {
			last = i
		}
	}
	for i := range items {
		it := &items[i]
		if it.err != nil {
			it.res = mi.errorResult(it.rq, it.err)
			continue
		}
		var hostSem chan struct{}
		if perHost > 0 && !small {
			h := hostID{it.rq.url.Scheme, it.rq.url.Host}
			if hostSem = hosts[h]; hostSem == nil {
				hostSem = make(chan struct{}, perHost)
				hosts[h] = hostSem
			}
		}
		if i == last {
			mi.runItem(it, hostSem, global)
			continue
		}
		wg.Add(1)
		it.mi, it.hostSem, it.global, it.wg = mi, hostSem, global, &wg
		if p := mi.client.asidePool; p != nil && small {
			p.hand(it)
		} else {
			go it.run()
		}
	}
	wg.Wait()
	for i := range items {
		if p := items[i].panicked; p != nil {
			panic(p) // on the VU's goroutine, as if the item had run there
		}
	}
}

// runItem runs one batch item once the host's and the batch's limits let it
// (nil semaphores: no limit to wait for).
func (mi *Instance) runItem(it *batchItem, hostSem, global chan struct{}) {
	if hostSem != nil {
		hostSem <- struct{}{}
		defer func() { <-hostSem }()
	}
	if global != nil {
		global <- struct{}{}
		defer func() { <-global }()
	}
	it.res = mi.client.do(it.rq)
}

// run runs an item on a worker (or a goroutine of its own) and tells the
// batch's wait group, a panic included.
func (it *batchItem) run() {
	defer func() {
		it.panicked = recover()
		it.wg.Done()
	}()
	it.mi.runItem(it, it.hostSem, it.global)
}

// hostID is what batchPerHost counts requests by: scheme and host.
type hostID struct{ scheme, host string }
