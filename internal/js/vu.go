package js

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/js/modules/k6execution"
	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// VU is one virtual user: a JS runtime that evaluated the script's init
// context, and the state it runs iterations with. A VU is used by one
// goroutine at a time.
type VU struct {
	r             *Runner
	id, idInTest  uint64
	rt            *sobek.Runtime
	ctx           context.Context
	initEnv       *modules.InitEnv
	state         *vustate.State
	loop          *eventLoop
	instances     map[*goModuleRecord]modules.Instance
	exports       exportValues
	logger        *slog.Logger
	first         bool // the first init pass: open() may read from disk
	iter          int64
	scenario      *executor.Scenario
	scenarioIters map[*executor.Scenario]uint64
	envBase       map[string]string
	setupValue    sobek.Value
	setupDecoded  bool
	fns           map[string]sobek.Callable
	cjs           map[string]*sobek.Object // CommonJS module objects by path
	globals       *lazyGlobals             // the global object's prototype
}

var (
	_ executor.VU       = (*VU)(nil)
	_ modules.VU        = (*VU)(nil)
	_ vustate.Provider  = (*VU)(nil)
	_ vustate.EventLoop = (*eventLoop)(nil)
)

func newVU(r *Runner, id, idInTest uint64) *VU {
	rt := sobek.New()
	rt.SetFieldNameMapper(sobek.UncapFieldNameMapper())
	rt.SetMaxCallStackSize(MaxCallStackSize)
	v := &VU{
		r: r, id: id, idInTest: idInTest, rt: rt, ctx: context.Background(),
		instances:     map[*goModuleRecord]modules.Instance{},
		scenarioIters: map[*executor.Scenario]uint64{},
		fns:           map[string]sobek.Callable{},
		cjs:           map[string]*sobek.Object{},
		iter:          -1,
	}
	v.loop = newEventLoop(v)
	v.logger = r.cfg.Logger
	r.vus.Store(rt, v)
	return v
}

// Release frees what the runner keeps for this VU and releases its module
// instances (modules.Releaser); call it when the VU is no longer needed: one
// that ran setup, teardown or handleSummary, or the scenarios' VUs once
// every scenario has ended. The VU is not used afterwards.
func (v *VU) Release() {
	v.r.vus.Delete(v.rt)
	for _, inst := range v.instances {
		if r, ok := inst.(modules.Releaser); ok {
			r.Release()
		}
	}
	clear(v.instances)
}

// ID returns the VU's id in this instance.
func (v *VU) ID() uint64 { return v.id }

// Runtime returns the VU's JS runtime.
func (v *VU) Runtime() *sobek.Runtime { return v.rt }

// Context is done when the current iteration is being interrupted.
func (v *VU) Context() context.Context { return v.ctx }

// InitEnv returns the init-context environment, nil outside init.
func (v *VU) InitEnv() *modules.InitEnv { return v.initEnv }

// State returns the public part of the VU's state, nil in init.
func (v *VU) State() *modules.State {
	if v.state == nil || v.initEnv != nil {
		return nil
	}
	return &v.state.State
}

// FullState returns the VU's full state, nil in init.
func (v *VU) FullState() *vustate.State {
	if v.initEnv != nil {
		return nil
	}
	return v.state
}

func (v *VU) moduleInstance(g *goModuleRecord) modules.Instance {
	if inst, ok := v.instances[g]; ok {
		return inst
	}
	inst := g.root.NewModuleInstance(v)
	v.instances[g] = inst
	return inst
}

// init evaluates the init context.
func (v *VU) init(ctx context.Context) error {
	v.ctx = ctx
	v.initEnv = &modules.InitEnv{Registry: v.r.cfg.Registry, Logger: v.r.cfg.Logger, ScriptDir: v.r.dir}
	v.first = v.r.firstDone.CompareAndSwap(false, true)
	defer func() { v.initEnv = nil }()
	if err := v.setGlobals(); err != nil {
		return err
	}

	if v.first {
		v.r.linkingVU = v
		err := v.r.link()
		v.r.linkingVU = nil
		if err != nil {
			return newScriptError(v.rt, "init", err)
		}
	} else if err := v.r.link(); err != nil {
		return newScriptError(v.rt, "init", err)
	}

	stop := v.interruptOn(ctx)
	evalErr := v.evaluate(ctx)
	stop()
	if evalErr != nil {
		if _, aborted := Aborted(evalErr); !aborted && ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrInitInterrupted, context.Cause(ctx))
		}
		return newScriptError(v.rt, "init", evalErr)
	}

	if v.r.plain == nil {
		v.exports = v.moduleExports()
	}
	for i, name := range v.exports.names {
		if fn, ok := sobek.AssertFunction(v.exports.vals[i]); ok {
			v.fns[name] = fn
		}
	}
	return nil
}

