// Package otlp is the opentelemetry output: every sample goes into an
// OpenTelemetry instrument of the official Go SDK (counters as Float64Counter,
// gauges as Float64Gauge, rates as two Int64Counters NAME.occurred and
// NAME.total, trends as Float64Histogram), and the SDK's periodic reader
// exports them over OTLP/HTTP (protobuf) every export interval, as k6's output
// of that name does with the K6_OTEL_* variables. Every data point carries the
// instance and run_id attributes.
//
// Recording only updates in-memory aggregates; exports run on the reader's
// goroutine with a timeout, so a slow or absent collector never slows the
// test. Failed exports are counted and reported at the end of the run (with
// cumulative temporality a lost export loses resolution, not counts).
package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelmetric "go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/metrics"
)

// Type is the --out type, k6's name for the output.
const Type = "opentelemetry"

// Defaults of the K6_OTEL_* settings.
const (
	DefaultEndpoint       = "localhost:4318"
	DefaultURLPath        = "/v1/metrics"
	DefaultExportInterval = 10 * time.Second
	DefaultPrefix         = "k6."
	DefaultServiceName    = "tally"
	// stopTimeout bounds the last export at the end of the run.
	stopTimeout = 5 * time.Second
)

func init() { output.Register(Type, New) }

// Config is the output's configuration, from K6_OTEL_* variables.
type Config struct {
	Endpoint       string // host:port
	URLPath        string
	Insecure       bool // plain HTTP instead of HTTPS
	ExportInterval time.Duration
	Prefix         string
	ServiceName    string
	ServiceVersion string
	Headers        map[string]string
	// Attributes are added to every data point (instance, run_id).
	Attributes map[string]string
}

// ParseConfig reads K6_OTEL_EXPORTER_TYPE (only http), K6_OTEL_HTTP_EXPORTER_ENDPOINT,
// K6_OTEL_HTTP_EXPORTER_URL_PATH, K6_OTEL_HTTP_EXPORTER_INSECURE, K6_OTEL_EXPORT_INTERVAL,
// K6_OTEL_FLUSH_INTERVAL (checked; samples are recorded at once), K6_OTEL_METRIC_PREFIX,
// K6_OTEL_SERVICE_NAME, K6_OTEL_SERVICE_VERSION and K6_OTEL_HEADERS (k=v,k=v).
func ParseConfig(p output.Params) (Config, error) {
	c := Config{Endpoint: DefaultEndpoint, URLPath: DefaultURLPath, ExportInterval: DefaultExportInterval,
		Prefix: DefaultPrefix, ServiceName: DefaultServiceName, Headers: map[string]string{}, Attributes: map[string]string{}}
	if v := p.Env("K6_OTEL_EXPORTER_TYPE"); v != "" && v != "http" {
		return c, fmt.Errorf("K6_OTEL_EXPORTER_TYPE=%q: tally exports over OTLP/HTTP only; set it to http (collectors listen on 4318 for it)", v)
	}
	if v := p.Env("K6_OTEL_HTTP_EXPORTER_ENDPOINT"); v != "" {
		if strings.Contains(v, "://") || strings.Contains(v, "/") {
			return c, fmt.Errorf("K6_OTEL_HTTP_EXPORTER_ENDPOINT=%q: give host:port (e.g. 127.0.0.1:4318); the path is K6_OTEL_HTTP_EXPORTER_URL_PATH", v)
		}
		c.Endpoint = v
	}
	if v := p.Env("K6_OTEL_HTTP_EXPORTER_URL_PATH"); v != "" {
		c.URLPath = v
	}
	if v := p.Env("K6_OTEL_HTTP_EXPORTER_INSECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("K6_OTEL_HTTP_EXPORTER_INSECURE=%q is not a boolean", v)
		}
		c.Insecure = b
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"K6_OTEL_EXPORT_INTERVAL", &c.ExportInterval}, {"K6_OTEL_FLUSH_INTERVAL", new(time.Duration)}} {
		if v := p.Env(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return c, fmt.Errorf("%s=%q is not a positive duration, e.g. 10s", d.name, v)
			}
			*d.dst = t
		}
	}
	if v, ok := lookup(p, "K6_OTEL_METRIC_PREFIX"); ok {
		c.Prefix = v
	}
	if v := p.Env("K6_OTEL_SERVICE_NAME"); v != "" {
		c.ServiceName = v
	}
	c.ServiceVersion = p.Env("K6_OTEL_SERVICE_VERSION")
	if err := p.EnvPairs("K6_OTEL_HEADERS", "=", "name=value,name=value", c.Headers); err != nil {
		return c, err
	}
	if p.Instance != "" {
		c.Attributes["instance"] = p.Instance
	}
	if p.RunID != "" {
		c.Attributes["run_id"] = p.RunID
	}
	return c, nil
}

