package options

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// The fuzz targets of the option parsers. Each must never panic, and what
// parses must mean what it says (round trips below). Seeds are here and in
// testdata/fuzz/<target>; `make fuzz` runs every target for FUZZTIME.

// FuzzParseDuration: a duration that parses is within range and its Go
// rendering parses back to the same value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "1m30s", "1d2h", "-1d2h", "1500", "0.5", "10000000000000", "NaN", "Inf",
		"1e300", "213504d", "106751d23h47m16s", "106751d23h47m17s", "9999999999h", "1d-2h", "", "d", "1d", "0x1p3", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, d.String(), back, err)
		}
	})
}

// FuzzDurationJSON: a JSON duration that decodes encodes and decodes back
// to the same value.
func FuzzDurationJSON(f *testing.F) {
	for _, s := range []string{`"30s"`, `1500`, `1e300`, `-1e300`, `10000000000000`, `"NaN"`, `null`, `true`, `"1d"`, `1e-9`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Duration
		if d.UnmarshalJSON(b) != nil {
			return
		}
		enc, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(enc, &back); err != nil || back != d {
			t.Fatalf("%s -> %v -> %s -> %v, %v", b, d, enc, back, err)
		}
	})
}

// FuzzParse: options JSON (the script's options or a --config file). What
// parses re-encodes as JSON that parses to the same encoding; errors are
// never empty.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"vus": 5, "duration": 2000, "stages": [{"duration": "10s", "target": 3}]}`,
		`{"thresholds": {"http_reqs": ["count>0"]}, "tags": {"a": "b"}, "noSuchOption": 1, "cloud": {}}`,
		`{"scenarios": {"a": {"executor": "constant-vus", "vus": 2, "duration": "1s"}}}`,
		`{"setupTimeout": 10000000000000}`, `{"vus": 1}}`, `{"vus": 1, "vus": 2}`, `[1]`, `{"vus":`, ``, `null`,
		`{"minIterationDuration": "1s", "throw": null, "hosts": {"a.invalid": "127.0.0.1"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, _, err := Parse(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		enc, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("marshal %+v: %v", o, err)
		}
		o2, _, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		enc2, _ := json.Marshal(o2)
		if string(enc) != string(enc2) {
			t.Fatalf("not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzFromEnv: K6_* variables. Any value of any variable gives options or
// an error, never a panic; an accepted K6_DURATION is a valid duration.
func FuzzFromEnv(f *testing.F) {
	for _, s := range []struct{ k, v string }{
		{"K6_VUS", "10"}, {"K6_DURATION", "213504d"}, {"K6_STAGES", "10s:5,20s"}, {"K6_SETUP_TIMEOUT", "1e300"},
		{"K6_NO_SETUP", "true"}, {"K6_THRESHOLDS", "x"}, {"K6_ITERATIONS", "-1"}, {"K6_TAGS", "a=b,c=d"},
		{"K6_SYSTEM_TAGS", "status,method"}, {"K6_HOSTS", `{"a":"b"}`}, {"K6_MIN_ITERATION_DURATION", "NaN"},
	} {
		f.Add(s.k, s.v)
	}
	names := make([]string, 0, len(envVars))
	for env := range envVars {
		names = append(names, env)
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		// Set the fuzzed name and, so that every variable is reached, the
		// variable the name's length picks.
		pick := names[len(k)%len(names)]
		lookup := func(name string) (string, bool) {
			if name == k || name == pick {
				return v, true
			}
			return "", false
		}
		o, err := FromEnv(lookup)
		if err != nil {
			return
		}
		if o.Duration != nil {
			if _, err := ParseDuration(o.Duration.String()); err != nil {
				t.Fatalf("duration %v from %q does not parse back: %v", o.Duration, v, err)
			}
		}
	})
}

// FuzzParseStages: stage flags (DURATION:TARGET). An accepted stage list
// has valid durations and renders back to flags that parse the same.
func FuzzParseStages(f *testing.F) {
	for _, s := range []string{"10s:5", "1m", "10s:5,20s:0", "213504d:1", "1e300:2", "10s:x", ":", "5s:-1", "1d2h:9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		stages, err := ParseStages(strings.Split(s, ","))
		if err != nil {
			return
		}
		var specs []string
		for _, st := range stages {
			specs = append(specs, st.Duration.String()+":"+strconv.FormatInt(st.Target, 10))
		}
		back, err := ParseStages(specs)
		if err != nil || len(back) != len(stages) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, stages, specs, back, err)
		}
		for i := range back {
			if back[i] != stages[i] {
				t.Fatalf("stage %d: %v != %v", i, back[i], stages[i])
			}
		}
	})
}
