package engine

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/exitcode"
	"github.com/tallyhq/tally/internal/options"
)

func withEnv(env map[string]string) func(*Config) {
	return func(c *Config) {
		c.Getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	}
}

// The report is written at the end of every run that started, aborted ones
// included; settings that cannot work stop the run before it starts.
func TestDashboardReportAndErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	const aborts = `import exec from 'k6/execution';
export const options = { iterations: 5 };
export default function () { if (exec.scenario.iterationInTest === 2) exec.test.abort('enough'); }`
	tests := []struct {
		name   string
		script string
		env    map[string]string
		code   exitcode.Code
		status string // in the report; "" for no report
		msg    string
	}{
		{"export alone", "export const options = { iterations: 3 }; export default function () {}",
			map[string]string{"K6_WEB_DASHBOARD_EXPORT": "r.html"}, exitcode.OK, `"status":"passed"`, "HTML report written to"},
		{"aborted run", aborts, map[string]string{"K6_WEB_DASHBOARD_EXPORT": "r.html", "K6_WEB_DASHBOARD": "true",
			"K6_WEB_DASHBOARD_PORT": "0"}, exitcode.ScriptAborted, `"status":"aborted"`, "web dashboard: http://127.0.0.1:"},
		{"bad port", "export default function () {}", map[string]string{"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_PORT": "x"},
			exitcode.InvalidConfig, "", "K6_WEB_DASHBOARD_PORT"},
		{"port taken", "export default function () {}", map[string]string{"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_PORT": busyPort},
			exitcode.Other, "", "address already in use"},
		{"report directory missing", "export default function () {}", map[string]string{"K6_WEB_DASHBOARD_EXPORT": "no/such/dir/r.html"},
			exitcode.Other, "", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var report string
			res := runScript(t, context.Background(), tt.script, options.Options{}, withEnv(tt.env), func(c *Config) {
				if e := tt.env["K6_WEB_DASHBOARD_EXPORT"]; e != "" {
					report = filepath.Join(filepath.Dir(c.ScriptPath), e)
					tt.env["K6_WEB_DASHBOARD_EXPORT"] = report
				}
			})
			if res.code != tt.code {
				t.Fatalf("exit code %d (%v), want %d\nstderr:\n%s", res.code, res.err, tt.code, res.stderr)
			}
			if tt.msg != "" && !strings.Contains(res.stderr+errString(res.err), tt.msg) {
				t.Errorf("no %q in\n%v\n%s", tt.msg, res.err, res.stderr)
			}
			b, err := os.ReadFile(report)
			if tt.status == "" {
				if err == nil {
					t.Errorf("a report was written")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.status) {
				t.Errorf("report lacks %s", tt.status)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