// evaluate runs the script's top level, in its plain or its module form,
// and the init context's promise jobs and callbacks.
func (v *VU) evaluate(ctx context.Context) (evalErr error) {
	defer func() {
		if x := recover(); x != nil {
			evalErr = v.recovered(x)
		}
	}()
	if v.r.plain != nil {
		return v.evaluatePlain(ctx)
	}
	p := v.rt.CyclicModuleRecordEvaluate(v.r.main, v.r.resolve)
	if err := v.loop.run(ctx); err != nil {
		return err
	}
	switch p.State() {
	case sobek.PromiseStateRejected:
		return promiseError(v.rt, p.Result())
	case sobek.PromiseStatePending:
		return errors.New("the script's top-level await never finished")
	}
	return nil
}

// evaluatePlain runs the plain form and reads its exports into v.exports.
// As in the module form, the loop runs after an exception too, and its
// error comes first.
func (v *VU) evaluatePlain(ctx context.Context) error {
	read, err := v.evalPlain(v.r.plain)
	if lerr := v.loop.run(ctx); lerr != nil {
		return lerr
	}
	var exports exportValues
	if err == nil {
		exports, err = v.readPlainExports(v.r.plain, read)
	}
	var ex *sobek.Exception
	if errors.As(err, &ex) {
		// Rendered as the module form renders its rejection.
		err = promiseError(v.rt, ex.Value())
	}
	v.exports = exports
	return err
}

// moduleExports reads the module form's exported bindings, each under its
// local name.
func (v *VU) moduleExports() exportValues {
	inst := v.rt.GetModuleInstance(v.r.main)
	vals := make([]sobek.Value, len(v.r.exportNames))
	for i, name := range v.r.exportNames {
		local := name
		if l, ok := v.r.exportLocals[name]; ok {
			local = l
		}
		vals[i] = inst.GetBindingValue(local)
	}
	return exportValues{names: v.r.exportNames, vals: vals}
}

// exportValues are the entry script's exports: their values in the order of
// names, which is the runner's (shared by its VUs); a map in every VU would
// cost it about 0.3 KiB.
type exportValues struct {
	names []string
	vals  []sobek.Value
}

// get returns the export name, or nil.
func (e exportValues) get(name string) sobek.Value {
	if i := slices.Index(e.names, name); i >= 0 {
		return e.vals[i]
	}
	return nil
}

// ExportedFunction reports whether the script exports name as a function.
func (v *VU) ExportedFunction(name string) bool {
	_, ok := v.fns[name]
	return ok
}

// OptionsJSON returns the script's exported options as JSON, or nil.
func (v *VU) OptionsJSON() ([]byte, error) {
	o := v.exports.get("options")
	if o == nil || sobek.IsUndefined(o) || sobek.IsNull(o) {
		return nil, nil
	}
	s, err := v.stringify(o)
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	return []byte(s), nil
}

func (v *VU) stringify(val sobek.Value) (string, error) {
	jsonObj := v.rt.Get("JSON").ToObject(v.rt)
	stringify, _ := sobek.AssertFunction(jsonObj.Get("stringify"))
	out, err := stringify(jsonObj, val)
	if err != nil {
		return "", err
	}
	if sobek.IsUndefined(out) {
		return "null", nil
	}
	return out.String(), nil
}