func lookup(p output.Params, k string) (string, bool) {
	if p.Getenv == nil {
		return "", false
	}
	return p.Getenv(k)
}

// New returns the output configured by the environment in p; arg must be empty.
func New(arg string, p output.Params) (output.Output, error) {
	if arg != "" {
		return nil, fmt.Errorf("--out %s=%s: the output takes no argument; set K6_OTEL_HTTP_EXPORTER_ENDPOINT", Type, arg)
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
	return &Output{cfg: cfg, log: log, inst: map[*metrics.Metric]*instrument{}, attrs: map[*metrics.TagSet]otelmetric.MeasurementOption{}}
}

// Output is the OpenTelemetry output.
type Output struct {
	cfg   Config
	log   *slog.Logger
	mp    *sdkmetric.MeterProvider
	meter otelmetric.Meter
	exp   *countingExporter

	inst  map[*metrics.Metric]*instrument
	attrs map[*metrics.TagSet]otelmetric.MeasurementOption
	base  []attribute.KeyValue
}

// instrument is the OpenTelemetry instrument (or two) of one metric.
type instrument struct {
	counter       otelmetric.Float64Counter
	gauge         otelmetric.Float64Gauge
	occurred, tot otelmetric.Int64Counter
	hist          otelmetric.Float64Histogram
	err           error
}

// Description names the output and its endpoint.
func (o *Output) Description() string {
	return fmt.Sprintf("%s (%s%s)", Type, o.cfg.Endpoint, o.cfg.URLPath)
}

// countingExporter counts the exports that failed.
type countingExporter struct {
	sdkmetric.Exporter
	ok, failed atomic.Int64
	lastErr    atomic.Value
}

func (c *countingExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := c.Exporter.Export(ctx, rm)
	if err != nil {
		c.failed.Add(1)
		c.lastErr.Store(err.Error())
		return err
	}
	c.ok.Add(1)
	return nil
}

// Start creates the exporter, the periodic reader and the meter.
func (o *Output) Start(ctx context.Context, _ metrics.DescribeFunc) error {
	opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(o.cfg.Endpoint), otlpmetrichttp.WithURLPath(o.cfg.URLPath),
		otlpmetrichttp.WithTimeout(max(o.cfg.ExportInterval, time.Second)),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false})}
	if o.cfg.Insecure {
		opts = append(opts, otlpmetrichttp.WithInsecure())
	}
	if len(o.cfg.Headers) > 0 {
		opts = append(opts, otlpmetrichttp.WithHeaders(o.cfg.Headers))
	}
	exp, err := otlpmetrichttp.New(ctx, opts...)
	if err != nil {
		return fmt.Errorf("opentelemetry exporter: %w", err)
	}
	o.exp = &countingExporter{Exporter: exp}
	res := []attribute.KeyValue{attribute.String("service.name", o.cfg.ServiceName)}
	if o.cfg.ServiceVersion != "" {
		res = append(res, attribute.String("service.version", o.cfg.ServiceVersion))
	}
	if v := o.cfg.Attributes["instance"]; v != "" {
		res = append(res, attribute.String("service.instance.id", v))
	}
	o.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(resource.NewSchemaless(res...)),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(o.exp, sdkmetric.WithInterval(o.cfg.ExportInterval),
			sdkmetric.WithTimeout(max(o.cfg.ExportInterval, time.Second)))))
	o.meter = o.mp.Meter("github.com/tallyhq/tally")
	for k, v := range o.cfg.Attributes {
		o.base = append(o.base, attribute.String(k, v))
	}
	return nil
}

