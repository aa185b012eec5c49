package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestEnvWarnings(t *testing.T) {
	t.Parallel()
	got := envWarnings(map[string]string{
		"K6_VUS": "2", "K6_OUT": "json=x.json", "K6_NO_USAGE_REPORT": "true", // read
		"K6_DNS": "ttl=1m", "K6_CLOUD_TOKEN": "t", "K6_NOPE": "1", // warned
		"K6_WEB_DASHBOARD": "true", "K6_PROMETHEUS_RW_SERVER_URL": "u", "K6_OTEL_GRPC_EXPORTER_ENDPOINT": "e", // owned elsewhere
		"HOME": "/root",
	})
	want := []string{"K6_CLOUD_TOKEN", "K6_DNS", "K6_NOPE"}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want one each for %v", got, want)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("warning %d = %q, want it to name %s", i, got[i], w)
		}
	}
}

func TestApplyCommandEnv(t *testing.T) {
	t.Parallel()
	newFlags := func() (*pflag.FlagSet, *runFlags) {
		f := &runFlags{summaryMode: "compact", includeSystemEnv: true}
		fl := pflag.NewFlagSet("run", pflag.ContinueOnError)
		fl.StringArrayVarP(&f.outs, "out", "o", nil, "")
		fl.StringVar(&f.summaryExport, "summary-export", "", "")
		fl.StringVar(&f.summaryMode, "summary-mode", "compact", "")
		fl.StringVar(&f.configFile, "config", "", "")
		fl.StringVar(&f.logOutput, "log-output", "stderr", "")
		fl.StringVar(&f.logFormat, "log-format", "text", "")
		for _, b := range []struct {
			name string
			dst  *bool
		}{{"no-thresholds", &f.noThresholds}, {"quiet", &f.quiet}, {"verbose", &f.verbose},
			{"include-system-env-vars", &f.includeSystemEnv}, {"no-color", &f.noColor}} {
			fl.BoolVar(b.dst, b.name, *b.dst, "")
		}
		return fl, f
	}
	env := map[string]string{
		"K6_OUT": "json=a.json,csv=b.csv", "K6_SUMMARY_EXPORT": "e.json", "K6_NO_THRESHOLDS": "true",
		"K6_SUMMARY_MODE": "full", "K6_INCLUDE_SYSTEM_ENV_VARS": "false",
	}
	fl, f := newFlags()
	if err := applyCommandEnv(fl, f, env); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.outs, " ") != "json=a.json csv=b.csv" || f.summaryExport != "e.json" || !f.noThresholds ||
		f.summaryMode != "full" || f.includeSystemEnv {
		t.Errorf("from the environment: %+v", f)
	}

	// A flag on the command line wins over the variable.
	fl, f = newFlags()
	if err := fl.Parse([]string{"--out", "json=flag.json", "--summary-export", "flag.json"}); err != nil {
		t.Fatal(err)
	}
	if err := applyCommandEnv(fl, f, env); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.outs, " ") != "json=flag.json" || f.summaryExport != "flag.json" {
		t.Errorf("flags lost to the environment: outs %v, export %q", f.outs, f.summaryExport)
	}

	fl, f = newFlags()
	if err := applyCommandEnv(fl, f, map[string]string{"K6_QUIET": "sometimes"}); err == nil || !strings.Contains(err.Error(), "K6_QUIET") {
		t.Errorf("bad boolean: %v", err)
	}
}
