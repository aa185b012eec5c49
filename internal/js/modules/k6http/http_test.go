package k6http

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
)

// jsCase is a JS function body that returns true on success, or anything
// else (shown in the failure) otherwise.
type jsCase struct {
	name string
	js   string
}

// expect runs body as a function and fails unless it returned true.
func (v *fakeVU) expect(body string) {
	v.t.Helper()
	res := v.run("(function(){\n" + body + "\n})()")
	if res.Export() != true {
		out := res.String()
		if o := res.ToObject(v.rt); o != nil {
			if b, err := o.MarshalJSON(); err == nil {
				out = string(b)
			}
		}
		v.t.Fatalf("got %s\nscript:\n%s", out, body)
	}
}

// runCases runs every case over both transports.
func runCases(t *testing.T, f *fixture, cases []jsCase, opts ...vuOption) {
	t.Helper()
	for _, tr := range transports {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				v := newVU(t, append(opts, withStd(tr.std))...)
				_ = v.rt.Set("BASE", f.URL)
				v.expect(tc.js)
			})
		}
	}
}

func TestResponseObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	runCases(t, f, []jsCase{
		{"status and text", `const r = http.get(BASE + "/get"); return r.status === 200 && r.status_text === "200 OK" || [r.status, r.status_text];`},
		{"proto", `return http.get(BASE + "/get").proto === "HTTP/1.1";`},
		{"url", `const r = http.get(BASE + "/get?a=1"); return r.url === BASE + "/get?a=1" || r.url;`},
		{"body text", `return http.get(BASE + "/text").body === "plain text fixture\n";`},
		{"headers canonical", `const r = http.get(BASE + "/get"); return r.headers["Content-Type"] === "application/json" || r.headers;`},
		{"multi-value headers joined", `return http.get(BASE + "/headers/multi").headers["X-Multi"] === "a, b";`},
		{"error fields empty", `const r = http.get(BASE + "/get"); return r.error === "" && r.error_code === 0;`},
		{"timings", `const t = http.get(BASE + "/get").timings;
			const keys = ["duration","blocked","looking_up","connecting","tls_handshaking","sending","waiting","receiving"];
			for (const k of keys) if (typeof t[k] !== "number" || t[k] < 0) return k + "=" + t[k];
			return Math.abs(t.duration - (t.sending + t.waiting + t.receiving)) < 1e-6 || t;`},
		{"remote ip and port", `const r = http.get(BASE + "/get"); return r.remote_ip === "127.0.0.1" && r.remote_port === Number(BASE.split(":")[2]) || [r.remote_ip, r.remote_port];`},
		{"no tls", `const r = http.get(BASE + "/get"); return r.tls_version === "" && r.tls_cipher_suite === "";`},
		{"request object", `const r = http.post(BASE + "/post", "abc", {headers: {"X-A": "1"}});
			const q = r.request;
			return q.method === "POST" && q.url === BASE + "/post" && q.body === "abc" &&
				q.headers["X-A"][0] === "1" && q.headers["User-Agent"].length === 1 || q;`},
		{"keys", `const k = Object.keys(http.get(BASE + "/get")); return k.includes("status") && k.includes("timings") && k.includes("request") && !k.includes("json") || k;`},
		{"prototype methods", `const r = http.get(BASE + "/get"); const p = Object.getPrototypeOf(r);
			const m = []; for (const k in p) m.push(k);
			return m.join() === "json,html,submitForm,clickLink" && typeof r.json === "function" && !r.hasOwnProperty("json") &&
				r.json === http.get(BASE + "/get").json && "html" in r || m;`},
		{"prototype assignable", `const p = Object.getPrototypeOf(http.get(BASE + "/get")); p.extraMethod = function () { return this.status; };
			const saved = p.json; delete p.json; const gone = http.get(BASE + "/get").json === undefined; p.json = saved;
			const r = http.get(BASE + "/get"); return gone && r.extraMethod() === 200 && typeof r.json() === "object" || [gone, r.extraMethod(), r.json()];`},
		{"json stringify", `const o = JSON.parse(JSON.stringify(http.get(BASE + "/text"))); return o.status === 200 && o.body === "plain text fixture\n";`},
		{"properties writable", `const r = http.get(BASE + "/get"); r.body = null; r.extra = 5; return r.body === null && r.extra === 5 && Object.keys(r).includes("extra");`},
		{"cookies", `const r = http.get(BASE + "/cookies/set?k=v"); const c = r.cookies.k[0];
			return c.name === "k" && c.value === "v" && c.path === "/" && c.http_only === false && c.secure === false || r.cookies;`},
		{"html parses the body", `const r = http.get(BASE + "/text"); return r.html().find("body").text().trim() === r.body.trim() && r.html("body").size() === 1 && r.html("p").size() === 0;`},
		{"submitForm not supported", `try { http.get(BASE + "/text").submitForm(); return "no throw"; } catch (e) { return String(e).includes("not supported by tally") || String(e); }`},
		{"gzip decoded", `return http.get(BASE + "/gzip").json("gzipped") === true;`},
		{"gzip with own Accept-Encoding", `return http.get(BASE + "/gzip", {headers: {"Accept-Encoding": "gzip"}}).json("gzipped") === true;`},
	})
}

func TestMethodsAndBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	runCases(t, f, []jsCase{
		{"get", `return http.get(BASE + "/anything").json("method") === "GET";`},
		{"head", `const r = http.head(BASE + "/anything"); return r.status === 200 && r.body === "";`},
		{"post string", `const r = http.post(BASE + "/post", "hello"); return r.json("method") === "POST" && r.json("body") === "hello";`},
		{"put", `return http.put(BASE + "/anything", "x").json("method") === "PUT";`},
		{"patch", `return http.patch(BASE + "/anything", "x").json("method") === "PATCH";`},
		{"del", `const r = http.del(BASE + "/anything", "gone"); return r.json("method") === "DELETE" && r.json("body") === "gone";`},
		{"options", `return http.options(BASE + "/anything").json("method") === "OPTIONS";`},
		{"request lower-case method", `return http.request("patch", BASE + "/anything").json("method") === "PATCH";`},
		{"form object", `const r = http.post(BASE + "/post", {a: "1", b: ["x", "y"], c: null, d: 5});
			return r.json("body") === "a=1&b=x&b=y&c=&d=5" && r.json("headers.Content-Type") === "application/x-www-form-urlencoded" || r.json();`},
		{"content type kept", `const r = http.post(BASE + "/post", {a: 1}, {headers: {"Content-Type": "text/x-custom"}}); return r.json("headers.Content-Type") === "text/x-custom";`},
		{"array buffer", `const b = new Uint8Array([104, 105]).buffer; return http.post(BASE + "/post", b).json("body") === "hi";`},
		{"typed array view", `const b = new Uint8Array([0, 104, 105, 0]).subarray(1, 3); return http.post(BASE + "/post", b).json("body") === "hi";`},
		{"number body", `return http.post(BASE + "/post", 42).json("body") === "42";`},
		{"null body", `const r = http.post(BASE + "/post", null); return r.json("length") === 0;`},
		{"multipart", `const r = http.post(BASE + "/post", {f: http.file("filedata", "a.txt", "text/plain"), k: "v"});
			return r.json("files.f.filename") === "a.txt" && r.json("files.f.type") === "text/plain" &&
				r.json("files.f.data") === "filedata" && r.json("fields.k") === "v" || r.json();`},
		{"multipart binary default type", `const r = http.post(BASE + "/post", {f: http.file(new Uint8Array([65,66]).buffer)});
			return r.json("files.f.data") === "AB" && r.json("files.f.type") === "application/octet-stream" && r.json("files.f.filename") === "f" || r.json();`},
		{"file object", `const f = http.file("d", "n.bin"); return f.filename === "n.bin" && f.content_type === "application/octet-stream" && f.data.byteLength === 1;`},
		{"gzip compression", `const r = http.post(BASE + "/post", "squeeze me", {compression: "gzip"});
			return r.json("body") === "squeeze me" && r.json("headers.Content-Encoding") === "gzip" || r.json();`},
		{"bad compression", `try { http.post(BASE + "/post", "x", {compression: "br"}); return "no throw"; } catch (e) { return String(e).includes("compression") || String(e); }`},
	})
}

func TestParams(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	runCases(t, f, []jsCase{
		{"headers", `return http.get(BASE + "/get", {headers: {"x-case": "14"}}).json("headers.X-Case") === "14";`},
		{"own content-length ignored", `const r = http.post(BASE + "/post", "abc", {headers: {"Content-Length": "99"}}); return r.status === 200 && r.json("body") === "abc" || [r.status, r.error];`},
		{"host header", `return http.get(BASE + "/get", {headers: {Host: "example.test"}}).json("host") === "example.test";`},
		{"user agent default", `return http.get(BASE + "/get").json("headers.User-Agent").startsWith("tally/");`},
		{"user agent override", `return http.get(BASE + "/get", {headers: {"User-Agent": "me"}}).json("headers.User-Agent") === "me";`},
		{"response type binary", `const r = http.get(BASE + "/bytes/300", {responseType: "binary"});
			const a = new Uint8Array(r.body); return r.body instanceof ArrayBuffer && a.length === 300 && a[252] === 1 || a.length;`},
		{"response type none", `const r = http.get(BASE + "/bytes/300", {responseType: "none"}); return r.body === null && r.status === 200;`},
		{"response type invalid", `try { http.get(BASE + "/get", {responseType: "xml"}); return "no throw"; } catch (e) { return String(e).includes("responseType"); }`},
		{"timeout string", `const r = http.get(BASE + "/delay/2000", {timeout: "50ms"}); return r.status === 0 && r.error_code === 1050 && r.error === "request timeout" || [r.status, r.error_code, r.error];`},
		{"timeout number", `const r = http.get(BASE + "/delay/2000", {timeout: 50}); return r.error_code === 1050;`},
		{"timeout not hit", `return http.get(BASE + "/delay/10", {timeout: "5s"}).status === 200;`},
		{"bad timeout", `try { http.get(BASE + "/get", {timeout: "soon"}); return "no throw"; } catch (e) { return String(e).includes("timeout"); }`},
		{"throw on network error", `try { http.get("http://127.0.0.1:1/", {throw: true}); return "no throw"; } catch (e) { return String(e).includes("refused") || String(e); }`},
		{"throw not for 404", `return http.get(BASE + "/status/404", {throw: true}).status === 404;`},
		{"cookies param", `return http.get(BASE + "/cookies", {cookies: {a: "1", b: {value: "2"}}}).json("cookies.a") === "1";`},
		{"request cookies reported", `const r = http.get(BASE + "/cookies", {cookies: {a: "1"}}); return r.request.cookies.a[0].value === "1" && r.request.cookies.a[0].replace === false;`},
		{"cookie replace", `http.get(BASE + "/cookies/set?a=jar");
			const plain = http.get(BASE + "/cookies", {cookies: {a: "p"}}).json("headers.Cookie");
			const repl = http.get(BASE + "/cookies", {cookies: {a: {value: "p", replace: true}}}).json("headers.Cookie");
			return plain === "a=jar; a=p" && repl === "a=p" || [plain, repl];`},
		{"basic auth from url", `const u = BASE.replace("http://", "http://bob:pw@");
			const r = http.get(u + "/basic-auth/bob/pw"); return r.status === 200 && r.url === u + "/basic-auth/bob/pw" || r.status;`},
		{"digest auth", `const u = BASE.replace("http://", "http://bob:pw@");
			const r = http.get(u + "/digest-auth/bob/pw", {auth: "digest"}); return r.status === 200 && r.json("user") === "bob" || r.status;`},
		{"ntlm unsupported", `try { http.get(BASE + "/get", {auth: "ntlm"}); return "no throw"; } catch (e) { return String(e).includes("not supported by tally"); }`},
		{"params not object", `try { http.get(BASE + "/get", 5); return "no throw"; } catch (e) { return String(e).includes("params"); }`},
		{"headers not object", `try { http.get(BASE + "/get", {headers: 5}); return "no throw"; } catch (e) { return String(e).includes("headers"); }`},
	})
}

