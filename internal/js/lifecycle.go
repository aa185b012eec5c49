package js

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/metrics"
)

// enterLifecycle prepares a VU to run setup or teardown: no scenario, the
// given top-level group.
func (v *VU) enterLifecycle(group string) error {
	if err := v.activate(); err != nil {
		return err
	}
	v.state.TagCtx.SetScenario(nil)
	g, err := v.r.cfg.Root.Group(group)
	if err != nil {
		return err
	}
	v.state.SetGroup(g)
	return nil
}

// runLifecycle calls the exported function name with args, interruptible
// through ctx, and emits the network counters it accumulated.
func (v *VU) runLifecycle(ctx context.Context, name string, args ...sobek.Value) (sobek.Value, error) {
	fn := v.fns[name]
	v.ctx = ctx
	stop := v.interruptOn(ctx)
	ret, err := v.call(ctx, fn, args...)
	stop()
	v.ctx = context.Background()
	v.emitData(time.Now(), nil)
	if err != nil {
		if ae, ok := Aborted(err); ok {
			return nil, ae
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s() was interrupted: %w", name, context.Cause(ctx))
		}
		return nil, newScriptError(v.rt, name, err)
	}
	return ret, nil
}

// emitData pushes the data_sent/data_received samples of what the VU moved
// since the last ones (none when it moved no bytes), with metadata md.
func (v *VU) emitData(t time.Time, md map[string]string) {
	st := v.state
	b := v.r.cfg.Builtin
	sent, recv := st.DataSent.Swap(0), st.DataReceived.Swap(0)
	if sent == 0 && recv == 0 {
		return
	}
	tags := st.TagCtx.Current()
	st.Samples.Push(metrics.Samples{
		{Metric: b.DataSent, Time: t, Value: float64(sent), Tags: tags, Metadata: md},
		{Metric: b.DataReceived, Time: t, Value: float64(recv), Tags: tags, Metadata: md},
	})
}

// ErrNotSerializable is returned when setup() returns data that cannot be
// handed to VUs as JSON.
var ErrNotSerializable = errors.New("setup() returned data that cannot be serialised to JSON")

// RunSetup calls setup() when the script exports it and stores its return
// value, JSON-encoded, for the VUs, teardown and the summary.
func (v *VU) RunSetup(ctx context.Context) error {
	if !v.ExportedFunction("setup") {
		return nil
	}
	if err := v.enterLifecycle("setup"); err != nil {
		return err
	}
	ret, err := v.runLifecycle(ctx, "setup")
	if err != nil {
		return err
	}
	if ret == nil || sobek.IsUndefined(ret) {
		v.r.SetSetupData(nil)
		return nil
	}
	data, err := json.Marshal(ret.Export())
	if err != nil {
		return fmt.Errorf("%w: %v (functions and cyclic structures cannot be passed to VUs)", ErrNotSerializable, err)
	}
	v.r.SetSetupData(data)
	return nil
}

// RunTeardown calls teardown(data) when the script exports it.
func (v *VU) RunTeardown(ctx context.Context) error {
	if !v.ExportedFunction("teardown") {
		return nil
	}
	if err := v.enterLifecycle("teardown"); err != nil {
		return err
	}
	_, err := v.runLifecycle(ctx, "teardown", v.decodeSetupData())
	return err
}

// RunHandleSummary calls handleSummary(data) with the summary data given as
// JSON. It returns the outputs the script asked for (key: "stdout",
// "stderr" or a file path; value: the content), and false when the script
// does not export handleSummary.
func (v *VU) RunHandleSummary(ctx context.Context, data []byte) (map[string][]byte, bool, error) {
	if !v.ExportedFunction("handleSummary") {
		return nil, false, nil
	}
	if err := v.activate(); err != nil {
		return nil, true, err
	}
	v.state.TagCtx.SetScenario(nil)
	jsonObj := v.rt.Get("JSON").ToObject(v.rt)
	parse, _ := sobek.AssertFunction(jsonObj.Get("parse"))
	arg, err := parse(jsonObj, v.rt.ToValue(string(data)))
	if err != nil {
		return nil, true, err
	}
	ret, err := v.runLifecycle(ctx, "handleSummary", arg)
	if err != nil {
		return nil, true, err
	}
	if ret == nil || sobek.IsUndefined(ret) || sobek.IsNull(ret) {
		return nil, true, nil
	}
	obj, ok := ret.(*sobek.Object)
	if !ok {
		return nil, true, fmt.Errorf("handleSummary() must return an object mapping outputs (stdout, stderr or a file path) to their content, got %s", FormatValue(v.rt, ret))
	}
	out := map[string][]byte{}
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		switch x := val.Export().(type) {
		case sobek.ArrayBuffer:
			out[k] = x.Bytes()
		case string:
			out[k] = []byte(x)
		default:
			if sobek.IsUndefined(val) || sobek.IsNull(val) {
				continue
			}
			str, err := v.stringOf(val)
			if err != nil {
				return nil, true, fmt.Errorf("handleSummary(): the output %q cannot be converted to a string: %s", k, err)
			}
			out[k] = []byte(str)
		}
	}
	return out, true, nil
}

// stringOf converts val as String(val) does, returning what a throwing or
// absent toString raised as an error.
func (v *VU) stringOf(val sobek.Value) (string, error) {
	if _, ok := val.(*sobek.Object); !ok {
		return FormatValue(v.rt, val), nil
	}
	s, err := runGuarded(v.rt, "String", val)
	if err != nil {
		return "", errors.New(errorText(v.rt, err))
	}
	return s, nil
}
