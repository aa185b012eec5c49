package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientRequests checks that scripts/lib/credit.js builds the requests it built when every body and
// params object was made afresh per request (testdata/client-requests.js compares them), under creditd's
// configuration and the alternative service's.
func TestClientRequests(t *testing.T) {
	skipShort(t)
	for _, config := range []string{"", filepath.Join(root, "e2e", "testdata", "altcredit.json")} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		args := []string{"run", "--no-color", "-q", "--summary-mode", "disabled"}
		if config != "" {
			args = append(args, "-e", "CONFIG="+config)
		}
		cmd := exec.CommandContext(ctx, filepath.Join(bins, "tally"), append(args, filepath.Join("e2e", "testdata", "client-requests.js"))...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "all as before") {
			t.Fatalf("CONFIG=%q: %v\n%s", config, err, out)
		}
	}
}
