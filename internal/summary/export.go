package summary

import (
	"encoding/json"
	"sort"
)

// Export returns the --summary-export document of d (k6's flattened legacy
// shape): {"root_group", "metrics", "setup_data"} where each metric is its
// values object with "thresholds" mapping each expression to true when it
// FAILED, rate metrics carry "value" instead of "rate", and groups and
// checks are objects keyed by name. The JSON is indented.
func Export(d *Data) ([]byte, error) {
	doc := struct {
		RootGroup exportGroup               `json:"root_group"`
		Metrics   map[string]map[string]any `json:"metrics"`
		SetupData json.RawMessage           `json:"setup_data,omitempty"`
	}{Metrics: map[string]map[string]any{}, SetupData: d.SetupData}
	if d.RootGroup != nil {
		doc.RootGroup = exportGroupOf(d.RootGroup)
	} else {
		doc.RootGroup = exportGroup{Groups: map[string]exportGroup{}, Checks: map[string]exportCheck{}}
	}
	names := make([]string, 0, len(d.Metrics))
	for name := range d.Metrics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := d.Metrics[name]
		flat := make(map[string]any, len(m.Values)+1)
		for k, v := range m.Values {
			if m.Type == "rate" && k == "rate" {
				k = "value"
			}
			flat[k] = v
		}
		if len(m.Thresholds) > 0 {
			th := make(map[string]bool, len(m.Thresholds))
			for expr, r := range m.Thresholds {
				th[expr] = !r.OK
			}
			flat["thresholds"] = th
		}
		doc.Metrics[name] = flat
	}
	return json.MarshalIndent(doc, "", "    ")
}

type exportGroup struct {
	Name   string                 `json:"name"`
	Path   string                 `json:"path"`
	ID     string                 `json:"id"`
	Groups map[string]exportGroup `json:"groups"`
	Checks map[string]exportCheck `json:"checks"`
}

type exportCheck struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	ID     string `json:"id"`
	Passes int64  `json:"passes"`
	Fails  int64  `json:"fails"`
}

func exportGroupOf(g *GroupData) exportGroup {
	out := exportGroup{Name: g.Name, Path: g.Path, ID: g.ID,
		Groups: make(map[string]exportGroup, len(g.Groups)), Checks: make(map[string]exportCheck, len(g.Checks))}
	for _, sub := range g.Groups {
		out.Groups[sub.Name] = exportGroupOf(sub)
	}
	for _, c := range g.Checks {
		out.Checks[c.Name] = exportCheck{Name: c.Name, Path: c.Path, ID: c.ID, Passes: c.Passes, Fails: c.Fails}
	}
	return out
}
