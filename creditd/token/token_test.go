package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tallyhq/tally/creditd/token"
)

func TestHMAC(t *testing.T) {
	t.Parallel()
	h := token.NewHMAC([]byte("0123456789abcdef"))
	tok := h.Issue("alice@example.com")
	if user, err := h.Verify(tok); err != nil || user != "alice@example.com" {
		t.Fatalf("Verify(Issue) = %q, %v", user, err)
	}
	other := token.NewHMAC([]byte("another secret 16"))
	for name, bad := range map[string]string{
		"empty":          "",
		"other secret":   other.Issue("alice@example.com"),
		"swapped user":   strings.Split(h.Issue("bob"), ".")[0] + "." + strings.Split(h.Issue("bob"), ".")[1] + "." + strings.Split(tok, ".")[2],
		"truncated":      tok[:len(tok)-3],
		"no mac":         "ct1.YWxpY2U",
		"bad base64":     "ct1.!!!.???",
		"mock token":     "mock-token-alice@example.com",
		"wrong version":  "ct2" + tok[3:],
		"trailing space": tok + " ",
	} {
		if user, err := h.Verify(bad); !errors.Is(err, token.ErrInvalid) {
			t.Errorf("%s: Verify(%q) = %q, %v; want ErrInvalid", name, bad, user, err)
		}
	}
}

func TestMock(t *testing.T) {
	t.Parallel()
	h := token.NewHMAC([]byte("0123456789abcdef"))
	m := token.Mock{Signed: h}
	if tok := m.Issue("u1"); tok != "mock-token-u1" {
		t.Fatalf("Issue = %q", tok)
	}
	for tok, want := range map[string]string{"mock-token-u1": "u1", h.Issue("u2"): "u2"} {
		if user, err := m.Verify(tok); err != nil || user != want {
			t.Errorf("Verify(%q) = %q, %v; want %q", tok, user, err, want)
		}
	}
	if _, err := m.Verify("mock-token-"); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("empty mock user accepted")
	}
}
