package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		format Format
		want   string
	}{
		{Text, `time="2026-01-02T03:04:05Z" level=warning msg="hello \"world\"" source=console n=3` + "\n"},
		{Raw, `hello "world"` + "\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		h := NewHandler(&b, tc.format, slog.LevelDebug)
		h.now = func() time.Time { return at }
		slog.New(h).With("source", "console").Warn(`hello "world"`, "n", 3)
		if b.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.format, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	slog.New(NewHandler(&b, JSON, slog.LevelInfo)).Error("boom", "scenario", "s")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["level"] != "error" || m["msg"] != "boom" || m["scenario"] != "s" {
		t.Errorf("json line %q: %v", b.String(), err)
	}
}

func TestLevelsAndFormatNames(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	l := slog.New(NewHandler(&b, Text, slog.LevelInfo))
	l.Debug("hidden")
	l.Info("shown")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), "level=info msg=shown") {
		t.Errorf("%q", b.String())
	}
	for _, s := range []string{"text", "json", "raw", ""} {
		if _, err := ParseFormat(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
}
