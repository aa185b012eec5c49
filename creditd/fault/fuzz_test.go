package fault_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tallyhq/tally/creditd/fault"
)

// FuzzParse: --fault lists parse or fail cleanly; an accepted list has valid probabilities and delays
// and reads back the same from the specs' String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "none", "lost-update", "slow=300ms:0.1", "lost-update=10ms:0.5,overdraft", "slow:0",
		"slow:1.0000001", "slow:NaN", "slow:1e-320", "slow=-1s", "overdraft=1s", "slow,slow", "stale-read=9223372036854775807ns",
		" lost-record : 0.05 ", "double-charge:0x1p-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		specs, err := fault.Parse(s)
		if err != nil {
			return
		}
		names := make([]string, len(specs))
		for i, sp := range specs {
			if !(sp.Probability > 0 && sp.Probability <= 1) || sp.Delay < 0 {
				t.Fatalf("Parse(%q): %+v", s, sp)
			}
			names[i] = sp.String()
		}
		back, err := fault.Parse(strings.Join(names, ","))
		if err != nil || !reflect.DeepEqual(back, specs) {
			t.Fatalf("Parse(%q) = %+v; its String %q reads back as %+v, %v", s, specs, strings.Join(names, ","), back, err)
		}
	})
}
