package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	// Not parallel: it sets the package's link-time variables.
	for _, tc := range []struct {
		name     string
		revision string // as -ldflags would set it
		settings []debug.BuildSetting
		want     []string
		not      []string
	}{
		{"no VCS information", "", nil, []string{"tally dev (revision unknown", "go1.", "/"}, []string{"modified"}},
		{"from the build info", "", []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-04T10:00:00Z"}},
			[]string{"revision 0123456789ab, modified, 2026-12-04T10:00:00Z"}, []string{"unknown"}},
		{"stamped by make build", "fedcba9876543210-dirty", nil, []string{"revision fedcba987654, modified"}, []string{"unknown", "-dirty"}},
		{"stamped, clean", "fedcba9876543210", nil, []string{"revision fedcba987654,"}, []string{"modified"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Revision = tc.revision
			defer func() { Revision = "" }()
			got := versionLine(&debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"}, Settings: tc.settings})
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("%q contains %q", got, n)
				}
			}
		})
	}
}
