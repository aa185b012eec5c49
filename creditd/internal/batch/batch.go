// Package batch is the group commit both stores use: a loop takes the
// first queued job, adds whatever else already queued up behind it, and
// runs them together, so that a busy store pays one commit (or one
// pipelined round trip) for many deductions while an idle one adds no
// delay.
package batch

// Loop runs batches of the jobs received from jobs until jobs is closed and
// drained: each batch is the first job waiting plus those already queued
// behind it, at most max (at least 1). The slice passed to run is reused
// for the next batch, so run must not keep it.
func Loop[T any](jobs <-chan T, max int, run func([]T)) {
	batch := make([]T, 0, max)
	for j := range jobs {
		batch = append(batch[:0], j)
	fill:
		for len(batch) < max {
			select {
			case j, ok := <-jobs:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		run(batch)
	}
}
