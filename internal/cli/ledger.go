package cli

import (
	"github.com/spf13/cobra"
)

func newLedgerCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Work with ledger journals written by k6/x/ledger",
	}
	return cmd
}
