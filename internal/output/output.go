// Package output streams every sample of a run to files or standard output
// (k6's --out): json[=FILE] writes k6's NDJSON lines, csv=FILE k6's CSV rows.
// A file name ending in .gz is gzip-compressed.
package output

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/tallyhq/tally/metrics"
)

// Output receives the samples of a run. The metrics engine calls Start once,
// then AddSamples from a single goroutine (never concurrently), then Stop.
type Output interface {
	// Description names the output for logs, e.g. "json (out.json.gz)".
	Description() string
	// Start opens the destination; describe tells a metric's thresholds
	// and sub-metrics (nil: none are known).
	Start(ctx context.Context, describe metrics.DescribeFunc) error
	// AddSamples writes a batch. The output must not keep the slice.
	AddSamples(batch metrics.Samples) error
	// Stop flushes and closes the destination (never standard output).
	Stop() error
}

// Params are what outputs may need from the process.
type Params struct {
	// Stdout receives json output without a file name.
	Stdout io.Writer
	Logger *slog.Logger
	// Getenv reads the process environment (K6_* settings of outputs);
	// nil means none is set.
	Getenv func(string) (string, bool)
	// Instance names this instance of a distributed run (INSTANCE, else
	// its execution segment, else "0") and RunID is the run's RUN_ID ("" when
	// unset): live outputs label every series with them.
	Instance, RunID string
}

// Env returns the value of the environment variable k ("" when unset).
func (p Params) Env(k string) string {
	if p.Getenv == nil {
		return ""
	}
	v, _ := p.Getenv(k)
	return v
}

// EnvPairs reads the environment variable k as a list of name<sep>value
// pairs separated by commas (e.g. headers) into into; "" when unset adds
// nothing. format is the example the error shows.
func (p Params) EnvPairs(k, sep, format string, into map[string]string) error {
	v := p.Env(k)
	if v == "" {
		return nil
	}
	for _, kv := range strings.Split(v, ",") {
		name, val, ok := strings.Cut(kv, sep)
		if !ok {
			return fmt.Errorf("%s=%q: use %s", k, v, format)
		}
		into[strings.TrimSpace(name)] = strings.TrimSpace(val)
	}
	return nil
}

// Factory makes an output of a registered type from the text after "=" in
// its --out spec ("" when there is none).
type Factory func(arg string, p Params) (Output, error)

// factories are the output types registered by other packages (Register).
var factories = map[string]Factory{}

// Register adds an output type; packages call it from init. Registering a
// type twice panics.
func Register(typ string, f Factory) {
	if _, dup := factories[typ]; dup {
		panic("output: type " + typ + " registered twice")
	}
	factories[typ] = f
	Types = append(Types, typ)
}

// SummaryStateType is the --out type of the mergeable end-of-run state
// (summary-state=FILE). The engine writes it itself, at the end of the run,
// rather than streaming samples to it; see SplitSummaryState.
const SummaryStateType = "summary-state"

// Types lists the output types --out accepts.
var Types = []string{"json", "csv", SummaryStateType}

// SplitSummaryState separates the summary-state=FILE specs (returning their
// files) from the specs of streaming outputs. A summary-state spec without
// a file is an error.
func SplitSummaryState(specs []string) (files, rest []string, err error) {
	for _, s := range specs {
		typ, arg, _ := strings.Cut(s, "=")
		if strings.TrimSpace(typ) != SummaryStateType {
			rest = append(rest, s)
			continue
		}
		if strings.TrimSpace(arg) == "" {
			return nil, nil, fmt.Errorf("--out %q: the summary-state output needs a file, e.g. --out summary-state=state-0.json", s)
		}
		files = append(files, arg)
	}
	return files, rest, nil
}

// New returns the output described by spec, `TYPE[=ARG]` as given to --out:
// "json" (standard output), "json=FILE", "csv=FILE". Files are created (or
// truncated) at Start, relative to the working directory. An unknown type or
// a missing argument is an error naming the spec.
func New(spec string, p Params) (Output, error) {
	typ, arg, _ := strings.Cut(spec, "=")
	typ = strings.TrimSpace(typ)
	switch typ {
	case "json":
		if arg == "" || arg == "-" {
			if p.Stdout == nil {
				return nil, errors.New("--out json: no standard output to write to")
			}
			return &jsonOutput{dest: destination{stdout: p.Stdout}}, nil
		}
		return &jsonOutput{dest: destination{path: arg}}, nil
	case "csv":
		if arg == "" {
			return nil, fmt.Errorf("--out %q: the csv output needs a file, e.g. --out csv=results.csv", spec)
		}
		return &csvOutput{dest: destination{path: arg}}, nil
	case "web-dashboard":
		return nil, fmt.Errorf("--out %q: the web dashboard is set up by the run itself (package dashboard), not by output.New", spec)
	case "":
		return nil, fmt.Errorf("--out %q: missing output type; use one of %s", spec, strings.Join(Types, ", "))
	}
	if f, ok := factories[typ]; ok {
		return f(arg, p)
	}
	return nil, fmt.Errorf("--out %q: unknown output type %q; tally supports %s (e.g. --out json=results.json)", spec, typ, strings.Join(Types, ", "))
}

// NewAll returns one output per spec, in order.
func NewAll(specs []string, p Params) ([]Output, error) {
	outs := make([]Output, 0, len(specs))
	for _, s := range specs {
		o, err := New(s, p)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// destination is a buffered writer on a file (gzip when the name ends in
// .gz) or on standard output.
type destination struct {
	path   string
	stdout io.Writer

	file *os.File
	gz   *gzip.Writer
	w    *bufio.Writer
}

func (d *destination) name() string {
	if d.path == "" {
		return "stdout"
	}
	return d.path
}

func (d *destination) open() error {
	if d.path == "" {
		d.w = bufio.NewWriterSize(d.stdout, 64<<10)
		return nil
	}
	f, err := os.Create(d.path)
	if err != nil {
		return fmt.Errorf("open output file: %w", err)
	}
	d.file = f
	var w io.Writer = f
	if strings.HasSuffix(d.path, ".gz") {
		d.gz = gzip.NewWriter(f)
		w = d.gz
	}
	d.w = bufio.NewWriterSize(w, 64<<10)
	return nil
}

func (d *destination) close() error {
	if d.w == nil {
		return nil
	}
	err := d.w.Flush()
	if d.gz != nil {
		err = errors.Join(err, d.gz.Close())
	}
	if d.file != nil {
		err = errors.Join(err, d.file.Close())
	}
	d.w = nil
	if err != nil {
		return fmt.Errorf("write %s: %w", d.name(), err)
	}
	return nil
}
