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
	tests := []struct {
		format Format
		want   string
	}{
		{Text, ` level=warning msg="hello \"world\"" source=console n=3` + "\n"},
		{Raw, `hello "world"` + "\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		slog.New(NewHandler(&b, tc.format, slog.LevelDebug)).With("source", "console").Warn(`hello "world"`, "n", 3)
		got := b.String()
		if tc.format == Text {
			stamp, rest, _ := strings.Cut(got, " ")
			if _, err := time.Parse(`"`+time.RFC3339+`"`, strings.TrimPrefix(stamp, "time=")); err != nil {
				t.Errorf("bad time stamp %q", stamp)
			}
			got = " " + rest
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.format, got, tc.want)
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
