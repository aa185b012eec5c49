package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/fault"
	"github.com/tallyhq/tally/creditd/sqlite"
	"github.com/tallyhq/tally/creditd/token"
)

// Exit statuses of creditd.
const (
	ExitOK      = 0 // stopped by SIGINT/SIGTERM after a clean shutdown, or --help
	ExitFailure = 1 // the store could not be opened, the address not bound, or shutdown failed
	ExitUsage   = 2 // a bad flag or environment variable
)

// Config is creditd's configuration, from flags and CREDITD_* environment variables.
type Config struct {
	Addr            string
	AllowRemote     bool
	Store           StoreSpec
	TestEndpoints   bool
	Auth            string        // "hmac" or "mock"
	Secret          string        // "" means a random secret per start
	TokenTTL        time.Duration // lifetime of issued tokens; 0: they never expire
	Rates           creditd.Rates
	LowBalance      int64
	AILatency       creditd.Latency
	Faults          []fault.Spec
	LogLevel        slog.Level
	LogFormat       string // "text" or "json"
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
}

// StoreSpec is a parsed --store value.
type StoreSpec struct {
	Kind        string // "sqlite" or "postgres"
	Path        string // sqlite: file path or sqlite.Memory
	Synchronous string // sqlite: FULL or NORMAL
	DSN         string // postgres
}

// String formats the spec for logs, without a PostgreSQL password (in the user info or a password=
// parameter).
func (s StoreSpec) String() string {
	if s.Kind == "sqlite" {
		return "sqlite:" + s.Path
	}
	u, err := url.Parse(s.DSN)
	if err != nil {
		return "postgres (unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "redacted")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ParseStore reads --store: sqlite:PATH[?synchronous=full|normal], sqlite::memory:, or a postgres:// or
// postgresql:// URL.
func ParseStore(s string) (StoreSpec, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return StoreSpec{Kind: "postgres", DSN: s}, nil
	case strings.HasPrefix(s, "sqlite:"):
		path, query, _ := strings.Cut(strings.TrimPrefix(s, "sqlite:"), "?")
		spec := StoreSpec{Kind: "sqlite", Path: path, Synchronous: sqlite.DefaultSynchronous}
		if path == "" {
			return StoreSpec{}, fmt.Errorf("store %q: give a file, e.g. sqlite:creditd.db, or sqlite::memory:", s)
		}
		if query != "" {
			key, val, _ := strings.Cut(query, "=")
			if key != "synchronous" || (!strings.EqualFold(val, "full") && !strings.EqualFold(val, "normal")) {
				return StoreSpec{}, fmt.Errorf("store %q: the only option is ?synchronous=full or ?synchronous=normal", s)
			}
			spec.Synchronous = strings.ToUpper(val)
		}
		return spec, nil
	}
	return StoreSpec{}, fmt.Errorf("store %q: use sqlite:PATH, sqlite::memory: or postgres://user@host:port/db", s)
}

// flagEnv pairs every flag with its environment variable.
var flagEnv = []struct{ flag, env string }{
	{"addr", "CREDITD_ADDR"},
	{"allow-remote", "CREDITD_ALLOW_REMOTE"},
	{"store", "CREDITD_STORE"},
	{"test-endpoints", "CREDITD_TEST_ENDPOINTS"},
	{"auth", "CREDITD_AUTH"},
	{"secret", "CREDITD_SECRET"},
	{"token-ttl", "CREDITD_TOKEN_TTL"},
	{"rate", "CREDITD_RATES"},
	{"low-balance", "CREDITD_LOW_BALANCE"},
	{"ai-latency", "CREDITD_AI_LATENCY"},
	{"fault", "CREDITD_FAULTS"},
	{"log-level", "CREDITD_LOG_LEVEL"},
	{"log-format", "CREDITD_LOG_FORMAT"},
	{"request-timeout", "CREDITD_REQUEST_TIMEOUT"},
	{"shutdown-timeout", "CREDITD_SHUTDOWN_TIMEOUT"},
}

// ratesValue is the repeatable --rate flag: it starts from the defaults and overrides or adds.
type ratesValue struct{ r creditd.Rates }

func (v *ratesValue) String() string     { return v.r.String() }
func (v *ratesValue) Set(s string) error { return v.r.Set(s) }
func (v *ratesValue) Type() string       { return "FEATURE=N" }

type latencyValue struct{ l *creditd.Latency }

func (v latencyValue) String() string { return v.l.String() }
func (v latencyValue) Set(s string) (err error) {
	*v.l, err = creditd.ParseLatency(s)
	return err
}
func (v latencyValue) Type() string { return "D[+-J]" }

// newFlagSet declares creditd's flags on cfg.
func newFlagSet(cfg *Config, store, faults, level *string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("creditd", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8000", "address to listen on (loopback only, unless --allow-remote)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a non-loopback --addr (load traffic belongs on loopback)")
	fs.StringVar(store, "store", "sqlite:creditd.db", "sqlite:PATH[?synchronous=full|normal], sqlite::memory: or postgres://user@host:port/db?sslmode=disable")
	fs.BoolVar(&cfg.TestEndpoints, "test-endpoints", false, "serve the test-only create-user and delete-user endpoints")
	fs.StringVar(&cfg.Auth, "auth", "hmac", "token scheme: hmac, or mock (also accepts mock-token-<user_id>; insecure)")
	fs.StringVar(&cfg.Secret, "secret", "", "token signing secret, at least 16 characters (default: random per start; prefer the env var)")
	fs.DurationVar(&cfg.TokenTTL, "token-ttl", 0, "lifetime of the tokens create-user issues, e.g. 24h (tokens without an expiry are then refused); 0: tokens never expire")
	fs.Var(&ratesValue{cfg.Rates}, "rate", "price of a feature in credits per unit; repeatable, or comma-separated")
	fs.Int64Var(&cfg.LowBalance, "low-balance", creditd.DefaultLowBalance, "low_balance notice threshold in credits")
	fs.Var(latencyValue{&cfg.AILatency}, "ai-latency", "simulated model time of ai-search and ai-recommendations, e.g. 200ms±50ms (or 200ms+-50ms)")
	fs.StringVar(faults, "fault", "", "deliberate bugs: comma-separated name[=DURATION][:PROBABILITY] (see below)")
	fs.StringVar(level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "text or json (log/slog handlers, on stderr)")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", 30*time.Second, "deadline of one request")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long SIGTERM/SIGINT waits for in-flight requests")
	for _, fe := range flagEnv {
		f := fs.Lookup(fe.flag)
		f.Usage += " [$" + fe.env + "]"
	}
	return fs
}

// usage writes --help.
func usage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, `creditd: the reference credit service of tally (the Beta 500 credit API, docs/api.md).

Usage: creditd [flags]

Flags (each has an environment variable; a flag given on the command line wins):
%s
Fault modes (--fault), off by default; each breaks one rule on purpose:
`, fs.FlagUsages())
	for _, m := range fault.Names() {
		fmt.Fprintf(w, "  %-17s %s\n", m[0], m[1])
	}
	fmt.Fprintf(w, `  Durations: lost-update pause (default %s), stale-read cache age (default %s), slow delay (default %s).

Exit status: 0 after a clean shutdown (SIGINT/SIGTERM) or --help; 1 when the store cannot be opened, the
address cannot be bound or shutdown fails; 2 for a bad flag or environment variable.
`, fault.DefaultLostUpdatePause, fault.DefaultStaleReadTTL, fault.DefaultSlowDelay)
}

