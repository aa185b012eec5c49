// Package token issues and verifies creditd's bearer tokens.
//
// An HMAC token proves the server (or whoever holds the secret) issued it for its user. Without a
// lifetime it is "ct1.<user id, base64url>.<HMAC-SHA256 of the user id, base64url>" and never expires;
// with one (HMAC.Lifetime > 0) it is "ct2.<user id, base64url>.<expiry, Unix seconds>.<HMAC of both,
// base64url>" and is refused from its expiry on. Every part has exactly one accepted spelling: unpadded
// base64url with zero trailing bits, a decimal expiry without sign or leading zeros; any other spelling of
// the same bytes is refused. Tokens stop working when the secret changes. Mock tokens ("mock-token-<user
// id>") prove nothing and exist only so that the original Locust suite runs unmodified; they are accepted
// only when mock auth is on.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is returned for a token that is malformed, not canonically encoded or not signed with the
// server's secret.
var ErrInvalid = errors.New("invalid token")

// ErrExpired is returned (wrapped with the expiry) for a well-formed, correctly signed token whose
// lifetime is over. errors.Is(err, ErrInvalid) holds for it too.
var ErrExpired = fmt.Errorf("%w: expired", ErrInvalid)

// MockPrefix starts every mock token.
const MockPrefix = "mock-token-"

const (
	prefixV1 = "ct1." // no expiry
	prefixV2 = "ct2." // with an expiry
)

// MinSecretLength is the shortest secret NewHMAC callers should accept.
const MinSecretLength = 16

var enc = base64.RawURLEncoding.Strict()

// HMAC issues and verifies HMAC-SHA256 tokens. Set Lifetime and Now before first use; it is then safe for
// concurrent use.
type HMAC struct {
	key []byte
	// Lifetime of the tokens Issue returns; 0 means they never expire. While it is above 0, tokens
	// without an expiry (ct1) are refused, so a lifetime cannot be bypassed with an older token.
	Lifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewHMAC returns an HMAC signer for secret whose tokens never expire.
func NewHMAC(secret []byte) *HMAC {
	return &HMAC{key: append([]byte(nil), secret...)}
}

func (h *HMAC) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Issue returns the token of userID, expiring Lifetime from now when Lifetime is above 0.
func (h *HMAC) Issue(userID string) string {
	if h.Lifetime <= 0 {
		return prefixV1 + enc.EncodeToString([]byte(userID)) + "." + enc.EncodeToString(h.macV1(userID))
	}
	// Round the expiry up to a whole second so that a token never lives shorter than Lifetime.
	exp := h.now().Add(h.Lifetime + time.Second - 1).Unix()
	return h.issueV2(userID, exp)
}

func (h *HMAC) issueV2(userID string, exp int64) string {
	return prefixV2 + enc.EncodeToString([]byte(userID)) + "." + strconv.FormatInt(exp, 10) + "." +
		enc.EncodeToString(h.macV2(userID, exp))
}

// Verify returns the user a token names, ErrExpired (wrapped) for an expired token, or ErrInvalid.
func (h *HMAC) Verify(tok string) (string, error) {
	if rest, ok := strings.CutPrefix(tok, prefixV1); ok {
		if h.Lifetime > 0 {
			return "", ErrInvalid // issued without an expiry, by a server without a lifetime
		}
		user64, mac64, ok := strings.Cut(rest, ".")
		if !ok {
			return "", ErrInvalid
		}
		user, ok1 := decode(user64)
		mac, ok2 := decode(mac64)
		if !ok1 || !ok2 || !hmac.Equal(mac, h.macV1(string(user))) {
			return "", ErrInvalid
		}
		return string(user), nil
	}
	rest, ok := strings.CutPrefix(tok, prefixV2)
	if !ok {
		return "", ErrInvalid
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return "", ErrInvalid
	}
	user, ok1 := decode(parts[0])
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	mac, ok2 := decode(parts[2])
	if !ok1 || !ok2 || err != nil || strconv.FormatInt(exp, 10) != parts[1] || exp <= 0 ||
		!hmac.Equal(mac, h.macV2(string(user), exp)) {
		return "", ErrInvalid
	}
	if !h.now().Before(time.Unix(exp, 0)) {
		return "", fmt.Errorf("%w at %s", ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return string(user), nil
}

// decode reads one base64url part and accepts it only in its canonical spelling (the one EncodeToString
// gives): Strict refuses non-zero trailing bits, the comparison refuses the line breaks the decoder skips.
func decode(s string) ([]byte, bool) {
	b, err := enc.DecodeString(s)
	if err != nil || enc.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

func (h *HMAC) macV1(userID string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("creditd/v1/"))
	m.Write([]byte(userID))
	return m.Sum(nil)
}

func (h *HMAC) macV2(userID string, exp int64) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("creditd/v2/"))
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	m.Write([]byte("/"))
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
