package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// TestRunProfiles: --cpuprofile and --memprofile leave parseable pprof
// files with the expected sample types and no temporary files behind.
func TestRunProfiles(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.js")
	if err := os.WriteFile(script, []byte("export default function () { let x = 0; for (let i = 0; i < 200000; i++) { x += i * 2; } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	var stdout, stderr bytes.Buffer
	code := Main(Env{Args: []string{"run", "--quiet", "--summary-mode", "disabled", "--iterations", "2",
		"--cpuprofile", cpu, "--memprofile", mem, script}, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
	for _, tc := range []struct {
		path, sampleType string
	}{{cpu, "cpu"}, {mem, "inuse_space"}} {
		f, err := os.Open(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		var types []string
		for _, st := range p.SampleType {
			types = append(types, st.Type)
		}
		if !strings.Contains(strings.Join(types, ","), tc.sampleType) {
			t.Errorf("%s: sample types %v lack %s", tc.path, types, tc.sampleType)
		}
		if tc.sampleType == "inuse_space" && len(p.Sample) == 0 {
			t.Errorf("%s: heap profile has no samples", tc.path)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want s.js and the two profiles", names)
	}
}

// TestRunProfileBadPath: a profile whose directory does not exist fails
// the run before it starts with exit code 255 and a message naming the flag.
func TestRunProfileBadPath(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.js")
	if err := os.WriteFile(script, []byte("export default function () {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--cpuprofile", "--memprofile"} {
		var stdout, stderr bytes.Buffer
		code := Main(Env{Args: []string{"run", "--quiet", "--iterations", "1", flag, filepath.Join(dir, "missing", "p.pprof"), script},
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		if code != 255 || !strings.Contains(stderr.String(), flag) {
			t.Errorf("%s: exit %d, stderr %q; want 255 naming the flag", flag, code, stderr.String())
		}
		if stdout.Len() != 0 && strings.Contains(stdout.String(), "iterations") {
			t.Errorf("%s: the run started: %s", flag, stdout.String())
		}
	}
}
