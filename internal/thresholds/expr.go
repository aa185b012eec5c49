// Package thresholds parses k6 threshold definitions, checks them against a
// run's metrics, and evaluates them on aggregated sink values. It does no
// I/O: the metrics engine decides when to evaluate and what a failure does.
package thresholds

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/metrics"
)

// Operator compares an aggregated value with a threshold's bound.
type Operator uint8

// The comparison operators, in the order ParseExpression searches for them.
const (
	LessEqual    Operator = iota // <=
	Less                         // <
	GreaterEqual                 // >=
	Greater                      // >
	StrictEqual                  // === (same as ==)
	Equal                        // ==
	NotEqual                     // !=
)

var operatorTokens = [...]string{"<=", "<", ">=", ">", "===", "==", "!="}

// String returns the operator's token.
func (o Operator) String() string {
	if int(o) < len(operatorTokens) {
		return operatorTokens[o]
	}
	return fmt.Sprintf("Operator(%d)", o)
}

// Compare reports whether "v op bound" holds.
func (o Operator) Compare(v, bound float64) bool {
	switch o {
	case LessEqual:
		return v <= bound
	case Less:
		return v < bound
	case GreaterEqual:
		return v >= bound
	case Greater:
		return v > bound
	case StrictEqual, Equal:
		return v == bound
	case NotEqual:
		return v != bound
	}
	return false
}

// Aggregation names the statistic a threshold reads from a sink.
type Aggregation uint8

// The aggregations of k6's threshold grammar.
const (
	Count      Aggregation = iota // counter: sum of values
	RatePerSec                    // "rate" on a counter: count per second of test time
	Rate                          // "rate" on a rate metric: passes / total
	Value                         // gauge: last value
	Avg                           // trend
	Min                           // trend
	Max                           // trend
	Med                           // trend
	Percentile                    // trend: p(N)
)

// Expression is one parsed threshold expression, `<agg> <op> <number>`.
type Expression struct {
	// Source is the expression exactly as written; summaries key results by it.
	Source string
	// AggName is the aggregation as written, without spaces ("p(95)").
	AggName string
	// Percentile is N of p(N), 0 ≤ N ≤ 100; zero for other aggregations.
	Percentile float64
	Op         Operator
	Bound      float64
}

// ParseExpression parses a threshold expression. The grammar, whitespace
// being allowed around every token:
//
//	expression  = aggregation operator number
//	aggregation = "count" | "rate" | "value" | "avg" | "min" | "max" | "med"
//	            | "p(" number ")"              ; 0 ≤ number ≤ 100
//	operator    = "<=" | "<" | ">=" | ">" | "===" | "==" | "!="
//	number      = a float literal as strconv.ParseFloat reads it
//
// As in k6, the operator is found by searching the whole text for each token
// in the order listed and splitting at the first token found, so "a>>>3"
// splits at ">" and fails on ">>3". Whether the aggregation suits the
// metric's type is checked later, by Resolve.
func ParseExpression(src string) (Expression, error) {
	e := Expression{Source: src}
	var lhs, rhs string
	found := false
	for op, tok := range operatorTokens {
		if i := strings.Index(src, tok); i >= 0 {
			e.Op = Operator(op)
			lhs, rhs = src[:i], src[i+len(tok):]
			found = true
			break
		}
	}
	if !found {
		return e, errors.New("no comparison operator: write <aggregation> <operator> <number>, e.g. p(95)<500")
	}
	lhs, rhs = strings.TrimSpace(lhs), strings.TrimSpace(rhs)
	if lhs == "" {
		return e, fmt.Errorf("missing aggregation before %q", e.Op)
	}
	bound, err := strconv.ParseFloat(rhs, 64)
	if err != nil {
		return e, fmt.Errorf("%q after %q is not a number", rhs, e.Op)
	}
	e.Bound = bound
	switch lhs {
	case "count", "rate", "value", "avg", "min", "max", "med":
		e.AggName = lhs
		return e, nil
	}
	if strings.HasPrefix(lhs, "p(") && strings.HasSuffix(lhs, ")") {
		n, err := strconv.ParseFloat(strings.TrimSpace(lhs[2:len(lhs)-1]), 64)
		if err != nil || math.IsNaN(n) || n < 0 || n > 100 {
			return e, fmt.Errorf("invalid percentile %q: use p(N) with 0 <= N <= 100", lhs)
		}
		e.AggName = "p(" + strconv.FormatFloat(n, 'f', -1, 64) + ")"
		e.Percentile = n
		return e, nil
	}
	return e, fmt.Errorf("unknown aggregation %q: use count, rate, value, avg, min, max, med or p(N)", lhs)
}

// aggregation returns the statistic e reads from a metric of type t, or an
// error when the aggregation does not exist for that type.
func (e Expression) aggregation(t metrics.MetricType) (Aggregation, error) {
	valid := map[metrics.MetricType]string{
		metrics.Counter: "count, rate",
		metrics.Gauge:   "value",
		metrics.Rate:    "rate",
		metrics.Trend:   "avg, min, max, med, p(N)",
	}
	switch {
	case t == metrics.Counter && e.AggName == "count":
		return Count, nil
	case t == metrics.Counter && e.AggName == "rate":
		return RatePerSec, nil
	case t == metrics.Gauge && e.AggName == "value":
		return Value, nil
	case t == metrics.Rate && e.AggName == "rate":
		return Rate, nil
	case t == metrics.Trend:
		switch e.AggName {
		case "avg":
			return Avg, nil
		case "min":
			return Min, nil
		case "max":
			return Max, nil
		case "med":
			return Med, nil
		}
		if strings.HasPrefix(e.AggName, "p(") {
			return Percentile, nil
		}
	}
	return 0, fmt.Errorf("aggregation %q is not valid for a %s metric (use %s)", e.AggName, t, valid[t])
}

// value computes aggregation a on sink; elapsed is the test time so far.
func value(a Aggregation, p float64, sink metrics.Sink, elapsed time.Duration) float64 {
	switch s := sink.(type) {
	case *metrics.CounterSink:
		if a == RatePerSec {
			return s.Rate(elapsed)
		}
		return s.Sum
	case *metrics.GaugeSink:
		return s.Value
	case *metrics.RateSink:
		return s.Rate()
	case *metrics.TrendSink:
		switch a {
		case Avg:
			return s.Avg()
		case Min:
			return s.Min()
		case Max:
			return s.Max()
		case Med:
			return s.Med()
		case Percentile:
			return s.P(p / 100)
		}
	}
	return 0
}
