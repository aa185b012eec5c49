package summary

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Section is a block a native module adds to the text summary: a title
// (shown as "█ TITLE"; may be empty) and plain text, indented by the renderer.
type Section struct {
	Title string
	Text  string
}

// TextOptions control the text summary.
type TextOptions struct {
	// Mode is ModeCompact (also for ""), ModeFull or ModeDisabled (prints
	// nothing).
	Mode string
	// NoColor disables ANSI colours; set it unless stdout is a terminal.
	NoColor bool
	// TimeUnit forces the unit of time values: "s", "ms", "us"; "" picks
	// one per value.
	TimeUnit string
	// Extra are sections contributed by native modules, printed last.
	Extra []Section
}

// Built-in metrics by text-summary block, in display order. HTTP timings
// other than http_req_duration and group_duration are shown in full mode
// only.
var (
	httpCompact = []string{"http_req_duration", "http_req_failed", "http_reqs"}
	httpFull    = []string{"http_req_blocked", "http_req_connecting", "http_req_duration", "http_req_failed",
		"http_req_receiving", "http_req_sending", "http_req_tls_handshaking", "http_req_waiting", "http_reqs"}
	execCompact = []string{"dropped_iterations", "iteration_duration", "iterations", "vus", "vus_max"}
	execFull    = []string{"dropped_iterations", "group_duration", "iteration_duration", "iterations", "vus", "vus_max"}
	network     = []string{"data_received", "data_sent"}
	builtinName = func() map[string]bool {
		m := map[string]bool{"checks": true}
		for _, l := range [][]string{httpFull, execFull, network} {
			for _, n := range l {
				m[n] = true
			}
		}
		return m
	}()
)

// ANSI colours of the text summary.
const (
	colorReset = "\x1b[0m"
	colorGreen = "\x1b[32m"
	colorRed   = "\x1b[31m"
	colorFaint = "\x1b[2m"
	colorBold  = "\x1b[1m"
)

// Text writes k6's end-of-test text summary of d to w: █ THRESHOLDS with
// ✓/✗ per expression, █ TOTAL RESULTS with the check tallies and the
// CUSTOM, HTTP, EXECUTION and NETWORK metric blocks, then (full mode) one
// section per group and scenario of d.Breakdown, then the extra sections.
func Text(w io.Writer, d *Data, opts TextOptions) error {
	if opts.Mode == ModeDisabled || d == nil {
		return nil
	}
	full := opts.Mode == ModeFull
	r := &renderer{opts: opts, d: d, full: full, stats: d.Options.SummaryTrendStats}
	if len(r.stats) == 0 {
		r.stats = []string{"avg", "min", "med", "max", "p(90)", "p(95)"}
	}
	if opts.TimeUnit == "" {
		r.opts.TimeUnit = d.Options.SummaryTimeUnit
	}
	r.elapsed = time.Duration(d.State.TestRunDurationMs * float64(time.Millisecond))

	bw := bufio.NewWriter(w)
	r.w = bw
	r.line("")
	r.thresholds()
	r.header("TOTAL RESULTS")
	// Checks are listed under their groups: in full mode in the group
	// sections below, in compact mode after the root's own checks.
	r.results(d.Metrics, d.RootGroup, !(full && d.Breakdown != nil))
	if full && d.Breakdown != nil {
		r.groups(d.RootGroup, d.Breakdown.Groups, 0)
		names := make([]string, 0, len(d.Breakdown.Scenarios))
		for n := range d.Breakdown.Scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			r.header("SCENARIO: " + n)
			r.results(d.Breakdown.Scenarios[n], nil, false)
		}
	}
	for _, s := range opts.Extra {
		if s.Title != "" {
			r.header(s.Title)
		} else {
			r.line("")
		}
		for _, l := range strings.Split(strings.TrimRight(s.Text, "\n"), "\n") {
			r.line("    " + l)
		}
		r.line("")
	}
	r.line("")
	return bw.Flush()
}

