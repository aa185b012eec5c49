package k6crypto_test

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"
	"testing"

	"golang.org/x/crypto/md4"       //nolint:staticcheck // reference implementation
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // reference implementation

	"github.com/tallyhq/tally/modules/modulestest"
)

const input = "k6 conformance ✓"

func sum(f func() hash.Hash, data string) []byte {
	h := f()
	h.Write([]byte(data))
	return h.Sum(nil)
}

func TestDigests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		algo string
		f    func() hash.Hash
	}{
		{"md4", md4.New}, {"md5", md5.New}, {"sha1", sha1.New}, {"sha256", sha256.New},
		{"sha384", sha512.New384}, {"sha512", sha512.New}, {"sha512_224", sha512.New512_224},
		{"sha512_256", sha512.New512_256}, {"ripemd160", ripemd160.New},
	}
	for _, tc := range tests {
		t.Run(tc.algo, func(t *testing.T) {
			t.Parallel()
			vu := modulestest.Import(t, "k6/crypto")
			want := sum(tc.f, input)
			checks := []struct{ src, want string }{
				{tc.algo + `("` + input + `", "hex")`, hex.EncodeToString(want)},
				{tc.algo + `("` + input + `")`, hex.EncodeToString(want)},
				{tc.algo + `("` + input + `", "base64")`, base64.StdEncoding.EncodeToString(want)},
				{tc.algo + `("` + input + `", "base64url")`, base64.URLEncoding.EncodeToString(want)},
				{tc.algo + `("` + input + `", "base64rawurl")`, base64.RawURLEncoding.EncodeToString(want)},
				{`mod.` + tc.algo + `(new TextBytes("` + input + `"), "hex")`, hex.EncodeToString(want)},
				{`Array.from(new Uint8Array(` + tc.algo + `("` + input + `", "binary"))).map(b => b.toString(16).padStart(2, "0")).join("")`, hex.EncodeToString(want)},
				{`(() => { const h = createHash("` + tc.algo + `"); h.update("k6 conf"); h.update("ormance ✓"); return h.digest("hex") })()`, hex.EncodeToString(want)},
				{`hmac("` + tc.algo + `", "secret-key", "` + input + `", "hex")`, hex.EncodeToString(hmacSum(tc.f, "secret-key", input))},
				{`(() => { const h = createHMAC("` + tc.algo + `", "secret-key"); h.update("k6 "); h.update("conformance ✓"); return h.digest("base64") })()`, base64.StdEncoding.EncodeToString(hmacSum(tc.f, "secret-key", input))},
			}
			// TextBytes: the UTF-8 bytes of a string as an ArrayBuffer, built in JS.
			vu.Eval(`function TextBytes(s) { const u = unescape(encodeURIComponent(s)); const a = new Uint8Array(u.length); for (let i = 0; i < u.length; i++) a[i] = u.charCodeAt(i); return a.buffer; }`)
			for _, c := range checks {
				if got := vu.Eval(c.src); got != c.want {
					t.Errorf("%s = %v, want %s", c.src, got, c.want)
				}
			}
		})
	}
}

func hmacSum(f func() hash.Hash, key, data string) []byte {
	h := hmac.New(f, []byte(key))
	h.Write([]byte(data))
	return h.Sum(nil)
}

func TestKnownVectors(t *testing.T) {
	t.Parallel()
	vu := modulestest.Import(t, "k6/crypto")
	tests := []struct{ src, want string }{
		{`sha256("", "hex")`, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{`md5("abc", "hex")`, "900150983cd24fb0d6963f7d28e17f72"},
		{`md4("abc", "hex")`, "a448017aaf21d8525fc10ae87aa6729d"},
		{`ripemd160("abc", "hex")`, "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"},
		{`createHash("sha-256").digest("hex")`, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tc := range tests {
		if got := vu.Eval(tc.src); got != tc.want {
			t.Errorf("%s = %v, want %s", tc.src, got, tc.want)
		}
	}
}

func TestRandomBytesAndErrors(t *testing.T) {
	t.Parallel()
	vu := modulestest.Import(t, "k6/crypto")
	if got := vu.Eval(`const a = randomBytes(16); a instanceof ArrayBuffer && a.byteLength === 16`); got != true {
		t.Errorf("randomBytes(16) = %v", got)
	}
	if got := vu.Eval(`Array.from(new Uint8Array(randomBytes(32))).join() !== Array.from(new Uint8Array(randomBytes(32))).join()`); got != true {
		t.Error("two randomBytes(32) calls returned the same bytes")
	}
	for src, want := range map[string]string{
		`randomBytes(0)`:                        "invalid size 0",
		`randomBytes(-1)`:                       "invalid size -1",
		`createHash("sha3")`:                    `unknown hash algorithm "sha3"`,
		`hmac("nope", "k", "d", "hex")`:         `unknown hash algorithm "nope"`,
		`sha256("x", "base32")`:                 `unknown output encoding "base32"`,
		`createHMAC("sha1", "k").digest("oct")`: `unknown output encoding "oct"`,
	} {
		if msg := vu.Throws(src); !strings.Contains(msg, want) {
			t.Errorf("%s threw %q, want %q", src, msg, want)
		}
	}
}
