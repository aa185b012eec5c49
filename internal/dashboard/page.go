package dashboard

import (
	"bytes"
	_ "embed"
)

// The page: one HTML template with the styles, uPlot (vendored from npm,
// see assets/uplot/VERSION) and the page's script inlined, so that the
// report opens from disk without any network.
var (
	//go:embed assets/index.html
	pageHTML []byte
	//go:embed assets/app.css
	appCSS []byte
	//go:embed assets/app.js
	appJS []byte
	//go:embed assets/uplot/uPlot.min.css
	uplotCSS []byte
	//go:embed assets/uplot/uPlot.iife.min.js
	uplotJS []byte
)

// renderPage returns the page with its data: nil for the live page (it
// reads /events), or a final update's JSON for the report. The JSON comes
// from encoding/json, which escapes <, > and &, so it cannot end the
// script element that holds it.
func renderPage(data []byte) ([]byte, error) {
	if data == nil {
		data = []byte("null")
	}
	out := pageHTML
	for _, r := range []struct {
		mark string
		with []byte
	}{
		{"/*UPLOT_CSS*/", uplotCSS},
		{"/*APP_CSS*/", appCSS},
		{"/*UPLOT_JS*/", uplotJS},
		{"/*APP_JS*/", appJS},
		{"/*DATA*/", data},
	} {
		if !bytes.Contains(out, []byte(r.mark)) {
			return nil, errNoPage
		}
		out = bytes.Replace(out, []byte(r.mark), r.with, 1)
	}
	return out, nil
}
