package token

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: Verify never panics, and whatever it accepts is the one canonical spelling, i.e. exactly
// what Issue gives for that user (and expiry).
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	v1 := NewHMAC([]byte("0123456789abcdef"))
	v2 := NewHMAC([]byte("0123456789abcdef"))
	v2.Lifetime, v2.Now = time.Hour, func() time.Time { return now }
	for _, u := range []string{"alice", "a", "bob@example.com", "..", ""} {
		f.Add(v1.Issue(u))
		f.Add(v2.Issue(u))
	}
	f.Add("ct1..")
	f.Add("ct2...")
	f.Add("ct2.YWxpY2U.-1.AAAA")
	f.Add("mock-token-x")
	f.Fuzz(func(t *testing.T, tok string) {
		if user, err := v1.Verify(tok); err == nil {
			if strings.HasPrefix(tok, prefixV1) && tok != v1.Issue(user) {
				t.Fatalf("accepted %q for %q; the canonical token is %q", tok, user, v1.Issue(user))
			}
			if strings.HasPrefix(tok, prefixV2) {
				checkV2(t, v1, tok, user)
			}
		}
		if user, err := v2.Verify(tok); err == nil {
			if !strings.HasPrefix(tok, prefixV2) {
				t.Fatalf("a server with a lifetime accepted %q, a token without expiry", tok)
			}
			checkV2(t, v2, tok, user)
		}
		if _, err := (Mock{Signed: v1}).Verify(tok); err == nil && strings.HasPrefix(tok, MockPrefix) && len(tok) == len(MockPrefix) {
			t.Fatal("empty mock user accepted")
		}
	})
}

func checkV2(t *testing.T, h *HMAC, tok, user string) {
	parts := strings.Split(tok, ".")
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		t.Fatalf("accepted %q with expiry %q: %v", tok, parts[2], err)
	}
	if want := h.issueV2(user, exp); tok != want {
		t.Fatalf("accepted %q for %q; the canonical token is %q", tok, user, want)
	}
	if !h.now().Before(time.Unix(exp, 0)) {
		t.Fatalf("accepted %q after its expiry", tok)
	}
}
