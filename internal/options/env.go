package options

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// envVars maps the K6_* environment variables tally reads to their option.
var envVars = map[string]string{
	"K6_VUS":                        "vus",
	"K6_DURATION":                   "duration",
	"K6_ITERATIONS":                 "iterations",
	"K6_STAGES":                     "stages",
	"K6_EXECUTION_SEGMENT":          "executionSegment",
	"K6_EXECUTION_SEGMENT_SEQUENCE": "executionSegmentSequence",
	"K6_SETUP_TIMEOUT":              "setupTimeout",
	"K6_TEARDOWN_TIMEOUT":           "teardownTimeout",
	"K6_NO_SETUP":                   "noSetup",
	"K6_NO_TEARDOWN":                "noTeardown",
	"K6_MIN_ITERATION_DURATION":     "minIterationDuration",
	"K6_THROW":                      "throw",
	"K6_MAX_REDIRECTS":              "maxRedirects",
	"K6_BATCH":                      "batch",
	"K6_BATCH_PER_HOST":             "batchPerHost",
	"K6_RPS":                        "rps",
	"K6_USER_AGENT":                 "userAgent",
	"K6_DISCARD_RESPONSE_BODIES":    "discardResponseBodies",
	"K6_NO_COOKIES_RESET":           "noCookiesReset",
	"K6_NO_CONNECTION_REUSE":        "noConnectionReuse",
	"K6_NO_VU_CONNECTION_REUSE":     "noVUConnectionReuse",
	"K6_INSECURE_SKIP_TLS_VERIFY":   "insecureSkipTLSVerify",
	"K6_HTTP_DEBUG":                 "httpDebug",
	"K6_SYSTEM_TAGS":                "systemTags",
	"K6_SUMMARY_TREND_STATS":        "summaryTrendStats",
	"K6_SUMMARY_TIME_UNIT":          "summaryTimeUnit",
	"K6_NO_COLOR":                   "noColor",
	"K6_HANDLE_SUMMARY_TIMEOUT":     "handleSummaryTimeout",
	"K6_TAGS":                       "tags",
	"K6_HOSTS":                      "hosts",
	"K6_TLS_AUTH":                   "tlsAuth",
	"K6_TLS_VERSION":                "tlsVersion",
	"K6_TLS_CIPHER_SUITES":          "tlsCipherSuites",
}

// EnvVars returns the K6_* environment variables FromEnv reads, each with
// the option it sets.
func EnvVars() map[string]string {
	m := make(map[string]string, len(envVars))
	for k, v := range envVars {
		m[k] = v
	}
	return m
}

// FromEnv reads the options layer of K6_* environment variables. Stages are
// written as in -s flags ("30s:10,1m:0"); lists are comma-separated.
func FromEnv(lookup func(string) (string, bool)) (Options, error) {
	raw := map[string]json.RawMessage{}
	for env, key := range envVars {
		v, ok := lookup(env)
		if !ok {
			continue
		}
		var enc any
		switch key {
		case "vus", "iterations", "maxRedirects", "batch", "batchPerHost", "rps":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return Options{}, &InvalidError{Option: key, Err: fmt.Errorf("%s=%q is not an integer", env, v)}
			}
			enc = n
		case "noSetup", "noTeardown", "throw", "discardResponseBodies", "noCookiesReset",
			"noConnectionReuse", "noVUConnectionReuse", "insecureSkipTLSVerify", "noColor":
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return Options{}, &InvalidError{Option: key, Err: fmt.Errorf("%s=%q is not a boolean", env, v)}
			}
			enc = b
		case "systemTags", "summaryTrendStats", "tlsCipherSuites":
			enc = splitList(v)
		case "tags":
			tags := map[string]string{}
			for _, kv := range splitList(v) {
				k, val, ok := strings.Cut(kv, "=")
				if !ok || strings.TrimSpace(k) == "" {
					return Options{}, &InvalidError{Option: key, Err: fmt.Errorf("%s: %q is not KEY=VALUE", env, kv)}
				}
				tags[strings.TrimSpace(k)] = val
			}
			enc = tags
		case "hosts", "tlsAuth":
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				return Options{}, &InvalidError{Option: key, Err: fmt.Errorf("%s must hold JSON like the option: %v", env, err)}
			}
			enc = x
		case "stages":
			st, err := ParseStages(strings.Split(v, ","))
			if err != nil {
				return Options{}, &InvalidError{Option: key, Err: fmt.Errorf("%s: %w", env, err)}
			}
			enc = st
		default:
			enc = v
		}
		b, err := json.Marshal(enc)
		if err != nil {
			return Options{}, err
		}
		raw[key] = b
	}
	all, err := json.Marshal(raw)
	if err != nil {
		return Options{}, err
	}
	o, _, err := Parse(all)
	return o, err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseStages parses stage flags written DURATION:TARGET (the target
// defaults to 0 when omitted).
func ParseStages(specs []string) ([]Stage, error) {
	stages := make([]Stage, 0, len(specs))
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		d, t, hasT := strings.Cut(spec, ":")
		dur, err := ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("stage %q: %w", spec, err)
		}
		var target int64
		if hasT {
			target, err = strconv.ParseInt(strings.TrimSpace(t), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("stage %q: target %q is not an integer", spec, t)
			}
		}
		stages = append(stages, Stage{Duration: Duration(dur), Target: target})
	}
	return stages, nil
}
