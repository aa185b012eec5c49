package summary

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{formatTime(148.2123, ""), "148.21ms"},
		{formatTime(0.66396, ""), "663.96µs"},
		{formatTime(0.007, ""), "7µs"},
		{formatTime(0, ""), "0s"},
		{formatTime(1140.3, ""), "1.14s"},
		{formatTime(75300, ""), "1m15.3s"},
		{formatTime(148.2123, "s"), "0.15s"},
		{formatTime(148.2123, "ms"), "148.21ms"},
		{formatTime(148.2123, "us"), "148212.3µs"},
		{formatBytes(102), "102 B"},
		{formatBytes(31000), "31 kB"},
		{formatBytes(1300000), "1.3 MB"},
		{formatBytes(999), "999 B"},
		{formatNumber(152.3555561), "152.355556"},
		{formatNumber(120), "120"},
		{formatNumber(4.5), "4.5"},
		{formatNumber(-0.0000001), "0"},
		{formatPercent(0.5), "50.00%"},
		{formatPerSecond("default", 6.561093, ""), "6.561093/s"},
		{formatPerSecond("data", 75700, ""), "76 kB/s"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
