package k6encoding_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tallyhq/tally/modules/modulestest"
)

func TestB64Encode(t *testing.T) {
	t.Parallel()
	text := "hello?>world~ünï!"
	bin := []byte{0xfb, 0xff, 0xfe, 0x00, 0x41}
	tests := []struct {
		enc  string
		want *base64.Encoding
	}{
		{"std", base64.StdEncoding}, {"rawstd", base64.RawStdEncoding},
		{"url", base64.URLEncoding}, {"rawurl", base64.RawURLEncoding},
	}
	for _, tc := range tests {
		t.Run(tc.enc, func(t *testing.T) {
			t.Parallel()
			vu := modulestest.Import(t, "k6/encoding")
			if got := vu.Eval(`b64encode("` + text + `", "` + tc.enc + `")`); got != tc.want.EncodeToString([]byte(text)) {
				t.Errorf("string input: got %v", got)
			}
			got := vu.Eval(`b64encode(new Uint8Array([0xfb, 0xff, 0xfe, 0x00, 0x41]).buffer, "` + tc.enc + `")`)
			if got != tc.want.EncodeToString(bin) {
				t.Errorf("ArrayBuffer input: got %v", got)
			}
			got = vu.Eval(`b64encode(new Uint8Array([9, 0xfb, 0xff, 0xfe, 0x00, 0x41, 9]).subarray(1, 6), "` + tc.enc + `")`)
			if got != tc.want.EncodeToString(bin) {
				t.Errorf("typed-array view input: got %v", got)
			}
			got = vu.Eval(`b64decode(b64encode("` + text + `", "` + tc.enc + `"), "` + tc.enc + `", "s")`)
			if got != text {
				t.Errorf("round trip: got %v", got)
			}
		})
	}
}

func TestB64Decode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      any
		throws    string
	}{
		{"default is std and returns an ArrayBuffer", `b64decode("+//+AEE=") instanceof ArrayBuffer`, true, ""},
		{"bytes", `Array.from(new Uint8Array(b64decode("-__-AEE", "rawurl"))).join()`, "251,255,254,0,65", ""},
		{"to string", `b64decode("aGk=", "std", "s")`, "hi", ""},
		{"default via the default export", `mod.b64encode("hi")`, "aGk=", ""},
		{"empty", `b64encode("")`, "", ""},
		{"invalid", `b64decode("!!!")`, nil, "not valid base64"},
		{"padding under a raw alphabet", `b64decode("aGk=", "rawstd")`, nil, "not valid base64"},
		{"url alphabet as std", `b64decode("-__-", "std")`, nil, "not valid base64"},
		{"unknown alphabet", `b64encode("x", "base32")`, nil, `unknown base64 encoding "base32"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vu := modulestest.Import(t, "k6/encoding")
			if tc.throws != "" {
				if msg := vu.Throws(tc.src); !strings.Contains(msg, tc.throws) {
					t.Fatalf("error %q, want it to contain %q", msg, tc.throws)
				}
				return
			}
			if got := vu.Eval(tc.src); got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
