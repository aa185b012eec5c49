package metricsengine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/tallyhq/tally/metrics"
)

// shard is one of the engine's independent aggregation partitions. Push
// folds a batch into whichever shard it can lock first; readers merge all
// shards. Nothing on the write path is shared between shards.
type shard struct {
	mu   sync.Mutex
	cond sync.Cond // signalled when the output flusher took the pending batches

	main []metrics.Sink // by Metric.Index; nil until the metric's first sample
	subs []metrics.Sink // by submetric index
	// Per-group and per-scenario sinks when the breakdown is enabled, and a
	// cache from tag sets (immutable, shared by the samples of one event) to
	// their group and scenario entries.
	groups, scenarios map[string]*breakSinks
	breakCache        map[*metrics.TagSet][2]*breakSinks
	lastTags          *metrics.TagSet
	lastRef           [2]*breakSinks

	pending     []pendingBatch // batches not yet handed to outputs, in push order
	pendingLen  int            // samples in pending
	outputsDone bool           // outputs were closed: stop buffering

	_ [64]byte // keep shards on separate cache lines
}

// pendingBatch is a batch waiting for the outputs, with the flush epoch
// current when it was pushed.
type pendingBatch struct {
	epoch uint64
	batch metrics.Samples
}

func newShards(nsub int) []*shard {
	n := 4 * runtime.GOMAXPROCS(0)
	size := 8
	for size < n {
		size <<= 1
	}
	shards := make([]*shard, size)
	for i := range shards {
		s := &shard{subs: make([]metrics.Sink, nsub)}
		s.cond.L = &s.mu
		shards[i] = s
	}
	return shards
}

// lockShard returns a locked shard: it starts at a random shard and takes
// the first it can lock without waiting. When every shard is busy (their
// holders were preempted) it yields and tries again rather than sleeping on
// one mutex: with many more goroutines than processors, sleeping waiters
// push sync.Mutex into starvation mode, whose hand-offs leave processors
// idle.
func (e *Engine) lockShard() *shard {
	n := uint32(len(e.shards))
	start := rand.Uint32() & (n - 1)
	for {
		for i := uint32(0); i < n; i++ {
			s := e.shards[(start+i)&(n-1)]
			if s.mu.TryLock() {
				return s
			}
		}
		runtime.Gosched()
	}
}

// Push folds a batch of samples into the aggregates and queues it for the
// outputs. It is safe for concurrent use and takes ownership of batch. It
// takes no lock shared by all callers: each call locks one of several
// shards, chosen at random among the free ones. When outputs lag behind by
// more than their buffer, Push waits for them (back-pressure, nothing is
// dropped): a shard never holds more than maxPendingSamples plus one batch.
func (e *Engine) Push(batch metrics.Samples) {
	if len(batch) == 0 {
		return
	}
	s := e.lockShard()
	for i := range batch {
		e.add(s, &batch[i])
	}
	if e.hasOutputs {
		for s.pendingLen >= e.maxPending && !s.outputsDone {
			e.kickFlusher()
			s.cond.Wait()
		}
		if !s.outputsDone {
			s.pending = append(s.pending, pendingBatch{epoch: e.epoch.Load(), batch: batch})
			s.pendingLen += len(batch)
			if s.pendingLen >= e.flushAt {
				e.kickFlusher()
			}
		}
	}
	s.mu.Unlock()
}

// add folds one sample into shard s; s is locked.
func (e *Engine) add(s *shard, smp *metrics.Sample) {
	m := smp.Metric
	if m == nil {
		return
	}
	if m.Index >= len(s.main) {
		grown := make([]metrics.Sink, m.Index+1+8)
		copy(grown, s.main)
		s.main = grown
	}
	sink := s.main[m.Index]
	if sink == nil {
		sink = newSink(m.Type)
		s.main[m.Index] = sink
	}
	var seq uint64
	if m.Type == metrics.Gauge {
		seq = e.gaugeSeq.Add(1)
		sink.(*gaugeSink).addSeq(smp.Value, seq)
	} else {
		sink.Add(*smp)
	}
	if m.Index >= len(e.subsByMetric) {
		return
	}
	for _, sub := range e.subsByMetric[m.Index] {
		if !sub.matches(smp.Tags) {
			continue
		}
		ss := s.subs[sub.idx]
		if ss == nil {
			ss = newSink(m.Type)
			s.subs[sub.idx] = ss
		}
		if m.Type == metrics.Gauge {
			ss.(*gaugeSink).addSeq(smp.Value, seq)
		} else {
			ss.Add(*smp)
		}
	}
	if e.breakdown {
		e.addBreakdown(s, smp, seq)
	}
}

