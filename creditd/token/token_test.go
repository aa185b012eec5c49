package token_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

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

// otherSpelling returns s (unpadded base64url) with its last character changed in the bits that carry no
// data: the same bytes to a lenient decoder. ok is false when s's length leaves no such bits.
func otherSpelling(s string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(s)%4 == 0 {
		return "", false
	}
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i^1]), true
}

// TestCanonicalOnly: one token has exactly one accepted spelling; base64 variants of the same bytes
// (non-zero padding bits, line breaks the decoder skips, padding, the standard alphabet) and decimal
// variants of the expiry are refused.
func TestCanonicalOnly(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	v1 := token.NewHMAC([]byte("0123456789abcdef"))
	v2 := token.NewHMAC([]byte("0123456789abcdef"))
	v2.Lifetime, v2.Now = time.Hour, func() time.Time { return now }
	for _, h := range []*token.HMAC{v1, v2} {
		tok := h.Issue("alice") // 5 bytes: the last character of the id has 2 spare bits, the MAC's too
		if _, err := h.Verify(tok); err != nil {
			t.Fatalf("Verify(%q): %v", tok, err)
		}
		parts := strings.Split(tok, ".")
		user, mac := parts[1], parts[len(parts)-1]
		altUser, ok1 := otherSpelling(user)
		altMac, ok2 := otherSpelling(mac)
		if !ok1 || !ok2 {
			t.Fatalf("test needs parts with spare bits: %q", tok)
		}
		variants := map[string]string{
			"user id with padding bits set": strings.Replace(tok, "."+user+".", "."+altUser+".", 1),
			"MAC with padding bits set":     strings.TrimSuffix(tok, mac) + altMac,
			"line break in the MAC":         strings.TrimSuffix(tok, mac) + mac[:10] + "\n" + mac[10:],
			"carriage return in the user":   strings.Replace(tok, "."+user+".", "."+user[:2]+"\r"+user[2:]+".", 1),
			"padded MAC":                    tok + "=",
			"standard alphabet":             strings.NewReplacer("-", "+", "_", "/").Replace(tok),
		}
		if len(parts) == 4 {
			exp := parts[2]
			variants["expiry with a plus sign"] = strings.Replace(tok, "."+exp+".", ".+"+exp+".", 1)
			variants["expiry with a leading zero"] = strings.Replace(tok, "."+exp+".", ".0"+exp+".", 1)
		}
		for name, v := range variants {
			if v == tok {
				continue // e.g. no - or _ in this token
			}
			if user, err := h.Verify(v); !errors.Is(err, token.ErrInvalid) {
				t.Errorf("%s: Verify(%q) = %q, %v; want ErrInvalid (only %q is valid)", name, v, user, err, tok)
			}
		}
	}
}

// TestLifetime: with a lifetime, tokens carry their expiry and are refused from it on; tokens without
// an expiry are refused; without a lifetime, tokens never expire.
func TestLifetime(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	h := token.NewHMAC([]byte("0123456789abcdef"))
	h.Lifetime, h.Now = 10*time.Minute, clock
	tok := h.Issue("bob")
	if !strings.HasPrefix(tok, "ct2.") || !strings.Contains(tok, "."+strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10)+".") {
		t.Fatalf("Issue with a 10m lifetime = %q; want ct2.<user>.<now+10m>.<mac>", tok)
	}
	if user, err := h.Verify(tok); err != nil || user != "bob" {
		t.Fatalf("Verify before expiry = %q, %v", user, err)
	}
	now = now.Add(10*time.Minute - time.Second)
	if _, err := h.Verify(tok); err != nil {
		t.Fatalf("Verify a second before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := h.Verify(tok); !errors.Is(err, token.ErrExpired) || !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("Verify at expiry: %v; want ErrExpired", err)
	}
	forever := token.NewHMAC([]byte("0123456789abcdef")).Issue("bob")
	if _, err := h.Verify(forever); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("a token without expiry accepted by a server with a lifetime: %v", err)
	}
	// A server without a lifetime still honours the expiry of a token that has one.
	plain := token.NewHMAC([]byte("0123456789abcdef"))
	plain.Now = clock
	if _, err := plain.Verify(tok); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("expired ct2 token on a server without lifetime: %v", err)
	}
	now = time.Unix(1_800_000_000, 0)
	if user, err := plain.Verify(tok); err != nil || user != "bob" {
		t.Fatalf("valid ct2 token on a server without lifetime: %q, %v", user, err)
	}
	// A forged expiry breaks the MAC.
	parts := strings.Split(tok, ".")
	parts[2] = strconv.FormatInt(now.Add(24*time.Hour).Unix(), 10)
	if _, err := h.Verify(strings.Join(parts, ".")); !errors.Is(err, token.ErrInvalid) || errors.Is(err, token.ErrExpired) {
		t.Fatalf("token with a forged expiry: %v; want ErrInvalid", err)
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