func TestErrorCodes(t *testing.T) { forTransports(t, testErrorCodes) }

func testErrorCodes(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		name, url, params string
		code              int
		samples           bool
	}{
		{"connection refused", `"http://127.0.0.1:1/"`, `{}`, 1212, true},
		{"timeout", `BASE + "/delay/3000"`, `{timeout: "30ms"}`, 1050, true},
		{"invalid url", `"not a url"`, `{}`, 1020, false},
		{"unparsable url", `"http://[::1"`, `{}`, 1020, false},
		{"unsupported scheme", `"ftp://127.0.0.1/"`, `{}`, 1020, false},
		{"unknown host", `"http://no-such-host.invalid/"`, `{}`, 1101, true},
		{"http 404", `BASE + "/status/404"`, `{}`, 1404, true},
		{"http 503", `BASE + "/status/503"`, `{}`, 1503, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVU(t, withStd(std), withStd(std))
			_ = v.rt.Set("BASE", f.URL)
			v.expect(`const r = http.get(` + tc.url + `, ` + tc.params + `);
				globalThis.r = r;
				return r.error_code === ` + itoa(tc.code) + ` || [r.error_code, r.error, r.status];`)
			network := tc.code < 1400
			if network {
				v.expect(`return r.status === 0 && r.error.length > 0 && r.body === null || [r.status, r.error];`)
				if !strings.Contains(v.logs.String(), "Request Failed") {
					t.Errorf("no warning logged: %s", v.logs)
				}
			} else {
				v.expect(`return r.error === "" && r.status === ` + itoa(tc.code-1000) + `;`)
			}
			n, _ := v.count("http_reqs", nil)
			if tc.samples != (n == 1) {
				t.Fatalf("http_reqs samples = %d, want samples: %v", n, tc.samples)
			}
			if !tc.samples {
				return
			}
			status := "0"
			if !network {
				status = itoa(tc.code - 1000)
			}
			if n, _ := v.count("http_reqs", map[string]string{"status": status, "error_code": itoa(tc.code)}); n != 1 {
				t.Errorf("no http_reqs sample with status %s and error_code %d: %v", status, tc.code, v.samples()[0].Tags)
			}
			_, hasErr := v.samples()[0].Tags.Get("error")
			if hasErr != network {
				t.Errorf("error tag present = %v, want %v", hasErr, network)
			}
		})
	}
}

func itoa(n int) string { return statusString(n) }

func TestRedirects(t *testing.T) { forTransports(t, testRedirects) }

