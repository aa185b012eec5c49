package options

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30s", 30 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"1d2h", 26 * time.Hour, false},
		{"2d", 48 * time.Hour, false},
		{"1500", 1500 * time.Millisecond, false},
		{"0.5", 500 * time.Microsecond, false},
		{"", 0, true},
		{"soon", 0, true},
		{"1x", 0, true},
		{"106751d23h47m16s", 106751*24*time.Hour + 23*time.Hour + 47*time.Minute + 16*time.Second, false},
		{"-1d2h", -26 * time.Hour, false},
		// Out of range, NaN and infinities are errors, not wrapped values
		// (before: 10000000000000 and 1e300 became -2562047h47m16s, 213504d
		// wrapped to 25m26s).
		{"10000000000000", 0, true},
		{"1e300", 0, true},
		{"1e400", 0, true},
		{"NaN", 0, true},
		{"Inf", 0, true},
		{"-Infinity", 0, true},
		{"213504d", 0, true},
		{"106751d23h47m17s", 0, true},
		{"99999999999999999999d", 0, true},
		{"9999999999h", 0, true},
		{"1d-2h", 0, true},
		{"0x1p3", 8 * time.Millisecond, false},
		{"1e3", time.Second, false},
		{"Infinitys", 0, true},
		{"1e3s", 0, true},
		{" 20s ", 20 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestDurationJSON: a number of milliseconds in JSON out of range is an
// error (before: 1e300 and 10000000000000 became the minimum int64).
func TestDurationJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"1500", 1500 * time.Millisecond, false},
		{`"2s"`, 2 * time.Second, false},
		{"9223372036", 9223372036 * time.Millisecond, false},
		{"10000000000000", 0, true},
		{"1e300", 0, true},
		{"-1e300", 0, true},
		{"1e400", 0, true},
		{`"NaN"`, 0, true},
	}
	for _, tc := range tests {
		var d Duration
		err := d.UnmarshalJSON([]byte(tc.in))
		if (err != nil) != tc.err || d.D() != tc.want {
			t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v, err %v", tc.in, d, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "invalid duration") {
			t.Errorf("UnmarshalJSON(%s): unclear error %v", tc.in, err)
		}
	}
}

// TestParseStrict: a config file must be exactly one JSON object; errors
// give the line and column (before: trailing data was accepted and a
// truncated file said only "options must be an object").
func TestParseStrict(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"{\"vus\": 1}\n}garbage", "line 2, column 1: unexpected data after the JSON object"},
		{`{"vus": 1}{"vus": 2}`, "line 1, column 11: unexpected data after the JSON object"},
		{"{\"vus\": 1,\n \"iterations\": ", "line 2, column 15: unexpected end of JSON input (the file is truncated"},
		{`{"vus": 1, "vus": 2}`, `line 1, column 12: option "vus" is given twice`},
		{"\n\n  [1]", "line 3, column 3: options must be a JSON object such as {\"vus\": 10}, got an array"},
		{"{\n  \"vus\": 1,\n  \"iterations\": 2x\n}", "line 3, column 18: invalid character 'x' after object key:value pair"},
	}
	for _, tc := range tests {
		_, _, err := Parse([]byte(tc.in))
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError containing %q", tc.in, err, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	o, warnings, err := Parse([]byte(`{"vus": 5, "duration": 2000, "stages": [{"duration": "10s", "target": 3}],
		"thresholds": {"http_reqs": ["count>0"]}, "tags": {"a": "b"}, "noSuchOption": 1, "cloud": {}, "minIterationDuration": "1s", "throw": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if *o.VUs != 5 || o.Duration.D() != 2*time.Second || len(o.Stages) != 1 || o.Stages[0].Target != 3 ||
		o.Tags["a"] != "b" || o.MinIterationDuration.D() != time.Second || o.Throw != nil {
		t.Errorf("parsed %+v", o)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "noSuchOption") {
		t.Errorf("warnings = %v (unknown keys warn, ignored k6 keys do not)", warnings)
	}
	for _, bad := range []string{`{"vus": "x"}`, `{"duration": true}`, `{"stages": {}}`, `{"tags": {"a": 1}}`} {
		_, _, err := Parse([]byte(bad))
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("Parse(%s) = %v, want an InvalidError", bad, err)
		}
	}
	if o, _, err := Parse(nil); err != nil || o.VUs != nil {
		t.Errorf("empty options: %+v %v", o, err)
	}
}

func TestApplyPrecedence(t *testing.T) {
	t.Parallel()
	i64 := func(v int64) *int64 { return &v }
	d := func(s string) *Duration { v, _ := ParseDuration(s); dd := Duration(v); return &dd }
	script := Options{VUs: i64(10), Duration: d("1m"), Tags: map[string]string{"s": "1"}}
	env := Options{VUs: i64(20)}
	cli := Options{Iterations: i64(5)}
	got := Options{}.Apply(script).Apply(env).Apply(cli)
	if *got.VUs != 20 {
		t.Errorf("vus = %d: env beats script", *got.VUs)
	}
	if got.Duration != nil || *got.Iterations != 5 {
		t.Errorf("a higher layer setting iterations must clear duration: %+v", got)
	}
	if got.Tags["s"] != "1" {
		t.Errorf("unrelated options are kept")
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"K6_VUS": "3", "K6_DURATION": "10s", "K6_STAGES": "5s:2,10s:0", "K6_NO_SETUP": "true",
		"K6_SYSTEM_TAGS": "status, method", "K6_USER_AGENT": "me"}
	o, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if *o.VUs != 3 || o.Duration.D() != 10*time.Second || len(o.Stages) != 2 || o.Stages[1].Target != 0 ||
		!*o.NoSetup || strings.Join(o.SystemTags, ",") != "status,method" || *o.UserAgent != "me" {
		t.Errorf("from env: %+v", o)
	}
	for k, v := range map[string]string{"K6_VUS": "many", "K6_THROW": "perhaps", "K6_STAGES": "x:1"} {
		_, err := FromEnv(func(key string) (string, bool) { return v, key == k })
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

func TestParseStages(t *testing.T) {
	t.Parallel()
	st, err := ParseStages([]string{"30s:10", "1m", " "})
	if err != nil || len(st) != 2 || st[0].Target != 10 || st[1].Duration.D() != time.Minute || st[1].Target != 0 {
		t.Errorf("%+v %v", st, err)
	}
	if _, err := ParseStages([]string{"30s:ten"}); err == nil {
		t.Error("a non-integer target must fail")
	}
}

func TestJSONShowsEveryKey(t *testing.T) {
	t.Parallel()
	v := int64(2)
	m := Options{VUs: &v}.JSON()
	if m["vus"] != 2.0 || m["duration"] != nil {
		t.Errorf("JSON = %v", m)
	}
	if _, ok := m["scenarios"]; !ok {
		t.Error("unset keys must be present as null")
	}
}

// BenchmarkParseDuration is the timeout param of every request of the
// scenarios ("20s") and a number of milliseconds.
func BenchmarkParseDuration(b *testing.B) {
	for _, s := range []string{"20s", "1500"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseDuration(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
