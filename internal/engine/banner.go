package engine

import (
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/tallyhq/tally/internal/executor"
	"github.com/tallyhq/tally/internal/options"
)

// banner writes the start-of-run description k6 users know: the script,
// the outputs and each scenario with its executor and sizes.
func (r *run) banner(w io.Writer, scenarios []executor.Config, maxVUs int64) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  tally %s\n\n", r.cfg.Version)
	fmt.Fprintf(&b, "     execution: local\n")
	fmt.Fprintf(&b, "        script: %s\n", r.cfg.ScriptPath)
	out := "-"
	if len(r.cfg.Outputs) > 0 {
		descs := make([]string, len(r.cfg.Outputs))
		for i, spec := range r.cfg.Outputs {
			typ, arg, ok := strings.Cut(spec, "=")
			if !ok || arg == "" || arg == "-" {
				arg = "stdout"
			}
			descs[i] = fmt.Sprintf("%s (%s)", typ, arg)
		}
		out = strings.Join(descs, ", ")
	}
	fmt.Fprintf(&b, "        output: %s\n", out)
	if r.cfg.SummaryExport != "" {
		fmt.Fprintf(&b, "summary-export: %s\n", r.cfg.SummaryExport)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "     scenarios: (%s) %s:\n",
		segmentShare(options.String(r.opts.ExecutionSegment, "")), executor.DescribePlan(scenarios, maxVUs))
	for _, c := range scenarios {
		fmt.Fprintf(&b, "              * %s: %s\n", c.Name(), executor.Describe(c))
	}
	if seg := options.String(r.opts.ExecutionSegment, ""); seg != "" {
		fmt.Fprintf(&b, "                (scenario sizes are the whole test's; this instance runs segment %s of them)\n", seg)
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}

// segmentShare formats the share of the test an execution segment runs,
// e.g. "50.00%".
func segmentShare(segment string) string {
	share := big.NewRat(1, 1)
	if segment != "" {
		if s, err := executor.ParseSegment(segment); err == nil {
			share = new(big.Rat).Sub(s.To, s.From)
		}
	}
	f, _ := share.Float64()
	return fmt.Sprintf("%.2f%%", f*100)
}

// bannerWanted reports whether the banner goes to stdout: not with --quiet
// and not when an output streams to stdout (it stays machine-readable).
func (r *run) bannerWanted() bool {
	if r.cfg.Quiet || r.cfg.Stdout == nil {
		return false
	}
	for _, spec := range r.cfg.Outputs {
		if _, arg, _ := strings.Cut(spec, "="); arg == "" || arg == "-" {
			return false
		}
	}
	return true
}