// activate prepares the state the VU needs outside the init context.
func (v *VU) activate() error {
	if v.state != nil {
		return nil
	}
	rc := v.r.run.Load()
	if rc == nil {
		return errors.New("the runner was not configured for running")
	}
	st := &vustate.State{
		Options:    rc.Options,
		SystemTags: rc.SystemTags,
		Loop:       v.loop,
		TagCtx:     vustate.NewTags(rc.RunTags, rc.SystemTags.Has(metrics.TagGroup)),
		Group:      v.r.cfg.Root,
		Throw:      rc.Options != nil && rc.Options.Throw != nil && *rc.Options.Throw,
	}
	st.State = modules.State{
		Logger:     v.logger,
		Samples:    rc.Samples,
		Builtin:    v.r.cfg.Builtin,
		Tags:       st.TagCtx.Current,
		VUID:       v.id,
		VUIDInTest: v.idInTest,
		Iteration:  func() int64 { return v.iter },
		Instance:   instanceInfo(rc.Options),
	}
	v.state = st
	return nil
}

// instanceInfo is the public view of the instance's execution segment.
func instanceInfo(o *options.Options) modules.InstanceInfo {
	var info modules.InstanceInfo
	if o == nil {
		return info
	}
	if o.ExecutionSegment != nil {
		if seg := strings.TrimSpace(*o.ExecutionSegment); seg != "0:1" {
			info.ExecutionSegment = seg
		}
	}
	if o.ExecutionSegmentSequence != nil {
		info.ExecutionSegmentSequence = strings.TrimSpace(*o.ExecutionSegmentSequence)
	}
	return info
}

// interruptOn interrupts the runtime when ctx is done; the returned function
// stops watching and clears a pending interrupt.
func (v *VU) interruptOn(ctx context.Context) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		v.rt.Interrupt(errInterrupted)
		close(done)
	})
	return func() {
		if !stop() {
			<-done
		}
		v.rt.ClearInterrupt()
	}
}

var errInterrupted = errors.New("context cancelled")

// MaxCallStackSize is the deepest JS call nesting a VU allows; deeper
// calls (an unbounded recursion) end the call with "RangeError: Maximum call
// stack size exceeded", as in k6, instead of growing memory until the
// process dies.
const MaxCallStackSize = 10000

// ErrInitInterrupted is wrapped by the error of a VU whose init context was
// stopped because its context was cancelled (a signal); the run exits with
// 105, not as a script exception.
var ErrInitInterrupted = errors.New("the init context was interrupted")

// call runs fn and the event loop until fn's promise (if any) settled. A Go
// panic on the way (in a module, or in tally) is recovered and returned as a
// *PanicError: the VU stays usable.
func (v *VU) call(ctx context.Context, fn sobek.Callable, args ...sobek.Value) (ret sobek.Value, err error) {
	defer func() {
		if x := recover(); x != nil {
			v.loop.reset()
			ret, err = nil, v.recovered(x)
		}
	}()
	ret, err = fn(sobek.Undefined(), args...)
	if err != nil {
		v.loop.reset()
		return nil, err
	}
	if err := v.loop.run(ctx); err != nil {
		return nil, err
	}
	if p, ok := ret.Export().(*sobek.Promise); ok {
		switch p.State() {
		case sobek.PromiseStateRejected:
			return nil, promiseError(v.rt, p.Result())
		case sobek.PromiseStatePending:
			return nil, errors.New("the function returned a promise that never settled")
		}
		return p.Result(), nil
	}
	return ret, nil
}

// enterScenario switches the VU's tags and __ENV to it's scenario.
func (v *VU) enterScenario(sc *executor.Scenario) {
	if v.scenario == sc {
		return
	}
	v.scenario = sc
	v.state.TagCtx.SetScenario(sc.Tags)
	v.setEnv(sc.Env)
}

