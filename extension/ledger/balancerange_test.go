package ledger

import "testing"

func TestBalanceRange(t *testing.T) {
	for _, tc := range []struct {
		lo, hi int64
		want   string
	}{
		{90, 95, "in [90, 95]"},
		{0, 0, "in [0, 0]"},
		{0, -5, "at most -5 (more credits confirmed than the account held)"},
	} {
		if got := balanceRange(tc.lo, tc.hi); got != tc.want {
			t.Errorf("balanceRange(%d, %d) = %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}
