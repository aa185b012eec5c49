package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/extension/ledger"
	"github.com/tallyhq/tally/internal/exitcode"
)

func newLedgerCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Work with ledger journals written by k6/x/ledger",
		Long: `Work with the journals that k6/x/ledger writes (ledger.configure({journal}) or
ledger.exportJournal()): one NDJSON file per tally instance of a run.`,
	}
	cmd.AddCommand(newLedgerVerifyCmd(env))
	return cmd
}

// ledgerVerifyFlags are the flags of `tally ledger verify`.
type ledgerVerifyFlags struct {
	deep          string
	amountSign    string
	json, strict  bool
	accountBudget time.Duration
	totalBudget   time.Duration
	maxOps        int
	maxFindings   int
	visualizeDir  string
	tempDir       string
}

func newLedgerVerifyCmd(env *Env) *cobra.Command {
	f := &ledgerVerifyFlags{}
	cmd := &cobra.Command{
		Use:   "verify [flags] JOURNAL...",
		Short: "Merge the journals of a run and print the ledger's integrity verdict",
		Long: `Merge the journals of one run (one per instance, e.g. the runs of
--execution-segment 0:1/2 and 1/2:1) and verify them as if one instance had
run everything. The verdict is printed in plain words (or as JSON with
--json): totals, then every finding with its account, class, expected and
seen values, and the operations involved.

Exit codes:
  0    the verdict is pass
  0    the verdict is undecided: nothing wrong was found, but a check could not
       run (an account without an opening or closing snapshot, for instance);
       a line on stderr says so. With --strict the exit code is 99 instead.
  99   the verdict is fail (the findings are printed)
  105  interrupted (SIGINT or SIGTERM): it stops at once, prints no verdict
       and leaves no temporary file
  255  a journal cannot be read or merged (the message names the file and
       line), or bad flags

The journals are read once; settled records go to temporary files (in
--temp-dir, unlinked as soon as they are created, so none outlives the
command) and are verified a group of accounts at a time, so memory stays
bounded by the largest group of accounts, not by the journals' size.`,
		Example: `  tally ledger verify journal-0.ndjson
  tally ledger verify --deep auto journal-*.ndjson
  tally ledger verify --json --strict a.ndjson b.ndjson > verdict.json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return exitcode.With(exitcode.Other, &usageError{errors.New("ledger verify needs at least one journal file")})
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return ledgerVerify(cmd, env, f, args)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&f.deep, "deep", "off", "porcupine linearizability check per account: auto or off")
	fl.StringVar(&f.amountSign, "amount-sign", "auto", "how the server logs write debits: auto (from the balance chain), positive or negative; overrides the journals' setting")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON instead of text")
	fl.BoolVar(&f.strict, "strict", false, "exit with 99 when the verdict is undecided")
	fl.DurationVar(&f.accountBudget, "account-budget", ledger.DefaultAccountBudget, "deep check time per account")
	fl.DurationVar(&f.totalBudget, "total-budget", ledger.DefaultTotalBudget, "deep check time in total")
	fl.IntVar(&f.maxOps, "max-ops", ledger.DefaultMaxOps, "skip the deep check on accounts with more deductions")
	fl.IntVar(&f.maxFindings, "max-findings", ledger.DefaultMaxFindings, "findings listed per account and kind (all are counted)")
	fl.StringVar(&f.visualizeDir, "visualize-dir", "", "write porcupine's HTML view of accounts found not linearizable here")
	fl.StringVar(&f.tempDir, "temp-dir", "", "directory for the temporary files of the records being verified (default: the system's temporary directory)")
	return cmd
}

func ledgerVerify(cmd *cobra.Command, env *Env, f *ledgerVerifyFlags, paths []string) error {
	sign, err := ledger.ParseAmountSign(f.amountSign)
	if err != nil {
		return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("--amount-sign: %w", err)})
	}
	deep, err := ledger.ParseDeepMode(f.deep)
	if err != nil {
		return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("--deep: %w", err)})
	}
	for name, v := range map[string]int64{"--account-budget": int64(f.accountBudget), "--total-budget": int64(f.totalBudget),
		"--max-ops": int64(f.maxOps), "--max-findings": int64(f.maxFindings)} {
		if v <= 0 {
			return exitcode.With(exitcode.Other, &usageError{fmt.Errorf("%s must be positive", name)})
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if env.Signals != nil {
		go func() {
			select {
			case sig := <-env.Signals:
				cancel(fmt.Errorf("interrupted by %v", sig))
			case <-ctx.Done():
			}
		}()
	}
	r, err := verifyInterruptibly(ctx, paths, ledger.VerifyOptions{
		AmountSign: sign, Deep: deep, AccountBudget: f.accountBudget, TotalBudget: f.totalBudget,
		MaxOps: f.maxOps, MaxFindings: f.maxFindings, VisualizeDir: f.visualizeDir, TempDir: f.tempDir,
	})
	if ctx.Err() != nil {
		return exitcode.Errorf(exitcode.ExternalAbort, "ledger verify: %v: no verdict", context.Cause(ctx))
	}
	if err != nil {
		return exitcode.With(exitcode.Other, err)
	}
	out := cmd.OutOrStdout()
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = ledger.WriteText(out, r)
	}
	if err != nil {
		return exitcode.With(exitcode.Other, fmt.Errorf("write report: %w", err))
	}
	switch r.Verdict {
	case ledger.Fail:
		return exitcode.Errorf(exitcode.ThresholdsFailed, "ledger verdict: fail (%s)", discrepancyWords(r))
	case ledger.Undecided:
		msg := "ledger verdict: undecided: nothing wrong was found, but not every check could run (see the notes)"
		if f.strict {
			return exitcode.Errorf(exitcode.ThresholdsFailed, "%s; --strict makes this a failure", msg)
		}
		fmt.Fprintf(env.Stderr, "tally: %s; exit code 0 (use --strict to fail on undecided)\n", msg)
	}
	return nil
}

// interruptGrace is how long an interrupted verification may take to
// release its temporary files before the command exits without it.
const interruptGrace = 2 * time.Second

// verifyInterruptibly runs the verification and returns when it ends, or
// soon after ctx is done even if it is blocked (reading a pipe, say): its
// temporary files are unlinked when created, so exiting leaves none.
func verifyInterruptibly(ctx context.Context, paths []string, opts ledger.VerifyOptions) (*ledger.Report, error) {
	type result struct {
		r   *ledger.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := ledger.VerifyJournals(ctx, paths, opts)
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		return res.r, res.err
	case <-ctx.Done():
	}
	select {
	case res := <-done:
		return res.r, res.err
	case <-time.After(interruptGrace):
		return nil, ctx.Err()
	}
}

// discrepancyWords lists the findings by kind: "3 discrepancies: lost_update 2, overcharge 1".
func discrepancyWords(r *ledger.Report) string {
	var parts []string
	for _, k := range ledger.Kinds {
		if n := r.Discrepancies[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	n := r.DiscrepancyCount()
	word := "discrepancies"
	if n == 1 {
		word = "discrepancy"
	}
	return fmt.Sprintf("%d %s: %s", n, word, strings.Join(parts, ", "))
}
