package executor

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/options"
)

func i64(v int64) *int64 { return &v }

func dur(s string) *options.Duration {
	d, err := options.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	od := options.Duration(d)
	return &od
}

func TestDeriveShortcuts(t *testing.T) {
	tests := []struct {
		name string
		o    options.Options
		want string // JSON subset of the single "default" scenario
	}{
		{"nothing", options.Options{}, `{"executor":"per-vu-iterations","vus":1,"iterations":1,"maxDuration":"10m0s"}`},
		{"only vus (case 04)", options.Options{VUs: i64(3)}, `{"executor":"shared-iterations","vus":3,"iterations":3}`},
		{"iterations+vus (case 03)", options.Options{VUs: i64(2), Iterations: i64(5)}, `{"executor":"shared-iterations","vus":2,"iterations":5,"maxDuration":"10m0s"}`},
		{"iterations+duration", options.Options{Iterations: i64(5), Duration: dur("20s")}, `{"executor":"shared-iterations","vus":1,"iterations":5,"maxDuration":"20s"}`},
		{"duration", options.Options{VUs: i64(4), Duration: dur("30s")}, `{"executor":"constant-vus","vus":4,"duration":"30s","gracefulStop":"30s","exec":"default"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfgs, err := Derive(tc.o, func(string) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			if len(cfgs) != 1 || cfgs[0].Name() != "default" {
				t.Fatalf("got %d configs", len(cfgs))
			}
			assertJSONSubset(t, ConfigsJSON(cfgs)["default"], tc.want)
		})
	}
}

func assertJSONSubset(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	for k, v := range w {
		gb, _ := json.Marshal(g[k])
		wb, _ := json.Marshal(v)
		if string(gb) != string(wb) {
			t.Errorf("%s = %s, want %s (all: %s)", k, gb, wb, got)
		}
	}
}

func TestDeriveErrors(t *testing.T) {
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			panic(err)
		}
		return m
	}
	tests := []struct {
		name   string
		o      options.Options
		option string // InvalidError.Option
		msg    string // part of the message
	}{
		{"vus 0 (case 29)", options.Options{Scenarios: raw(`{"broken":{"executor":"per-vu-iterations","vus":0,"iterations":1}}`)}, "scenarios.broken.vus", "greater than 0"},
		{"unknown executor", options.Options{Scenarios: raw(`{"a":{"executor":"nope"}}`)}, "scenarios.a.executor", "unknown executor"},
		{"missing executor", options.Options{Scenarios: raw(`{"a":{"vus":1}}`)}, "scenarios.a.executor", "missing"},
		{"externally-controlled", options.Options{Scenarios: raw(`{"a":{"executor":"externally-controlled"}}`)}, "scenarios.a.executor", "not supported"},
		{"unknown key", options.Options{Scenarios: raw(`{"a":{"executor":"constant-vus","duration":"1s","rate":3}}`)}, "scenarios.a.rate", "unknown option"},
		{"wrong type", options.Options{Scenarios: raw(`{"a":{"executor":"constant-vus","duration":"1s","vus":"x"}}`)}, "scenarios.a.vus", "not an integer"},
		{"bad name", options.Options{Scenarios: raw(`{"a b":{"executor":"constant-vus","duration":"1s"}}`)}, "scenarios.a b", "letters"},
		{"duration required", options.Options{Scenarios: raw(`{"a":{"executor":"constant-vus"}}`)}, "scenarios.a.duration", "required"},
		{"iterations < vus", options.Options{Scenarios: raw(`{"a":{"executor":"shared-iterations","vus":5,"iterations":2}}`)}, "scenarios.a.iterations", "at least"},
		{"short maxDuration", options.Options{Scenarios: raw(`{"a":{"executor":"shared-iterations","maxDuration":"500ms"}}`)}, "scenarios.a.maxDuration", "at least 1s"},
		{"negative startTime", options.Options{Scenarios: raw(`{"a":{"executor":"shared-iterations","startTime":"-1s"}}`)}, "scenarios.a.startTime", "negative"},
		{"exec not exported", options.Options{Scenarios: raw(`{"a":{"executor":"shared-iterations","exec":"nope"}}`)}, "scenarios.a.exec", "not exported"},
		{"iterations+stages", options.Options{Iterations: i64(3), Stages: []options.Stage{{Target: 1}}}, "iterations", "together with \"stages\""},
		{"duration+scenarios", options.Options{Duration: dur("3s"), Scenarios: raw(`{}`)}, "duration", "together with \"scenarios\""},
		{"duration 0", options.Options{Duration: dur("0s")}, "duration", "greater than 0"},
		{"shortcut iterations < vus", options.Options{VUs: i64(3), Iterations: i64(2)}, "iterations", "at least"},
		{"shortcut vus 0", options.Options{VUs: i64(0), Duration: dur("2s")}, "vus", "greater than 0"},
		{"shortcut short duration with iterations", options.Options{Iterations: i64(2), Duration: dur("10ms")}, "duration", "at least 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Derive(tc.o, func(n string) bool { return n == "default" })
			var ie *options.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *options.InvalidError", err)
			}
			if ie.Option != tc.option || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q (option %q), want option %q and %q", err, ie.Option, tc.option, tc.msg)
			}
		})
	}
}

func TestConfigsJSONDefaults(t *testing.T) {
	cfgs := mustConfigs(t, `{
		"si":{"executor":"shared-iterations"},
		"pv":{"executor":"per-vu-iterations"},
		"cv":{"executor":"constant-vus","duration":"5s"},
		"rv":{"executor":"ramping-vus","stages":[{"duration":"5s","target":3}]},
		"car":{"executor":"constant-arrival-rate","rate":5,"duration":"5s","preAllocatedVUs":2},
		"rar":{"executor":"ramping-arrival-rate","stages":[{"duration":"5s","target":3}],"preAllocatedVUs":2}}`)
	common := `"startTime":"0s","gracefulStop":"30s","exec":"default","env":{},"tags":{}`
	want := map[string]string{
		"si":  `{"executor":"shared-iterations",` + common + `,"vus":1,"iterations":1,"maxDuration":"10m0s"}`,
		"pv":  `{"executor":"per-vu-iterations",` + common + `,"vus":1,"iterations":1,"maxDuration":"10m0s"}`,
		"cv":  `{"executor":"constant-vus",` + common + `,"vus":1,"duration":"5s"}`,
		"rv":  `{"executor":"ramping-vus",` + common + `,"startVUs":1,"stages":[{"duration":"5s","target":3}],"gracefulRampDown":"30s"}`,
		"car": `{"executor":"constant-arrival-rate",` + common + `,"rate":5,"timeUnit":"1s","duration":"5s","preAllocatedVUs":2,"maxVUs":2}`,
		"rar": `{"executor":"ramping-arrival-rate",` + common + `,"startRate":0,"timeUnit":"1s","stages":[{"duration":"5s","target":3}],"preAllocatedVUs":2,"maxVUs":2}`,
	}
	got := ConfigsJSON(cfgs)
	for name, w := range want {
		if string(got[name]) != w {
			t.Errorf("%s:\n got %s\nwant %s", name, got[name], w)
		}
	}
	// the JSON form parses back to the same config
	for name, raw := range got {
		c, err := ParseConfig(name, raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if again := ConfigsJSON([]Config{c})[name]; string(again) != string(raw) {
			t.Errorf("%s round trip: %s != %s", name, again, raw)
		}
	}
}

func TestArrivalRateValidation(t *testing.T) {
	tests := []struct{ cfg, option, msg string }{
		{`{"executor":"constant-arrival-rate","duration":"1s","preAllocatedVUs":1}`, "rate", "required"},
		{`{"executor":"constant-arrival-rate","rate":0,"duration":"1s","preAllocatedVUs":1}`, "rate", "greater than 0"},
		{`{"executor":"constant-arrival-rate","rate":1,"preAllocatedVUs":1}`, "duration", "required"},
		{`{"executor":"constant-arrival-rate","rate":1,"duration":"1s"}`, "preAllocatedVUs", "required"},
		{`{"executor":"constant-arrival-rate","rate":1,"duration":"1s","preAllocatedVUs":-1}`, "preAllocatedVUs", "negative"},
		{`{"executor":"constant-arrival-rate","rate":1,"duration":"1s","preAllocatedVUs":3,"maxVUs":2}`, "maxVUs", "at least preAllocatedVUs"},
		{`{"executor":"constant-arrival-rate","rate":1,"duration":"1s","preAllocatedVUs":0}`, "maxVUs", "at least one VU"},
		{`{"executor":"constant-arrival-rate","rate":1,"duration":"1s","timeUnit":"0s","preAllocatedVUs":1}`, "timeUnit", "greater than 0"},
		{`{"executor":"constant-arrival-rate","rate":1.5,"duration":"1s","preAllocatedVUs":1}`, "rate", "not an integer"},
		{`{"executor":"ramping-arrival-rate","preAllocatedVUs":1}`, "stages", "at least one stage"},
		{`{"executor":"ramping-arrival-rate","preAllocatedVUs":1,"startRate":-1,"stages":[{"duration":"1s","target":1}]}`, "startRate", "negative"},
		{`{"executor":"ramping-arrival-rate","preAllocatedVUs":1,"stages":[{"duration":"1s","target":-1}]}`, "stages[0].target", "negative"},
		{`{"executor":"ramping-vus","stages":[{"duration":"-1s","target":1}]}`, "stages[0].duration", "negative"},
		{`{"executor":"ramping-vus","stages":[{"duration":"1s","tagret":1}]}`, "stages", "unknown field \"tagret\""},
		{`{"executor":"ramping-vus","stages":[{"duration":"1s","target":"x"}]}`, "stages", "target must be an integer, got a JSON string"},
		{`{"executor":"ramping-vus","stages":{"duration":"1s"}}`, "stages", "is not a list"},
		{`{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"1s","target":0}]}`, "stages", "greater than 0"},
		{`{"executor":"ramping-vus","gracefulRampDown":"-1s","stages":[{"duration":"1s","target":1}]}`, "gracefulRampDown", "negative"},
		{`{"executor":"ramping-vus","stages":[{"duration":"1s","target":1}],"vus":3}`, "vus", "unknown option"},
		{`{"executor":"per-vu-iterations","exec":""}`, "exec", "empty"},
		{`{"executor":"per-vu-iterations","env":{"A":1}}`, "env", "not an object of strings"},
		{`{"executor":"per-vu-iterations","gracefulStop":"soon"}`, "gracefulStop", "invalid duration"},
	}
	for _, tc := range tests {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(`{"x":`+tc.cfg+`}`), &raw); err != nil {
			t.Fatal(err)
		}
		_, err := Derive(options.Options{Scenarios: raw}, nil)
		var ie *options.InvalidError
		if !errors.As(err, &ie) || ie.Option != "scenarios.x."+tc.option || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want option scenarios.x.%s with %q", tc.cfg, err, tc.option, tc.msg)
		}
	}
}

func TestDeriveStagesShortcut(t *testing.T) {
	cfgs, err := Derive(options.Options{VUs: i64(2), Stages: []options.Stage{{Duration: options.Duration(5e9), Target: 10}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONSubset(t, ConfigsJSON(cfgs)["default"], `{"executor":"ramping-vus","startVUs":2,"stages":[{"duration":"5s","target":10}]}`)
}

func TestVUsNextToScenarios(t *testing.T) {
	// vus next to scenarios in the same layer: scenarios win, with a warning
	o := options.Options{VUs: i64(7), Scenarios: map[string]json.RawMessage{"x": json.RawMessage(`{"executor":"per-vu-iterations"}`)}}
	cfgs, err := Derive(o, nil)
	if err != nil || len(cfgs) != 1 || cfgs[0].Name() != "x" {
		t.Fatalf("Derive = %v, %v", cfgs, err)
	}
	if w := ShortcutWarnings(o); len(w) != 1 || !strings.Contains(w[0], "vus is ignored") {
		t.Errorf("warnings %v", w)
	}
	if w := ShortcutWarnings(options.Options{Stages: []options.Stage{}}); len(w) != 1 {
		t.Errorf("no warning for empty stages: %v", w)
	}
	if w := ShortcutWarnings(options.Options{VUs: i64(3)}); len(w) != 0 {
		t.Errorf("warnings %v", w)
	}
}