func testRedirects(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	t.Run("followed, one sample set per hop", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const r = http.get(BASE + "/redirect/3"); return r.status === 200 && r.url === BASE + "/get" || [r.status, r.url];`)
		if n, _ := v.count("http_reqs", nil); n != 4 {
			t.Fatalf("http_reqs = %d, want 4", n)
		}
		if n, _ := v.count("http_reqs", map[string]string{"status": "302", "url": f.URL + "/redirect/2"}); n != 1 {
			t.Fatalf("no sample for the /redirect/2 hop")
		}
	})
	t.Run("limit returns the last redirect", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const r = http.get(BASE + "/redirect/3", {redirects: 1}); return r.status === 302 && r.url === BASE + "/redirect/2" || [r.status, r.url];`)
		if n, _ := v.count("http_reqs", nil); n != 2 {
			t.Fatalf("http_reqs = %d, want 2", n)
		}
	})
	t.Run("redirects 0", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`return http.get(BASE + "/status/301", {redirects: 0}).status === 301;`)
	})
	t.Run("maxRedirects option", func(t *testing.T) {
		t.Parallel()
		two := int64(2)
		v := newVU(t, withStd(std), withOptions(options.Options{MaxRedirects: &two}))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`return http.get(BASE + "/redirect/5").status === 302;`)
		if n, _ := v.count("http_reqs", nil); n != 3 {
			t.Fatalf("http_reqs = %d, want 3", n)
		}
	})
	t.Run("303 turns POST into GET", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const r = http.post(BASE + "/redirect-to?status=303&url=/anything", "body");
			return r.json("method") === "GET" && r.json("body") === "" || r.json();`)
	})
	t.Run("307 keeps method and body", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const r = http.post(BASE + "/redirect-to?status=307&url=/anything", "body");
			return r.json("method") === "POST" && r.json("body") === "body" || r.json();`)
	})
}

func TestInitContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t, inInit())
	_ = v.rt.Set("BASE", f.URL)
	for _, src := range []string{`http.get(BASE + "/get")`, `http.request("GET", BASE + "/get")`,
		`http.batch([BASE + "/get"])`, `http.asyncRequest("GET", BASE + "/get")`, `http.post(BASE, "x")`} {
		err := v.runErr(src)
		if err == nil || !strings.Contains(err.Error(), "init context") {
			t.Errorf("%s: got %v, want an init-context error", src, err)
		}
	}
	v.expect(`const cb = http.expectedStatuses(200, {min: 300, max: 302});
		const u = http.url` + "`" + `${BASE}/items/${1}` + "`" + `;
		const f = http.file("x");
		const j = http.cookieJar();
		http.setResponseCallback(cb);
		return u.name === "${}/items/${}" && String(u) === BASE + "/items/1" && f.data.byteLength === 1 && typeof j.set === "function";`)
	if len(v.samples()) != 0 {
		t.Fatalf("samples in init: %d", len(v.samples()))
	}
}

func TestJSONSelectors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The checks of conformance case 15.
	runCases(t, f, []jsCase{
		{"full document", `const r = http.get(BASE + "/json"); return r.json().name === "conformance" && r.json().items.length === 3;`},
		{"cached", `const r = http.get(BASE + "/json"); return r.json() === r.json();`},
		{"scalar path", `return http.get(BASE + "/json").json("nested.count") === 42;`},
		{"array index path", `return http.get(BASE + "/json").json("items.1.label") === "beta";`},
		{"array length", `return http.get(BASE + "/json").json("items.#") === 3;`},
		{"projection", `return JSON.stringify(http.get(BASE + "/json").json("items.#.id")) === "[1,2,3]";`},
		{"query", `return http.get(BASE + "/json").json("items.#(id==3).label") === "gamma";`},
		{"nested array element", `return http.get(BASE + "/json").json("items.0.tags.1") === "b";`},
		{"missing path is undefined", `return http.get(BASE + "/json").json("no.such.path") === undefined;`},
		{"null stays null", `return http.get(BASE + "/json").json("empty") === null;`},
		{"boolean", `return http.get(BASE + "/json").json("nested.flag") === true;`},
		{"float", `return http.get(BASE + "/json").json("nested.ratio") === 0.5;`},
		{"object result", `const o = http.get(BASE + "/json").json("nested"); return o.count === 42 && o.flag === true;`},
		{"selector on non-JSON body is undefined", `return http.get(BASE + "/text").json("x") === undefined;`},
		{"json() on non-JSON body throws", `try { http.get(BASE + "/text").json(); return "no throw"; } catch (e) { return true; }`},
		{"null body throws", `try { http.get(BASE + "/get", {responseType: "none"}).json(); return "no throw"; } catch (e) { return String(e).includes("null"); }`},
		{"binary body", `return http.get(BASE + "/json", {responseType: "binary"}).json("version") === 3;`},
	})
}

func TestAsyncRequest(t *testing.T) { forTransports(t, testAsyncRequest) }

func testAsyncRequest(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t, withStd(std), withStd(std))
	_ = v.rt.Set("BASE", f.URL)
	v.run(`globalThis.out = [];
		http.asyncRequest("GET", BASE + "/get?x=1").then((r) => out.push(r.json("query.x")));
		http.asyncRequest("GET", "http://127.0.0.1:1/").then((r) => out.push(r.error_code));
		http.asyncRequest("GET", "http://127.0.0.1:1/", null, {throw: true}).catch((e) => out.push("rejected"));
		http.asyncRequest("GET", "::bad::").then((r) => out.push(r.error_code));`)
	v.loop.drain(t)
	v.expect(`return out.length === 4 && out.includes("1") && out.includes(1212) && out.includes("rejected") && out.includes(1020) || out;`)
}

func TestSamples(t *testing.T) { forTransports(t, testSamples) }

