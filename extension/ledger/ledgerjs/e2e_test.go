package ledgerjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tallyhq/tally/extension/ledger"
)

// The end-to-end tests build the tally binary and run the example script of
// extension/README.md, as users do, against a simulated credit API.

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// tallyBinary builds cmd/tally once per test process.
func tallyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the tally binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tally-ledger-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "tally")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/tallyhq/tally/cmd/tally").CombinedOutput()
		if err != nil {
			buildErr = errors.New("build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func tally(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(tallyBinary(t), args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	r := result{code, stdout.String(), stderr.String()}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("Go panic leaked:\n%s", r.stderr)
	}
	return r
}

// exampleScript returns the complete script of extension/README.md.
func exampleScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## A complete script.*?```js\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("extension/README.md has no complete script")
	}
	return string(m[1])
}

// A correct service passes: exit 0, a clean verdict in the summary. A
// service that loses updates or charges twice fails the run: exit 99, the
// ledger_discrepancies threshold crossed and the class named.
func TestExampleScript(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault string
		code  int
		want  []string
	}{
		{"", 0, []string{"ledger: PASS", "discrepancies 0", "✓ 'count==0'", "ledger verdict: pass"}},
		{"lost_update", 99, []string{"ledger: FAIL", "account ", ": lost_update", "✗ 'count==0'", "thresholds on metrics ledger_discrepancies"}},
		{"double_charge", 99, []string{"ledger: FAIL", ": double_charge", "✗ 'count==0'", "ledger_discrepancies"}},
		// unknown outcomes resolved by replay: a clean verdict (the run
		// fails only on http_req_failed, 8 of 104 requests)
		{"flaky", 99, []string{"ledger: PASS", "0 unknown (0 never settled); 8 resolved by replay", "ledger_unknown_outcomes",
			"thresholds on metrics http_req_failed: rate<0.01 have been crossed"}},
	}
	script := exampleScript(t)
	for _, tc := range tests {
		name := tc.fault
		if name == "" {
			name = "correct"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(newCreditAPI(tc.fault))
			defer srv.Close()
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "script.js"), []byte(script), 0o644)
			r := tally(t, dir, "run", "--no-color", "-e", "BASE_URL="+srv.URL, "-e", "CREDITS=60", "script.js")
			if r.code != tc.code {
				t.Errorf("exit %d, want %d", r.code, tc.code)
			}
			all := r.stdout + r.stderr
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if ledgerOK := tc.code == 0 || tc.fault == "flaky"; ledgerOK && strings.Contains(all, "✗ 'count==0'") {
				t.Error("a ledger threshold failed")
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
}

// Two segmented runs (--execution-segment 0:1/2 and 1/2:1), each with half
// the accounts, merged by `tally ledger verify`, reach the verdict of one
// unsplit run.
func TestSegmentedRunsMerge(t *testing.T) {
	t.Parallel()
	script := exampleScript(t)
	for _, fault := range []string{"", "lost_update"} {
		name := fault
		if name == "" {
			name = "correct"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "script.js"), []byte(script), 0o644)
			run := func(runID, accounts string, extra ...string) {
				srv := httptest.NewServer(newCreditAPI(fault))
				defer srv.Close()
				args := append([]string{"run", "-q", "--no-color", "-e", "BASE_URL=" + srv.URL, "-e", "CREDITS=60",
					"-e", "RUN_ID=" + runID, "-e", "ACCOUNTS=" + accounts, "-e", "JOURNAL=" + runID + "-{instance}.ndjson"}, extra...)
				r := tally(t, dir, append(args, "script.js")...)
				if want := map[string]int{"": 0, "lost_update": 99}[fault]; r.code != want {
					t.Errorf("run %s %v: exit %d, want %d\n%s\n%s", runID, extra, r.code, want, r.stdout, r.stderr)
				}
			}
			run("whole", "a,b,c,d")
			var wg sync.WaitGroup
			for _, part := range []struct{ seg, accounts string }{{"0:1/2", "a,b"}, {"1/2:1", "c,d"}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					run("split", part.accounts, "--execution-segment", part.seg)
				}()
			}
			wg.Wait()
			whole := verifyJSON(t, dir, fault, "whole-0.ndjson")
			split := verifyJSON(t, dir, fault, "split-0-1-2.ndjson", "split-1-2-1.ndjson")
			if whole.Verdict != split.Verdict || whole.Totals.Accounts != 4 || split.Totals.Accounts != 4 ||
				whole.Totals.Counts.Deductions != 80 || split.Totals.Counts.Deductions != 80 {
				t.Errorf("whole %s %+v\nsplit %s %+v", whole.Verdict, whole.Totals, split.Verdict, split.Totals)
			}
			if fault == "" && (whole.Totals.UnknownTaken != 0 || split.Totals.UnknownTaken != 0) {
				// every account is seen by one instance: exact times, nothing left to unknowns
				t.Errorf("credits taken by unknown requests: whole %d, split %d", whole.Totals.UnknownTaken, split.Totals.UnknownTaken)
			}
			if len(split.Instances) != 2 {
				t.Errorf("instances %v", split.Instances)
			}
			if fault != "" && (whole.Discrepancies[ledger.Kind(fault)] == 0 || split.Discrepancies[ledger.Kind(fault)] == 0) {
				t.Errorf("discrepancies: whole %v, split %v", whole.Discrepancies, split.Discrepancies)
			}
		})
	}
}