// AddSamples records a batch into the instruments (in memory).
func (o *Output) AddSamples(batch metrics.Samples) error {
	ctx := context.Background()
	for i := range batch {
		s := &batch[i]
		if s.Metric == nil {
			continue
		}
		in := o.instrument(s.Metric)
		if in.err != nil {
			continue
		}
		attrs := o.attributes(s.Tags)
		switch {
		case in.counter != nil:
			in.counter.Add(ctx, s.Value, attrs)
		case in.gauge != nil:
			in.gauge.Record(ctx, s.Value, attrs)
		case in.tot != nil:
			in.tot.Add(ctx, 1, attrs)
			if s.Value != 0 {
				in.occurred.Add(ctx, 1, attrs)
			}
		case in.hist != nil:
			in.hist.Record(ctx, s.Value, attrs)
		}
	}
	return nil
}

// InstrumentNames returns the instrument names a metric is exported as.
func InstrumentNames(prefix, name string, t metrics.MetricType) []string {
	if t == metrics.Rate {
		return []string{prefix + name + ".occurred", prefix + name + ".total"}
	}
	return []string{prefix + name}
}

func (o *Output) instrument(m *metrics.Metric) *instrument {
	if in, ok := o.inst[m]; ok {
		return in
	}
	in := &instrument{}
	names := InstrumentNames(o.cfg.Prefix, m.Name, m.Type)
	unit := ""
	switch m.Contains {
	case metrics.Time:
		unit = "ms"
	case metrics.Data:
		unit = "By"
	}
	switch m.Type {
	case metrics.Counter:
		in.counter, in.err = o.meter.Float64Counter(names[0], otelmetric.WithUnit(unit))
	case metrics.Gauge:
		in.gauge, in.err = o.meter.Float64Gauge(names[0], otelmetric.WithUnit(unit))
	case metrics.Rate:
		if in.occurred, in.err = o.meter.Int64Counter(names[0]); in.err == nil {
			in.tot, in.err = o.meter.Int64Counter(names[1])
		}
	default:
		in.hist, in.err = o.meter.Float64Histogram(names[0], otelmetric.WithUnit(unit))
	}
	if in.err != nil {
		o.log.Warn(fmt.Sprintf("%s: metric %s is not exported: %v", Type, m.Name, in.err))
	}
	o.inst[m] = in
	return in
}

// maxAttrCache bounds the tag-set cache; it is emptied when full.
const maxAttrCache = 4096

func (o *Output) attributes(tags *metrics.TagSet) otelmetric.MeasurementOption {
	if a, ok := o.attrs[tags]; ok {
		return a
	}
	kv := append([]attribute.KeyValue(nil), o.base...)
	if tags != nil {
		for _, t := range tags.Tags() {
			if t.Key == "url" {
				continue // the unbounded twin of "name"
			}
			kv = append(kv, attribute.String(t.Key, t.Value))
		}
	}
	a := otelmetric.WithAttributeSet(attribute.NewSet(kv...))
	if len(o.attrs) >= maxAttrCache {
		clear(o.attrs)
	}
	o.attrs[tags] = a
	return a
}

// Stats are the output's export counts.
type Stats struct{ Exported, Failed int64 }

// Stats returns the export counts so far.
func (o *Output) Stats() Stats {
	if o.exp == nil {
		return Stats{}
	}
	return Stats{Exported: o.exp.ok.Load(), Failed: o.exp.failed.Load()}
}

// Stop exports a last time (waiting at most 5 s) and reports failed exports.
func (o *Output) Stop() error {
	if o.mp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := o.mp.Shutdown(ctx); err != nil && o.exp.failed.Load() == 0 {
		o.exp.failed.Add(1)
		o.exp.lastErr.Store(err.Error())
	}
	st := o.Stats()
	if st.Failed > 0 {
		msg := fmt.Sprintf("%s: %d exports to %s%s succeeded, %d failed", Type, st.Exported, o.cfg.Endpoint, o.cfg.URLPath, st.Failed)
		if e, ok := o.exp.lastErr.Load().(string); ok {
			msg += " (last error: " + e + ")"
		}
		o.log.Warn(msg)
	}
	return nil
}
