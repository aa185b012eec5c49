// Package promrw is the experimental-prometheus-rw output: it keeps every
// series of the run (a metric and its tags) aggregated since the start and
// sends them every push interval to a Prometheus remote-write endpoint
// (protobuf, snappy; remote write 1.0, which every Prometheus since 2.25
// receives with --web.enable-remote-write-receiver), as k6's output of that
// name does: counters as k6_NAME_total, gauges as k6_NAME, rates as
// k6_NAME_rate, trends as one gauge per statistic of
// K6_PROMETHEUS_RW_TREND_STATS (k6_NAME_p99, k6_NAME_avg, ...; time values
// in seconds). Every series carries the instance and run_id labels.
//
// Sending never slows the test: samples are folded into the series in
// memory, a snapshot is queued every push interval, and a snapshot that
// finds the queue full (the receiver is slow or absent) is dropped and
// counted; the counts are logged at the end of the run.
package promrw

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/metrics"
)

// Type is the --out type, k6's name for the output.
const Type = "experimental-prometheus-rw"

// Defaults of the K6_PROMETHEUS_RW_* settings.
const (
	DefaultServerURL    = "http://localhost:9090/api/v1/write"
	DefaultPushInterval = 5 * time.Second
	DefaultTrendStats   = "p(99)"
	// DefaultMaxSeries bounds the series kept (TALLY_PROMETHEUS_RW_MAX_SERIES);
	// samples of further series are counted and left out.
	DefaultMaxSeries = 10000
	// queueLen is the number of snapshots waiting for the sender.
	queueLen = 2
	// stopTimeout bounds the final flush at the end of the run.
	stopTimeout = 5 * time.Second
)

func init() { output.Register(Type, New) }

// Config is the output's configuration, from K6_PROMETHEUS_RW_* variables.
type Config struct {
	ServerURL    string
	PushInterval time.Duration
	TrendStats   []string
	Headers      map[string]string
	Username     string
	Password     string
	BearerToken  string
	MaxSeries    int
	// Labels are added to every series (instance, run_id).
	Labels map[string]string
}

// ParseConfig reads the K6_PROMETHEUS_RW_* variables: SERVER_URL,
// PUSH_INTERVAL, TREND_STATS (comma-separated avg, min, med, max, count,
// sum, p(N)), USERNAME, PASSWORD, BEARER_TOKEN, HEADERS_<NAME>; and
// TALLY_PROMETHEUS_RW_MAX_SERIES. Errors name the variable.
func ParseConfig(p output.Params) (Config, error) {
	c := Config{ServerURL: DefaultServerURL, PushInterval: DefaultPushInterval, MaxSeries: DefaultMaxSeries,
		Headers: map[string]string{}, Labels: map[string]string{}}
	if v := p.Env("K6_PROMETHEUS_RW_SERVER_URL"); v != "" {
		c.ServerURL = v
	}
	u, err := url.Parse(c.ServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("K6_PROMETHEUS_RW_SERVER_URL=%q is not an http(s) URL, e.g. http://127.0.0.1:9090/api/v1/write", c.ServerURL)
	}
	if v := p.Env("K6_PROMETHEUS_RW_PUSH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("K6_PROMETHEUS_RW_PUSH_INTERVAL=%q is not a positive duration, e.g. 5s", v)
		}
		c.PushInterval = d
	}
	stats := DefaultTrendStats
	if v := p.Env("K6_PROMETHEUS_RW_TREND_STATS"); v != "" {
		stats = v
	}
	for _, s := range strings.Split(stats, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if s != "sum" {
			if _, err := metrics.ParseTrendStat(s); err != nil {
				return c, fmt.Errorf("K6_PROMETHEUS_RW_TREND_STATS: %w (or sum)", err)
			}
		}
		c.TrendStats = append(c.TrendStats, s)
	}
	if v := p.Env("TALLY_PROMETHEUS_RW_MAX_SERIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("TALLY_PROMETHEUS_RW_MAX_SERIES=%q is not a positive number", v)
		}
		c.MaxSeries = n
	}
	c.Username, c.Password = p.Env("K6_PROMETHEUS_RW_USERNAME"), p.Env("K6_PROMETHEUS_RW_PASSWORD")
	c.BearerToken = p.Env("K6_PROMETHEUS_RW_BEARER_TOKEN")
	if err := p.EnvPairs("K6_PROMETHEUS_RW_HEADERS", ":", "Name:value,Name:value", c.Headers); err != nil {
		return c, err
	}
	if p.Instance != "" {
		c.Labels["instance"] = p.Instance
	}
	if p.RunID != "" {
		c.Labels["run_id"] = p.RunID
	}
	return c, nil
}

// New returns the output configured by the environment in p; arg (the text
// after "=") must be empty.
func New(arg string, p output.Params) (output.Output, error) {
	if arg != "" {
		return nil, fmt.Errorf("--out %s=%s: the output takes no argument; set K6_PROMETHEUS_RW_SERVER_URL", Type, arg)
	}
	cfg, err := ParseConfig(p)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", Type, err)
	}
	return NewWithConfig(cfg, p.Logger), nil
}

