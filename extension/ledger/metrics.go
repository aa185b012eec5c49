package ledger

import "context"

// Metric names the ledger reports through its Observer.
const (
	MetricOps               = "ledger_ops"                     // counter {kind, outcome, feature}: settled deductions and reads
	MetricCreditsConfirmed  = "ledger_credits_confirmed"       // counter {feature}: credits of confirmed deductions
	MetricOnlineViolations  = "ledger_online_violations"       // counter {kind}: breaches seen while the run is going
	MetricDiscrepancies     = "ledger_discrepancies"           // counter {kind}: findings of a verification
	MetricCreditsLeaked     = "ledger_credits_leaked"          // counter: credits confirmed but never taken
	MetricCreditsOvercharge = "ledger_credits_overcharged"     // counter: credits taken beyond what requests explain
	MetricUnknownOutcomes   = "ledger_unknown_outcomes"        // counter: deductions still unresolved at verification
	MetricLinearizabilityNA = "ledger_linearizability_unknown" // counter: accounts whose deep check ran out of budget
	MetricAccountsVerified  = "ledger_accounts_verified"       // rate: 1 per account that passed, 0 per other
)

// MetricType is the kind of a metric, in k6's vocabulary.
type MetricType string

// The metric types the ledger uses.
const (
	Counter MetricType = "counter"
	Rate    MetricType = "rate"
)

// MetricInfo describes one metric the binding must register before the run.
type MetricInfo struct {
	Name string
	Type MetricType
	Tags []string // tag keys the samples may carry
}

// Metrics lists every metric the ledger reports. A binding registers them up
// front; the Ledger itself emits each counter at zero (untagged) on first use,
// so a threshold such as ledger_discrepancies: ['count==0'] always has a
// sample. The rate ledger_accounts_verified is emitted only by Verify (a zero
// sample would count as a failed account).
var Metrics = []MetricInfo{
	{MetricOps, Counter, []string{"kind", "outcome", "feature"}},
	{MetricCreditsConfirmed, Counter, []string{"feature"}},
	{MetricOnlineViolations, Counter, []string{"kind"}},
	{MetricDiscrepancies, Counter, []string{"kind"}},
	{MetricCreditsLeaked, Counter, nil},
	{MetricCreditsOvercharge, Counter, nil},
	{MetricUnknownOutcomes, Counter, nil},
	{MetricLinearizabilityNA, Counter, nil},
	{MetricAccountsVerified, Rate, nil},
}

// Tags are the tags of a Sample; empty fields are not tags. Kind is the
// operation kind ("deduct", "read", "replay") on ledger_ops and the anomaly
// kind on ledger_discrepancies and ledger_online_violations.
type Tags struct {
	Kind    string
	Outcome string
	Feature string
}

// Sample is one metric value reported by the ledger. For a rate, Value is 0 or 1.
type Sample struct {
	Metric string
	Value  float64
	Tags   Tags
}

// Observer receives the ledger's samples. Observe is called synchronously
// from Begin/Settle/Verify and friends, from many goroutines at once, with
// the context the caller passed in (a binding uses it to find the VU that
// should push the sample); it must be fast and must not call back into the
// Ledger.
type Observer interface {
	Observe(ctx context.Context, s Sample)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(ctx context.Context, s Sample)

// Observe calls f(ctx, s).
func (f ObserverFunc) Observe(ctx context.Context, s Sample) { f(ctx, s) }

var _ Observer = ObserverFunc(nil)

// ZeroSamples returns one untagged zero sample per counter in Metrics: what a
// Ledger emits on first use.
func ZeroSamples() []Sample {
	out := make([]Sample, 0, len(Metrics))
	for _, m := range Metrics {
		if m.Type == Counter {
			out = append(out, Sample{Metric: m.Name})
		}
	}
	return out
}
