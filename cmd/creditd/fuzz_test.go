package main_test

import (
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	main "github.com/tallyhq/tally/cmd/creditd"
)

// FuzzParseFlags: any command line and CREDITD_* environment gives a Config or an error, never a panic,
// and an accepted Config keeps the rules parseConfig states (positive timeouts, a valid store, a
// lifetime that is not negative).
func FuzzParseFlags(f *testing.F) {
	for _, seed := range [][2]string{
		{"--addr\x00127.0.0.1:0\x00--store\x00sqlite::memory:", ""},
		{"--fault\x00lost-update=10ms:0.5,slow\x00--ai-latency\x00200ms±50ms", "CREDITD_RATES=ai_search=7"},
		{"--rate\x00x=1,y=2\x00--token-ttl\x0024h\x00--request-timeout\x001m", "CREDITD_TOKEN_TTL=1h"},
		{"--store\x00postgres://u:p@127.0.0.1:5432/db?sslmode=disable", "CREDITD_LOW_BALANCE=10"},
		{"--request-timeout\x009223372036s", "CREDITD_SHUTDOWN_TIMEOUT=-1s"},
		{"--allow-remote\x00--addr\x00[::]:80", "CREDITD_TEST_ENDPOINTS=1"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, args, env string) {
		m := main.NewMain()
		m.Stdout = io.Discard
		name, value, _ := strings.Cut(env, "=")
		m.Getenv = func(k string) string {
			if k == name {
				return value
			}
			return ""
		}
		var argv []string
		if args != "" {
			argv = strings.Split(args, "\x00")
		}
		if err := m.ParseFlags(argv); err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseFlags(%q) with %q: an empty error message", argv, env)
			}
			return
		}
		c := m.Config
		if c.RequestTimeout <= 0 || c.ShutdownTimeout <= 0 || c.TokenTTL < 0 || c.LowBalance < 0 ||
			(c.Store.Kind != "sqlite" && c.Store.Kind != "postgres") || (c.Auth != "hmac" && c.Auth != "mock") ||
			c.AILatency.Base < 0 || c.AILatency.Jitter < 0 {
			t.Fatalf("ParseFlags(%q) with %q accepted %+v", argv, env, c)
		}
		for _, fs := range c.Faults {
			if !(fs.Probability > 0 && fs.Probability <= 1) || fs.Delay < 0 {
				t.Fatalf("ParseFlags(%q): fault %+v", argv, fs)
			}
		}
		for name, n := range c.Rates {
			if n < 1 || n > 1_000_000_000 || name == "" {
				t.Fatalf("ParseFlags(%q): rate %s=%d", argv, name, n)
			}
		}
	})
}

// FuzzParseStore: --store values parse or fail cleanly; a PostgreSQL spec's String (what the log shows)
// never holds the password and still names the same user and host.
func FuzzParseStore(f *testing.F) {
	for _, s := range []string{"sqlite:creditd.db", "sqlite::memory:", "sqlite:x.db?synchronous=normal", "sqlite:?",
		"postgres://tally:secret@127.0.0.1:5432/tally?sslmode=disable", "postgresql://u:p@ss@h/db", "postgres://h/db",
		"postgres://:pw@h", "postgres://u@h/db?password=pw&sslmode=disable", "mysql://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := main.ParseStore(s)
		if err != nil {
			return
		}
		shown := spec.String()
		switch spec.Kind {
		case "sqlite":
			if spec.Path == "" || (spec.Synchronous != "FULL" && spec.Synchronous != "NORMAL") {
				t.Fatalf("ParseStore(%q) = %+v", s, spec)
			}
		case "postgres":
			u, err := url.Parse(spec.DSN)
			if err != nil {
				return // pgx reports it when connecting
			}
			if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(shown, ":"+pw+"@") {
				t.Fatalf("ParseStore(%q).String() = %q shows the password", s, shown)
			}
			v, err := url.Parse(shown)
			if err != nil {
				t.Fatalf("ParseStore(%q).String() = %q is not a URL: %v", s, shown, err)
			}
			if pw := u.Query().Get("password"); pw != "" && v.Query().Get("password") == pw {
				t.Fatalf("ParseStore(%q).String() = %q shows the password parameter", s, shown)
			}
			if _, ok := v.User.Password(); ok || v.Host != u.Host || v.User.Username() != u.User.Username() {
				t.Fatalf("ParseStore(%q).String() = %q: want user %q at %q without a password", s, shown, u.User.Username(), u.Host)
			}
		default:
			t.Fatalf("ParseStore(%q) = %+v", s, spec)
		}
	})
}

// durations the fuzzers start from: overflow, negative, units, fractions.
var durationSeeds = []string{"0", "1s", "200ms", "-1s", "9223372036854775807ns", "9223372037s", "2562048h", "1.5h", "1e3s",
	"NaN", "Inf", "1h2m3.5s", "+5m", ".5s", "5", ""}

// FuzzDuration: the duration flags (--request-timeout, --shutdown-timeout, --token-ttl) never accept a
// value that wrapped around or is not positive where it must be.
func FuzzDuration(f *testing.F) {
	for _, s := range durationSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := main.NewMain()
		m.Stdout, m.Getenv = io.Discard, func(string) string { return "" }
		if err := m.ParseFlags([]string{"--request-timeout", s, "--token-ttl", s}); err != nil {
			return
		}
		want, err := time.ParseDuration(s)
		if err != nil || want <= 0 || m.Config.RequestTimeout != want || m.Config.TokenTTL != want {
			t.Fatalf("--request-timeout/--token-ttl %q accepted as %s / %s", s, m.Config.RequestTimeout, m.Config.TokenTTL)
		}
	})
}
