// Package cli is tally's command line: `tally run`, `tally version`,
// `tally ledger verify` and help, built on cobra. It turns flags, the
// environment and files into an engine.Config and every error into the
// documented exit code; only main calls os.Exit.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/exitcode"
)

// Env is the process environment the CLI works in; tests substitute it.
type Env struct {
	Args           []string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Environ        []string
	// IsTerminal reports whether a stream is an interactive terminal.
	IsTerminal func(f any) bool
	// TerminalWidth returns the width of stderr's terminal (0 if unknown).
	TerminalWidth func() int
	// Signals delivers SIGINT/SIGTERM; nil disables signal handling.
	Signals <-chan os.Signal
	// Exit ends the process at once (the second signal); nil means os.Exit.
	Exit func(code int)
}

// Version and Revision are tally's version and VCS revision, set at link
// time (make build does) with
// -ldflags "-X github.com/tallyhq/tally/internal/cli.Version=v1.2.3 -X ...cli.Revision=<commit>".
// Unset, they come from the build info.
var (
	Version  = ""
	Revision = ""
)

// version returns Version or the module version from the build info.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Main runs the command line and returns the process exit code.
func Main(env Env) int {
	root := newRoot(&env)
	root.SetArgs(env.Args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	code := exitcode.Of(err)
	var silent *silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(env.Stderr, "tally: %s\n", strings.TrimRight(err.Error(), "\n"))
	}
	if code == exitcode.Other && isUsageError(err) {
		fmt.Fprintln(env.Stderr, "Run 'tally help' or 'tally run --help' for usage.")
	}
	return int(code)
}

// silentError carries an exit code whose message was already shown.
type silentError struct{ error }

func isUsageError(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// usageError is a mistake on the command line (unknown flag, bad value).
type usageError struct{ error }

func (u *usageError) Unwrap() error { return u.error }

func newRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tally",
		Short: "k6-compatible load testing that proves a credit system keeps its books",
		Long: `tally runs k6 test scripts (JavaScript or TypeScript modules using k6, k6/http,
k6/metrics, k6/execution, k6/data, k6/encoding, k6/crypto, k6/timers and k6/html,
timers, crypto and TextEncoder/TextDecoder globals, and vendored CommonJS files)
and adds the k6/x/ledger module, which checks that no
credit is lost, double-charged, overdrawn or granted for free under load.

Exit codes follow k6: 0 success, 99 thresholds failed, 100/101 setup/teardown
timeout, 103 stopped by the memory guard (out of memory), 104 invalid options,
105 interrupted by a signal, 107 script exception (also a script too large or
binary), 108 test.abort(), 110 test.fail(), 255 other errors (bad flags,
missing files).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("tally {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return exitcode.With(exitcode.Other, &usageError{err})
	})
	root.AddCommand(newRunCmd(env), newArchiveCmd(env), newInspectCmd(env), newVersionCmd(), newLedgerCmd(env), newMergeCmd(env))
	return root
}

// versionLine describes the build: version, VCS revision (with "modified"
// for uncommitted changes) and commit time when known, Go version and
// platform. A build without VCS information (go build -buildvcs=false, or
// outside a git checkout) says so instead of showing a revision.
func versionLine(bi *debug.BuildInfo) string {
	rev, modified, when := Revision, false, ""
	goVersion := runtime.Version()
	if bi != nil {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				when = s.Value
			}
		}
	}
	var parts []string
	switch {
	case rev == "":
		parts = append(parts, "revision unknown (built without VCS information; make build stamps it)")
	default:
		if r, dirty := strings.CutSuffix(rev, "-dirty"); dirty {
			rev, modified = r, true
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		parts = append(parts, "revision "+rev)
		if modified {
			parts = append(parts, "modified")
		}
		if when != "" {
			parts = append(parts, when)
		}
	}
	parts = append(parts, goVersion, runtime.GOOS+"/"+runtime.GOARCH)
	return fmt.Sprintf("tally %s (%s)", version(), strings.Join(parts, ", "))
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print tally's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			fmt.Fprintln(cmd.OutOrStdout(), versionLine(bi))
			return nil
		},
	}
}
