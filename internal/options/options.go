// Package options holds the test options of a run (k6's `options` object),
// reads them from the script, a config file, K6_* environment variables and
// CLI flags, and merges those layers with k6's precedence.
package options

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Stage is one step of a ramping executor: reach Target over Duration.
type Stage struct {
	Duration Duration `json:"duration"`
	Target   int64    `json:"target"`
}

// Options are a run's test options. A nil field is unset, so layers can be
// merged: a set field of a higher layer replaces the lower layer's value.
type Options struct {
	VUs        *int64    `json:"vus"`
	Duration   *Duration `json:"duration"`
	Iterations *int64    `json:"iterations"`
	Stages     []Stage   `json:"stages"`
	// Scenarios maps scenario names to their raw configuration; the
	// executor package parses and validates them.
	Scenarios map[string]json.RawMessage `json:"scenarios"`

	ExecutionSegment         *string `json:"executionSegment"`
	ExecutionSegmentSequence *string `json:"executionSegmentSequence"`

	// Thresholds maps metric names (with optional {tag:value} selectors)
	// to their raw threshold lists; the thresholds package parses them.
	Thresholds map[string]json.RawMessage `json:"thresholds"`

	SetupTimeout         *Duration `json:"setupTimeout"`
	TeardownTimeout      *Duration `json:"teardownTimeout"`
	HandleSummaryTimeout *Duration `json:"handleSummaryTimeout"`
	NoSetup              *bool     `json:"noSetup"`
	NoTeardown           *bool     `json:"noTeardown"`
	MinIterationDuration *Duration `json:"minIterationDuration"`

	Throw                 *bool   `json:"throw"`
	MaxRedirects          *int64  `json:"maxRedirects"`
	Batch                 *int64  `json:"batch"`
	BatchPerHost          *int64  `json:"batchPerHost"`
	RPS                   *int64  `json:"rps"`
	UserAgent             *string `json:"userAgent"`
	DiscardResponseBodies *bool   `json:"discardResponseBodies"`
	NoCookiesReset        *bool   `json:"noCookiesReset"`
	NoConnectionReuse     *bool   `json:"noConnectionReuse"`
	NoVUConnectionReuse   *bool   `json:"noVUConnectionReuse"`
	InsecureSkipTLSVerify *bool   `json:"insecureSkipTLSVerify"`
	HTTPDebug             *string `json:"httpDebug"`

	// Hosts maps host names (optionally "name:port", or "*.domain") to an
	// IP or IP:port the requests connect to instead of resolving the name.
	Hosts map[string]string `json:"hosts"`
	// TLSAuth lists client certificates, each for a set of domains.
	TLSAuth []TLSAuth `json:"tlsAuth"`
	// TLSVersion bounds the TLS versions offered.
	TLSVersion *TLSVersion `json:"tlsVersion"`
	// TLSCipherSuites restricts the cipher suites offered (TLS 1.0-1.2).
	TLSCipherSuites []string `json:"tlsCipherSuites"`

	Tags       map[string]string `json:"tags"`
	SystemTags []string          `json:"systemTags"`

	SummaryTrendStats []string `json:"summaryTrendStats"`
	SummaryTimeUnit   *string  `json:"summaryTimeUnit"`
	NoColor           *bool    `json:"noColor"`
}

// Defaults of options that have one, as k6 sets them.
const (
	DefaultMaxRedirects = 10
	DefaultBatch        = 20
	DefaultBatchPerHost = 6
	DefaultUserAgent    = "tally/" // the version is appended at run time
)

// DefaultSummaryTrendStats are the trend statistics shown when none are set.
var DefaultSummaryTrendStats = []string{"avg", "min", "med", "max", "p(90)", "p(95)"}

// InvalidError reports an option that cannot be used. Its message names the
// option; callers map it to exit code 104.
type InvalidError struct {
	Option string // the option's JSON name, e.g. "vus" or "scenarios.race.rate"
	Err    error
}

func (e *InvalidError) Error() string { return fmt.Sprintf("invalid option %q: %v", e.Option, e.Err) }

// Unwrap returns the cause.
func (e *InvalidError) Unwrap() error { return e.Err }

// knownKeys lists the JSON names of all Options fields.
var knownKeys = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeOf(Options{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[name] = i
	}
	return m
}()

// ignoredKeys are k6 options tally accepts without acting on them.
var ignoredKeys = map[string]bool{
	"cloud": true, "ext": true,
}

