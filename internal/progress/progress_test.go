package progress

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func bars() []Bar {
	return []Bar{
		{Name: "login", State: "running", Fraction: 0.5, Detail: "3/3 VUs", Time: "05.0s/10.0s"},
		{Name: "b", State: "done", Fraction: 1, Detail: "10/10 shared iterations", Time: "01.0s/10m0s"},
	}
}

func header() string { return "elapsed 05.0s" }

func TestLines(t *testing.T) {
	r := New(Config{Out: &bytes.Buffer{}, NoColor: true, Width: 200}, header, bars)
	got := r.Lines()
	want := []string{
		"elapsed 05.0s",
		"login running  [###############...............]  50%  05.0s/10.0s  3/3 VUs",
		"b     done     [##############################] 100%  01.0s/10m0s  10/10 shared iterations",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	narrow := New(Config{Out: &bytes.Buffer{}, NoColor: true, Width: 20}, header, bars).Lines()
	for _, l := range narrow {
		if len([]rune(l)) > 20 {
			t.Errorf("line %q wider than 20", l)
		}
	}
}

func TestClipKeepsColors(t *testing.T) {
	s := clip("ab\x1b[36mcdef\x1b[0mgh", 4)
	if s != "ab\x1b[36mcd\x1b[0m" {
		t.Errorf("clip = %q", s)
	}
}

func TestTTYFrameRedraws(t *testing.T) {
	r := New(Config{Out: &bytes.Buffer{}, TTY: true, NoColor: true}, header, bars)
	first := r.TTYFrame()
	if strings.Contains(first, "\x1b[3A") || strings.Count(first, "\n") != 3 {
		t.Errorf("first frame %q", first)
	}
	if second := r.TTYFrame(); !strings.HasPrefix(second, "\x1b[3A") {
		t.Errorf("second frame does not move up 3 lines: %q", second)
	}
}

func TestRunModes(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		lines int // lines written over 12s
	}{
		{"plain line every 5s plus the final one", Config{}, 3},
		{"quiet", Config{Quiet: true}, 0},
		{"tty redraws", Config{TTY: true, Refresh: time.Second}, 14 * 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var out bytes.Buffer // Run writes on this goroutine only
				tc.cfg.Out = &out
				ctx, cancel := context.WithTimeout(t.Context(), 12*time.Second+time.Millisecond)
				defer cancel()
				New(tc.cfg, header, bars).Run(ctx)
				if n := strings.Count(out.String(), "\n"); n != tc.lines {
					t.Errorf("%d lines, want %d:\n%s", n, tc.lines, out.String())
				}
				if tc.lines > 0 && !strings.Contains(out.String(), "login") {
					t.Error("no scenario in the output")
				}
			})
		})
	}
	// no writer: nothing happens and Run returns at once
	New(Config{}, header, bars).Run(context.Background())
}