// breakKey identifies a group path or a scenario name of the breakdown.
type breakKey struct {
	scenario bool   // false: value is a group path
	value    string // group path or scenario name
}

// breakSinks are the sinks of one group or scenario, by Metric.Index.
type breakSinks struct {
	sinks []metrics.Sink
}

// maxBreakdownValues bounds the distinct group paths and scenario names the
// breakdown tracks (group names built from data could be unbounded).
const maxBreakdownValues = 1000

// maxBreakCache bounds each shard's tag-set cache; it is emptied when full.
const maxBreakCache = 4096

func (e *Engine) addBreakdown(s *shard, smp *metrics.Sample, seq uint64) {
	ref := s.lastRef
	if smp.Tags != s.lastTags || smp.Tags == nil {
		var ok bool
		if ref, ok = s.breakCache[smp.Tags]; !ok {
			ref = e.resolveBreakdown(s, smp.Tags)
			if s.breakCache == nil || len(s.breakCache) >= maxBreakCache {
				s.breakCache = make(map[*metrics.TagSet][2]*breakSinks, 64)
			}
			s.breakCache[smp.Tags] = ref
		}
		s.lastTags, s.lastRef = smp.Tags, ref
	}
	m := smp.Metric
	for _, bs := range ref {
		if bs == nil {
			continue
		}
		if m.Index >= len(bs.sinks) {
			grown := make([]metrics.Sink, m.Index+1+8)
			copy(grown, bs.sinks)
			bs.sinks = grown
		}
		sink := bs.sinks[m.Index]
		if sink == nil {
			sink = newSink(m.Type)
			bs.sinks[m.Index] = sink
		}
		if g, ok := sink.(*gaugeSink); ok {
			g.addSeq(smp.Value, seq)
		} else {
			sink.Add(*smp)
		}
	}
}

// resolveBreakdown returns the group and scenario entries of tags in shard
// s, creating them (nil when the tag is absent or over the limit).
func (e *Engine) resolveBreakdown(s *shard, tags *metrics.TagSet) [2]*breakSinks {
	var ref [2]*breakSinks
	for i, key := range [2]string{"group", "scenario"} {
		v, ok := tags.Get(key)
		if !ok {
			continue
		}
		m := &s.groups
		if i == 1 {
			m = &s.scenarios
		}
		if *m == nil {
			*m = map[string]*breakSinks{}
		}
		bs := (*m)[v]
		if bs == nil {
			if !e.admitBreakdown(breakKey{scenario: i == 1, value: v}) {
				continue
			}
			bs = &breakSinks{}
			(*m)[v] = bs
		}
		ref[i] = bs
	}
	return ref
}

// admitBreakdown reports whether the group or scenario k (metric ignored)
// is tracked, admitting it while fewer than maxBreakdownValues are.
func (e *Engine) admitBreakdown(k breakKey) bool {
	if _, ok := e.breakKeys.Load(k); ok {
		return true
	}
	if e.breakCount.Load() >= maxBreakdownValues {
		if e.breakWarned.CompareAndSwap(false, true) {
			e.log.Warn(fmt.Sprintf("more than %d distinct groups and scenarios: the full summary leaves out the rest", maxBreakdownValues))
		}
		return false
	}
	if _, loaded := e.breakKeys.LoadOrStore(k, struct{}{}); !loaded {
		e.breakCount.Add(1)
	}
	return true
}

