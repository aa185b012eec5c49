package engine

import "testing"

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vus  int64
		want int
	}{{1, 200}, {100, 200}, {200, 200}, {201, 99}, {300, 66}, {400, 50}, {800, 25}, {1000, 25}, {5000, 25}} {
		if got := gcPercentFor(tc.vus); got != tc.want {
			t.Errorf("gcPercentFor(%d) = %d, want %d", tc.vus, got, tc.want)
		}
	}
}
