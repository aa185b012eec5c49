// Package logging formats tally's log lines the way k6 does, so that log
// scrapers written for k6 keep working: logfmt-like text
// (time="..." level=info msg="..." key=value), JSON objects, or raw
// messages.
package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Format selects how log lines are written.
type Format string

// The formats of --log-format.
const (
	Text Format = "text"
	JSON Format = "json"
	Raw  Format = "raw"
)

// ParseFormat validates a --log-format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Text, JSON, Raw:
		return f, nil
	case "":
		return Text, nil
	}
	return "", fmt.Errorf("invalid log format %q: use text, json or raw", s)
}

// Handler is a slog.Handler writing k6-style lines. It is safe for
// concurrent use; lines are written whole.
type Handler struct {
	w      *lockedWriter
	format Format
	level  slog.Leveler
	attrs  []slog.Attr
	now    func() time.Time
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewHandler returns a handler writing to w in format, dropping records
// below level.
func NewHandler(w io.Writer, format Format, level slog.Leveler) *Handler {
	return &Handler{w: &lockedWriter{w: w}, format: format, level: level, now: time.Now}
}

// Enabled reports whether records at l are written.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs returns a handler adding attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &h2
}

// WithGroup is not supported: attributes stay flat, as k6's are.
func (h *Handler) WithGroup(string) slog.Handler { return h }

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warning"
	default:
		return "error"
	}
}

// Handle writes one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	attrs := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs())
	attrs = append(attrs, h.attrs...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	t := r.Time
	if t.IsZero() {
		t = h.now()
	}
	switch h.format {
	case Raw:
		b.WriteString(r.Message)
	case JSON:
		m := map[string]any{"time": t.Format(time.RFC3339), "level": levelName(r.Level), "msg": r.Message}
		for _, a := range attrs {
			m[a.Key] = a.Value.Resolve().Any()
		}
		data, err := json.Marshal(m)
		if err != nil {
			return err
		}
		b.Write(data)
	default:
		b.WriteString(`time="`)
		b.WriteString(t.Format(time.RFC3339))
		b.WriteString(`" level=`)
		b.WriteString(levelName(r.Level))
		b.WriteString(" msg=")
		b.WriteString(quote(r.Message))
		for _, a := range attrs {
			b.WriteByte(' ')
			b.WriteString(a.Key)
			b.WriteByte('=')
			b.WriteString(quote(a.Value.Resolve().String()))
		}
	}
	b.WriteByte('\n')
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	_, err := io.WriteString(h.w.w, b.String())
	return err
}

func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, c := range s {
		if c <= ' ' || c == '"' || c == '=' || c > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}
