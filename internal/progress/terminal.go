package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Terminal is a terminal shared by the progress bars and log lines. Log
// lines written through it first erase the bars, so a line is never drawn
// over by the next frame; the renderer redraws the bars below it.
type Terminal struct {
	mu    sync.Mutex
	w     io.Writer
	drawn int // lines of the last frame still on screen
}

// NewTerminal wraps w, which must be a terminal that understands ANSI
// cursor movement.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Write writes log output: it erases the bars, then writes p.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.eraseLocked()
	return t.w.Write(p)
}

func (t *Terminal) eraseLocked() {
	if t.drawn == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\x1b[%dA", t.drawn)
	b.WriteString("\r\x1b[J") // clear from the cursor to the end of the screen
	_, _ = io.WriteString(t.w, b.String())
	t.drawn = 0
}

// draw replaces the bars on screen with lines.
func (t *Terminal) draw(lines []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", t.drawn)
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if len(lines) < t.drawn {
		b.WriteString("\x1b[J")
	}
	_, _ = io.WriteString(t.w, b.String())
	t.drawn = len(lines)
}
