package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/httpapi"
	"github.com/tallyhq/tally/creditd/sqlite"
	"github.com/tallyhq/tally/creditd/token"
)

// FuzzHandler sends arbitrary requests (method, path and query, Content-Type, Idempotency-Key,
// Authorization and body) through the real handler over an in-memory SQLite store. Whatever comes in,
// the answer is JSON with a 200 or a 4xx (a 5xx here would be a panic or an unmapped error, a 3xx the
// router's redirect of an unclean path, in HTML), every error
// has a code and a message, and the account the requests act on keeps its books: remaining + used ==
// granted, its records add up to what it used.
func FuzzHandler(f *testing.F) {
	db := sqlite.NewDB(sqlite.Memory)
	if err := db.Open(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	auth := token.NewHMAC([]byte("fuzz secret 0123456789"))
	svc := &creditd.Service{Store: db, Rates: creditd.DefaultRates(), LowBalance: 50}
	h := httpapi.NewHandler(httpapi.Config{Service: svc, Auth: auth, TestEndpoints: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	const user = "fuzz"
	if _, err := svc.CreateUser(context.Background(), user, creditd.MaxCredits); err != nil {
		f.Fatal(err)
	}
	tok := auth.Issue(user)

	ctJSON := "application/json"
	deduct := `{"user_id":"fuzz","feature":"ai_search","usage_amount":1,"metadata":{"a":[1,"é"]}}`
	for _, s := range []struct {
		method, path, contentType, key, auth, body string
	}{
		{"POST", "/credits/deduct", ctJSON, "k1", "T", deduct},
		{"POST", "/credits/deduct", ctJSON, "k1", "T", deduct},
		{"POST", "/credits/deduct", "text/plain", "", "T", deduct},
		{"POST", "/credits/deduct", ctJSON + "; charset=UTF-8", "", "T", `{"user_id":"fuzz","feature":"ai_search","usage_amount":1,"metadata":{"s":"\ud800"}}`},
		{"POST", "/credits/deduct", ctJSON, "", "T", "{\"user_id\":\"fuzz\",\"feature\":\"ai_search\",\"usage_amount\":1,\"metadata\":{\"s\":\"\xff\"}}"},
		{"POST", "/credits/deduct", ctJSON, "", "T", `{"user_id":"fuzz","feature":"ai_search","usage_amount":9007199254740991}`},
		{"POST", "/ai-search", ctJSON, "k2", "T", `{"query":"q","limit":3}`},
		{"GET", "/ai-recommendations?limit=5", "", "k3", "T", ""},
		{"GET", "/credits/balance", "", "", "T", ""},
		{"GET", "/credits/transactions?after=0&limit=1000", "", "", "T", ""},
		{"GET", "/credits/notifications", "", "", "T", ""},
		{"POST", "/test/create-user", ctJSON, "", "", `{"user_id":"a.b","initial_credits":5}`},
		{"DELETE", "/test/delete-user/a.b", "", "", "", ""},
		{"DELETE", "/test/delete-user/..", "", "", "", ""},
		{"DELETE", "/test/delete-user/%2e%2e", "", "", "", ""},
		{"GET", "/credits/balance", "", "", "Bearer ct1.Zg.AAAA", ""},
		{"PUT", "/credits/deduct", ctJSON, "", "T", "{}"},
	} {
		f.Add(s.method, s.path, s.contentType, s.key, s.auth, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, contentType, key, authz string, body []byte) {
		u, err := url.ParseRequestURI(httpapi.BasePath + path)
		if err != nil || len(method) == 0 || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return // not a request a server can receive
		}
		req := httptest.NewRequest("GET", "/", strings.NewReader(string(body)))
		req.Method, req.URL, req.RequestURI = method, u, u.RequestURI()
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if key != "" {
			req.Header["Idempotency-Key"] = strings.Split(key, "\n") // several lines: several headers
		}
		switch {
		case authz == "T":
			req.Header.Set("Authorization", "Bearer "+tok)
		case authz != "":
			req.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
			t.Fatalf("%s %s: %d %s", method, u, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q", method, u, ct)
		}
		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%s %s: %d, not a JSON object: %v %s", method, u, w.Code, err, w.Body)
		}
		if w.Code >= 400 && (answer["error"] == nil || answer["message"] == nil || answer["message"] == "") {
			t.Fatalf("%s %s: %d without error code and message: %s", method, u, w.Code, w.Body)
		}
		a, err := db.Account(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		if a.Remaining+a.Used != a.Granted || a.Remaining < 0 {
			t.Fatalf("after %s %s (%d): account %+v", method, u, w.Code, a)
		}
		if method == http.MethodDelete && w.Code == 200 && answer["user_id"] == user {
			t.Skip("the account was deleted") // only with a path naming it; later inputs get 404s
		}
	})
}
