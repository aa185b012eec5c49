package k6http

import (
	"fmt"
	"log/slog"
	"strings"
)

// logRequest logs a request the way --http-debug shows it.
func (c *client) logRequest(l *slog.Logger, hr *hopRequest) {
	var b strings.Builder
	host := hr.host
	if host == "" {
		host = hr.url.Host
	}
	fmt.Fprintf(&b, "Request:\n%s %s HTTP/1.1\r\nHost: %s\r\n", hr.method, hr.url.RequestURI(), host)
	_ = hr.header.Write(&b)
	b.WriteString("\r\n")
	if c.debug == "full" {
		b.WriteString(hr.body)
	}
	l.Info(b.String())
}

// logResponse logs a response the way --http-debug shows it.
func (c *client) logResponse(l *slog.Logger, h *hop) {
	var b strings.Builder
	fmt.Fprintf(&b, "Response:\n%s %s\r\n", h.proto, h.statusText)
	_ = h.header.Write(&b)
	b.WriteString("\r\n")
	if c.debug == "full" {
		b.Write(h.body)
	}
	l.Info(b.String())
}