func testSamples(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)

	t.Run("one batch per round trip", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.get(BASE + "/get")`)
		if len(v.batches) != 1 {
			t.Fatalf("batches = %d, want 1", len(v.batches))
		}
		b := v.batches[0]
		want := []string{"http_reqs", "http_req_duration", "http_req_blocked", "http_req_connecting",
			"http_req_tls_handshaking", "http_req_sending", "http_req_waiting", "http_req_receiving", "http_req_failed"}
		if len(b) != len(want) {
			t.Fatalf("samples = %d, want %d", len(b), len(want))
		}
		for i, s := range b {
			if s.Metric.Name != want[i] {
				t.Errorf("sample %d = %s, want %s", i, s.Metric.Name, want[i])
			}
		}
		tags := b[0].Tags.Map()
		wantTags := map[string]string{"method": "GET", "url": f.URL + "/get", "name": f.URL + "/get", "status": "200",
			"proto": "HTTP/1.1", "group": "", "scenario": "default", "expected_response": "true"}
		for k, val := range wantTags {
			if tags[k] != val {
				t.Errorf("tag %s = %q, want %q (all: %v)", k, tags[k], val, tags)
			}
		}
		if len(tags) != len(wantTags) {
			t.Errorf("tags = %v, want %v", tags, wantTags)
		}
		if b[0].Metadata != nil {
			t.Errorf("metadata = %v, want none", b[0].Metadata)
		}
		d, snd, wt, rcv := b[1].Value, b[5].Value, b[6].Value, b[7].Value
		if diff := d - (snd + wt + rcv); diff > 1e-9 || diff < -1e-9 {
			t.Errorf("duration %v != sending+waiting+receiving %v", d, snd+wt+rcv)
		}
	})

	t.Run("name tag sets name and url", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.get(BASE + "/get?id=1", {tags: {name: "item", kind: "probe"}})`)
		tags := v.samples()[0].Tags.Map()
		if tags["name"] != "item" || tags["url"] != "item" || tags["kind"] != "probe" {
			t.Fatalf("tags = %v", tags)
		}
	})

	t.Run("http.url template", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const id = 5; const r = http.get(http.url` + "`" + `${BASE}/anything/${id}?q=${"x"}` + "`" + `);
			return r.json("path") === "/anything/5" && r.json("query.q") === "x";`)
		tags := v.samples()[0].Tags.Map()
		if tags["name"] != "${}/anything/${}?q=${}" || tags["url"] != tags["name"] {
			t.Fatalf("tags = %v", tags)
		}
	})

	t.Run("credentials masked", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.get(BASE.replace("http://", "http://bob:pw@") + "/basic-auth/bob/pw")`)
		tags := v.samples()[0].Tags.Map()
		if want := strings.Replace(f.URL, "http://", "http://****:****@", 1) + "/basic-auth/bob/pw"; tags["url"] != want {
			t.Fatalf("url tag = %q, want %q", tags["url"], want)
		}
	})

	t.Run("system tags filtered", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withSystemTags("method", "status", "vu", "iter"))
		v.iter = 3
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.get(BASE + "/status/404")`)
		s := v.samples()[0]
		tags := s.Tags.Map()
		if len(tags) != 4 || tags["method"] != "GET" || tags["status"] != "404" || tags["scenario"] != "default" {
			t.Fatalf("tags = %v, want method, status and the VU's own tags", tags)
		}
		if s.Metadata["vu"] != "7" || s.Metadata["iter"] != "3" {
			t.Fatalf("metadata = %v", s.Metadata)
		}
	})

	t.Run("vu metadata copied", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		v.st.Metadata = map[string]string{"trace": "t1"}
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.get(BASE + "/get")`)
		v.st.Metadata["trace"] = "t2"
		if got := v.samples()[0].Metadata["trace"]; got != "t1" {
			t.Fatalf("metadata trace = %q", got)
		}
	})

	t.Run("data sent and received", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.post(BASE + "/post", "x".repeat(1000))`)
		if s, r := v.st.DataSent.Load(), v.st.DataReceived.Load(); s < 1000 || r < 1000 {
			t.Fatalf("data sent %d, received %d", s, r)
		}
	})
}

// TestExpectedStatuses mirrors conformance case 16.
func TestExpectedStatuses(t *testing.T) { forTransports(t, testExpectedStatuses) }

func testExpectedStatuses(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t, withStd(std), withStd(std))
	_ = v.rt.Set("BASE", f.URL)
	v.run(`
	const params = { tags: { phase: 'default' }, redirects: 0 };
	for (const s of [200, 204, 301, 399, 400, 404, 500]) http.get(BASE + "/status/" + s, params);
	globalThis.refused = http.get('http://127.0.0.1:1/', { tags: { phase: 'default' } });
	const custom = http.expectedStatuses(404, { min: 500, max: 599 });
	globalThis.c404 = http.get(BASE + "/status/404", { tags: { phase: 'custom' }, responseCallback: custom });
	http.get(BASE + "/status/503", { tags: { phase: 'custom' }, responseCallback: custom });
	http.get(BASE + "/status/200", { tags: { phase: 'custom' }, responseCallback: custom });
	http.get(BASE + "/status/200", { tags: { phase: 'custom' }, responseCallback: null });
	http.setResponseCallback(null);
	http.get(BASE + "/status/500", { tags: { phase: 'none' } });
	http.get(BASE + "/status/200", { tags: { phase: 'none' } });
	http.setResponseCallback(http.expectedStatuses(500));
	http.get(BASE + "/status/500", { tags: { phase: 'again' } });
	`)
	counts := []struct {
		metric string
		tags   map[string]string
		n      int
		sum    float64
	}{
		{"http_reqs", nil, 15, 15},
		{"http_req_failed", nil, 12, 5},
		{"http_req_failed", map[string]string{"phase": "default"}, 8, 4},
		{"http_req_failed", map[string]string{"phase": "custom"}, 3, 1},
		{"http_req_failed", map[string]string{"phase": "none"}, 0, 0},
		{"http_req_failed", map[string]string{"phase": "again"}, 1, 0},
		{"http_reqs", map[string]string{"phase": "none"}, 2, 2},
		{"http_reqs", map[string]string{"expected_response": "false"}, 5, 5},
		{"http_reqs", map[string]string{"phase": "custom", "expected_response": "true"}, 2, 2},
	}
	for _, c := range counts {
		if n, sum := v.count(c.metric, c.tags); n != c.n || sum != c.sum {
			t.Errorf("%s%v: %d samples summing %v, want %d summing %v", c.metric, c.tags, n, sum, c.n, c.sum)
		}
	}
	for _, s := range v.samples() {
		if p, _ := s.Tags.Get("phase"); p == "none" {
			if _, ok := s.Tags.Get("expected_response"); ok {
				t.Fatalf("expected_response tag without a callback: %v", s.Tags)
			}
		}
	}
	v.expect(`return c404.status === 404 && c404.error_code === 1404 && c404.error === '' &&
		refused.status === 0 && refused.error_code === 1212 && refused.error.length > 0;`)
	for _, bad := range []string{`http.setResponseCallback(function(){})`, `http.expectedStatuses("x")`,
		`http.expectedStatuses({min: 1})`, `http.get(BASE, {responseCallback: 5})`} {
		if err := v.runErr(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestCookieJar(t *testing.T) { forTransports(t, testCookieJar) }

func testCookieJar(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)

	t.Run("reset per iteration", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`http.get(BASE + "/cookies/set?s=1"); return http.get(BASE + "/cookies").json("cookies.s") === "1";`)
		v.expect(`return http.get(BASE + "/cookies").json("cookies.s") === "1";`)
		v.iter++
		v.expect(`return http.get(BASE + "/cookies").json("cookies.s") === undefined;`)
	})
	t.Run("noCookiesReset", func(t *testing.T) {
		t.Parallel()
		yes := true
		v := newVU(t, withStd(std), withOptions(options.Options{NoCookiesReset: &yes}))
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.get(BASE + "/cookies/set?s=1")`)
		v.iter++
		v.expect(`return http.get(BASE + "/cookies").json("cookies.s") === "1";`)
	})
	t.Run("jar set before the first request of an iteration", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.run(`http.get(BASE + "/cookies/set?old=1")`)
		v.iter++
		v.expect(`http.cookieJar().set(BASE, "fresh", "y");
			const c = http.get(BASE + "/cookies").json("cookies"); return c.fresh === "y" && c.old === undefined || c;`)
	})
	t.Run("jar API", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const jar = http.cookieJar();
			jar.set(BASE, "a", "1");
			jar.set(BASE, "b", "2", {path: "/", max_age: 100});
			let c = jar.cookiesForURL(BASE + "/x");
			if (c.a[0] !== "1" || c.b[0] !== "2") return ["set", c];
			if (http.get(BASE + "/cookies").json("headers.Cookie") !== "a=1; b=2") return "not sent";
			jar.delete(BASE, "a");
			c = jar.cookiesForURL(BASE);
			if (c.a !== undefined || c.b[0] !== "2") return ["delete", c];
			jar.clear(BASE);
			return Object.keys(jar.cookiesForURL(BASE)).length === 0 || jar.cookiesForURL(BASE);`)
	})
	t.Run("own jar and no jar", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const jar = new http.CookieJar();
			http.get(BASE + "/cookies/set?own=1", {jar: jar});
			const vu = http.get(BASE + "/cookies").json("cookies.own");
			const mine = http.get(BASE + "/cookies", {jar: jar}).json("cookies.own");
			http.get(BASE + "/cookies/set?v=1");
			const none = http.get(BASE + "/cookies", {jar: null}).json("cookies.v");
			return vu === undefined && mine === "1" && none === undefined || [vu, mine, none];`)
	})
	t.Run("expires option", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const jar = http.cookieJar();
			jar.set(BASE, "old", "1", {expires: "Mon, 02 Jan 2006 15:04:05 GMT"});
			jar.set(BASE, "new", "1", {expires: new Date(Date.now() + 3600e3)});
			const c = jar.cookiesForURL(BASE); return c.old === undefined && c.new[0] === "1" || c;`)
	})
}

// TestBatch mirrors conformance case 14 and checks the concurrency limits.
func TestBatch(t *testing.T) { forTransports(t, testBatch) }

func testBatch(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	t.Run("forms", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const list = http.batch([
			BASE + "/get?i=0",
			['GET', BASE + "/get?i=1", null, { tags: { name: 'second' } }],
			['POST', BASE + "/post", 'hello'],
			{ method: 'PUT', url: BASE + "/anything", body: 'put-body', params: { headers: { 'X-Case': '14' } } },
			{ method: 'GET', url: BASE + "/status/404" },
			{ url: BASE + "/get", body: "ignored for GET" },
			"::bad::",
		]);
		if (!Array.isArray(list) || list.length !== 7) return "not an array of 7";
		const st = list.map((r) => r.status).join(",");
		if (st !== "200,200,200,200,404,200,0") return st;
		if (list[0].json('query.i') !== '0' || list[1].json('query.i') !== '1') return "query";
		if (list[2].json('method') !== 'POST' || list[2].json('body') !== 'hello') return "post";
		if (list[3].json('method') !== 'PUT' || list[3].json('headers.X-Case') !== '14') return "put";
		if (list[5].json('length') !== 0) return "get body";
		if (list[6].error_code !== 1020) return "bad url";
		const named = http.batch({
			first: BASE + "/get?n=1",
			second: { method: 'GET', url: BASE + "/status/201" },
			third: ['GET', BASE + "/json"],
		});
		return Object.keys(named).sort().join(",") === "first,second,third" &&
			named.first.status === 200 && named.second.status === 201 && named.third.status === 200;`)
		if n, _ := v.count("http_reqs", nil); n != 9 {
			t.Fatalf("http_reqs = %d, want 9", n)
		}
		if n, sum := v.count("http_req_failed", nil); n != 9 || sum != 1 {
			t.Fatalf("http_req_failed = %d samples, %v failed; want 9, 1", n, sum)
		}
		if n, _ := v.count("http_reqs", map[string]string{"name": "second"}); n != 1 {
			t.Fatalf("name tag from params missing")
		}
		for _, k := range []string{"first", "third"} {
			if n, _ := v.count("http_reqs", map[string]string{"name": k}); n != 0 {
				t.Fatalf("object key %q used as name tag", k)
			}
		}
	})
	t.Run("per-host limit", func(t *testing.T) {
		t.Parallel()
		two := int64(2)
		ff := newFixture(t)
		v := newVU(t, withStd(std), withOptions(options.Options{BatchPerHost: &two}))
		_ = v.rt.Set("BASE", ff.URL)
		v.expect(`const r = http.batch(Array.from({length: 6}, () => BASE + "/delay/40")); return r.every((x) => x.status === 200);`)
		if m := ff.maxInFlight.Load(); m != 2 {
			t.Fatalf("max in flight = %d, want 2", m)
		}
	})
	t.Run("global limit", func(t *testing.T) {
		t.Parallel()
		three, ten := int64(3), int64(10)
		ff := newFixture(t)
		v := newVU(t, withStd(std), withOptions(options.Options{Batch: &three, BatchPerHost: &ten}))
		_ = v.rt.Set("BASE", ff.URL)
		v.expect(`const r = http.batch(Array.from({length: 8}, () => BASE + "/delay/40")); return r.length === 8;`)
		if m := ff.maxInFlight.Load(); m != 3 {
			t.Fatalf("max in flight = %d, want 3", m)
		}
	})
	t.Run("bad element", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std), withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		if err := v.runErr(`http.batch([[ "GET", BASE, null, 5 ]])`); err == nil || !strings.Contains(err.Error(), "params") {
			t.Fatalf("got %v", err)
		}
		if err := v.runErr(`http.batch(5)`); err == nil {
			t.Fatal("no error for a number")
		}
	})
}

