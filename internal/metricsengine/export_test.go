package metricsengine

// BufferBound returns the most samples that can be pushed while the outputs
// make no progress: each shard's buffer plus what the flusher holds.
func BufferBound(e *Engine) int { return 2 * len(e.shards) * (e.maxPending + 1) }

// SetBuffer shrinks the output buffering so tests can fill it quickly; call
// it right after New, before any Push.
func SetBuffer(e *Engine, flushAt, maxPending int) { e.flushAt, e.maxPending = flushAt, maxPending }
