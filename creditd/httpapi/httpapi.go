// Package httpapi serves the Beta 500 credit API (credit-api.md) over a creditd.Service: routing,
// authentication, JSON decoding and the one table that maps application error codes to HTTP statuses.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/token"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes   = 64 << 10
	DefaultRequestTimeout = 30 * time.Second
)

// BasePath prefixes every credit API route.
const BasePath = "/api/v1/beta"

// ReplayHeader is set to "true" on an answer replayed for a repeated Idempotency-Key.
const ReplayHeader = "Idempotent-Replayed"

// Authenticator issues and verifies bearer tokens (creditd/token implements it).
type Authenticator interface {
	Issue(userID string) string
	Verify(token string) (userID string, err error)
}

// Config configures NewHandler.
type Config struct {
	Service       *creditd.Service
	Auth          Authenticator
	TestEndpoints bool         // serve /test/create-user and /test/delete-user (404 otherwise)
	Logger        *slog.Logger // nil: slog.Default()
	// RequestTimeout bounds the time one request may spend (its context's deadline); 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	MaxBodyBytes   int64 // 0 means DefaultMaxBodyBytes
}

// statuses is the one table from application error codes to HTTP statuses.
var statuses = map[string]int{
	creditd.EINVALID:      http.StatusBadRequest,
	creditd.EENCODING:     http.StatusBadRequest,
	creditd.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	creditd.EAMOUNT:       http.StatusBadRequest,
	creditd.EFEATURE:      http.StatusBadRequest,
	creditd.EUNAUTHORIZED: http.StatusUnauthorized,
	creditd.EINSUFFICIENT: http.StatusPaymentRequired,
	creditd.EFORBIDDEN:    http.StatusForbidden,
	creditd.ENOTFOUND:     http.StatusNotFound,
	creditd.EMETHOD:       http.StatusMethodNotAllowed,
	creditd.ECONFLICT:     http.StatusConflict,
	creditd.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	creditd.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	creditd.EINTERNAL:     http.StatusInternalServerError,
	creditd.EUNAVAILABLE:  http.StatusServiceUnavailable,
	creditd.ETIMEOUT:      http.StatusServiceUnavailable,
}

// Status returns the HTTP status of an application error code (500 for unknown codes).
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type server struct {
	Config
}

// NewHandler returns the API's handler. Every answer is JSON, errors included.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &server{Config: cfg}
	mux := http.NewServeMux()
	route := func(method, path string, h handler) {
		mux.Handle(method+" "+path, s.handle(h))
		// The same path without a method catches the other methods: 405 in JSON, not ServeMux's text.
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			s.fail(w, r, creditd.Errorf(creditd.EMETHOD, "%s %s is not supported; use %s", r.Method, r.URL.Path, method))
		})
	}
	route("GET", "/health", s.health)
	if cfg.TestEndpoints {
		route("POST", BasePath+"/test/create-user", s.createUser)
		route("DELETE", BasePath+"/test/delete-user/{user_id}", s.deleteUser)
		route("POST", BasePath+"/test/issue-token", s.issueToken)
	}
	route("GET", BasePath+"/credits/balance", s.authed(s.balance))
	route("POST", BasePath+"/ai-search", s.authed(s.aiSearch))
	route("GET", BasePath+"/ai-recommendations", s.authed(s.aiRecommendations))
	route("POST", BasePath+"/credits/deduct", s.authed(s.deduct))
	route("GET", BasePath+"/credits/transactions", s.authed(s.transactions))
	route("GET", BasePath+"/credits/notifications", s.authed(s.notifications))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, creditd.Errorf(creditd.ENOTFOUND, "no route %s %s; the API lives under %s (see docs/api.md)", r.Method, r.URL.Path, BasePath))
	})
	return s.middleware(mux)
}

// middleware bounds each request's time and body, recovers panics and logs the request.
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), s.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if !rw.wrote {
					s.fail(rw, r, fmt.Errorf("panic: %v", p))
				}
			}
			if s.Logger.Enabled(ctx, slog.LevelDebug) {
				s.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.status, "duration", time.Since(start))
			}
		}()
		if p := r.URL.Path; !isClean(p) {
			// ServeMux would answer a redirect in HTML; ids never need such a path (. and .. are not ids).
			s.fail(rw, r, creditd.Errorf(creditd.EINVALID, "path %.200q has an empty, . or .. segment; send the canonical path (see docs/api.md)", p))
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// isClean reports whether p is a rooted path without empty, . or .. segments (a trailing slash allowed).
func isClean(p string) bool {
	c := path.Clean(p)
	return p == c || (strings.HasSuffix(p, "/") && p == c+"/")
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// handler is an endpoint: it writes its answer, or returns the error that
// handle turns into the JSON error answer. Every error goes through fail,
// the one place that maps errors to statuses.
type handler func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to net/http.
func (s *server) handle(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// authed wraps a handler that needs the caller's user id from a valid bearer token.
func (s *server) authed(h func(w http.ResponseWriter, r *http.Request, user string) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			return creditd.Errorf(creditd.EUNAUTHORIZED, "missing Authorization header; send Authorization: Bearer <token> (create-user returns the token)")
		}
		scheme, tok, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return creditd.Errorf(creditd.EUNAUTHORIZED, "malformed Authorization header; want Authorization: Bearer <token>")
		}
		user, err := s.Auth.Verify(strings.TrimSpace(tok))
		if errors.Is(err, token.ErrExpired) {
			return creditd.Errorf(creditd.EUNAUTHORIZED, "the bearer token has expired (%v); get a new one (create-user issues tokens)", err)
		}
		if err != nil {
			return creditd.Errorf(creditd.EUNAUTHORIZED, "the bearer token is not valid for this server (forged, not in its canonical spelling, or issued with another secret)")
		}
		return h(w, r, user)
	}
}

// respond writes v as JSON with status 200.
func (s *server) respond(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	writeJSON(w, v)
}

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v) // a client that went away cannot be told
}

// errorBody is every error answer: {"error": code, "message": text}, plus the balance on a 402.
type errorBody struct {
	Error            string `json:"error"`
	Message          string `json:"message"`
	RemainingCredits *int64 `json:"remaining_credits,omitempty"`
	CreditsRequired  *int64 `json:"credits_required,omitempty"`
}

// fail writes err as a JSON error with the status of its code, and logs what a client is not told.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		err = &creditd.Error{Code: creditd.ETIMEOUT, Message: fmt.Sprintf("the request did not finish within %s; if it carried an Idempotency-Key, repeat it to learn its outcome", s.RequestTimeout)}
	case errors.Is(err, context.Canceled):
		err = &creditd.Error{Code: creditd.ETIMEOUT, Message: "the request was cancelled"}
	}
	code := creditd.ErrorCode(err)
	status := Status(code)
	body := errorBody{Error: code, Message: creditd.ErrorMessage(err)}
	var e *creditd.Error
	if code == creditd.EINSUFFICIENT && errors.As(err, &e) {
		body.RemainingCredits, body.CreditsRequired = &e.Remaining, &e.Required
	}
	switch {
	case errors.Is(r.Context().Err(), context.Canceled): // the client went away; nobody reads this
		s.Logger.Debug("request cancelled", "method", r.Method, "path", r.URL.Path)
	case status >= 500:
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="creditd"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeJSON(w, body)
}