type renderer struct {
	w       *bufio.Writer
	d       *Data
	opts    TextOptions
	full    bool
	stats   []string
	elapsed time.Duration
}

func (r *renderer) line(s string) { r.w.WriteString(s); r.w.WriteByte('\n') }

func (r *renderer) color(c, s string) string {
	if r.opts.NoColor {
		return s
	}
	return c + s + colorReset
}

func (r *renderer) mark(ok bool) string {
	if ok {
		return r.color(colorGreen, "✓")
	}
	return r.color(colorRed, "✗")
}

func (r *renderer) header(title string) {
	r.line("")
	r.line("  " + r.color(colorBold, "█ "+title))
	r.line("")
}

// thresholds writes the █ THRESHOLDS section: per metric (sorted by name),
// one line per expression in definition order.
func (r *renderer) thresholds() {
	var names []string
	for name, m := range r.d.Metrics {
		if len(m.Thresholds) > 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	r.line("  " + r.color(colorBold, "█ THRESHOLDS"))
	r.line("")
	for _, name := range names {
		m := r.d.Metrics[name]
		r.line("    " + name)
		exprs := make([]string, 0, len(m.Thresholds))
		for e := range m.Thresholds {
			exprs = append(exprs, e)
		}
		sort.Slice(exprs, func(i, j int) bool {
			a, b := m.Thresholds[exprs[i]], m.Thresholds[exprs[j]]
			if a.Order != b.Order {
				return a.Order < b.Order
			}
			return exprs[i] < exprs[j]
		})
		for _, e := range exprs {
			t := m.Thresholds[e]
			text := fmt.Sprintf("'%s' %s=%s", e, t.Aggregation, r.thresholdValue(m, t))
			if !t.OK {
				text = r.color(colorRed, text)
			}
			r.line("    " + r.mark(t.OK) + " " + text)
		}
		r.line("")
	}
	r.line("")
}

func (r *renderer) thresholdValue(m *MetricData, t ThresholdResult) string {
	switch m.Type {
	case "rate":
		return formatPercent(t.Value)
	case "counter":
		if t.Aggregation == "rate" {
			return formatPerSecond(m.Contains, t.Value, r.opts.TimeUnit)
		}
	}
	return formatValue(m.Contains, t.Value, r.opts.TimeUnit)
}

// row is one metric line: name, then cells aligned in columns.
type row struct {
	name  string
	trend bool
	cells []string
}

// results writes checks and metric blocks for one set of metrics. root
// (may be nil) lists the checks; nested=true also lists the checks of its
// subgroups, each under a GROUP label, so same-named checks of different
// groups stay apart.
func (r *renderer) results(metrics map[string]*MetricData, root *GroupData, nested bool) {
	var checks []*CheckData
	if root != nil {
		checks = root.Checks
	}
	var blocks []block
	if c, ok := metrics["checks"]; ok && c.Type == "rate" {
		b := r.checkRows(c)
		// sub-metrics of checks (thresholds on checks{...}) follow the tallies
		for _, rw := range r.metricRows(metrics, "checks", r.subsByParent(metrics)["checks"]) {
			if rw.name != "checks" {
				b.rows = append(b.rows, rw)
			}
		}
		blocks = append(blocks, b)
	}
	custom := r.customRows(metrics)
	http, exec := httpCompact, execCompact
	if r.full {
		http, exec = httpFull, execFull
	}
	named := []block{
		{title: "CUSTOM", rows: custom},
		{title: "HTTP", rows: r.builtinRows(metrics, http)},
		{title: "EXECUTION", rows: r.builtinRows(metrics, exec)},
		{title: "NETWORK", rows: r.builtinRows(metrics, network)},
	}
	all := append(append([]block(nil), blocks...), named...)
	widths := layout(all)
	if len(blocks) > 0 {
		r.writeRows(blocks[0].rows, widths)
		r.line("")
		for _, c := range checks {
			r.writeCheck(c, "    ")
		}
		if len(checks) > 0 {
			r.line("")
		}
		if nested && root != nil {
			r.groupChecks(root, "    ")
		}
	}
	for _, b := range named {
		if len(b.rows) == 0 {
			continue
		}
		r.line("    " + b.title)
		r.writeRows(b.rows, widths)
		r.line("")
	}
}

type block struct {
	title string
	rows  []row
}

// columns holds the display widths of the name column and of the value
// columns, separately for trend rows and other rows.
type columns struct {
	name         int
	trend, other []int
}

func layout(blocks []block) columns {
	c := columns{name: 0}
	for _, b := range blocks {
		for _, rw := range b.rows {
			c.name = max(c.name, utf8.RuneCountInString(rw.name))
			cols := &c.other
			if rw.trend {
				cols = &c.trend
			}
			for i, cell := range rw.cells {
				if i >= len(*cols) {
					*cols = append(*cols, 0)
				}
				(*cols)[i] = max((*cols)[i], utf8.RuneCountInString(cell))
			}
		}
	}
	c.name = max(c.name+3, 35)
	return c
}

func (r *renderer) writeRows(rows []row, c columns) {
	for _, rw := range rows {
		var b strings.Builder
		b.WriteString("    ")
		b.WriteString(rw.name)
		dots := c.name - utf8.RuneCountInString(rw.name)
		b.WriteString(r.color(colorFaint, strings.Repeat(".", dots)+":"))
		b.WriteByte(' ')
		widths := c.other
		if rw.trend {
			widths = c.trend
		}
		for i, cell := range rw.cells {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(cell)
			if i < len(rw.cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)))
			}
		}
		r.line(b.String())
	}
}

