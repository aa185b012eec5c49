// Package timeseries turns the samples of a run into per-interval
// aggregates in constant memory, for the web dashboard and the HTML report:
// VUs, request and iteration rates, failed requests, checks, latency
// percentiles overall and per endpoint (the "name" tag), and the ledger's
// counters. Each interval keeps a mergeable trend sink (exact up to
// metrics.ExactTrendLimit values, then a DDSketch) for its percentiles.
//
// A run's series never holds more than MaxBuckets intervals: when a sample
// falls beyond the last one, adjacent pairs are merged and the interval
// width doubles. A 60-second and a 60-minute run therefore produce series of
// similar size (60 one-second points, 225 sixteen-second points).
package timeseries

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/tallyhq/tally/metrics"
)

// Defaults of Config.
const (
	DefaultWidth        = time.Second
	DefaultMaxBuckets   = 240
	DefaultMaxEndpoints = 40
)

// OtherEndpoint collects the requests of endpoints beyond MaxEndpoints.
const OtherEndpoint = "(other endpoints)"

// Config configures an Aggregator.
type Config struct {
	// Width is the initial interval width; 0 means DefaultWidth.
	Width time.Duration
	// MaxBuckets bounds the number of intervals (at least 2); 0 means
	// DefaultMaxBuckets.
	MaxBuckets int
	// MaxEndpoints bounds the distinct "name" tags tracked separately; 0
	// means DefaultMaxEndpoints.
	MaxEndpoints int
}

// kind is how the aggregator treats a metric.
type kind uint8

const (
	kindUnknown kind = iota // not classified yet
	kindIgnored
	kindVUs
	kindVUsMax
	kindReqs
	kindReqFailed
	kindReqDuration
	kindIterations
	kindDropped
	kindChecks
	kindLedgerOps
	kindLedgerViolations
	kindLedgerDiscrepancies
	kindLedgerVerified
)

var kindByName = map[string]kind{
	metrics.VUsName:               kindVUs,
	metrics.VUsMaxName:            kindVUsMax,
	metrics.HTTPReqsName:          kindReqs,
	metrics.HTTPReqFailedName:     kindReqFailed,
	metrics.HTTPReqDurationName:   kindReqDuration,
	metrics.IterationsName:        kindIterations,
	metrics.DroppedIterationsName: kindDropped,
	metrics.ChecksName:            kindChecks,
	"ledger_ops":                  kindLedgerOps,
	"ledger_online_violations":    kindLedgerViolations,
	"ledger_discrepancies":        kindLedgerDiscrepancies,
	"ledger_accounts_verified":    kindLedgerVerified,
}

// endpointAgg is the traffic of one endpoint in one interval (or the run).
type endpointAgg struct {
	dur    metrics.TrendSink
	failed metrics.RateSink
}

// bucket is one interval.
type bucket struct {
	vus, vusMax metrics.GaugeSink
	reqs        float64
	failed      metrics.RateSink
	dur         metrics.TrendSink
	iters       float64
	dropped     float64
	checks      metrics.RateSink
	endpoints   map[int]*endpointAgg // by endpoint index

	// ledger_ops{kind:deduct} by outcome, online violations, discrepancies.
	deductOK, deductInsufficient, deductUnknown, deductRejected float64
	violations, discrepancies                                   float64
}

func (b *bucket) merge(o *bucket) {
	b.vus.Merge(&o.vus)
	b.vusMax.Merge(&o.vusMax)
	b.reqs += o.reqs
	b.failed.Merge(&o.failed)
	b.dur.Merge(&o.dur)
	b.iters += o.iters
	b.dropped += o.dropped
	b.checks.Merge(&o.checks)
	for i, e := range o.endpoints {
		b.endpoint(i).merge(e)
	}
	b.deductOK += o.deductOK
	b.deductInsufficient += o.deductInsufficient
	b.deductUnknown += o.deductUnknown
	b.deductRejected += o.deductRejected
	b.violations += o.violations
	b.discrepancies += o.discrepancies
}