func TestBatchItems(t *testing.T) { forTransports(t, testBatchItems) }

// testBatchItems: every request of a batch is in flight at once (the last
// runs on the VU's goroutine), and items may be tagged URLs.
func testBatchItems(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	t.Run("all at once", func(t *testing.T) {
		t.Parallel()
		ff := newFixture(t)
		v := newVU(t, withStd(std))
		_ = v.rt.Set("BASE", ff.URL)
		v.expect(`const r = http.batch(Array.from({length: 5}, () => BASE + "/delay/40")); return r.every((x) => x.status === 200);`)
		if m := ff.maxInFlight.Load(); m != 5 {
			t.Fatalf("max in flight = %d, want 5", m)
		}
	})
	t.Run("tagged URLs", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withStd(std))
		_ = v.rt.Set("BASE", f.URL)
		v.expect(`const id = 7;
		const r = http.batch([http.url` + "`${BASE}/get?id=${id}`" + `, { method: 'GET', url: http.url` + "`${BASE}/status/${id + 194}`" + ` }]);
		return r[0].status === 200 && r[0].json('query.id') === '7' && r[1].status === 201;`)
		if n, _ := v.count("http_reqs", map[string]string{"name": "${}/get?id=${}"}); n != 1 {
			t.Fatal("the tagged URL of a batch item did not name its request")
		}
	})
}

