// Package dashboard is tally's web dashboard and HTML report (k6's
// K6_WEB_DASHBOARD*): an output that folds the run's samples into time
// series (package timeseries), serves a page that draws them live from
// server-sent events, and at the end of the run renders one self-contained
// HTML file with the same charts, the thresholds, the end-of-test figures,
// the per-endpoint tables and the verdicts of modules such as the ledger.
//
// Any number of browsers can watch. Each gets the latest update through a
// one-slot mailbox: a browser that reads slowly skips updates (each carries
// the whole series) and never makes the run wait.
package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/output"
	"github.com/tallyhq/tally/internal/summary"
	"github.com/tallyhq/tally/internal/timeseries"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// writeTimeout bounds one write to a browser; one that takes longer is
// dropped.
const writeTimeout = 10 * time.Second

// finalGrace is how long Finish waits for browsers to receive the last
// update before the server closes.
const finalGrace = 2 * time.Second

// Threshold is one threshold with its live state.
type Threshold struct {
	Metric    string  `json:"metric"`
	Source    string  `json:"source"`
	OK        bool    `json:"ok"`
	Evaluated bool    `json:"evaluated"`
	Value     float64 `json:"value"`
}

// RunInfo describes the run on the page.
type RunInfo struct {
	Script  string `json:"script"`
	Version string `json:"version"`
	// Period is the update period in seconds.
	Period float64 `json:"period"`
}

// Final is what the page shows once the run is over.
type Final struct {
	// Status is "passed", "failed" (thresholds or test.fail), "aborted"
	// or "interrupted"; Message says why, in plain words.
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// DurationMs is the test run duration, as in the summary.
	DurationMs float64 `json:"duration_ms"`
	// Metrics are the end-of-test figures, as handleSummary receives them.
	Metrics map[string]*summary.MetricData `json:"metrics"`
	// TrendStats are the trend statistics of Metrics, in display order.
	TrendStats []string `json:"trend_stats"`
	// Checks are the run's checks with their passes and fails.
	Checks []*summary.CheckData `json:"checks"`
	// Verdicts are the modules' verdicts (the ledger's).
	Verdicts []*modules.Verdict `json:"verdicts"`
}

// payload is one update of the page (and the report's data).
type payload struct {
	Kind       string               `json:"kind"` // "update" or "final"
	Run        RunInfo              `json:"run"`
	Generated  int64                `json:"generated"` // Unix ms
	Snapshot   *timeseries.Snapshot `json:"snapshot"`
	Thresholds []Threshold          `json:"thresholds"`
	Final      *Final               `json:"final,omitempty"`
}

// Dashboard is the web-dashboard output. Create it with New, hand it to the
// metrics engine as an output, set the threshold source, and call Finish
// once the summary is known.
type Dashboard struct {
	cfg  Config
	log  *slog.Logger
	info RunInfo
	agg  *timeseries.Aggregator

	thMu       sync.Mutex
	thresholds func() []Threshold

	ln   net.Listener
	srv  *http.Server
	url  string
	page []byte

	mu      sync.Mutex
	clients map[*client]struct{}
	last    []byte // latest update event, sent to browsers as they connect
	final   bool

	stopTick chan struct{}
	tickDone chan struct{}
	stopOnce sync.Once
	finished sync.Once
}

// client is one browser's event stream.
type client struct {
	mail chan []byte // one slot: the newest update wins
	done chan struct{}
}

// Params are what the dashboard needs from the run.
type Params struct {
	Logger  *slog.Logger
	Script  string
	Version string
}

var _ output.Output = (*Dashboard)(nil)

// New returns a dashboard for cfg (see ParseConfig).
func New(cfg Config, p Params) *Dashboard {
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dashboard{cfg: cfg, log: log, agg: timeseries.New(timeseries.Config{}),
		info:    RunInfo{Script: p.Script, Version: p.Version, Period: cfg.Period.Seconds()},
		clients: map[*client]struct{}{}}
}

// Description names the output.
func (d *Dashboard) Description() string {
	if d.url != "" {
		return OutputType + " (" + d.url + ")"
	}
	return OutputType
}

// URL returns the page's address, or "" when no page is served.
func (d *Dashboard) URL() string { return d.url }

// ExportPath returns where the report goes ("" for none).
func (d *Dashboard) ExportPath() string { return d.cfg.Export }

// SetThresholds sets the source of the thresholds' live state.
func (d *Dashboard) SetThresholds(f func() []Threshold) {
	d.thMu.Lock()
	d.thresholds = f
	d.thMu.Unlock()
}

