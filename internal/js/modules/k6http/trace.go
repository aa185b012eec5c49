package k6http

import (
	"crypto/tls"
	"net"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// timings are the phases of one round trip, as Response.timings reports them.
type timings struct {
	duration, blocked, lookingUp, connecting, tlsHandshaking, sending, waiting, receiving time.Duration
}

// ms converts d to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tracer records the events of one round trip through net/http/httptrace.
// Events are stored as offsets from start; hooks may run on transport
// goroutines, hence the atomics.
type tracer struct {
	now   func() time.Time
	start time.Time

	getConn, dnsStart, dnsDone, connectStart, connectDone atomic.Int64
	tlsStart, tlsDone, gotConn, wroteRequest, firstByte   atomic.Int64

	tlsState atomic.Pointer[tls.ConnectionState]
	// remote and reused are set by GotConn, which net/http calls on the
	// goroutine doing the round trip.
	remote net.Addr
	reused bool

	trace httptrace.ClientTrace
}

// newTracer returns a tracer whose ClientTrace hooks write into it.
func newTracer(now func() time.Time) *tracer {
	t := &tracer{now: now}
	t.trace = httptrace.ClientTrace{
		GetConn:              func(string) { t.mark(&t.getConn) },
		DNSStart:             func(httptrace.DNSStartInfo) { t.markOnce(&t.dnsStart) },
		DNSDone:              func(httptrace.DNSDoneInfo) { t.mark(&t.dnsDone) },
		ConnectStart:         func(string, string) { t.markOnce(&t.connectStart) },
		ConnectDone:          t.connectDoneHook,
		TLSHandshakeStart:    func() { t.mark(&t.tlsStart) },
		TLSHandshakeDone:     t.tlsDoneHook,
		GotConn:              t.gotConnHook,
		WroteRequest:         func(httptrace.WroteRequestInfo) { t.mark(&t.wroteRequest) },
		GotFirstResponseByte: func() { t.mark(&t.firstByte) },
	}
	return t
}

// reset prepares the tracer for another round trip starting now.
func (t *tracer) reset() {
	for _, a := range []*atomic.Int64{&t.getConn, &t.dnsStart, &t.dnsDone, &t.connectStart, &t.connectDone,
		&t.tlsStart, &t.tlsDone, &t.gotConn, &t.wroteRequest, &t.firstByte} {
		a.Store(0)
	}
	t.tlsState.Store(nil)
	t.reused = false
	t.remote = nil
	t.start = t.now()
}

// offset returns the time since start, at least 1ns so that 0 means "never".
func (t *tracer) offset() int64 {
	d := int64(t.now().Sub(t.start))
	if d <= 0 {
		d = 1
	}
	return d
}

func (t *tracer) mark(a *atomic.Int64) { a.Store(t.offset()) }

func (t *tracer) markOnce(a *atomic.Int64) { a.CompareAndSwap(0, t.offset()) }

func (t *tracer) connectDoneHook(_, _ string, err error) {
	if err == nil {
		t.mark(&t.connectDone)
	}
}

func (t *tracer) tlsDoneHook(cs tls.ConnectionState, err error) {
	t.mark(&t.tlsDone)
	if err == nil {
		t.tlsState.Store(&cs)
	}
}

func (t *tracer) gotConnHook(info httptrace.GotConnInfo) {
	t.mark(&t.gotConn)
	t.reused = info.Reused
	if info.Conn != nil {
		t.remote = info.Conn.RemoteAddr()
	}
}

// span returns b-a when both events happened in that order, else 0.
func span(a, b int64) time.Duration {
	if a == 0 || b == 0 || b < a {
		return 0
	}
	return time.Duration(b - a)
}

// done computes the timings of a round trip whose body was read completely
// at offset end (0 when the round trip failed before a response).
func (t *tracer) done(end int64) timings {
	get, got := t.getConn.Load(), t.gotConn.Load()
	wrote, first := t.wroteRequest.Load(), t.firstByte.Load()
	var tm timings
	tm.blocked = span(get, got)
	tm.lookingUp = span(t.dnsStart.Load(), t.dnsDone.Load())
	tm.connecting = span(t.connectStart.Load(), t.connectDone.Load())
	tm.tlsHandshaking = span(t.tlsStart.Load(), t.tlsDone.Load())
	tm.sending = span(got, wrote)
	tm.waiting = span(wrote, first)
	tm.receiving = span(first, end)
	tm.duration = tm.sending + tm.waiting + tm.receiving
	return tm
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "tls1.0"
	case tls.VersionTLS11:
		return "tls1.1"
	case tls.VersionTLS12:
		return "tls1.2"
	case tls.VersionTLS13:
		return "tls1.3"
	}
	return ""
}