func newSink(t metrics.MetricType) metrics.Sink {
	if t == metrics.Gauge {
		return &gaugeSink{}
	}
	return metrics.NewSink(t)
}

// gaugeSink is a gauge aggregate whose "last value" is decided by a global
// sequence number instead of timestamps, so that shards merge in push order.
type gaugeSink struct {
	value, min, max float64
	seq             uint64 // sequence number of value; 0 = empty
}

// Add records s as if it were the first gauge sample pushed (sequence 1).
func (g *gaugeSink) Add(s metrics.Sample) { g.addSeq(s.Value, 1) }

func (g *gaugeSink) addSeq(v float64, seq uint64) {
	if g.seq == 0 || v < g.min {
		g.min = v
	}
	if g.seq == 0 || v > g.max {
		g.max = v
	}
	if seq >= g.seq {
		g.value, g.seq = v, seq
	}
}

// IsEmpty reports whether no sample was added.
func (g *gaugeSink) IsEmpty() bool { return g.seq == 0 }

func (g *gaugeSink) merge(o *gaugeSink) {
	if o.seq == 0 {
		return
	}
	if g.seq == 0 {
		*g = *o
		return
	}
	g.min = min(g.min, o.min)
	g.max = max(g.max, o.max)
	if o.seq > g.seq {
		g.value, g.seq = o.value, o.seq
	}
}

// public converts g to the sink type of the metrics package.
func (g *gaugeSink) public() *metrics.GaugeSink {
	out := &metrics.GaugeSink{}
	if g.seq == 0 {
		return out
	}
	out.Add(metrics.Sample{Value: g.min})
	out.Add(metrics.Sample{Value: g.max})
	out.Value = g.value
	out.Last = time.Time{}
	return out
}

// mergeSink folds src into dst (same metric type) and returns dst, creating
// it when nil. src is not changed.
func mergeSink(t metrics.MetricType, dst, src metrics.Sink) metrics.Sink {
	if src == nil || src.IsEmpty() {
		return dst
	}
	if dst == nil {
		dst = newSink(t)
	}
	switch d := dst.(type) {
	case *metrics.CounterSink:
		d.Merge(src.(*metrics.CounterSink))
	case *gaugeSink:
		d.merge(src.(*gaugeSink))
	case *metrics.RateSink:
		d.Merge(src.(*metrics.RateSink))
	case *metrics.TrendSink:
		d.Merge(src.(*metrics.TrendSink))
	}
	return dst
}

// publicSink returns s as handed to thresholds and metrics.Values.
func publicSink(t metrics.MetricType, s metrics.Sink) metrics.Sink {
	if s == nil {
		return metrics.NewSink(t)
	}
	if g, ok := s.(*gaugeSink); ok {
		return g.public()
	}
	return s
}

// snapshot is a merged view of every shard.
type snapshot struct {
	main []metrics.Sink // by metric index; nil when no sample
	subs []metrics.Sink // by submetric index
}

// collect merges all shards. Shards are locked one at a time.
func (e *Engine) collect() *snapshot {
	all := e.reg.All()
	snap := &snapshot{main: make([]metrics.Sink, len(all)), subs: make([]metrics.Sink, len(e.subs))}
	types := func(i int) metrics.MetricType { return all[i].Type }
	for _, s := range e.shards {
		s.mu.Lock()
		for i, sink := range s.main {
			if sink == nil || i >= len(snap.main) {
				continue
			}
			snap.main[i] = mergeSink(types(i), snap.main[i], sink)
		}
		for i, sink := range s.subs {
			snap.subs[i] = mergeSink(e.subs[i].parent.Type, snap.subs[i], sink)
		}
		s.mu.Unlock()
	}
	return snap
}

// matches reports whether tags hold every tag of the sub-metric's selector.
// Selectors have one or two tags, so a binary search per selector tag beats
// TagSet.Contains's merge walk over all of the sample's tags.
func (sub *submetric) matches(tags *metrics.TagSet) bool {
	for _, t := range sub.tags.Tags() {
		if v, ok := tags.Get(t.Key); !ok || v != t.Value {
			return false
		}
	}
	return true
}