// RunIteration runs one iteration of the scenario's exec function; see
// executor.VU.
func (v *VU) RunIteration(ctx context.Context, it *executor.Iteration) bool {
	if err := v.activate(); err != nil {
		v.logger.Error(err.Error())
		return false
	}
	sc := it.Scenario
	v.enterScenario(sc)
	st := v.state
	v.iter++
	st.Scenario, st.Iter = sc, it
	st.IterationInScenario = v.scenarioIters[sc]
	v.scenarioIters[sc]++
	v.globals.iterating = true
	defer func() {
		st.Scenario, st.Iter = nil, nil
		v.globals.iterating = false
	}()

	fn, ok := v.fns[sc.Exec]
	if !ok {
		v.logger.Error(fmt.Sprintf("function %q is not exported by the script", sc.Exec), "scenario", sc.Name)
		return false
	}
	data := v.setupArg()

	v.ctx = ctx
	start := time.Now()
	stop := v.interruptOn(ctx)
	_, err := v.call(ctx, fn, data)
	stop()
	end := time.Now()
	v.ctx = context.Background()
	if st.Group != v.r.cfg.Root {
		st.SetGroup(v.r.cfg.Root)
	}

	aborting := st.AbortRequested
	st.AbortRequested = false
	var ie *sobek.InterruptedError
	switch {
	case aborting || (err != nil && errors.As(err, &ie) && isAbort(ie)):
		// test.abort(): the aborting iteration counts.
	case ctx.Err() != nil || (err != nil && errors.As(err, &ie)):
		// Interrupted (also when a sleep returned early): not counted in
		// iterations, but the bytes it moved are (as in k6).
		v.emitData(end, v.metadata())
		return false
	case err != nil:
		v.r.iterErrors.Add(1)
		v.logException(err, sc)
	}
	if mid := minIterationDuration(st); mid > 0 {
		if rest := mid - end.Sub(start); rest > 0 {
			t := time.NewTimer(rest)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	v.emitIteration(start, end)
	return true
}

func minIterationDuration(st *vustate.State) time.Duration {
	if st.Options == nil || st.Options.MinIterationDuration == nil {
		return 0
	}
	return st.Options.MinIterationDuration.D()
}

func isAbort(ie *sobek.InterruptedError) bool {
	var ae *k6execution.AbortError
	return errors.As(ie.Unwrap(), &ae)
}

// logException logs an iteration's exception with its stack.
func (v *VU) logException(err error, sc *executor.Scenario) {
	msg := strings.TrimRight(FormatException(v.rt, err), "\n")
	var pe *PanicError
	if errors.As(err, &pe) {
		v.logger.Error(msg, "executor", sc.Executor, "scenario", sc.Name, "source", "stacktrace", "go_stack", string(pe.GoStack))
		return
	}
	v.logger.Error(msg, "executor", sc.Executor, "scenario", sc.Name, "source", "stacktrace")
}

// emitIteration pushes the samples of a completed iteration.
func (v *VU) emitIteration(start, end time.Time) {
	st := v.state
	b := v.r.cfg.Builtin
	tags := st.TagCtx.Current()
	md := v.metadata()
	samples := metrics.Samples{
		{Metric: b.DataSent, Time: end, Value: float64(st.DataSent.Swap(0)), Tags: tags, Metadata: md},
		{Metric: b.DataReceived, Time: end, Value: float64(st.DataReceived.Swap(0)), Tags: tags, Metadata: md},
		{Metric: b.IterationDuration, Time: end, Value: float64(end.Sub(start)) / float64(time.Millisecond), Tags: tags, Metadata: md},
		{Metric: b.Iterations, Time: end, Value: 1, Tags: tags, Metadata: md},
	}
	st.Samples.Push(samples)
}

// metadata returns the sample metadata of the VU (vu/iter when enabled).
func (v *VU) metadata() map[string]string {
	st := v.state
	if !st.SystemTags.Has(metrics.TagVU) && !st.SystemTags.Has(metrics.TagIter) && len(st.Metadata) == 0 {
		return nil
	}
	md := make(map[string]string, len(st.Metadata)+2)
	for k, val := range st.Metadata {
		md[k] = val
	}
	if st.SystemTags.Has(metrics.TagVU) {
		md["vu"] = strconv.FormatUint(v.id, 10)
	}
	if st.SystemTags.Has(metrics.TagIter) && v.iter >= 0 {
		md["iter"] = strconv.FormatInt(v.iter, 10)
	}
	return md
}

// setupArg returns the VU's copy of the setup data, decoded once.
func (v *VU) setupArg() sobek.Value {
	if !v.setupDecoded {
		v.setupDecoded = true
		v.setupValue = v.decodeSetupData()
	}
	return v.setupValue
}

func (v *VU) decodeSetupData() sobek.Value {
	data := v.r.SetupData()
	if data == nil {
		return sobek.Undefined()
	}
	jsonObj := v.rt.Get("JSON").ToObject(v.rt)
	parse, _ := sobek.AssertFunction(jsonObj.Get("parse"))
	val, err := parse(jsonObj, v.rt.ToValue(string(data)))
	if err != nil {
		return sobek.Undefined()
	}
	return val
}
