package progress

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestTerminalErasesBarsBeforeLogLines(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	term := NewTerminal(&out)
	r := New(Config{Out: term, TTY: true, NoColor: true, Width: 40}, func() string { return "header" },
		func() []Bar { return []Bar{{Name: "s", State: "running", Fraction: 0.5}} })
	r.frame()
	if term.drawn != 2 {
		t.Fatalf("drawn = %d", term.drawn)
	}
	_, _ = term.Write([]byte("a log line\n"))
	s := out.String()
	i := strings.Index(s, "a log line")
	if i < 0 || !strings.Contains(s[:i], "\x1b[2A\r\x1b[J") {
		t.Errorf("bars were not erased before the log line: %q", s)
	}
	if term.drawn != 0 {
		t.Errorf("drawn = %d after a log line", term.drawn)
	}
	r.frame()
	if !strings.HasSuffix(out.String(), "\n") || strings.Count(out.String(), "header") != 2 {
		t.Errorf("bars not redrawn below: %q", out.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Run(ctx)
}
