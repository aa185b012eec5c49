// Package token issues and verifies creditd's bearer tokens.
//
// An HMAC token is "ct1.<user id, base64url>.<HMAC-SHA256 of the user id, base64url>": it names its
// user and proves the server (or whoever holds the secret) issued it. Tokens do not expire; they stop
// working when the secret changes. Mock tokens ("mock-token-<user id>") prove nothing and exist only so
// that the original Locust suite runs unmodified; they are accepted only when mock auth is on.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrInvalid is returned for a token that is malformed or not signed with the server's secret.
var ErrInvalid = errors.New("invalid token")

// MockPrefix starts every mock token.
const MockPrefix = "mock-token-"

const hmacPrefix = "ct1."

// MinSecretLength is the shortest secret NewHMAC callers should accept.
const MinSecretLength = 16

// HMAC issues and verifies HMAC-SHA256 tokens. It is safe for concurrent use.
type HMAC struct {
	key []byte
}

// NewHMAC returns an HMAC signer for secret.
func NewHMAC(secret []byte) *HMAC {
	return &HMAC{key: append([]byte(nil), secret...)}
}

// Issue returns the token of userID.
func (h *HMAC) Issue(userID string) string {
	enc := base64.RawURLEncoding
	return hmacPrefix + enc.EncodeToString([]byte(userID)) + "." + enc.EncodeToString(h.mac(userID))
}

// Verify returns the user a token names, or ErrInvalid.
func (h *HMAC) Verify(tok string) (string, error) {
	rest, ok := strings.CutPrefix(tok, hmacPrefix)
	if !ok {
		return "", ErrInvalid
	}
	user64, mac64, ok := strings.Cut(rest, ".")
	if !ok {
		return "", ErrInvalid
	}
	enc := base64.RawURLEncoding
	user, err1 := enc.DecodeString(user64)
	mac, err2 := enc.DecodeString(mac64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, h.mac(string(user))) {
		return "", ErrInvalid
	}
	return string(user), nil
}

func (h *HMAC) mac(userID string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("creditd/v1/"))
	m.Write([]byte(userID))
	return m.Sum(nil)
}

// Mock issues mock tokens and accepts both mock tokens and the HMAC tokens of Signed. It is safe for
// concurrent use.
type Mock struct {
	Signed *HMAC
}

// Issue returns "mock-token-<userID>".
func (m Mock) Issue(userID string) string { return MockPrefix + userID }

// Verify accepts "mock-token-<user id>" for any non-empty user id, and Signed's tokens.
func (m Mock) Verify(tok string) (string, error) {
	if user, ok := strings.CutPrefix(tok, MockPrefix); ok {
		if user == "" {
			return "", ErrInvalid
		}
		return user, nil
	}
	return m.Signed.Verify(tok)
}
