package k6

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/groups"
	"github.com/tallyhq/tally/internal/vustate"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// benchVU is a VU in an iteration whose samples are counted and dropped.
type benchVU struct {
	rt *sobek.Runtime
	st *vustate.State
	n  atomic.Int64
}

func (v *benchVU) Runtime() *sobek.Runtime   { return v.rt }
func (v *benchVU) Context() context.Context  { return context.Background() }
func (v *benchVU) InitEnv() *modules.InitEnv { return nil }
func (v *benchVU) State() *modules.State     { return &v.st.State }
func (v *benchVU) FullState() *vustate.State { return v.st }
func (v *benchVU) Push(s metrics.Samples)    { v.n.Add(int64(len(s))) }

func newBenchVU(b testing.TB) *benchVU {
	v := &benchVU{rt: sobek.New()}
	tags := vustate.NewTags(metrics.NewTagSet(map[string]string{"scenario": "default"}), true)
	v.st = &vustate.State{
		State:      modules.State{Builtin: metrics.RegisterBuiltin(metrics.NewRegistry()), Samples: v},
		SystemTags: metrics.DefaultSystemTags,
		TagCtx:     tags,
		Group:      groups.NewRoot(),
	}
	v.st.Tags = tags.Current
	e := New().NewModuleInstance(v).Exports()
	for name, x := range e.Named {
		if err := v.rt.Set(name, x); err != nil {
			b.Fatal(err)
		}
	}
	return v
}

// BenchmarkCheck is one check per op as race.js makes after every request:
// its checks object defined once ("defined-once", race.js since e1eadfa),
// or an object literal with a new function every call ("literal").
func BenchmarkCheck(b *testing.B) {
	for _, bc := range []struct{ name, setup, src string }{
		{"defined-once", `var CHECKS = { 'charge answered (charged or refused)': (ok) => ok };`, `check(true, CHECKS)`},
		{"literal", ``, `check(1, { 'charge answered (charged or refused)': () => true })`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := newBenchVU(b)
			if _, err := v.rt.RunString(bc.setup); err != nil {
				b.Fatal(err)
			}
			prog := sobek.MustCompile("bench.js", bc.src, false)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.rt.RunProgram(prog); err != nil {
					b.Fatal(err)
				}
			}
			if v.n.Load() == 0 {
				b.Fatal("no samples")
			}
		})
	}
}

// BenchmarkSleepZero is the call overhead of sleep(), which every
// iteration of the scenarios pays once.
func BenchmarkSleepZero(b *testing.B) {
	v := newBenchVU(b)
	prog := sobek.MustCompile("bench.js", `sleep(0)`, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.rt.RunProgram(prog); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDropDeadValues is what sleep() adds before it waits: a nested
// empty program, from inside a call, that clears the dead stack slots
// (drop=0: the same script calling a no-op instead).
func BenchmarkDropDeadValues(b *testing.B) {
	for _, drop := range []bool{false, true} {
		b.Run(fmt.Sprintf("drop=%v", drop), func(b *testing.B) {
			v := newBenchVU(b)
			_ = v.rt.Set("drop", func() {
				if drop {
					dropDeadValues(v.rt)
				}
			})
			prog := sobek.MustCompile("bench.js", `(function () { const a = [1, 2, 3]; return a.length; })(); drop()`, false)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.rt.RunProgram(prog); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