// parseConfig reads args and the environment into a Config. It returns pflag.ErrHelp after writing
// usage for --help, and a usage error (exit status 2) for anything wrong.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (Config, error) {
	cfg := Config{Rates: creditd.DefaultRates()}
	var store, faults, level string
	fs := newFlagSet(&cfg, &store, &faults, &level)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			usage(stdout, fs)
		}
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: creditd takes only flags", fs.Arg(0))
	}
	for _, fe := range flagEnv {
		v := getenv(fe.env)
		if v == "" || fs.Changed(fe.flag) {
			continue
		}
		if f := fs.Lookup(fe.flag); f.Value.Type() == "bool" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("%s=%q: want true or false", fe.env, v)
			}
			v = strconv.FormatBool(b)
		}
		if err := fs.Set(fe.flag, v); err != nil {
			return Config{}, fmt.Errorf("%s=%q: %w", fe.env, v, err)
		}
	}
	var err error
	if cfg.Store, err = ParseStore(store); err != nil {
		return Config{}, err
	}
	if cfg.Faults, err = fault.Parse(faults); err != nil {
		return Config{}, err
	}
	switch strings.ToLower(level) {
	case "debug", "info", "warn", "error":
		cfg.LogLevel.UnmarshalText([]byte(level))
	default:
		return Config{}, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return Config{}, fmt.Errorf("log format %q: use text or json", cfg.LogFormat)
	}
	if cfg.Auth != "hmac" && cfg.Auth != "mock" {
		return Config{}, fmt.Errorf("auth %q: use hmac or mock", cfg.Auth)
	}
	if cfg.Secret != "" && len(cfg.Secret) < token.MinSecretLength {
		return Config{}, fmt.Errorf("secret is %d characters; use at least %d", len(cfg.Secret), token.MinSecretLength)
	}
	if cfg.LowBalance < 0 || cfg.LowBalance > creditd.MaxCredits {
		return Config{}, fmt.Errorf("low balance %d: use 0 to %d", cfg.LowBalance, creditd.MaxCredits)
	}
	if cfg.TokenTTL < 0 {
		return Config{}, fmt.Errorf("token-ttl %s: use 0 (tokens never expire) or a positive duration such as 24h", cfg.TokenTTL)
	}
	if cfg.RequestTimeout <= 0 || cfg.ShutdownTimeout <= 0 {
		return Config{}, errors.New("request-timeout and shutdown-timeout must be positive")
	}
	if err := checkAddr(cfg.Addr, cfg.AllowRemote); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// checkAddr refuses a malformed address, and a non-loopback one unless allowRemote.
func checkAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("addr %q: want HOST:PORT, e.g. 127.0.0.1:8000", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("addr %q: port must be 0 to 65535", addr)
	}
	if allowRemote {
		return nil
	}
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return fmt.Errorf("addr %q is not a loopback address; creditd serves load tests on 127.0.0.1 or ::1 (pass --allow-remote to listen elsewhere)", addr)
}