// NewWithConfig returns the output for cfg.
func NewWithConfig(cfg Config, log *slog.Logger) *Output {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Output{cfg: cfg, log: log, series: map[string]*series{}, cache: map[cacheKey]*series{}}
}

// series is one metric with one tag set, aggregated since the start.
type series struct {
	metric *metrics.Metric
	labels []prompb.Label // without __name__, sorted
	sink   metrics.Sink
	gauge  float64
}

type cacheKey struct {
	m *metrics.Metric
	t *metrics.TagSet
}

// Output is the remote-write output.
type Output struct {
	cfg Config
	log *slog.Logger
	api *remote.API

	mu      sync.Mutex
	series  map[string]*series
	cache   map[cacheKey]*series
	order   []*series
	skipped int64 // samples of series beyond MaxSeries

	queue   chan *prompb.WriteRequest
	stop    chan struct{}
	pushed  sync.WaitGroup
	sent    sync.WaitGroup
	written atomic.Int64 // snapshots the receiver took
	dropped atomic.Int64 // snapshots that found the queue full
	failed  atomic.Int64 // snapshots the receiver refused or did not answer in time
	lastErr atomic.Value // string
}

// Description names the output and its endpoint.
func (o *Output) Description() string { return fmt.Sprintf("%s (%s)", Type, o.cfg.ServerURL) }

// headerTransport adds the configured headers and credentials to every request.
type headerTransport struct {
	cfg  Config
	next http.RoundTripper
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.cfg.Headers {
		r.Header.Set(k, v)
	}
	if h.cfg.BearerToken != "" {
		r.Header.Set("Authorization", "Bearer "+h.cfg.BearerToken)
	} else if h.cfg.Username != "" {
		r.SetBasicAuth(h.cfg.Username, h.cfg.Password)
	}
	return h.next.RoundTrip(r)
}

// Start prepares the client and starts the push loop.
func (o *Output) Start(context.Context, metrics.DescribeFunc) error {
	u, err := url.Parse(o.cfg.ServerURL)
	if err != nil {
		return err
	}
	path := u.Path
	u.Path, u.RawQuery = "", ""
	client := &http.Client{Timeout: max(o.cfg.PushInterval, time.Second),
		Transport: headerTransport{cfg: o.cfg, next: http.DefaultTransport}}
	o.api, err = remote.NewAPI(u.String(), remote.WithAPIHTTPClient(client), remote.WithAPIPath(path),
		remote.WithAPIBackoff(remote.BackoffConfig{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond, MaxRetries: 1}),
		remote.WithAPINoRetryOnRateLimit())
	if err != nil {
		return fmt.Errorf("prometheus remote write: %w", err)
	}
	o.queue = make(chan *prompb.WriteRequest, queueLen)
	o.stop = make(chan struct{})
	o.sent.Add(1)
	go o.sender()
	o.pushed.Add(1)
	go o.pusher()
	return nil
}

// AddSamples folds a batch into the series; it never waits for the network.
func (o *Output) AddSamples(batch metrics.Samples) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range batch {
		s := &batch[i]
		if s.Metric == nil {
			continue
		}
		ser := o.lookup(s.Metric, s.Tags)
		if ser == nil {
			o.skipped++
			continue
		}
		if s.Metric.Type == metrics.Gauge {
			ser.gauge = s.Value
			continue
		}
		ser.sink.Add(*s)
	}
	return nil
}

