package k6http

import (
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/tallyhq/tally/metrics"
)

// emit pushes the samples of one round trip as one batch.
func (c *client) emit(rq *request, res *result, method string, u *url.URL, hopURL string, now time.Time) {
	st := rq.state
	var h hopTags
	h.method = method
	if rq.name != "" {
		h.name, h.url = rq.name, rq.name
	} else {
		tag := hopURL
		if u != nil && u.User != nil {
			tag = maskURL(u)
		}
		h.name, h.url = tag, tag
	}
	h.status = statusString(res.status)
	h.proto = res.proto
	if res.errCode != 0 {
		h.errCode = strconv.Itoa(res.errCode)
	}
	h.err = res.err
	if res.tls != nil {
		h.tlsVersion = tlsVersionName(res.tls.Version)
	}
	var failed float64
	if rq.callback != nil {
		if rq.callback.expected(res.status) {
			h.expected = "true"
		} else {
			h.expected, failed = "false", 1
		}
	}
	if st.SystemTags.Has(metrics.TagIP) && res.remote != nil {
		if host, _, err := net.SplitHostPort(res.remote.String()); err == nil {
			h.ip = host
		}
	}
	tags := c.tagSets.get(rq.tags, st.SystemTags, &h)
	b := st.Builtin
	t := res.timings
	n := 8
	if rq.callback != nil {
		n = 9
	}
	s := make(metrics.Samples, n)
	s[0] = metrics.Sample{Metric: b.HTTPReqs, Value: 1}
	s[1] = metrics.Sample{Metric: b.HTTPReqDuration, Value: ms(t.duration)}
	s[2] = metrics.Sample{Metric: b.HTTPReqBlocked, Value: ms(t.blocked)}
	s[3] = metrics.Sample{Metric: b.HTTPReqConnecting, Value: ms(t.connecting)}
	s[4] = metrics.Sample{Metric: b.HTTPReqTLSHandshaking, Value: ms(t.tlsHandshaking)}
	s[5] = metrics.Sample{Metric: b.HTTPReqSending, Value: ms(t.sending)}
	s[6] = metrics.Sample{Metric: b.HTTPReqWaiting, Value: ms(t.waiting)}
	s[7] = metrics.Sample{Metric: b.HTTPReqReceiving, Value: ms(t.receiving)}
	if n == 9 {
		s[8] = metrics.Sample{Metric: b.HTTPReqFailed, Value: failed}
	}
	for i := range s {
		s[i].Time, s[i].Tags, s[i].Metadata = now, tags, rq.meta
	}
	st.Samples.Push(s)
}
