package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tallyhq/tally/internal/options"
)

// commandEnvVars are the K6_* variables k6 reads for `run` settings that are
// not test options; a flag given on the command line wins over them.
var commandEnvVars = map[string]string{
	"K6_OUT":                     "--out (comma-separated)",
	"K6_SUMMARY_EXPORT":          "--summary-export",
	"K6_SUMMARY_MODE":            "--summary-mode",
	"K6_NO_THRESHOLDS":           "--no-thresholds",
	"K6_CONFIG":                  "--config",
	"K6_LOG_OUTPUT":              "--log-output",
	"K6_LOG_FORMAT":              "--log-format",
	"K6_QUIET":                   "--quiet",
	"K6_VERBOSE":                 "--verbose",
	"K6_INCLUDE_SYSTEM_ENV_VARS": "--include-system-env-vars",
	"K6_NO_USAGE_REPORT":         "accepted (tally never reports usage)",
}

// unsupportedEnvVars are K6_* variables k6 reads that tally does not act on;
// setting one logs a warning naming it.
var unsupportedEnvVars = map[string]string{
	"K6_DNS":                   "option dns",
	"K6_BLACKLIST_IPS":         "option blacklistIPs",
	"K6_BLOCK_HOSTNAMES":       "option blockHostnames",
	"K6_LOCAL_IPS":             "option localIPs",
	"K6_PAUSED":                "option paused",
	"K6_LINGER":                "--linger",
	"K6_CONSOLE_OUTPUT":        "--console-output",
	"K6_ADDRESS":               "the REST API (--address)",
	"K6_PROFILING_ENABLED":     "profiling endpoints",
	"K6_COMPATIBILITY_MODE":    "--compatibility-mode",
	"K6_NO_SUMMARY":            "--no-summary (removed in k6 v1; use K6_SUMMARY_MODE=disabled)",
	"K6_EXTERNALLY_CONTROLLED": "the externally-controlled executor",
	"K6_TRACES_OUTPUT":         "trace outputs",
}

// foreignEnvPrefixes are K6_* families other parts of tally own (the web
// dashboard, remote-write and OpenTelemetry outputs); this check leaves them
// to those parts.
var foreignEnvPrefixes = []string{"K6_WEB_DASHBOARD", "K6_PROMETHEUS_RW_", "K6_OTEL_"}

// envWarnings returns one warning per K6_* variable in environ that tally
// does not read, naming it and what it would have set in k6.
func envWarnings(environ map[string]string) []string {
	known := options.EnvVars()
	var names []string
	for k := range environ {
		if strings.HasPrefix(k, "K6_") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []string
next:
	for _, k := range names {
		if _, ok := known[k]; ok {
			continue
		}
		if _, ok := commandEnvVars[k]; ok {
			continue
		}
		for _, p := range foreignEnvPrefixes {
			if strings.HasPrefix(k, p) {
				continue next
			}
		}
		switch what, ok := unsupportedEnvVars[k]; {
		case ok:
			out = append(out, fmt.Sprintf("environment variable %s is ignored: tally does not support %s", k, what))
		case strings.HasPrefix(k, "K6_CLOUD"):
			out = append(out, fmt.Sprintf("environment variable %s is ignored: tally has no cloud service", k))
		default:
			out = append(out, fmt.Sprintf("environment variable %s is ignored: tally does not read it (see tally run --help for the K6_* variables it reads)", k))
		}
	}
	return out
}

// webDashboardHelp describes the K6_WEB_DASHBOARD* variables (package dashboard).
const webDashboardHelp = `  K6_WEB_DASHBOARD=true        serve the live web dashboard (same as --out web-dashboard)
  K6_WEB_DASHBOARD_HOST        its address (default 127.0.0.1)
  K6_WEB_DASHBOARD_PORT        its port (default 5665; 0 a free one; -1 no page, report only)
  K6_WEB_DASHBOARD_PERIOD      how often the page updates (default 10s)
  K6_WEB_DASHBOARD_OPEN=true   open the page in the system's browser
  K6_WEB_DASHBOARD_EXPORT      write a self-contained HTML report to FILE at the end of the run
                               (also after an abort or Ctrl-C; on its own it serves no page)
  (--out web-dashboard=port=0&export=r.html sets them per run, over the environment)
`

// envHelp lists the K6_* variables tally reads, for `tally run --help`.
func envHelp() string {
	var b strings.Builder
	b.WriteString("Environment variables (k6's names; a flag on the command line wins):\n")
	opts := options.EnvVars()
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	sort.Strings(names)
	b.WriteString("  options:")
	col := len("  options:")
	for i, k := range names {
		item := " " + k
		if i < len(names)-1 {
			item += ","
		}
		if col+len(item) > 78 {
			b.WriteString("\n   ")
			col = 3
		}
		b.WriteString(item)
		col += len(item)
	}
	b.WriteString("\n")
	b.WriteString("  (K6_STAGES as \"30s:10,1m:0\", lists comma-separated, K6_TAGS as \"k=v,k2=v2\",\n")
	b.WriteString("  K6_HOSTS and K6_TLS_AUTH as JSON like the options)\n")
	cmds := make([]string, 0, len(commandEnvVars))
	for k := range commandEnvVars {
		cmds = append(cmds, k)
	}
	sort.Strings(cmds)
	for _, k := range cmds {
		fmt.Fprintf(&b, "  %-28s %s\n", k, commandEnvVars[k])
	}
	b.WriteString(webDashboardHelp)
	b.WriteString("  Any other K6_* variable (K6_DNS, K6_CLOUD_*, ...) is reported as ignored.\n")
	b.WriteString("  NO_COLOR also disables colours.")
	return b.String()
}