func TestConnectionReuse(t *testing.T) { forTransports(t, testConnectionReuse) }

func testConnectionReuse(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		name   string
		opts   options.Options
		reused []bool // per request: was the connection reused (blocked/connecting 0)
	}{
		{"keep-alive", options.Options{}, []bool{false, true, true}},
		{"noConnectionReuse", options.Options{NoConnectionReuse: ptr(true)}, []bool{false, false, false}},
		{"noVUConnectionReuse", options.Options{NoVUConnectionReuse: ptr(true)}, []bool{false, true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVU(t, withStd(std), withOptions(tc.opts))
			_ = v.rt.Set("BASE", f.URL)
			for i, want := range tc.reused {
				if i == 2 {
					v.iter++
				}
				v.resetSamples()
				v.run(`http.get(BASE + "/get")`)
				var connecting float64
				for _, s := range v.samples() {
					if s.Metric.Name == "http_req_connecting" {
						connecting = s.Value
					}
				}
				if got := connecting == 0; got != want {
					t.Errorf("request %d: reused = %v (connecting %v ms), want %v", i, got, connecting, want)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRPSLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	l := newLimiter(10, func() time.Time { return now })
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); err == nil {
		t.Fatal("second request in the same instant did not have to wait")
	}
	now = now.Add(250 * time.Millisecond)
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("slot after 100ms not free at 250ms: %v", err)
	}
}

func TestRPSOption(t *testing.T) { forTransports(t, testRPSOption) }

func testRPSOption(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t, withStd(std), withOptions(options.Options{RPS: ptr(int64(20))}))
	_ = v.rt.Set("BASE", f.URL)
	start := time.Now()
	v.run(`for (let i = 0; i < 5; i++) http.get(BASE + "/get")`)
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("5 requests at 20 rps took %v, want >= 200ms", d)
	}
}

