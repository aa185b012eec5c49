package ledger

import (
	"fmt"
)

// AmountSign is how a service's transaction log writes a debit's amount.
type AmountSign string

// Sign conventions of logged amounts. SignAuto detects the convention from
// the logs' balance chains (detectSign).
const (
	SignAuto     AmountSign = ""
	SignPositive AmountSign = "positive" // a debit of 5 is logged as 5 (the credit API's convention)
	SignNegative AmountSign = "negative" // a debit of 5 is logged as -5
)

// ParseAmountSign reads "auto" (or ""), "positive" or "negative".
func ParseAmountSign(s string) (AmountSign, error) {
	switch s {
	case "", "auto":
		return SignAuto, nil
	case string(SignPositive), string(SignNegative):
		return AmountSign(s), nil
	}
	return SignAuto, fmt.Errorf("amount sign %q: want auto, positive or negative", s)
}

// SignReport says which sign convention the verification read the server
// logs with, and why.
type SignReport struct {
	Sign     AmountSign `json:"sign"`     // positive or negative
	Basis    string     `json:"basis"`    // "configured", "balance chain", "amounts", "assumed"
	Positive int        `json:"positive"` // balance-chain steps that read debits as positive amounts
	Negative int        `json:"negative"` // steps that read them as negative amounts
}

// Text is the report in plain words, as the verdict shows it.
func (s *SignReport) Text() string {
	word := "debits positive"
	if s.Sign == SignNegative {
		word = "debits negative"
	}
	switch s.Basis {
	case "configured":
		return word + " (configured)"
	case "balance chain":
		if s.Positive > 0 && s.Negative > 0 {
			return fmt.Sprintf("%s (balance chain: %d steps say positive, %d negative; the majority is used, set amountSign to force it)", word, s.Positive, s.Negative)
		}
		return fmt.Sprintf("%s (detected from the balance chain, %s)", word, plural(int64(s.Positive+s.Negative), "step"))
	case "amounts":
		return word + " (every logged amount is negative; the balance chain is too short to tell)"
	}
	return word + " (assumed: the logs are too short to tell from the balance chain; set amountSign to force)"
}

// signVotes decide how the logs of a service write debits. The rule, per
// service (every account of every group together): between two
// consecutive records that both report balance_after, a fall of d credits
// with amount d votes positive and with amount -d votes negative; the
// majority wins (steps that match neither, e.g. around a lost update, do
// not vote). With no vote (logs too short, or without balance_after) the
// amounts alone decide: all negative means negative, anything else
// positive, the credit API's convention, said as "assumed" in the verdict.
type signVotes struct {
	records, negatives int
	positive, negative int
}

// count adds the votes of the logs of h.
func (s *signVotes) count(h *history) {
	for _, a := range h.accounts {
		for i := range a.log {
			t := &a.log[i]
			s.records++
			if t.Amount < 0 {
				s.negatives++
			}
			if i == 0 || !t.HasBalance || !a.log[i-1].HasBalance {
				continue
			}
			d := a.log[i-1].BalanceAfter - t.BalanceAfter
			switch {
			case d == 0:
			case d == t.Amount:
				s.positive++
			case d == -t.Amount:
				s.negative++
			}
		}
	}
}

// decide returns the convention the votes give, or forced when it is not
// SignAuto; nil when no log holds a record.
func (s *signVotes) decide(forced AmountSign) *SignReport {
	if s.records == 0 {
		return nil
	}
	rep := SignReport{Positive: s.positive, Negative: s.negative}
	switch {
	case forced != SignAuto:
		rep.Sign, rep.Basis = forced, "configured"
	case rep.Positive+rep.Negative > 0:
		rep.Sign, rep.Basis = SignPositive, "balance chain"
		if rep.Negative > rep.Positive {
			rep.Sign = SignNegative
		}
	case s.negatives == s.records:
		rep.Sign, rep.Basis = SignNegative, "amounts"
	default:
		rep.Sign, rep.Basis = SignPositive, "assumed"
	}
	return &rep
}

// negateLogs rewrites every logged amount of h (written negative) as a
// positive debit.
func negateLogs(h *history) {
	for _, a := range h.accounts {
		for i := range a.log {
			a.log[i].Amount = -a.log[i].Amount
		}
	}
}