// Start starts serving the page (when enabled) and the periodic updates.
func (d *Dashboard) Start(ctx context.Context, _ metrics.DescribeFunc) error {
	if !d.cfg.Serves() {
		return nil
	}
	page, err := renderPage(nil)
	if err != nil {
		return err
	}
	d.page = page
	addr := net.JoinHostPort(d.cfg.Host, strconv.Itoa(d.cfg.Port))
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("web dashboard: %w (set K6_WEB_DASHBOARD_PORT to a free port, or -1 to serve no page)", err)
	}
	d.ln = ln
	d.url = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.servePage)
	mux.HandleFunc("GET /events", d.serveEvents)
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.srv.Serve(ln) }()
	d.log.Info("web dashboard: " + d.url)
	d.stopTick = make(chan struct{})
	d.tickDone = make(chan struct{})
	go d.tick()
	if d.cfg.Open {
		d.openBrowser()
	}
	return nil
}

// AddSamples folds a batch into the time series.
func (d *Dashboard) AddSamples(batch metrics.Samples) error {
	d.agg.Add(batch)
	return nil
}

// Stop ends the periodic updates; the page stays up until Finish.
func (d *Dashboard) Stop() error {
	d.stopOnce.Do(func() {
		if d.stopTick != nil {
			close(d.stopTick)
			<-d.tickDone
		}
	})
	return nil
}

func (d *Dashboard) tick() {
	defer close(d.tickDone)
	t := time.NewTicker(d.cfg.Period)
	defer t.Stop()
	for {
		select {
		case <-d.stopTick:
			return
		case <-t.C:
			b, err := d.payload(nil)
			if err != nil {
				d.log.Error("web dashboard: " + err.Error())
				continue
			}
			d.broadcast(event("update", b), false)
		}
	}
}

func (d *Dashboard) payload(final *Final) ([]byte, error) {
	p := payload{Kind: "update", Run: d.info, Generated: time.Now().UnixMilli(), Snapshot: d.agg.Snapshot(),
		Thresholds: []Threshold{}, Final: final}
	if final != nil {
		p.Kind = "final"
	}
	d.thMu.Lock()
	th := d.thresholds
	d.thMu.Unlock()
	if th != nil {
		p.Thresholds = th()
	}
	return json.Marshal(p)
}

// event frames data as one server-sent event.
func event(name string, data []byte) []byte {
	b := make([]byte, 0, len(data)+32)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, data...) // JSON has no raw newlines
	return append(b, "\n\n"...)
}

// broadcast hands msg to every browser without waiting: a mailbox still
// holding an older update gets the new one instead.
func (d *Dashboard) broadcast(msg []byte, final bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.final {
		return
	}
	d.last = msg
	d.final = final
	for c := range d.clients {
		deliver(c, msg)
	}
}

func deliver(c *client, msg []byte) {
	for {
		select {
		case c.mail <- msg:
			return
		default:
		}
		select {
		case <-c.mail: // drop the stale update
		default:
		}
	}
}

func (d *Dashboard) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(d.page)
}

func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	c := &client{mail: make(chan []byte, 1), done: make(chan struct{})}
	defer close(c.done)
	d.mu.Lock()
	last := d.last
	d.clients[c] = struct{}{}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.clients, c)
		d.mu.Unlock()
	}()
	if last == nil {
		b, err := d.payload(nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		last = event("update", b)
	}
	deliver(c, last)
	for {
		select {
		case <-r.Context().Done():
			return
		case msg := <-c.mail:
			_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := w.Write(msg); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			if isFinal(msg) {
				return
			}
		}
	}
}

func isFinal(msg []byte) bool { return len(msg) > 12 && string(msg[:12]) == "event: final" }

// Finish sends the final state to the browsers, closes the server, and
// returns the HTML report when one is to be exported (nil otherwise). It
// may be called once; later calls return nil.
func (d *Dashboard) Finish(ctx context.Context, final *Final) ([]byte, error) {
	var report []byte
	var err error
	d.finished.Do(func() {
		_ = d.Stop()
		var data []byte
		data, err = d.payload(final)
		if err != nil {
			err = fmt.Errorf("web dashboard: %w", err)
			return
		}
		if d.srv != nil {
			d.broadcast(event("final", data), true)
			d.waitClients(ctx)
			_ = d.srv.Close()
		}
		if d.cfg.Export != "" {
			report, err = renderPage(data)
		}
	})
	return report, err
}

// waitClients waits up to finalGrace for the browsers to take the final
// update (their handlers return after writing it).
func (d *Dashboard) waitClients(ctx context.Context) {
	deadline := time.NewTimer(finalGrace)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		n := len(d.clients)
		d.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *Dashboard) openBrowser() {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", d.url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", d.url)
	default:
		cmd = exec.Command("xdg-open", d.url)
	}
	if err := cmd.Start(); err != nil {
		d.log.Warn(fmt.Sprintf("web dashboard: could not open a browser (%v); open %s yourself", err, d.url))
		return
	}
	go func() { _ = cmd.Wait() }()
}

// errNoPage is returned by renderPage when the embedded page is broken.
var errNoPage = errors.New("web dashboard: the embedded page lacks its placeholders")
