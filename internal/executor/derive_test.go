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
