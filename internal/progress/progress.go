// Package progress draws the live progress of a test run: on a terminal, one
// redrawn bar per scenario under a status header; elsewhere (CI logs, pipes)
// a plain status line every few seconds; nothing when quiet.
package progress

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for Config's intervals and width.
const (
	DefaultRefresh      = 250 * time.Millisecond // terminal redraw interval
	DefaultLineInterval = 5 * time.Second        // plain status line interval
	DefaultWidth        = 100                    // terminal columns when unknown
)

// Config says where and how progress is shown. The zero Config shows
// nothing (no writer).
type Config struct {
	// Out is usually stderr (a *Terminal when it is a terminal that log
	// lines share); nil disables progress.
	Out   io.Writer
	TTY   bool // Out is a terminal: redraw bars in place
	Quiet bool // show nothing (--quiet)
	// NoColor disables ANSI colors; cursor movement is still used on a TTY.
	NoColor      bool
	Width        int           // terminal columns; 0 = DefaultWidth
	Refresh      time.Duration // TTY redraw interval; 0 = DefaultRefresh
	LineInterval time.Duration // plain line interval; 0 = DefaultLineInterval
}

// Enabled reports whether c shows anything.
func (c Config) Enabled() bool { return c.Out != nil && !c.Quiet }

// Bar is a snapshot of one scenario's progress.
type Bar struct {
	Name     string  // scenario name
	State    string  // "waiting", "running", "stopping" or "done"
	Fraction float64 // executor progress, 0..1
	// Detail describes the executor's work, e.g. "3/3 VUs, 7/10 shared iterations".
	Detail string
	// Time is the elapsed/total time, e.g. "04.2s/10m0s".
	Time string
}

// Renderer draws progress until its context ends.
type Renderer struct {
	cfg    Config
	header func() string
	bars   func() []Bar
	drawn  int // lines drawn by the previous TTY frame
}

// New returns a renderer that calls header and bars for every frame.
func New(cfg Config, header func() string, bars func() []Bar) *Renderer {
	if cfg.Width <= 0 {
		cfg.Width = DefaultWidth
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.LineInterval <= 0 {
		cfg.LineInterval = DefaultLineInterval
	}
	return &Renderer{cfg: cfg, header: header, bars: bars}
}

// Run draws frames until ctx is done, then draws the final frame (a TTY
// shows the final bars; a plain writer gets one last status line). It does
// nothing when the config is not Enabled.
func (r *Renderer) Run(ctx context.Context) {
	if !r.cfg.Enabled() {
		return
	}
	interval := r.cfg.LineInterval
	if r.cfg.TTY {
		interval = r.cfg.Refresh
		r.frame()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.frame()
			return
		case <-t.C:
			r.frame()
		}
	}
}

func (r *Renderer) frame() {
	if r.cfg.TTY {
		if t, ok := r.cfg.Out.(*Terminal); ok {
			t.draw(r.Lines())
			return
		}
		io.WriteString(r.cfg.Out, r.TTYFrame())
		return
	}
	io.WriteString(r.cfg.Out, r.Line()+"\n")
}

// TTYFrame returns the ANSI text that replaces the previous frame with the
// current one.
func (r *Renderer) TTYFrame() string {
	var b strings.Builder
	if r.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", r.drawn)
	}
	lines := r.Lines()
	for _, l := range lines {
		b.WriteString("\r\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	r.drawn = len(lines)
	return b.String()
}

// Lines returns the current frame as plain lines: the header, then one bar
// per scenario, fitted to the configured width.
func (r *Renderer) Lines() []string {
	bars := r.bars()
	lines := []string{clip(r.header(), r.cfg.Width)}
	nameW := 0
	for _, b := range bars {
		nameW = max(nameW, utf8.RuneCountInString(b.Name))
	}
	for _, b := range bars {
		lines = append(lines, clip(r.barLine(b, nameW), r.cfg.Width))
	}
	return lines
}

func (r *Renderer) barLine(b Bar, nameW int) string {
	const barW = 30
	filled := int(b.Fraction*barW + 0.5)
	filled = min(max(filled, 0), barW)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", barW-filled)
	state := b.State
	if !r.cfg.NoColor {
		state = colorState(state)
	}
	return fmt.Sprintf("%-*s %s [%s] %3.0f%%  %s  %s", nameW, b.Name, pad(state, b.State, 8), bar,
		b.Fraction*100, b.Time, b.Detail)
}

// Line returns one plain status line: the header and each scenario's
// percentage and detail.
func (r *Renderer) Line() string {
	var b strings.Builder
	b.WriteString(r.header())
	for _, bar := range r.bars() {
		fmt.Fprintf(&b, "; %s %s %.0f%% (%s, %s)", bar.Name, bar.State, bar.Fraction*100, bar.Time, bar.Detail)
	}
	return b.String()
}

func colorState(s string) string {
	switch s {
	case "running":
		return "\x1b[36m" + s + "\x1b[0m"
	case "done":
		return "\x1b[32m" + s + "\x1b[0m"
	case "stopping":
		return "\x1b[33m" + s + "\x1b[0m"
	}
	return s
}

// pad pads s (which may hold escape codes) to width w, measured on plain.
func pad(s, plain string, w int) string {
	if n := utf8.RuneCountInString(plain); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// clip cuts s to w columns, ignoring ANSI escape sequences when counting.
func clip(s string, w int) string {
	var b strings.Builder
	n, esc := 0, false
	for _, c := range s {
		switch {
		case esc:
			b.WriteRune(c)
			if c == 'm' {
				esc = false
			}
			continue
		case c == '\x1b':
			esc = true
			b.WriteRune(c)
			continue
		}
		if n == w {
			if strings.Contains(s, "\x1b[") {
				b.WriteString("\x1b[0m")
			}
			return b.String()
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}