func (b *bucket) endpoint(i int) *endpointAgg {
	if b.endpoints == nil {
		b.endpoints = map[int]*endpointAgg{}
	}
	e := b.endpoints[i]
	if e == nil {
		e = &endpointAgg{}
		b.endpoints[i] = e
	}
	return e
}

func (e *endpointAgg) merge(o *endpointAgg) {
	e.dur.Merge(&o.dur)
	e.failed.Merge(&o.failed)
}

// Aggregator folds samples into intervals. It is safe for concurrent use.
type Aggregator struct {
	mu           sync.Mutex
	width        time.Duration
	maxBuckets   int
	maxEndpoints int

	kinds   []kind // by Metric.Index
	origin  time.Time
	latest  time.Time
	buckets []*bucket

	endpointNames []string
	endpointIdx   map[string]int
	endpointTotal []*endpointAgg // whole run, by endpoint index

	// Whole-run aggregates (live figures).
	total      bucket
	ledgerSeen bool
	verified   metrics.RateSink
	samples    int64
}

// New returns an empty Aggregator.
func New(cfg Config) *Aggregator {
	a := &Aggregator{width: cfg.Width, maxBuckets: cfg.MaxBuckets, maxEndpoints: cfg.MaxEndpoints,
		endpointIdx: map[string]int{}}
	if a.width <= 0 {
		a.width = DefaultWidth
	}
	if a.maxBuckets < 2 {
		a.maxBuckets = DefaultMaxBuckets
	}
	if a.maxEndpoints <= 0 {
		a.maxEndpoints = DefaultMaxEndpoints
	}
	return a
}

func (a *Aggregator) kindOf(m *metrics.Metric) kind {
	if m.Index >= len(a.kinds) {
		grown := make([]kind, m.Index+16)
		copy(grown, a.kinds)
		a.kinds = grown
	}
	k := a.kinds[m.Index]
	if k == kindUnknown {
		k = kindByName[m.Name]
		if k == kindUnknown {
			k = kindIgnored
		}
		a.kinds[m.Index] = k
	}
	return k
}

// bucketAt returns the interval holding t, merging intervals when t lies
// beyond the last one. Samples before the origin go to the first interval.
func (a *Aggregator) bucketAt(t time.Time) *bucket {
	if a.origin.IsZero() {
		a.origin = t
	}
	if t.After(a.latest) {
		a.latest = t
	}
	d := t.Sub(a.origin)
	if d < 0 {
		d = 0
	}
	i := int(d / a.width)
	for i >= a.maxBuckets {
		a.compact()
		i = int(d / a.width)
	}
	for len(a.buckets) <= i {
		a.buckets = append(a.buckets, nil)
	}
	b := a.buckets[i]
	if b == nil {
		b = &bucket{}
		a.buckets[i] = b
	}
	return b
}

// compact merges adjacent pairs of intervals and doubles the width.
func (a *Aggregator) compact() {
	n := (len(a.buckets) + 1) / 2
	for i := 0; i < n; i++ {
		x := a.buckets[2*i]
		var y *bucket
		if 2*i+1 < len(a.buckets) {
			y = a.buckets[2*i+1]
		}
		switch {
		case x == nil:
			x = y
		case y != nil:
			x.merge(y)
		}
		a.buckets[i] = x
	}
	clear(a.buckets[n:])
	a.buckets = a.buckets[:n]
	a.width *= 2
}

func (a *Aggregator) endpointIndex(tags *metrics.TagSet) int {
	name, ok := tags.Get("name")
	if !ok {
		name = "(no name)"
	}
	if i, ok := a.endpointIdx[name]; ok {
		return i
	}
	if len(a.endpointNames) >= a.maxEndpoints {
		name = OtherEndpoint
		if i, ok := a.endpointIdx[name]; ok {
			return i
		}
	}
	i := len(a.endpointNames)
	a.endpointNames = append(a.endpointNames, name)
	a.endpointIdx[name] = i
	a.endpointTotal = append(a.endpointTotal, &endpointAgg{})
	return i
}

