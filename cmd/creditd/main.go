// Command creditd is tally's reference credit service: the Beta 500 credit API over SQLite or
// PostgreSQL, with switchable fault modes. See docs/api.md, or run creditd --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

func main() { RunMain(os.Args[1:]) }

// RunMain runs creditd with args (without the program name) until SIGINT or SIGTERM, then exits the
// process with one of the Exit* statuses.
func RunMain(args []string) {
	m := NewMain()
	if err := m.ParseFlags(args); errors.Is(err, pflag.ErrHelp) {
		os.Exit(ExitOK)
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "creditd: %v\nRun 'creditd --help' for the flags.\n", err)
		os.Exit(ExitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "creditd: %v\n", err)
		os.Exit(ExitFailure)
	}
	status := ExitOK
	select {
	case <-ctx.Done():
	case err := <-m.Failed():
		m.Logger.Error("server failed", "error", err)
		status = ExitFailure
	}
	stop() // a second signal now kills the process at once
	if err := m.Close(); err != nil {
		m.Logger.Error("shutdown failed", "error", err)
		status = ExitFailure
	}
	os.Exit(status)
}
