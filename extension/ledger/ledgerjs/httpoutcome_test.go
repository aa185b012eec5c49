package ledgerjs

import (
	"fmt"
	"testing"

	"github.com/tallyhq/tally/extension/ledger"
)

// The in-place reader agrees with the core's Rules.Outcome, which decodes
// the whole body.
func TestOutcomeReaderMatchesCore(t *testing.T) {
	t.Parallel()
	custom := ledger.DefaultRules()
	custom.Fields = ledger.Fields{Balance: "data.left", Version: "", TxID: "id", Charged: "a*b"}
	bodies := []string{
		``, `   `, `null`, `[]`, `[1,2]`, `"str"`, `42`, `not json`, `{`, `{"remaining_credits":}`,
		`{}`, ` {"remaining_credits":95} `,
		`{"success":true,"credits_charged":5,"remaining_credits":95,"transaction_id":"tx-1","version":7}`,
		`{"remaining_credits":95.0,"version":"8","transaction_id":12,"credits_charged":"5"}`,
		`{"remaining_credits":9.5,"version":1e3,"transaction_id":1.5e3,"credits_charged":-2}`,
		`{"remaining_credits":9007199254740993,"version":1e300,"transaction_id":true,"credits_charged":null}`,
		`{"remaining_credits":"x","version":[1],"transaction_id":{"a":1},"credits_charged":{}}`,
		`{"remaining_credits":-4,"transaction_id":"\u00e9\"q"}`,
		`{"data":{"left":7},"id":"t","a*b":3,"version":2}`,
		`{"data":{"left":{"deep":1}},"id":null,"a*b":"4"}`,
		`{"data":[1],"left":3}`,
	}
	for _, rules := range []ledger.Rules{ledger.DefaultRules(), custom} {
		r := newOutcomeReader(rules)
		for _, status := range []int{0, 200, 201, 302, 400, 402, 408, 500} {
			for _, timeout := range []bool{false, true} {
				for _, body := range bodies {
					res := ledger.HTTPResult{Status: status, Body: []byte(body), Timeout: timeout}
					got, want := r.outcome(res), rules.Outcome(res)
					if got != want {
						t.Errorf("fields %+v, status %d, timeout %v, body %s:\n got  %+v\n want %+v", rules.Fields, status, timeout, body, got, want)
					}
				}
			}
		}
	}
}

func BenchmarkOutcome(b *testing.B) {
	body := []byte(`{"success":true,"credits_charged":5,"remaining_credits":95,"transaction_id":"tx-123456","version":77}`)
	res := ledger.HTTPResult{Status: 200, Body: body}
	rules := ledger.DefaultRules()
	r := newOutcomeReader(rules)
	for _, bc := range []struct {
		name string
		f    func() ledger.Outcome
	}{{"core", func() ledger.Outcome { return rules.Outcome(res) }}, {"binding", func() ledger.Outcome { return r.outcome(res) }}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var o ledger.Outcome
			for b.Loop() {
				o = bc.f()
			}
			if o.Balance != 95 || o.TxID != "tx-123456" {
				b.Fatal(fmt.Sprint(o))
			}
		})
	}
}
