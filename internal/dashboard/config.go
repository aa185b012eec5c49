package dashboard

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OutputType is the --out type that turns the dashboard on.
const OutputType = "web-dashboard"

// Defaults, as k6 has them.
const (
	DefaultHost   = "127.0.0.1"
	DefaultPort   = 5665
	DefaultPeriod = 10 * time.Second
)

// Config is the dashboard's configuration.
type Config struct {
	// Enabled serves the live dashboard (K6_WEB_DASHBOARD=true or --out
	// web-dashboard).
	Enabled bool
	// Host and Port are where the page is served; Port -1 serves nothing
	// (only the report is written), 0 picks a free port.
	Host string
	Port int
	// Period is how often the page receives new data.
	Period time.Duration
	// Open opens the page in the system's browser.
	Open bool
	// Export is the HTML report's path; "" writes none.
	Export string
}

// Active reports whether the run needs the dashboard: to serve the page or
// to write the report.
func (c Config) Active() bool { return c.Enabled || c.Export != "" }

// Serves reports whether the page is served.
func (c Config) Serves() bool { return c.Enabled && c.Port >= 0 }

// ParseConfig reads the K6_WEB_DASHBOARD* environment variables and the
// web-dashboard specs among outs (`web-dashboard` or
// `web-dashboard=port=0&export=report.html`, keys host, port, period, open,
// export; they override the environment). It returns the other specs
// unchanged. K6_WEB_DASHBOARD_EXPORT alone writes the report without
// serving the page. Errors name the variable or spec and what is accepted.
func ParseConfig(outs []string, getenv func(string) (string, bool)) (Config, []string, error) {
	c := Config{Host: DefaultHost, Port: DefaultPort, Period: DefaultPeriod}
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	set := func(key, v, where string) error {
		var err error
		switch key {
		case "host":
			c.Host = v
		case "port":
			c.Port, err = strconv.Atoi(v)
			if err == nil && (c.Port < -1 || c.Port > 65535) {
				err = fmt.Errorf("out of range")
			}
			if err != nil {
				return fmt.Errorf("%s=%q: want a port number (0 picks a free one, -1 serves no page)", where, v)
			}
		case "period":
			c.Period, err = time.ParseDuration(v)
			if err != nil || c.Period < 100*time.Millisecond {
				return fmt.Errorf("%s=%q: want a duration of at least 100ms, e.g. 10s", where, v)
			}
		case "open":
			c.Open, err = parseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: want true or false", where, v)
			}
		case "export":
			c.Export = v
		default:
			return fmt.Errorf("%s: unknown setting %q (use host, port, period, open, export)", where, key)
		}
		return nil
	}
	if v, ok := getenv("K6_WEB_DASHBOARD"); ok && v != "" {
		on, err := parseBool(v)
		if err != nil {
			return c, nil, fmt.Errorf("K6_WEB_DASHBOARD=%q: want true or false", v)
		}
		c.Enabled = on
	}
	for _, key := range []string{"host", "port", "period", "open", "export"} {
		name := "K6_WEB_DASHBOARD_" + strings.ToUpper(key)
		if v, ok := getenv(name); ok && v != "" {
			if err := set(key, v, name); err != nil {
				return c, nil, err
			}
		}
	}
	var rest []string
	for _, spec := range outs {
		typ, arg, _ := strings.Cut(spec, "=")
		if strings.TrimSpace(typ) != OutputType {
			rest = append(rest, spec)
			continue
		}
		c.Enabled = true
		if arg == "" {
			continue
		}
		q, err := url.ParseQuery(arg)
		if err != nil {
			return c, nil, fmt.Errorf("--out %q: %v (use e.g. web-dashboard=port=5666&export=report.html)", spec, err)
		}
		for key, vs := range q {
			if err := set(key, vs[len(vs)-1], "--out "+OutputType+" "+key); err != nil {
				return c, nil, err
			}
		}
	}
	return c, rest, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}
