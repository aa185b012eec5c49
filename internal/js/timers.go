package js

import (
	"container/heap"
	"fmt"
	"math"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/modules"
)

// timer is one setTimeout/setInterval registration. Timers live on the VU's
// goroutine only: scripts create and clear them, the event loop runs them.
type timer struct {
	id       int64
	due      time.Time
	seq      uint64 // registration order breaks ties between equal due times
	delay    time.Duration
	interval bool
	fn       sobek.Callable
	args     []sobek.Value
	index    int
}

// timerHeap orders timers by due time, then by registration.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// timers is a VU's set of pending timers.
type timers struct {
	heap   timerHeap
	byID   map[int64]*timer
	nextID int64
	seq    uint64
}

func (ts *timers) add(fn sobek.Callable, delay time.Duration, interval bool, args []sobek.Value) int64 {
	if ts.byID == nil {
		ts.byID = map[int64]*timer{}
	}
	ts.nextID++
	ts.seq++
	t := &timer{id: ts.nextID, due: time.Now().Add(delay), seq: ts.seq, delay: delay, interval: interval, fn: fn, args: args}
	ts.byID[t.id] = t
	heap.Push(&ts.heap, t)
	return t.id
}

func (ts *timers) clear(id int64) {
	t, ok := ts.byID[id]
	if !ok {
		return
	}
	delete(ts.byID, id)
	if t.index >= 0 {
		heap.Remove(&ts.heap, t.index)
	}
}

// next returns the earliest pending timer, or nil.
func (ts *timers) next() *timer {
	if len(ts.heap) == 0 {
		return nil
	}
	return ts.heap[0]
}

// fire runs t (due now): a timeout is removed first, an interval is
// rescheduled from the moment its tick ran unless the callback cleared it.
func (ts *timers) fire(t *timer) error {
	heap.Pop(&ts.heap)
	if !t.interval {
		delete(ts.byID, t.id)
	}
	_, err := t.fn(sobek.Undefined(), t.args...)
	if t.interval {
		if _, live := ts.byID[t.id]; live && err == nil {
			ts.seq++
			t.due, t.seq = time.Now().Add(t.delay), ts.seq
			heap.Push(&ts.heap, t)
		}
	}
	return err
}

func (ts *timers) reset() { ts.heap, ts.byID = nil, nil }

// timerFunctions returns setTimeout, clearTimeout, setInterval and
// clearInterval bound to v's event loop.
func (v *VU) timerFunctions() map[string]any {
	set := func(name string, interval bool) func(sobek.FunctionCall) sobek.Value {
		return func(call sobek.FunctionCall) sobek.Value {
			fn, ok := sobek.AssertFunction(call.Argument(0))
			if !ok {
				panic(v.rt.NewTypeError(fmt.Sprintf("%s needs a function as its first argument, e.g. %s(() => {...}, 100)", name, name)))
			}
			var args []sobek.Value
			if len(call.Arguments) > 2 {
				args = append(args, call.Arguments[2:]...)
			}
			return v.rt.ToValue(v.loop.timers.add(fn, delayOf(call.Argument(1)), interval, args))
		}
	}
	clear := func(call sobek.FunctionCall) sobek.Value {
		if id := call.Argument(0); !sobek.IsUndefined(id) && !sobek.IsNull(id) {
			v.loop.timers.clear(id.ToInteger())
		}
		return sobek.Undefined()
	}
	return map[string]any{
		"setTimeout":    set("setTimeout", false),
		"setInterval":   set("setInterval", true),
		"clearTimeout":  clear,
		"clearInterval": clear,
	}
}

// delayOf converts a timer delay in milliseconds; missing, negative or NaN
// delays are 0, as in browsers.
func delayOf(v sobek.Value) time.Duration {
	if v == nil || sobek.IsUndefined(v) {
		return 0
	}
	ms := v.ToFloat()
	if math.IsNaN(ms) || ms <= 0 {
		return 0
	}
	if ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		ms = float64(math.MaxInt64 / int64(time.Millisecond))
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// timersModule is `k6/timers`: the same functions as the globals.
type timersModule struct{}

func (timersModule) NewModuleInstance(vu modules.VU) modules.Instance {
	return timersInstance{v: vu.(*VU)}
}

type timersInstance struct{ v *VU }

func (i timersInstance) Exports() modules.Exports {
	return modules.Exports{Named: i.v.timerFunctions()}
}