// Add folds a batch of samples in. Samples of metrics the series do not
// show cost one slice lookup each.
func (a *Aggregator) Add(batch metrics.Samples) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range batch {
		s := &batch[i]
		if s.Metric == nil {
			continue
		}
		k := a.kindOf(s.Metric)
		if k == kindIgnored {
			continue
		}
		a.samples++
		b := a.bucketAt(s.Time)
		a.addTo(b, k, s)
		a.addTo(&a.total, k, s)
		switch k {
		case kindReqDuration, kindReqFailed:
			e := a.endpointIndex(s.Tags)
			a.addEndpoint(b.endpoint(e), k, s)
			a.addEndpoint(a.endpointTotal[e], k, s)
		case kindLedgerOps, kindLedgerViolations, kindLedgerDiscrepancies:
			a.ledgerSeen = true
		case kindLedgerVerified:
			a.ledgerSeen = true
			a.verified.Add(*s)
		}
	}
}

func (a *Aggregator) addEndpoint(e *endpointAgg, k kind, s *metrics.Sample) {
	if k == kindReqDuration {
		e.dur.AddValue(s.Value)
	} else {
		e.failed.Add(*s)
	}
}

func (a *Aggregator) addTo(b *bucket, k kind, s *metrics.Sample) {
	switch k {
	case kindVUs:
		b.vus.Add(*s)
	case kindVUsMax:
		b.vusMax.Add(*s)
	case kindReqs:
		b.reqs += s.Value
	case kindReqFailed:
		b.failed.Add(*s)
	case kindReqDuration:
		b.dur.AddValue(s.Value)
	case kindIterations:
		b.iters += s.Value
	case kindDropped:
		b.dropped += s.Value
	case kindChecks:
		b.checks.Add(*s)
	case kindLedgerOps:
		if kind, _ := s.Tags.Get("kind"); kind != "deduct" {
			return
		}
		switch outcome, _ := s.Tags.Get("outcome"); outcome {
		case "ok":
			b.deductOK += s.Value
		case "insufficient":
			b.deductInsufficient += s.Value
		case "rejected":
			b.deductRejected += s.Value
		default:
			b.deductUnknown += s.Value
		}
	case kindLedgerViolations:
		b.violations += s.Value
	case kindLedgerDiscrepancies:
		b.discrepancies += s.Value
	}
}

// Width returns the current interval width.
func (a *Aggregator) Width() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.width
}

// Len returns the number of intervals.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.buckets)
}

// Percentiles are the latency quantiles the series show, as fractions.
var Percentiles = []float64{0.5, 0.9, 0.95, 0.99}

// Snapshot is the series of a run so far, as the page draws them. Series
// hold one value per interval; null (NaN in Go, see Value) marks an
// interval without data. Durations are in milliseconds, rates per second,
// ratios in [0, 1].
type Snapshot struct {
	// Origin is the time of the first sample, in Unix milliseconds.
	Origin int64 `json:"origin"`
	// Width is the interval width in seconds.
	Width float64 `json:"width"`
	// Time is each interval's start, in seconds since Origin.
	Time []float64 `json:"time"`
	// Series are keyed by name: vus, vus_max, http_reqs (per second),
	// http_req_failed (ratio), p50, p90, p95, p99 (ms), iterations and
	// dropped_iterations (per second), checks (ratio of passes),
	// checks_failed (per second), and for ledger runs ledger_ok,
	// ledger_insufficient, ledger_unknown, ledger_rejected (deductions per
	// second), ledger_violations and ledger_discrepancies (counts per
	// interval).
	Series map[string][]Value `json:"series"`
	// Endpoints are the per-endpoint series and totals, busiest first.
	Endpoints []Endpoint `json:"endpoints"`
	// Totals are whole-run figures so far.
	Totals Totals `json:"totals"`
	// Ledger tells whether the run reported ledger metrics.
	Ledger bool `json:"ledger"`
}

