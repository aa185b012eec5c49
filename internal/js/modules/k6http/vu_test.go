package k6http

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// fakeVU is a minimal VU: a bare runtime, a state with a sample collector,
// and an event loop the test drains by hand.
type fakeVU struct {
	t       testing.TB
	rt      *sobek.Runtime
	ctx     context.Context
	inInit  bool
	initEnv *modules.InitEnv
	st      *vustate.State
	iter    int64
	tags    *metrics.TagSet
	logs    *bytes.Buffer
	loop    *fakeLoop
	mi      *Instance
	std     bool // net/http for every request

	mu      sync.Mutex
	batches []metrics.Samples
}

var (
	_ modules.VU        = (*fakeVU)(nil)
	_ vustate.Provider  = (*fakeVU)(nil)
	_ vustate.EventLoop = (*fakeLoop)(nil)
)

func (v *fakeVU) Runtime() *sobek.Runtime  { return v.rt }
func (v *fakeVU) Context() context.Context { return v.ctx }
func (v *fakeVU) InitEnv() *modules.InitEnv {
	if v.inInit {
		return v.initEnv
	}
	return nil
}

func (v *fakeVU) State() *modules.State {
	if v.inInit {
		return nil
	}
	return &v.st.State
}

func (v *fakeVU) FullState() *vustate.State {
	if v.inInit {
		return nil
	}
	return v.st
}

// fakeLoop queues callbacks until the test drains them.
type fakeLoop struct {
	mu      sync.Mutex
	pending int
	queue   chan func() error
}

func (l *fakeLoop) RegisterCallback() func(func() error) {
	l.mu.Lock()
	l.pending++
	l.mu.Unlock()
	return func(f func() error) { l.queue <- f }
}

// drain runs queued callbacks until none is outstanding.
func (l *fakeLoop) drain(t testing.TB) {
	t.Helper()
	for {
		l.mu.Lock()
		n := l.pending
		l.mu.Unlock()
		if n == 0 {
			return
		}
		f := <-l.queue
		l.mu.Lock()
		l.pending--
		l.mu.Unlock()
		if err := f(); err != nil {
			t.Fatalf("loop callback: %v", err)
		}
	}
}

// vuOption adjusts a fake VU before its module instance is created.
type vuOption func(*fakeVU)

func withOptions(o options.Options) vuOption {
	return func(v *fakeVU) { *v.st.Options = o }
}

func withSystemTags(names ...string) vuOption {
	return func(v *fakeVU) {
		s, err := metrics.ParseSystemTags(names)
		if err != nil {
			v.t.Fatal(err)
		}
		v.st.SystemTags = s
	}
}

func inInit() vuOption { return func(v *fakeVU) { v.inInit = true } }

// withStd sends plain-http requests through net/http instead of the
// synchronous HTTP/1.1 client.
func withStd(std bool) vuOption { return func(v *fakeVU) { v.std = std } }

// transports are the two paths plain-http requests can take.
var transports = []struct {
	name string
	std  bool
}{{"h1", false}, {"nethttp", true}}

// newVU returns a fake VU with k6/http as the global `http`, in an iteration.
func newVU(t testing.TB, opts ...vuOption) *fakeVU {
	t.Helper()
	rt := sobek.New()
	rt.SetFieldNameMapper(sobek.UncapFieldNameMapper()) // as tally's VUs do
	v := &fakeVU{t: t, rt: rt, ctx: context.Background(), logs: &bytes.Buffer{},
		loop: &fakeLoop{queue: make(chan func() error, 64)},
		tags: metrics.NewTagSet(map[string]string{"group": "", "scenario": "default"})}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: v.logs}, nil))
	v.initEnv = &modules.InitEnv{Registry: metrics.NewRegistry(), Logger: logger}
	v.st = &vustate.State{
		State: modules.State{
			Logger:     logger,
			Builtin:    metrics.RegisterBuiltin(metrics.NewRegistry()),
			VUID:       7,
			VUIDInTest: 7,
		},
		Options:    &options.Options{},
		SystemTags: metrics.DefaultSystemTags,
		Loop:       v.loop,
	}
	v.st.Samples = metrics.PusherFunc(func(s metrics.Samples) {
		v.mu.Lock()
		v.batches = append(v.batches, s)
		v.mu.Unlock()
	})
	v.st.Tags = func() *metrics.TagSet { return v.tags }
	v.st.Iteration = func() int64 { return v.iter }
	for _, o := range opts {
		o(v)
	}
	root := New().(*RootModule)
	root.noH1 = v.std
	v.mi = root.NewModuleInstance(v).(*Instance)
	if err := v.rt.Set("http", v.mi.Exports().Default); err != nil {
		t.Fatal(err)
	}
	return v
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// run evaluates JS and fails the test on an exception.
func (v *fakeVU) run(src string) sobek.Value {
	v.t.Helper()
	val, err := v.rt.RunString(src)
	if err != nil {
		v.t.Fatalf("JS error: %v\nscript:\n%s", err, src)
	}
	return val
}

// runErr evaluates JS and returns its exception.
func (v *fakeVU) runErr(src string) error {
	v.t.Helper()
	_, err := v.rt.RunString(src)
	return err
}

// samples returns every sample pushed so far.
func (v *fakeVU) samples() []metrics.Sample {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []metrics.Sample
	for _, b := range v.batches {
		out = append(out, b...)
	}
	return out
}

// count returns how many samples of metric name carry all of tags.
func (v *fakeVU) count(name string, tags map[string]string) (n int, sum float64) {
	want := metrics.NewTagSet(tags)
	for _, s := range v.samples() {
		if s.Metric.Name == name && s.Tags.Contains(want) {
			n++
			sum += s.Value
		}
	}
	return n, sum
}

func (v *fakeVU) resetSamples() {
	v.mu.Lock()
	v.batches = nil
	v.mu.Unlock()
}
