package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/archive"
	"github.com/tallyhq/tally/internal/engine"
	"github.com/tallyhq/tally/internal/exitcode"
)

// scriptArgs accepts exactly one script argument.
func scriptArgs(verb string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("%s needs exactly one script (got %d arguments)", verb, len(args))})
		}
		return nil
	}
}

func newArchiveCmd(env *Env) *cobra.Command {
	f := &runFlags{}
	var out string
	cmd := &cobra.Command{
		Use:   "archive [flags] SCRIPT",
		Short: "Pack a script, its local files and its options into one tar file",
		Long: `Pack a test into one tar file that 'tally run' runs without the original
files: the script, every local module it imports, every file its init code
reads with open(), the options resolved as 'tally run' would (defaults,
--config, the script's options, K6_* variables and these flags) and the -e
variables (the system environment is not stored).

Run it with 'tally run archive.tar': flags and K6_* variables given then
apply on top of the archived options, and -e variables on top of the
archived ones. Files the script opens only in later VUs, or under names
computed at run time that differ from the first init pass, are not in the
archive. The archive format is tally's own (k6 archives are not read).`,
		Example: `  tally archive -O race.tar -e PROFILE=full scripts/race.js
  tally run --execution-segment 0:1/2 --execution-segment-sequence 0,1/2,1 race.tar`,
		Args: scriptArgs("archive"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return archiveScript(cmd, env, f, args[0], out)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVarP(&out, "archive-out", "O", "archive.tar", "the archive file to write")
	addOptionFlags(fl, f)
	return cmd
}

func archiveScript(cmd *cobra.Command, env *Env, f *runFlags, path, out string) error {
	if path == "-" {
		return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("archive needs a script file, not standard input")})
	}
	cfg, flagEnv, done, err := prepareResolve(cmd, env, f, path)
	if err != nil {
		return err
	}
	defer done()
	var rec *archive.Recorder
	if cfg.ReadFile == nil {
		rec = archive.NewRecorder(os.ReadFile)
	} else {
		rec = archive.NewRecorder(cfg.ReadFile) // re-archiving an archive
	}
	cfg.ReadFile = rec.ReadFile
	opts, err := engine.Resolve(context.Background(), cfg)
	if err != nil {
		return err
	}
	entry, err := filepath.Abs(cfg.ScriptPath)
	if err != nil {
		return exitcode.Errorf(exitcode.Other, "script path %s: %v", cfg.ScriptPath, err)
	}
	files := rec.Files()
	files[entry] = cfg.Source
	var buf bytes.Buffer
	if err := archive.Write(&buf, &archive.Archive{Entry: entry, Files: files, Options: opts, Env: flagEnv, Version: version()}); err != nil {
		return exitcode.With(exitcode.Other, err)
	}
	// Write to a temporary file and rename, so a failure leaves no
	// half-written archive.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".tally-archive-*")
	if err != nil {
		return exitcode.Errorf(exitcode.Other, "could not write the archive %s: %v", out, err)
	}
	_, werr := tmp.Write(buf.Bytes())
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), out)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return exitcode.Errorf(exitcode.Other, "could not write the archive %s: %v", out, werr)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "archive %s: %s and %d other file(s), %d bytes\n", out, cfg.ScriptPath, len(files)-1, buf.Len())
	return nil
}

func newInspectCmd(env *Env) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "inspect [flags] SCRIPT",
		Short: "Print the options a script resolves to, as JSON",
		Long: `Evaluate the script's init code once and print the options a run would use,
as JSON: defaults, --config, the script's options, K6_* variables and these
flags merged with k6's precedence, and the shortcuts (vus, duration,
iterations, stages) turned into scenarios. Unset options are null. SCRIPT
may be an archive made by 'tally archive'.`,
		Args: scriptArgs("inspect"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, done, err := prepareResolve(cmd, env, f, args[0])
			if err != nil {
				return err
			}
			defer done()
			opts, err := engine.Resolve(context.Background(), cfg)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(opts.JSON(), "", "  ")
			if err != nil {
				return exitcode.With(exitcode.Other, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return err
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	addOptionFlags(fl, f)
	return cmd
}

// prepareResolve builds the engine configuration archive and inspect
// resolve options with; logs (warnings) go to stderr.
// The caller calls done when finished with the logger.
func prepareResolve(cmd *cobra.Command, env *Env, f *runFlags, path string) (cfg engine.Config, flagEnv map[string]string, done func(), err error) {
	environ := envMap(env.Environ)
	if err := applyCommandEnv(cmd.Flags(), f, environ); err != nil {
		return cfg, nil, nil, exitcode.With(exitcode.Other, &usageError{err})
	}
	logger, closeLog, err := newLogger(env, env.Stderr, f)
	if err != nil {
		return cfg, nil, nil, exitcode.With(exitcode.Other, &usageError{err})
	}
	for _, w := range envWarnings(environ) {
		logger.Warn(w)
	}
	cfg, flagEnv, err = scriptConfig(env, cmd.Flags(), f, environ, path, logger)
	if err != nil {
		closeLog()
		return cfg, nil, nil, err
	}
	return cfg, flagEnv, closeLog, nil
}