var invalidLabel = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// lookup returns the series of m with tags, creating it; nil when the
// series limit is reached.
func (o *Output) lookup(m *metrics.Metric, tags *metrics.TagSet) *series {
	ck := cacheKey{m, tags}
	if s, ok := o.cache[ck]; ok {
		return s
	}
	labels := map[string]string{}
	if tags != nil {
		for _, t := range tags.Tags() {
			if t.Key == "url" {
				continue // the unbounded twin of "name"
			}
			labels[invalidLabel.ReplaceAllString(t.Key, "_")] = t.Value
		}
	}
	for k, v := range o.cfg.Labels {
		if _, ok := labels[k]; !ok {
			labels[k] = v
		}
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(m.Name)
	ls := make([]prompb.Label, 0, len(keys))
	for _, k := range keys {
		b.WriteString("\xff" + k + "\xfe" + labels[k])
		ls = append(ls, prompb.Label{Name: k, Value: labels[k]})
	}
	key := b.String()
	s, ok := o.series[key]
	if !ok {
		if len(o.series) >= o.cfg.MaxSeries {
			return nil
		}
		s = &series{metric: m, labels: ls}
		if m.Type != metrics.Gauge {
			s.sink = metrics.NewSink(m.Type)
		}
		o.series[key] = s
		o.order = append(o.order, s)
	}
	if len(o.cache) >= 4*o.cfg.MaxSeries {
		clear(o.cache)
	}
	o.cache[ck] = s
	return s
}

// MetricNames returns the names of the series a metric of type t and
// value type contains, named name, is sent as with the trend statistics
// stats (the Grafana dashboard's test uses it).
func MetricNames(name string, t metrics.MetricType, stats []string) []string {
	switch t {
	case metrics.Counter:
		return []string{"k6_" + name + "_total"}
	case metrics.Gauge:
		return []string{"k6_" + name}
	case metrics.Rate:
		return []string{"k6_" + name + "_rate"}
	}
	out := make([]string, 0, len(stats))
	for _, st := range stats {
		out = append(out, "k6_"+name+"_"+statSuffix(st))
	}
	return out
}

// statSuffix turns a statistic into a metric-name suffix: p(99) → p99,
// p(99.9) → p999.
func statSuffix(stat string) string {
	if strings.HasPrefix(stat, "p(") {
		return "p" + strings.NewReplacer("p(", "", ")", "", ".", "").Replace(stat)
	}
	return stat
}

// snapshot builds a write request of every series at time now.
func (o *Output) snapshot(now time.Time) *prompb.WriteRequest {
	ts := now.UnixMilli()
	o.mu.Lock()
	defer o.mu.Unlock()
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(o.order))}
	add := func(s *series, name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		labels := make([]prompb.Label, 0, len(s.labels)+1)
		labels = append(labels, prompb.Label{Name: "__name__", Value: name})
		labels = append(labels, s.labels...)
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: labels, Samples: []prompb.Sample{{Value: v, Timestamp: ts}}})
	}
	for _, s := range o.order {
		names := MetricNames(s.metric.Name, s.metric.Type, o.cfg.TrendStats)
		switch sink := s.sink.(type) {
		case nil:
			add(s, names[0], s.gauge)
		case *metrics.CounterSink:
			add(s, names[0], sink.Sum)
		case *metrics.RateSink:
			add(s, names[0], sink.Rate())
		case *metrics.TrendSink:
			scale := 1.0
			if s.metric.Contains == metrics.Time {
				scale = 1e-3 // milliseconds to seconds
			}
			for i, st := range o.cfg.TrendStats {
				switch st {
				case "count":
					add(s, names[i], float64(sink.Count()))
				case "sum":
					add(s, names[i], sink.Sum()*scale)
				default:
					f, _ := metrics.ParseTrendStat(st)
					add(s, names[i], f(sink)*scale)
				}
			}
		}
	}
	return req
}

// pusher queues a snapshot every push interval, dropping it when the queue
// is full, and a last one when stopping.
func (o *Output) pusher() {
	defer o.pushed.Done()
	t := time.NewTicker(o.cfg.PushInterval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case now := <-t.C:
			select {
			case o.queue <- o.snapshot(now):
			default:
				o.dropped.Add(1)
			}
		}
	}
}

func (o *Output) sender() {
	defer o.sent.Done()
	for req := range o.queue {
		o.write(req)
	}
}

func (o *Output) write(req *prompb.WriteRequest) {
	if len(req.Timeseries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(o.cfg.PushInterval, time.Second))
	defer cancel()
	if _, err := o.api.Write(ctx, remote.WriteV1MessageType, req); err != nil {
		o.failed.Add(1)
		o.lastErr.Store(err.Error())
		return
	}
	o.written.Add(1)
}

// Stop sends a last snapshot (waiting at most 5 s for the receiver) and
// logs what could not be sent.
func (o *Output) Stop() error {
	if o.stop == nil {
		return nil
	}
	close(o.stop)
	o.pushed.Wait()
	final := o.snapshot(time.Now())
	done := make(chan struct{})
	go func() {
		o.queue <- final // the sender drains the queue
		close(o.queue)
		o.sent.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		o.dropped.Add(1)
		o.log.Warn(fmt.Sprintf("%s: the receiver did not take the last snapshot within %s; giving up on it", Type, stopTimeout))
	}
	o.report()
	return nil
}

// Stats are the output's delivery counts.
type Stats struct {
	Written, Dropped, Failed, SkippedSamples int64
}

// Stats returns the delivery counts so far.
func (o *Output) Stats() Stats {
	o.mu.Lock()
	skipped := o.skipped
	o.mu.Unlock()
	return Stats{Written: o.written.Load(), Dropped: o.dropped.Load(), Failed: o.failed.Load(), SkippedSamples: skipped}
}

func (o *Output) report() {
	st := o.Stats()
	if st.Dropped == 0 && st.Failed == 0 && st.SkippedSamples == 0 {
		o.log.Debug(fmt.Sprintf("%s: %d snapshots written", Type, st.Written))
		return
	}
	msg := fmt.Sprintf("%s: %d snapshots written to %s, %d dropped, %d failed", Type, st.Written, o.cfg.ServerURL, st.Dropped, st.Failed)
	if st.Dropped > 0 {
		msg += fmt.Sprintf(" (dropped: the receiver was slower than the push interval of %s)", o.cfg.PushInterval)
	}
	if e, ok := o.lastErr.Load().(string); ok {
		msg += " (last error: " + e + ")"
	}
	if st.SkippedSamples > 0 {
		msg += fmt.Sprintf("; %d samples of series beyond the limit of %d series were left out (TALLY_PROMETHEUS_RW_MAX_SERIES)", st.SkippedSamples, o.cfg.MaxSeries)
	}
	o.log.Warn(msg)
}