// Endpoint is one endpoint ("name" tag of http_req_duration).
type Endpoint struct {
	Name string `json:"name"`
	// P95 is the p95 latency per interval (ms); Rate the requests per second.
	P95  []Value `json:"p95"`
	Rate []Value `json:"rate"`
	// Totals over the run so far.
	Requests int64 `json:"requests"`
	Failed   Value `json:"failed"` // ratio of failed requests
	Avg      Value `json:"avg"`
	P50      Value `json:"p50"`
	P90      Value `json:"p90"`
	P95Total Value `json:"p95_total"`
	P99      Value `json:"p99"`
	Max      Value `json:"max"`
}

// Totals are whole-run figures.
type Totals struct {
	Elapsed           float64 `json:"elapsed"` // seconds from the first to the latest sample
	VUs               Value   `json:"vus"`
	VUsMax            Value   `json:"vus_max"`
	Requests          float64 `json:"http_reqs"`
	RequestRate       Value   `json:"http_req_rate"`
	Failed            Value   `json:"http_req_failed"`
	P50               Value   `json:"p50"`
	P90               Value   `json:"p90"`
	P95               Value   `json:"p95"`
	P99               Value   `json:"p99"`
	Avg               Value   `json:"avg"`
	Iterations        float64 `json:"iterations"`
	DroppedIterations float64 `json:"dropped_iterations"`
	Checks            Value   `json:"checks"`
	ChecksPassed      int64   `json:"checks_passed"`
	ChecksFailed      int64   `json:"checks_failed"`

	LedgerOK            float64 `json:"ledger_ok"`
	LedgerInsufficient  float64 `json:"ledger_insufficient"`
	LedgerUnknown       float64 `json:"ledger_unknown"`
	LedgerRejected      float64 `json:"ledger_rejected"`
	LedgerViolations    float64 `json:"ledger_violations"`
	LedgerDiscrepancies float64 `json:"ledger_discrepancies"`
	// LedgerVerified is the ratio of accounts verified; LedgerAccounts the
	// accounts checked (0 before the verification).
	LedgerVerified Value `json:"ledger_verified"`
	LedgerAccounts int64 `json:"ledger_accounts"`
}

// Snapshot computes the series. The last interval may be partial: its
// per-second rates are over the part that has elapsed (up to the latest
// sample).
func (a *Aggregator) Snapshot() *Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.width.Seconds()
	s := &Snapshot{Width: w, Time: make([]float64, len(a.buckets)), Ledger: a.ledgerSeen}
	if !a.origin.IsZero() {
		s.Origin = a.origin.UnixMilli()
	}
	for i := range s.Time {
		s.Time[i] = float64(i) * w
	}
	elapsed := a.latest.Sub(a.origin).Seconds()
	s.Series = a.series(elapsed)
	s.Endpoints = a.endpoints(elapsed)
	s.Totals = a.totals(elapsed)
	return s
}

// span returns the seconds interval i's rates are divided by: the bucket
// width, except that the last interval counts only up to the latest sample
// (at least 1 s, so that one sample does not read as a huge rate).
func (a *Aggregator) span(i int, elapsed float64) float64 {
	w := a.width.Seconds()
	if i == len(a.buckets)-1 {
		if part := elapsed - float64(i)*w; part < w {
			return math.Max(part, math.Min(w, 1))
		}
	}
	return w
}

// series returns the run-wide series, one value per interval (Null for an
// interval without samples); the ledger series only once the ledger was
// seen.
func (a *Aggregator) series(elapsed float64) map[string][]Value {
	names := []string{"vus", "vus_max", "http_reqs", "http_req_failed", "p50", "p90", "p95", "p99",
		"iterations", "dropped_iterations", "checks", "checks_failed"}
	if a.ledgerSeen {
		names = append(names, "ledger_ok", "ledger_insufficient", "ledger_unknown", "ledger_rejected",
			"ledger_violations", "ledger_discrepancies")
	}
	series := make(map[string][]Value, len(names))
	for _, name := range names {
		series[name] = make([]Value, len(a.buckets))
	}
	for i, b := range a.buckets {
		set := func(name string, v Value) { series[name][i] = v }
		if b == nil {
			for _, name := range names {
				set(name, Null)
			}
			continue
		}
		sp := a.span(i, elapsed)
		set("vus", gauge(&b.vus))
		set("vus_max", gauge(&b.vusMax))
		set("http_reqs", Value(b.reqs/sp))
		set("http_req_failed", rate(&b.failed))
		for j, q := range Percentiles {
			set(names[4+j], quantile(&b.dur, q))
		}
		set("iterations", Value(b.iters/sp))
		set("dropped_iterations", Value(b.dropped/sp))
		set("checks", rate(&b.checks))
		set("checks_failed", Value(float64(b.checks.Total-b.checks.Trues)/sp))
		if a.ledgerSeen {
			set("ledger_ok", Value(b.deductOK/sp))
			set("ledger_insufficient", Value(b.deductInsufficient/sp))
			set("ledger_unknown", Value(b.deductUnknown/sp))
			set("ledger_rejected", Value(b.deductRejected/sp))
			set("ledger_violations", Value(b.violations))
			set("ledger_discrepancies", Value(b.discrepancies))
		}
	}
	return series
}