func (r *renderer) checkRows(c *MetricData) block {
	passes, fails := c.Values["passes"], c.Values["fails"]
	total := passes + fails
	rate := 0.0
	if r.elapsed > 0 {
		rate = total / r.elapsed.Seconds()
	}
	ratio := func(n float64) string {
		if total == 0 {
			return formatPercent(0)
		}
		return formatPercent(n / total)
	}
	return block{rows: []row{
		{name: "checks_total", cells: []string{formatNumber(total), formatPerSecond("default", rate, "")}},
		{name: "checks_succeeded", cells: []string{ratio(passes), fmt.Sprintf("%s out of %s", formatNumber(passes), formatNumber(total))}},
		{name: "checks_failed", cells: []string{ratio(fails), fmt.Sprintf("%s out of %s", formatNumber(fails), formatNumber(total))}},
	}}
}

func (r *renderer) writeCheck(c *CheckData, indent string) {
	if c.Fails == 0 {
		r.line(indent + r.mark(true) + " " + c.Name)
		return
	}
	r.line(indent + r.mark(false) + " " + r.color(colorRed, c.Name))
	total := c.Passes + c.Fails
	pct := 0
	if total > 0 {
		pct = int(float64(c.Passes) * 100 / float64(total))
	}
	r.line(fmt.Sprintf("%s  %s  %d%% — %s %d / %s %d", indent, r.color(colorFaint, "↳"), pct, r.mark(true), c.Passes, r.mark(false), c.Fails))
}

// groupChecks lists the checks of g's subgroups (depth first, first-seen
// order), each group under a "GROUP: name" label indented by its depth;
// groups without checks below them are left out.
func (r *renderer) groupChecks(g *GroupData, indent string) {
	for _, sub := range g.Groups {
		if !hasChecks(sub) {
			continue
		}
		r.line(indent + r.color(colorBold, "GROUP: "+sub.Name))
		for _, c := range sub.Checks {
			r.writeCheck(c, indent+"  ")
		}
		r.line("")
		r.groupChecks(sub, indent+"  ")
	}
}