func TestVUContextCancel(t *testing.T) { forTransports(t, testVUContextCancel) }

func testVUContextCancel(t *testing.T, std bool) {
	t.Parallel()
	f := newFixture(t)
	v := newVU(t, withStd(std), withStd(std))
	ctx, cancel := context.WithCancel(context.Background())
	v.ctx = ctx
	_ = v.rt.Set("BASE", f.URL)
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	start := time.Now()
	// The request stops with the VU context, and so does the JS code after
	// it (as in k6, an iteration cut off at the end of the test ends there);
	// the cut-off request emits no samples and no "Request Failed" warning.
	err := v.runErr(`const r = http.get(BASE + "/delay/5000"); globalThis.after = true;`)
	if time.Since(start) > 2*time.Second {
		t.Fatal("request did not stop with the VU context")
	}
	var ie *sobek.InterruptedError
	if !errors.As(err, &ie) || v.rt.Get("after") != nil {
		t.Fatalf("JS went on after the cut-off request: err %v, after %v", err, v.rt.Get("after"))
	}
	if n, _ := v.count("http_reqs", nil); n != 0 {
		t.Errorf("the cut-off request emitted %d http_reqs samples", n)
	}
	if strings.Contains(v.logs.String(), "Request Failed") {
		t.Errorf("the cut-off request was logged as failed: %s", v.logs.String())
	}
}

func TestSystemTagSetIsSorted(t *testing.T) {
	t.Parallel()
	base := []metrics.Tag{{Key: "a", Value: "1"}, {Key: "name", Value: "mine"}, {Key: "status", Value: "user"}, {Key: "zz", Value: "z"}}
	ts := buildTags(base, metrics.DefaultSystemTags, &hopTags{method: "GET", name: "sys", status: "200", url: "u"})
	tags := ts.Tags()
	for i := 1; i < len(tags); i++ {
		if tags[i-1].Key >= tags[i].Key {
			t.Fatalf("not sorted/unique: %v", tags)
		}
	}
	m := ts.Map()
	if m["name"] != "mine" || m["status"] != "200" || m["method"] != "GET" || m["a"] != "1" || m["zz"] != "z" {
		t.Fatalf("tags = %v", m)
	}
}

// forTransports runs test over both plain-http transports.
func forTransports(t *testing.T, test func(*testing.T, bool)) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { test(t, tr.std) })
	}
}

func TestExports(t *testing.T) {
	t.Parallel()
	v := newVU(t)
	v.expect(`const keys = Object.keys(http);
		for (const k of ["request", "get", "head", "post", "put", "patch", "del", "options", "batch", "asyncRequest",
			"setResponseCallback", "expectedStatuses", "url", "file", "cookieJar", "CookieJar", "TLS_1_3", "OCSP_STATUS_GOOD"]) {
			if (!keys.includes(k)) return "missing " + k;
		}
		if (typeof http.get !== "function" || http.get !== http.get) return "get not a stable function";
		if (http.TLS_1_2 !== "tls1.2" || !("post" in http) || ("nope" in http)) return "constants or in";
		http.extra = 1; delete http.head;
		if (!(http.extra === 1 && http.head === undefined && !Object.keys(http).includes("head") && Object.keys(http).includes("extra"))) return "assign or delete";
		const get = http.get;
		http.b = 2; http.a = 3; http.extra = 4; http.get = 5; delete http.b;
		if (Object.keys(http).slice(-2).join() !== "extra,a" || http.extra !== 4 || http.get !== 5 || "b" in http) return Object.keys(http);
		delete http.get; http.get = get; http.head = 6;
		return http.get === get && http.head === 6 && Object.keys(http).includes("head") && !("nope" in http);`)
}