// endpoints returns every endpoint's totals and per-interval p95 and
// request rate, the busiest first.
func (a *Aggregator) endpoints(elapsed float64) []Endpoint {
	n := len(a.buckets)
	var out []Endpoint
	for i, name := range a.endpointNames {
		tot := a.endpointTotal[i]
		e := Endpoint{Name: name, P95: make([]Value, n), Rate: make([]Value, n),
			Requests: tot.dur.Count(), Failed: rate(&tot.failed), Avg: Null, Max: Null,
			P50: quantile(&tot.dur, 0.5), P90: quantile(&tot.dur, 0.9), P95Total: quantile(&tot.dur, 0.95),
			P99: quantile(&tot.dur, 0.99)}
		if tot.dur.Count() > 0 {
			e.Avg, e.Max = Value(tot.dur.Avg()), Value(tot.dur.Max())
		}
		for j, b := range a.buckets {
			e.P95[j], e.Rate[j] = Null, Null
			if b == nil {
				continue
			}
			if ea := b.endpoints[i]; ea != nil {
				e.P95[j] = quantile(&ea.dur, 0.95)
				e.Rate[j] = Value(float64(ea.dur.Count()) / a.span(j, elapsed))
			} else {
				e.Rate[j] = 0
			}
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Requests > out[j].Requests })
	return out
}

// totals returns the whole run's figures so far.
func (a *Aggregator) totals(elapsed float64) Totals {
	t := &a.total
	tot := Totals{Elapsed: elapsed, VUs: gauge(&t.vus), VUsMax: Null, Requests: t.reqs, RequestRate: Null,
		Failed: rate(&t.failed), P50: quantile(&t.dur, 0.5), P90: quantile(&t.dur, 0.9),
		P95: quantile(&t.dur, 0.95), P99: quantile(&t.dur, 0.99), Avg: Null,
		Iterations: t.iters, DroppedIterations: t.dropped, Checks: rate(&t.checks),
		ChecksPassed: t.checks.Trues, ChecksFailed: t.checks.Total - t.checks.Trues,
		LedgerOK: t.deductOK, LedgerInsufficient: t.deductInsufficient, LedgerUnknown: t.deductUnknown,
		LedgerRejected: t.deductRejected, LedgerViolations: t.violations, LedgerDiscrepancies: t.discrepancies,
		LedgerVerified: rate(&a.verified), LedgerAccounts: a.verified.Total}
	if !t.vusMax.IsEmpty() {
		tot.VUsMax = Value(t.vusMax.Max)
	}
	if elapsed > 0 {
		tot.RequestRate = Value(t.reqs / elapsed)
	}
	if t.dur.Count() > 0 {
		tot.Avg = Value(t.dur.Avg())
	}
	return tot
}

func gauge(g *metrics.GaugeSink) Value {
	if g.IsEmpty() {
		return Null
	}
	return Value(g.Value)
}

func rate(r *metrics.RateSink) Value {
	if r.IsEmpty() {
		return Null
	}
	return Value(r.Rate())
}

func quantile(t *metrics.TrendSink, q float64) Value {
	if t.IsEmpty() {
		return Null
	}
	return Value(t.P(q))
}