func verifyJSON(t *testing.T, dir, fault string, journals ...string) *ledger.Report {
	t.Helper()
	r := tally(t, dir, append([]string{"ledger", "verify", "--json", "--deep", "auto"}, journals...)...)
	if want := map[string]int{"": 0, "lost_update": 99}[fault]; r.code != want {
		t.Errorf("verify %v: exit %d, want %d\n%s", journals, r.code, want, r.stderr)
	}
	var rep ledger.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify %v: %v\n%s\n%s", journals, err, r.stdout, r.stderr)
	}
	return &rep
}

// `tally ledger verify`: exit codes and messages.
func TestLedgerVerifyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
		return name
	}
	hdr := `{"t":"hdr","v":1,"run":"r","inst":"0","host":"h","wall0":1,"epsMs":5,"low":50,"overdraft":false}` + "\n"
	pass := write("pass.ndjson", hdr+
		`{"t":"open","a":"x","m":1,"bal":100}`+"\n"+
		`{"t":"beg","id":1,"a":"x","f":"f","amt":5,"key":"r:0:1","m":2}`+"\n"+
		`{"t":"end","id":1,"o":"ok","bal":95,"m":3}`+"\n"+
		`{"t":"close","a":"x","m":4,"bal":95}`+"\n"+
		`{"t":"ftr","lines":4}`+"\n")
	fail := write("fail.ndjson", hdr+
		`{"t":"open","a":"x","m":1,"bal":100}`+"\n"+
		`{"t":"beg","id":1,"a":"x","f":"f","amt":5,"key":"r:0:1","m":2}`+"\n"+
		`{"t":"end","id":1,"o":"ok","bal":95,"m":3}`+"\n"+
		`{"t":"close","a":"x","m":4,"bal":100}`+"\n"+
		`{"t":"ftr","lines":4}`+"\n")
	undecided := write("unknown.ndjson", hdr+
		`{"t":"open","a":"x","m":1,"bal":100}`+"\n"+
		`{"t":"beg","id":1,"a":"x","f":"f","amt":5,"key":"r:0:1","m":2}`+"\n"+
		`{"t":"end","id":1,"o":"ok","bal":95,"m":3}`+"\n"+
		`{"t":"ftr","lines":3}`+"\n")
	bad := write("bad.ndjson", hdr+`{"t":"open","a":"x","m":1,"bal":100}`+"\n"+"{not json}\n"+`{"t":"ftr","lines":2}`+"\n")
	other := write("other.ndjson", strings.Replace(hdr, `"run":"r","inst":"0"`, `"run":"q","inst":"1"`, 1)+`{"t":"ftr","lines":0}`+"\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"pass", []string{pass}, 0, "ledger: PASS", ""},
		{"fail", []string{fail}, 99, "account x: lost_update, 5 credits", "ledger verdict: fail (1 discrepancy: lost_update 1)"},
		{"fail as JSON", []string{"--json", fail}, 99, `"verdict": "fail"`, "ledger verdict: fail"},
		{"undecided", []string{undecided}, 0, "ledger: UNDECIDED", "ledger verdict: undecided: nothing wrong was found, but not every check could run (see the notes); exit code 0 (use --strict to fail on undecided)"},
		{"undecided, strict", []string{"--strict", undecided}, 99, "ledger: UNDECIDED", "--strict makes this a failure"},
		{"bad line", []string{pass, bad}, 255, "", "journal bad.ndjson line 3"},
		{"missing file", []string{"nope.ndjson"}, 255, "", "journal nope.ndjson: open nope.ndjson"},
		{"different runs", []string{pass, other}, 255, "", "merge journals"},
		{"no journal", nil, 255, "", "ledger verify needs at least one journal file"},
		{"bad deep mode", []string{"--deep", "always", pass}, 255, "", `--deep: deep check mode "always"`},
		{"help", []string{"--help"}, 0, "99   the verdict is fail", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tally(t, dir, append([]string{"ledger", "verify"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout (want %q):\n%s\nstderr (want %q):\n%s", r.code, tc.code, tc.stdout, r.stdout, tc.stderr, r.stderr)
			}
		})
	}
}
