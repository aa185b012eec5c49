package summary

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// formatNumber renders a plain number with at most six decimals and no
// trailing zeros: 152.355556, 120, 4.5.
func formatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'f', 6, 64)
	if strings.ContainsRune(s, '.') {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// formatFixed renders v with at most decimals decimals, trailing zeros cut.
func formatFixed(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.ContainsRune(s, '.') {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// formatTime renders a duration given in milliseconds. With unit "" it picks
// the unit by magnitude like Go durations (7µs, 148.21ms, 1.14s, 1m15.3s),
// keeping about two decimals; with "s", "ms" or "us" it always uses that unit.
func formatTime(ms float64, unit string) string {
	switch unit {
	case "s":
		return formatFixed(ms/1000, 2) + "s"
	case "ms":
		return formatFixed(ms, 2) + "ms"
	case "us":
		return formatFixed(ms*1000, 2) + "µs"
	}
	if math.IsNaN(ms) || math.IsInf(ms, 0) {
		return formatNumber(ms) + "ms"
	}
	d := time.Duration(ms * float64(time.Millisecond))
	abs := d
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs >= time.Second:
		d = d.Round(10 * time.Millisecond)
	case abs >= time.Millisecond:
		d = d.Round(10 * time.Microsecond)
	case abs >= time.Microsecond:
		d = d.Round(10 * time.Nanosecond)
	}
	return d.String()
}

// formatBytes renders a byte count with SI units: 102 B, 31 kB, 1.3 MB.
func formatBytes(b float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	neg := b < 0
	if neg {
		b = -b
	}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	var s string
	switch {
	case i == 0:
		s = strconv.FormatFloat(math.Round(b), 'f', 0, 64)
	case b < 10:
		s = strconv.FormatFloat(math.Round(b*10)/10, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(math.Round(b), 'f', 0, 64)
	}
	if neg {
		s = "-" + s
	}
	return s + " " + units[i]
}

// formatValue renders v according to what the metric contains.
func formatValue(contains string, v float64, unit string) string {
	switch contains {
	case "time":
		return formatTime(v, unit)
	case "data":
		return formatBytes(v)
	}
	return formatNumber(v)
}

// formatPercent renders a ratio as 12.34%.
func formatPercent(r float64) string {
	return strconv.FormatFloat(r*100, 'f', 2, 64) + "%"
}

// formatPerSecond renders a counter's rate: 6.56109/s, 76 kB/s.
func formatPerSecond(contains string, r float64, unit string) string {
	return formatValue(contains, r, unit) + "/s"
}
