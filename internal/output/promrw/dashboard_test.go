package promrw_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/tallyhq/tally/extension/ledger"
	"github.com/tallyhq/tally/internal/output/promrw"
	"github.com/tallyhq/tally/metrics"
)

// TestGrafanaDashboard checks that deploy/grafana/tally.json parses and that every metric its queries
// name is one this output sends (built-in and ledger metrics, with the trend statistics the README
// tells to configure).
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "grafana", "tally.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("the dashboard does not parse: %v", err)
	}
	known := map[string]bool{}
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	stats := []string{"p(95)", "p(99)"}
	for _, m := range reg.All() {
		for _, n := range promrw.MetricNames(m.Name, m.Type, stats) {
			known[n] = true
		}
	}
	for _, m := range ledger.Metrics {
		typ := metrics.Counter
		if m.Type == ledger.Rate {
			typ = metrics.Rate
		}
		for _, n := range promrw.MetricNames(m.Name, typ, stats) {
			known[n] = true
		}
	}
	name := regexp.MustCompile(`\bk6_[a-z0-9_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			found := name.FindAllString(tg.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: query %q names no k6_ metric", p.Title, tg.Expr)
			}
			for _, n := range found {
				if !known[n] {
					t.Errorf("panel %q: %s is not a series tally sends", p.Title, n)
				}
			}
		}
	}
	if len(dash.Panels) < 8 || queries < 10 {
		t.Errorf("%d panels, %d queries: the dashboard lost panels", len(dash.Panels), queries)
	}
}
