package k6http

import (
	"bytes"
	"compress/gzip"
	"crypto/md5" //nolint:gosec // digest auth test server
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixture re-creates the conformance fixture server's routes that the
// module's behaviour depends on, plus a few of its own (cookies, auth, gzip,
// concurrency probe).
type fixture struct {
	*httptest.Server
	inFlight, maxInFlight atomic.Int64
	mu                    sync.Mutex
	hits                  map[string]int
}

var fixedDocument = map[string]any{
	"name":    "conformance",
	"version": 3,
	"items": []any{
		map[string]any{"id": 1, "label": "alpha", "tags": []any{"a", "b"}},
		map[string]any{"id": 2, "label": "beta", "tags": []any{"c"}},
		map[string]any{"id": 3, "label": "gamma", "tags": []any{}},
	},
	"nested": map[string]any{"flag": true, "count": 42, "ratio": 0.5},
	"empty":  nil,
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func flatten(values map[string][]string) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		out[k] = strings.Join(v, ", ")
	}
	return out
}

func echo(r *http.Request) map[string]any {
	raw, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
			raw, _ = io.ReadAll(zr)
		}
	}
	res := map[string]any{
		"method": r.Method, "path": r.URL.Path, "query": flatten(r.URL.Query()),
		"headers": flatten(r.Header), "body": string(raw), "length": len(raw), "host": r.Host,
	}
	var parsed any
	if json.Unmarshal(raw, &parsed) == nil {
		res["json"] = parsed
	} else {
		res["json"] = nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(raw)); err == nil {
			res["form"] = form
		}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if err := r.ParseMultipartForm(1 << 20); err == nil {
			files := map[string]any{}
			for k, fhs := range r.MultipartForm.File {
				f, _ := fhs[0].Open()
				b, _ := io.ReadAll(f)
				files[k] = map[string]any{"filename": fhs[0].Filename, "type": fhs[0].Header.Get("Content-Type"), "data": string(b)}
			}
			res["files"] = files
			res["fields"] = flatten(r.MultipartForm.Value)
		}
	}
	cookies := map[string]string{}
	for _, c := range r.Cookies() {
		cookies[c.Name] = c.Value
	}
	res["cookies"] = cookies
	return res
}

func tailInt(path, prefix string) int {
	n, _ := strconv.Atoi(strings.Trim(strings.TrimPrefix(path, prefix), "/"))
	return n
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{hits: map[string]int{}}
	mux := http.NewServeMux()
	echoH := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, echo(r)) }
	mux.HandleFunc("/get", echoH)
	mux.HandleFunc("/anything", echoH)
	mux.HandleFunc("/anything/", echoH)
	mux.HandleFunc("/post", echoH)
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		code := tailInt(r.URL.Path, "/status/")
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/get")
		}
		writeJSON(w, code, map[string]any{"status": code})
	})
	mux.HandleFunc("/delay/", func(w http.ResponseWriter, r *http.Request) {
		cur := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			m := f.maxInFlight.Load()
			if cur <= m || f.maxInFlight.CompareAndSwap(m, cur) {
				break
			}
		}
		select {
		case <-time.After(time.Duration(tailInt(r.URL.Path, "/delay/")) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"delayed": true})
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, fixedDocument) })
	mux.HandleFunc("/text", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "plain text fixture\n")
	})
	mux.HandleFunc("/bytes/", func(w http.ResponseWriter, r *http.Request) {
		n := tailInt(r.URL.Path, "/bytes/")
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i % 251)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(buf)
	})
	mux.HandleFunc("/redirect/", func(w http.ResponseWriter, r *http.Request) {
		n := tailInt(r.URL.Path, "/redirect/")
		if n <= 1 {
			http.Redirect(w, r, "/get", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/redirect-to", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		code, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.Header().Set("Location", r.URL.Query().Get("url"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("/cookies/set", func(w http.ResponseWriter, r *http.Request) {
		for k, v := range r.URL.Query() {
			http.SetCookie(w, &http.Cookie{Name: k, Value: v[0], Path: "/"})
		}
		writeJSON(w, http.StatusOK, echo(r))
	})
	mux.HandleFunc("/cookies", echoH)
	mux.HandleFunc("/headers/multi", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(`{"gzipped":true}`))
		_ = zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("/digest-auth/", func(w http.ResponseWriter, r *http.Request) {
		// /digest-auth/{user}/{pass}
		parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/digest-auth/"), "/"), "/")
		const realm, nonce = "tally", "abc123"
		if ok := checkDigest(r, parts[0], parts[1], realm, nonce); !ok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%s", qop="auth", opaque="xyz"`, realm, nonce))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"authenticated": true, "user": parts[0]})
	})
	mux.HandleFunc("/basic-auth/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/basic-auth/"), "/"), "/")
		u, p, ok := r.BasicAuth()
		if !ok || u != parts[0] || p != parts[1] {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"authenticated": true, "user": u})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// checkDigest verifies an RFC 7616 MD5 qop=auth Authorization header.
func checkDigest(r *http.Request, user, pass, realm, nonce string) bool {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Digest ") {
		return false
	}
	p := parseChallenge(h)
	md := func(s string) string { d := md5.Sum([]byte(s)); return hex.EncodeToString(d[:]) } //nolint:gosec
	ha1 := md(user + ":" + realm + ":" + pass)
	ha2 := md(r.Method + ":" + p["uri"])
	want := md(ha1 + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	return p["username"] == user && p["response"] == want && p["opaque"] == "xyz"
}
