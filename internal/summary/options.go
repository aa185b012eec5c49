package summary

import (
	"fmt"
	"strings"

	"github.com/tallyhq/tally/metrics"
)

// The values of --summary-mode, the text summary's level of detail.
// ModeDisabled also skips handleSummary.
const (
	ModeCompact  = "compact"
	ModeFull     = "full"
	ModeDisabled = "disabled"
)

// ParseMode parses a --summary-mode value; "" means compact. Any other value
// is an error (the CLI exits 255).
func ParseMode(s string) (string, error) {
	switch m := strings.TrimSpace(s); m {
	case "":
		return ModeCompact, nil
	case ModeCompact, ModeFull, ModeDisabled:
		return m, nil
	}
	return "", fmt.Errorf("invalid summary mode %q: use compact, full or disabled", s)
}

// ValidateMode reports whether s is a valid --summary-mode value.
func ValidateMode(s string) error {
	_, err := ParseMode(s)
	return err
}

// ValidateTrendStats checks --summary-trend-stats / summaryTrendStats: each
// entry must be avg, min, med, max, count or p(N) with 0 ≤ N ≤ 100. An error
// names the first bad entry (the CLI exits 255).
func ValidateTrendStats(stats []string) error {
	for _, s := range stats {
		if _, err := metrics.ParseTrendStat(s); err != nil {
			return fmt.Errorf("invalid summary trend stats: %w", err)
		}
	}
	return nil
}

// ValidateTimeUnit checks --summary-time-unit / summaryTimeUnit: "", "s",
// "ms" or "us".
func ValidateTimeUnit(u string) error {
	switch u {
	case "", "s", "ms", "us":
		return nil
	}
	return fmt.Errorf("invalid summary time unit %q: use s, ms or us", u)
}
