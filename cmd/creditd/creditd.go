package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/fault"
	"github.com/tallyhq/tally/creditd/httpapi"
	"github.com/tallyhq/tally/creditd/postgres"
	"github.com/tallyhq/tally/creditd/sqlite"
	"github.com/tallyhq/tally/creditd/token"
)

// Main is a creditd process: ParseFlags, then Run, then Close. Tests drive it the same way.
type Main struct {
	Config Config

	Stdout, Stderr io.Writer
	Getenv         func(string) string

	Logger *slog.Logger
	Store  creditd.Store // the store as opened (without fault decorators); set by Run

	ln     net.Listener
	server *http.Server
	failed chan error
}

// NewMain returns a Main wired to the process's stdio and environment.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// ParseFlags reads args (without the program name) and the CREDITD_* environment into m.Config. It
// returns pflag.ErrHelp after printing --help; any other error is a usage error (exit status 2).
func (m *Main) ParseFlags(args []string) error {
	cfg, err := parseConfig(args, m.Getenv, m.Stdout)
	if err != nil {
		return err
	}
	m.Config = cfg
	return nil
}

// Run opens the store, binds the address and starts serving in the background. It returns once the
// server accepts connections; Failed reports a later serving error.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg := m.Config
	var h slog.Handler
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(m.Stderr, opts)
	} else {
		h = slog.NewTextHandler(m.Stderr, opts)
	}
	m.Logger = slog.New(h)

	store, raw, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	m.Store = store
	defer func() {
		if err != nil {
			store.Close()
		}
	}()

	secret := []byte(cfg.Secret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
		m.Logger.Warn("no --secret (or CREDITD_SECRET) given: tokens are signed with a random secret and will not survive a restart")
	}
	signer := token.NewHMAC(secret)
	signer.Lifetime = cfg.TokenTTL
	var auth httpapi.Authenticator = signer
	if cfg.Auth == "mock" {
		auth = token.Mock{Signed: signer}
		m.Logger.Warn("MOCK AUTH IS ON: any caller presenting mock-token-<user_id> acts as that user; never expose this server")
	}
	served := store
	if len(cfg.Faults) > 0 {
		served = fault.Wrap(store, raw, cfg.Faults, fault.Env{})
		m.warnFaults()
	}
	svc := &creditd.Service{Store: served, Rates: cfg.Rates, LowBalance: cfg.LowBalance, AILatency: cfg.AILatency}
	handler := httpapi.NewHandler(httpapi.Config{Service: svc, Auth: auth, TestEndpoints: cfg.TestEndpoints,
		Logger: m.Logger, RequestTimeout: cfg.RequestTimeout})

	if m.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.server = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.RequestTimeout,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h, slog.LevelWarn),
	}
	m.failed = make(chan error, 1)
	go func() {
		if err := m.server.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			m.failed <- err
		}
	}()
	m.Logger.Info("creditd listening", "url", m.URL(), "store", cfg.Store.String(), "auth", cfg.Auth,
		"test_endpoints", cfg.TestEndpoints, "rates", cfg.Rates.String(), "low_balance", cfg.LowBalance,
		"ai_latency", cfg.AILatency.String(), "faults", len(cfg.Faults))
	return nil
}

func (m *Main) openStore(ctx context.Context) (creditd.Store, fault.Raw, error) {
	spec := m.Config.Store
	switch spec.Kind {
	case "sqlite":
		db := sqlite.NewDB(spec.Path)
		db.Synchronous = spec.Synchronous
		if err := db.Open(ctx); err != nil {
			return nil, nil, fmt.Errorf("open store %s: %w", spec, err)
		}
		return db, db, nil
	case "postgres":
		db := postgres.NewDB(spec.DSN)
		if err := db.Open(ctx); err != nil {
			return nil, nil, fmt.Errorf("open store %s: %w", spec, err)
		}
		return db, db, nil
	}
	return nil, nil, fmt.Errorf("unknown store kind %q", spec.Kind)
}

// warnFaults prints the loud banner of a deliberately broken server, on stderr and in the log.
func (m *Main) warnFaults() {
	var names []string
	for _, f := range m.Config.Faults {
		names = append(names, f.String())
	}
	bar := strings.Repeat("!", 78)
	fmt.Fprintf(m.Stderr, "%s\n!! FAULT MODES ON: %s\n!! This creditd is deliberately WRONG: it loses, double-counts or hides credits on purpose.\n!! Use it only to prove that checks catch these bugs.\n%s\n", bar, strings.Join(names, ", "), bar)
	m.Logger.Warn("FAULT MODES ON: this server breaks the credit rules on purpose", "faults", strings.Join(names, ","))
}

// URL is the base URL the server listens on (after Run).
func (m *Main) URL() string {
	if m.ln == nil {
		return ""
	}
	return "http://" + m.ln.Addr().String()
}

// Failed delivers an error if the server stops serving on its own.
func (m *Main) Failed() <-chan error { return m.failed }

// Close shuts down gracefully: stop accepting, let in-flight requests finish (up to the shutdown
// timeout, then cut them off), and close the store.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		m.Logger.Info("shutting down: finishing in-flight requests", "timeout", m.Config.ShutdownTimeout)
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
			m.server.Close()
		}
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if m.Logger != nil {
		m.Logger.Info("creditd stopped")
	}
	return errors.Join(errs...)
}
