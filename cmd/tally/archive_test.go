package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchiveRunsWithoutTheOriginals archives a script with a local import
// chain and open()ed files, deletes the originals, and runs the archive.
func TestArchiveRunsWithoutTheOriginals(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for _, d := range []string{"lib", "data"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, src, "lib/helper.js", "import { up } from './up.js';\nexport const greet = (n) => 'hi ' + up(n);\n")
	write(t, src, "lib/up.js", "export const up = (n) => n.toUpperCase();\n")
	write(t, src, "data/users.json", `["a","b","c"]`)
	write(t, src, "data/blob.bin", "bin\x00ary")
	script := write(t, src, "main.js", `
import { greet } from './lib/helper.js';
import { check } from 'k6';
const users = JSON.parse(open('./data/users.json'));
const blob = open('data/blob.bin', 'b');
export const options = { vus: 1, iterations: 1, thresholds: { checks: ['rate==1'] } };
export default function () {
  check(null, {
    'import': () => greet('x') === 'hi X',
    'open': () => users.length === 3 && blob.byteLength === 7,
    'archived -e': () => __ENV.FROM_ARCHIVE === 'yes',
    '-e at run time wins': () => __ENV.OVER === 'run',
  });
}`)
	out := t.TempDir()
	r := tally(t, out, "archive", "-O", "test.tar", "-e", "FROM_ARCHIVE=yes", "-e", "OVER=archive", "--iterations", "4", "--vus", "2", script)
	if r.code != 0 {
		t.Fatalf("archive: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}

	r = tally(t, out, "run", "-q", "--summary-export", "export.json", "-e", "OVER=run", "test.tar")
	if r.code != 0 {
		t.Fatalf("run archive: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var export struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	b, err := os.ReadFile(filepath.Join(out, "export.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &export); err != nil {
		t.Fatal(err)
	}
	// The archive carries --iterations 4 from the archive command line.
	if got := export.Metrics["iterations"]["count"]; got != 4.0 {
		t.Errorf("iterations = %v, want 4 (from the archived options)", got)
	}
	if got := export.Metrics["checks"]["fails"]; got != 0.0 {
		t.Errorf("failed checks = %v, want 0\n%s", got, r.stdout)
	}

	// inspect reads archives too, and flags apply on top.
	r = tally(t, out, "inspect", "--vus", "5", "test.tar")
	var opts map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &opts); r.code != 0 || err != nil {
		t.Fatalf("inspect: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if _, ok := opts["scenarios"].(map[string]any)["default"]; !ok {
		t.Errorf("inspect scenarios = %v", opts["scenarios"])
	}
}

func TestArchiveErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A file opened only by later VUs is not archived: the run says so.
	script := write(t, dir, "late.js", `
const data = __VU > 0 ? open('./late.json') : null;
export default function () {}`)
	write(t, dir, "late.json", "{}")
	if r := tally(t, dir, "archive", "-O", "late.tar", script); r.code != 0 {
		t.Fatalf("archive: exit %d\n%s", r.code, r.stderr)
	}
	if err := os.Remove(filepath.Join(dir, "late.json")); err != nil {
		t.Fatal(err)
	}
	r := tally(t, dir, "run", "-q", "late.tar")
	if r.code == 0 || !strings.Contains(r.stderr, "late.json") {
		t.Errorf("run: exit %d, stderr:\n%s", r.code, r.stderr)
	}

	bogus := write(t, dir, "bogus.tar", strings.Repeat("x", 600))
	if r := tally(t, dir, "run", bogus); r.code == 0 {
		t.Errorf("a non-archive .tar ran: %s", r.stderr)
	}
	if r := tally(t, dir, "archive", "-O", filepath.Join(dir, "no", "such", "dir.tar"), script); r.code != 255 {
		t.Errorf("unwritable archive path: exit %d, want 255\n%s", r.code, r.stderr)
	}
	if r := tally(t, dir, "inspect", filepath.Join(dir, "none.js")); r.code != 255 {
		t.Errorf("inspect of a missing script: exit %d, want 255", r.code)
	}
}

// TestK6OutFromEnvironment checks K6_OUT and K6_SUMMARY_EXPORT without flags.
func TestK6OutFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := write(t, dir, "s.js", "export default function () {}\n")
	cmd := exec.Command(binary, "run", "-q", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "K6_OUT=json=points.json", "K6_SUMMARY_EXPORT=export.json", "K6_DNS=ttl=1m")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, f := range []string{"points.json", "export.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if !strings.Contains(string(out), "K6_DNS") {
		t.Errorf("no warning names K6_DNS:\n%s", out)
	}
}
