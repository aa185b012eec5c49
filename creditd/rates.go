package creditd

import (
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
)

// Rates maps a feature name to its price in credits per unit of usage.
type Rates map[string]int64

// DefaultRates returns the Beta 500 price list: ai_search 5, ai_recommendations 3, live_dubbing 1.
func DefaultRates() Rates {
	return Rates{"ai_search": 5, "ai_recommendations": 3, "live_dubbing": 1}
}

// Cost returns usage × rate(feature): EFEATURE for a feature without a rate, EAMOUNT for usage outside
// 1..MaxCredits or a product above MaxCredits.
func (r Rates) Cost(feature string, usage int64) (int64, error) {
	rate, ok := r[feature]
	if !ok {
		return 0, Errorf(EFEATURE, "feature %q has no rate; known features: %s", feature, strings.Join(r.Features(), ", "))
	}
	if usage <= 0 || usage > MaxCredits {
		return 0, Errorf(EAMOUNT, "usage_amount must be a whole number from 1 to %d, got %d", MaxCredits, usage)
	}
	hi, lo := bits.Mul64(uint64(usage), uint64(rate))
	if hi != 0 || lo > uint64(MaxCredits) {
		return 0, Errorf(EAMOUNT, "usage_amount %d × rate %d of %s exceeds the largest charge (%d)", usage, rate, feature, MaxCredits)
	}
	return int64(lo), nil
}

// Features returns the priced feature names, sorted.
func (r Rates) Features() []string {
	names := make([]string, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// String formats the rates as FEATURE=N pairs, sorted and comma-separated.
func (r Rates) String() string {
	parts := make([]string, 0, len(r))
	for _, name := range r.Features() {
		parts = append(parts, name+"="+strconv.FormatInt(r[name], 10))
	}
	return strings.Join(parts, ",")
}

// Set parses one or more comma-separated FEATURE=N pairs into r, replacing a feature's rate or adding a
// new feature. A feature name is 1–64 characters of a-z, 0-9 and _; N is a whole number from 1 to
// 1000000000.
func (r Rates) Set(s string) error {
	for _, pair := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("rate %q: want FEATURE=N, e.g. ai_search=5", pair)
		}
		if !validFeature(name) {
			return fmt.Errorf("rate %q: feature names are 1-64 characters of a-z, 0-9 and _", pair)
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 1 || n > 1_000_000_000 {
			return fmt.Errorf("rate %q: N must be a whole number from 1 to 1000000000", pair)
		}
		r[name] = n
	}
	return nil
}

func validFeature(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
