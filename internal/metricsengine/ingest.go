package metricsengine

import (
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

	pending     []metrics.Samples // batches not yet handed to outputs
	pendingLen  int               // samples in pending
	outputsDone bool              // outputs were closed: stop buffering

	_ [64]byte // keep shards on separate cache lines
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
			s.pending = append(s.pending, batch)
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
		if !smp.Tags.Contains(sub.tags) {
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