func hasChecks(g *GroupData) bool {
	if len(g.Checks) > 0 {
		return true
	}
	for _, sub := range g.Groups {
		if hasChecks(sub) {
			return true
		}
	}
	return false
}

// splitName splits "name{tags}" into the parent name and the tag text.
func splitName(key string) (string, string, bool) {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key, "", false
	}
	return strings.TrimSpace(key[:i]), strings.TrimSuffix(strings.TrimSpace(key[i+1:]), "}"), true
}

// metricRows returns the row of metric name (if present) followed by the
// rows of its sub-metrics, sorted.
func (r *renderer) metricRows(metrics map[string]*MetricData, name string, subs []string) []row {
	var rows []row
	if m, ok := metrics[name]; ok {
		rows = append(rows, r.metricRow(name, m))
	}
	sort.Strings(subs)
	for _, key := range subs {
		label := key
		if _, ok := metrics[name]; ok {
			_, tags, _ := splitName(key)
			label = "  { " + tags + " }"
		}
		rows = append(rows, r.metricRow(label, metrics[key]))
	}
	return rows
}

func (r *renderer) subsByParent(metrics map[string]*MetricData) map[string][]string {
	subs := map[string][]string{}
	for key := range metrics {
		if parent, _, ok := splitName(key); ok {
			subs[parent] = append(subs[parent], key)
		}
	}
	return subs
}

func (r *renderer) builtinRows(metrics map[string]*MetricData, names []string) []row {
	subs := r.subsByParent(metrics)
	var rows []row
	for _, n := range names {
		rows = append(rows, r.metricRows(metrics, n, subs[n])...)
	}
	return rows
}

func (r *renderer) customRows(metrics map[string]*MetricData) []row {
	subs := r.subsByParent(metrics)
	seen := map[string]bool{}
	var names []string
	for key := range metrics {
		parent, _, _ := splitName(key)
		if builtinName[parent] || seen[parent] {
			continue
		}
		seen[parent] = true
		names = append(names, parent)
	}
	sort.Strings(names)
	var rows []row
	for _, n := range names {
		rows = append(rows, r.metricRows(metrics, n, subs[n])...)
	}
	return rows
}

func (r *renderer) metricRow(name string, m *MetricData) row {
	v := m.Values
	unit := r.opts.TimeUnit
	switch m.Type {
	case "counter":
		return row{name: name, cells: []string{formatValue(m.Contains, v["count"], unit), formatPerSecond(m.Contains, v["rate"], unit)}}
	case "gauge":
		return row{name: name, cells: []string{formatValue(m.Contains, v["value"], unit),
			"min=" + formatValue(m.Contains, v["min"], unit), "max=" + formatValue(m.Contains, v["max"], unit)}}
	case "rate":
		passes, fails := v["passes"], v["fails"]
		return row{name: name, cells: []string{formatPercent(v["rate"]),
			fmt.Sprintf("%s out of %s", formatNumber(passes), formatNumber(passes+fails))}}
	}
	cells := make([]string, 0, len(r.stats))
	for _, s := range r.stats {
		val, ok := v[s]
		if !ok {
			continue
		}
		if s == "count" {
			cells = append(cells, s+"="+formatNumber(val))
			continue
		}
		cells = append(cells, s+"="+formatValue(m.Contains, val, unit))
	}
	return row{name: name, trend: true, cells: cells}
}

// groups writes one section per group below g, depth first, in first-seen
// order: the group's checks and the metrics of its samples.
func (r *renderer) groups(g *GroupData, metrics map[string]map[string]*MetricData, depth int) {
	if g == nil {
		return
	}
	for _, sub := range g.Groups {
		title := "GROUP: " + sub.Name
		if depth > 0 {
			r.line("")
			r.line("  " + strings.Repeat("  ", depth) + r.color(colorBold, "↳ "+title))
			r.line("")
		} else {
			r.header(title)
		}
		r.results(metrics[sub.Path], sub, false)
		r.groups(sub, metrics, depth+1)
	}
}
