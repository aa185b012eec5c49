package webglobals

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/sobek"
)

func runtime(t *testing.T) *sobek.Runtime {
	t.Helper()
	rt := sobek.New()
	if err := Install(rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestGlobals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      any
	}{
		{"encoder encoding", `new TextEncoder().encoding`, "utf-8"},
		{"decoder encoding", `new TextDecoder('UTF8').encoding`, "utf-8"},
		{"encode gives a Uint8Array", `new TextEncoder().encode('x') instanceof Uint8Array`, true},
		{"UTF-8 bytes", `Array.from(new TextEncoder().encode('héllo ✓ 😀')).join()`, "104,195,169,108,108,111,32,226,156,147,32,240,159,152,128"},
		{"encode() is empty", `new TextEncoder().encode().length`, int64(0)},
		{"round trip", `new TextDecoder().decode(new TextEncoder().encode('héllo ✓ 😀'))`, "héllo ✓ 😀"},
		{"decode an ArrayBuffer", `new TextDecoder().decode(new TextEncoder().encode('ab').buffer)`, "ab"},
		{"decode a view", `new TextDecoder().decode(new Uint8Array([0x78, 0x61, 0x62, 0x78]).subarray(1, 3))`, "ab"},
		{"lossy", `new TextDecoder().decode(new Uint8Array([0xff, 0x41]))`, "\uFFFDA"},
		{"BOM dropped", `new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]))`, "A"},
		{"BOM kept with ignoreBOM", `new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])).length`, int64(2)},
		{"stream splits a sequence", `(() => { const d = new TextDecoder(); return d.decode(new Uint8Array([0xe2, 0x9c]), { stream: true }) + '|' + d.decode(new Uint8Array([0x93])); })()`, "|✓"},
		{"fatal throws", `(() => { try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff])); return 'no'; } catch (e) { return e.name; } })()`, "TypeError"},
		{"unknown label throws", `(() => { try { new TextDecoder('latin1'); return 'no'; } catch (e) { return e.name; } })()`, "RangeError"},
		{"encodeInto", `(() => { const a = new Uint8Array(4); const r = new TextEncoder().encodeInto('a✓b', a); return r.read + ',' + r.written + ',' + Array.from(a).join(); })()`, "2,4,97,226,156,147"},
		{"getRandomValues returns its argument", `(() => { const a = new Uint8Array(16); return crypto.getRandomValues(a) === a; })()`, true},
		{"getRandomValues fills a view only", `(() => { const a = new Uint8Array(64); crypto.getRandomValues(a.subarray(8, 16)); return a.slice(0, 8).every((b) => b === 0) && a.slice(16).every((b) => b === 0) && a.slice(8, 16).some((b) => b !== 0); })()`, true},
		{"getRandomValues Uint32Array", `crypto.getRandomValues(new Uint32Array(8)).some((b) => b !== 0)`, true},
		{"getRandomValues refuses floats", `(() => { try { crypto.getRandomValues(new Float64Array(2)); return 'no'; } catch (e) { return e.name; } })()`, "TypeMismatchError"},
		{"getRandomValues refuses arrays", `(() => { try { crypto.getRandomValues([1, 2]); return 'no'; } catch (e) { return e.name; } })()`, "TypeMismatchError"},
		{"getRandomValues quota", `(() => { try { crypto.getRandomValues(new Uint8Array(65537)); return 'no'; } catch (e) { return e.name; } })()`, "QuotaExceededError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := runtime(t).RunString(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Export(); got != tc.want {
				t.Errorf("%s = %#v, want %#v", tc.src, got, tc.want)
			}
		})
	}
}

func TestRandomUUID(t *testing.T) {
	t.Parallel()
	rt := runtime(t)
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		v, err := rt.RunString(`crypto.randomUUID()`)
		if err != nil {
			t.Fatal(err)
		}
		s := v.String()
		if !re.MatchString(s) || seen[s] {
			t.Fatalf("randomUUID() = %q (seen before: %v)", s, seen[s])
		}
		seen[s] = true
	}
}

func TestSubtle(t *testing.T) {
	t.Parallel()
	rt := runtime(t)
	_, err := rt.RunString(`
globalThis.res = {};
crypto.subtle.digest('SHA-256', new TextEncoder().encode('abc'))
  .then((b) => { res.hex = Array.from(new Uint8Array(b)).map((x) => x.toString(16).padStart(2, '0')).join(''); });
crypto.subtle.digest('MD5', new Uint8Array(1)).catch((e) => { res.md5 = e.name; });
crypto.subtle.importKey('raw', new Uint8Array(1), { name: 'HMAC' }, false, ['sign']).catch((e) => { res.importKey = e.message; });
`)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("abc"))
	res := rt.Get("res").ToObject(rt)
	if got := res.Get("hex").String(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("digest = %s", got)
	}
	if got := res.Get("md5").String(); got != "NotSupportedError" {
		t.Errorf("digest MD5 rejected with %s", got)
	}
	if got := res.Get("importKey").String(); !strings.Contains(got, "crypto.subtle.importKey is not supported") {
		t.Errorf("importKey rejected with %q", got)
	}
}
