package batch_test

import (
	"slices"
	"testing"

	"github.com/tallyhq/tally/creditd/internal/batch"
)

// Jobs queued before the loop starts are taken max at a time, in order;
// the loop ends when the channel is closed and drained.
func TestLoop(t *testing.T) {
	for _, tc := range []struct {
		queued, max int
		want        []int // batch sizes
	}{
		{0, 3, nil},
		{1, 3, []int{1}},
		{7, 3, []int{3, 3, 1}},
		{4, 1, []int{1, 1, 1, 1}},
	} {
		jobs := make(chan int, tc.queued)
		for i := range tc.queued {
			jobs <- i
		}
		close(jobs)
		var sizes, seen []int
		batch.Loop(jobs, tc.max, func(b []int) {
			sizes = append(sizes, len(b))
			seen = append(seen, b...)
		})
		if !slices.Equal(sizes, tc.want) {
			t.Errorf("%d queued, max %d: batches %v, want %v", tc.queued, tc.max, sizes, tc.want)
		}
		for i, j := range seen {
			if i != j {
				t.Fatalf("%d queued, max %d: jobs out of order: %v", tc.queued, tc.max, seen)
			}
		}
	}
}