// unsupportedKeys are k6 options that change what k6 does but that tally
// does not implement; each one set logs a warning that names it.
var unsupportedKeys = map[string]string{
	"dns":               "tally resolves names with the system resolver (use hosts to pin names)",
	"blacklistIPs":      "requests to those IPs are not blocked",
	"blockHostnames":    "requests to those host names are not blocked",
	"localIPs":          "requests use the system's default source address",
	"linger":            "tally exits when the test ends",
	"paused":            "tally has no REST API to resume a paused test",
	"console":           "console output goes to the log",
	"consoleOutput":     "console output goes to the log",
	"compatibilityMode": "tally has one JavaScript mode",
}

// Parse decodes options from JSON (the script's exported `options`, or a
// config file). It returns the options and warnings about unknown keys; a
// value of the wrong type is an *InvalidError naming the option. The data
// must be exactly one JSON object (nothing after it, no key twice);
// otherwise the error is a *SyntaxError with the line and column.
func Parse(data []byte) (Options, []string, error) {
	var o Options
	if t := bytes.TrimSpace(data); len(t) == 0 || string(t) == "null" {
		return o, nil, nil
	}
	raw, err := decodeObject(data)
	if err != nil {
		return o, nil, err
	}
	var warnings []string
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	v := reflect.ValueOf(&o).Elem()
	for _, k := range keys {
		i, ok := knownKeys[k]
		if !ok {
			switch why, unsupported := unsupportedKeys[k]; {
			case unsupported:
				if string(bytes.TrimSpace(raw[k])) != "null" {
					warnings = append(warnings, fmt.Sprintf("option %q is not supported by tally and is ignored: %s", k, why))
				}
			case !ignoredKeys[k]:
				warnings = append(warnings, fmt.Sprintf("unknown option %q is ignored", k))
			}
			continue
		}
		val := bytes.TrimSpace(raw[k])
		if string(val) == "null" {
			continue
		}
		f := v.Field(i)
		ptr := reflect.New(f.Type())
		if err := json.Unmarshal(val, ptr.Interface()); err != nil {
			return Options{}, warnings, &InvalidError{Option: k, Err: typeError(err, val)}
		}
		f.Set(ptr.Elem())
	}
	if err := o.validateTLS(); err != nil {
		return Options{}, warnings, err
	}
	return o, warnings, nil
}

func typeError(err error, val []byte) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s is not a valid %s", abbreviate(val), typeName(te.Type.String()))
	}
	return err
}

// typeName names a Go type the way a script author thinks of it.
func typeName(t string) string {
	switch {
	case strings.Contains(t, "int"):
		return "integer"
	case strings.Contains(t, "float"):
		return "number"
	case t == "bool":
		return "boolean"
	case t == "string":
		return "string"
	case strings.HasPrefix(t, "[]"):
		return "array"
	case strings.HasPrefix(t, "map"), strings.Contains(t, "Options"):
		return "object"
	}
	return t
}

func abbreviate(b []byte) string {
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// executionKeys are the options that together describe the load shape.
var executionKeys = []string{"duration", "iterations", "stages", "scenarios"}

func (o *Options) setsExecution() bool {
	return o.Duration != nil || o.Iterations != nil || o.Stages != nil || o.Scenarios != nil
}

// Apply returns o overridden by every option set in higher. As in k6, when
// higher sets any of duration, iterations, stages or scenarios, all four are
// first cleared from o.
func (o Options) Apply(higher Options) Options {
	out := o
	if higher.setsExecution() {
		out.Duration, out.Iterations, out.Stages, out.Scenarios = nil, nil, nil, nil
	}
	dst := reflect.ValueOf(&out).Elem()
	src := reflect.ValueOf(higher)
	for i := 0; i < src.NumField(); i++ {
		if f := src.Field(i); !f.IsNil() {
			dst.Field(i).Set(f)
		}
	}
	return out
}

// JSON returns the options as a JSON object with every known key (null for
// unset ones), as k6's `test.options` shows them.
func (o Options) JSON() map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(o)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		f := v.Field(i)
		if f.IsNil() {
			out[name] = nil
			continue
		}
		b, err := json.Marshal(f.Interface())
		if err != nil {
			out[name] = nil
			continue
		}
		var x any
		_ = json.Unmarshal(b, &x)
		out[name] = x
	}
	return out
}

// Int returns *p, or def when p is nil.
func Int(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

// Bool returns *p, or false when p is nil.
func Bool(p *bool) bool { return p != nil && *p }

// String returns *p, or def when p is nil.
func String(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// Dur returns *p, or def when p is nil.
func Dur(p *Duration, def Duration) Duration {
	if p == nil {
		return def
	}
	return *p
}
