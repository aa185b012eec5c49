// tally's dashboard and report page. Live, it reads updates from /events
// (server-sent events, each carrying the whole series); as a report, it
// reads the final update embedded in the page. Charts are drawn by uPlot.
'use strict';
(() => {
  const $ = (sel) => document.querySelector(sel);
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];
  const charts = {};

  // ---- formatting ----------------------------------------------------------
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  function fmtMs(v) {
    if (!isNum(v)) return '–';
    if (Math.abs(v) < 1) return (v * 1000).toFixed(2) + 'µs';
    if (Math.abs(v) < 1000) return v.toFixed(2) + 'ms';
    if (Math.abs(v) < 60000) return (v / 1000).toFixed(2) + 's';
    return (v / 60000).toFixed(2) + 'm';
  }
  function fmtCount(v) {
    if (!isNum(v)) return '–';
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }
  function fmtNum(v, digits = 2) { return isNum(v) ? v.toFixed(digits) : '–'; }
  function fmtPct(v) { return isNum(v) ? (v * 100).toFixed(2) + '%' : '–'; }
  function fmtRate(v) { return isNum(v) ? v.toFixed(2) + '/s' : '–'; }
  function fmtBytes(v) {
    if (!isNum(v)) return '–';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(v) : v.toFixed(2)) + ' ' + units[i];
  }
  function fmtClock(s) {
    if (!isNum(s)) return '';
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
    return (h > 0 ? h + ':' : '') + mm + ':' + String(sec).padStart(2, '0');
  }
  function fmtDuration(ms) {
    if (!isNum(ms)) return '–';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + 's';
    const m = Math.floor(s / 60);
    return m + 'm' + Math.round(s - m * 60) + 's';
  }
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  // A number the summary export also has: data-metric and data-stat name it
  // (export names: a rate's ratio is "value"), data-value holds it unrounded.
  function figure(text, metric, stat, value) {
    return el('span', { 'data-metric': metric, 'data-stat': stat, 'data-value': String(value), text });
  }

  // ---- tiles ---------------------------------------------------------------
  function tile(label, value, sub) {
    const v = el('div', { class: 'value' });
    v.append(value);
    return el('div', { class: 'tile' }, el('div', { class: 'label', text: label }), v,
      sub ? el('div', { class: 'sub' }, sub) : null);
  }
  // stat returns the figure of a metric: from the summary once final, else
  // the live value.
  function stat(final, metric, key, liveValue, fmt) {
    const m = final && final.metrics[metric];
    if (m && isNum(m.values[key])) {
      const exportKey = m.type === 'rate' && key === 'rate' ? 'value' : key;
      return figure(fmt(m.values[key]), metric, exportKey, m.values[key]);
    }
    return el('span', { 'data-live': metric, text: fmt(liveValue) });
  }
  function renderTiles(p) {
    const t = p.snapshot.totals, f = p.final;
    const dur = f ? f.metrics.http_req_duration : null;
    const p95key = dur && isNum(dur.values['p(95)']) ? 'p(95)' : null;
    const tiles = [
      tile('VUs', stat(f, 'vus', 'value', t.vus, fmtCount),
        el('span', {}, 'max ', stat(f, 'vus_max', 'value', t.vus_max, fmtCount))),
      tile('Requests', stat(f, 'http_reqs', 'count', t.http_reqs, fmtCount),
        stat(f, 'http_reqs', 'rate', t.http_req_rate, fmtRate)),
      tile('Failed requests', stat(f, 'http_req_failed', 'rate', t.http_req_failed, fmtPct)),
      tile('Latency p95', f && !p95key ? el('span', { text: fmtMs(t.p95) }) : stat(f, 'http_req_duration', 'p(95)', t.p95, fmtMs),
        el('span', {}, 'p99 ', f && dur && isNum(dur.values['p(99)']) ? stat(f, 'http_req_duration', 'p(99)', t.p99, fmtMs) : fmtMs(t.p99))),
      tile('Iterations', stat(f, 'iterations', 'count', t.iterations, fmtCount),
        el('span', {}, 'dropped ', stat(f, 'dropped_iterations', 'count', t.dropped_iterations, fmtCount))),
      tile('Checks passed', stat(f, 'checks', 'rate', t.checks, fmtPct),
        el('span', {}, `${t.checks_passed} passed, ${t.checks_failed} failed`)),
    ];
    $('#tiles').replaceChildren(...tiles);
  }

  // ---- charts --------------------------------------------------------------
  // spanGaps joins the points across intervals without a sample (a gauge
  // such as VUs is sampled once a second; a busy run may skip an interval).
  function series(label, color, fmt, scale = 'y', spanGaps = false) {
    return { label, stroke: color, width: 2, scale, spanGaps, points: { show: false },
      value: (u, v) => (v === null || v === undefined ? '–' : fmt(v)) };
  }
  function axis(fmt, scale = 'y', side) {
    return { scale, side, size: 64, values: (u, vals) => vals.map((v) => fmt(v)) };
  }
  // Ranges that start at zero: ratios up to at least 1 %, counts up to at
  // least 1, so that an all-zero series sits on the axis instead of the
  // middle of an arbitrary scale.
  const RATIO = (u, lo, hi) => [0, Math.max(isNum(hi) ? hi * 1.1 : 0, 0.01)];
  const UNIT = (u, lo, hi) => [0, Math.max(isNum(hi) ? hi * 1.1 : 0, 1)];
  // Time-axis steps in whole seconds, so that no two ticks read alike.
  const CLOCK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];
  function drawChart(id, key, defs, axes, data, scales = {}) {
    const host = document.getElementById(id);
    if (!host) return;
    let c = charts[id];
    if (c && c.key !== key) { c.plot.destroy(); delete charts[id]; c = null; }
    if (!c) {
      const opts = {
        width: Math.max(host.clientWidth, 300), height: 240,
        series: [{ label: 'time', value: (u, v) => fmtClock(v) }, ...defs],
        axes: [{ values: (u, vals) => vals.map(fmtClock), incrs: CLOCK_STEPS }, ...axes],
        scales: { x: { time: false }, y: { range: UNIT }, r: { range: UNIT }, ...scales },
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
      };
      charts[id] = { key, plot: new uPlot(opts, data, host) };
      return;
    }
    c.plot.setData(data);
  }
  function renderCharts(p) {
    const s = p.snapshot, x = s.time, S = s.series;
    drawChart('chart-vus', 'vus', [
      series('VUs', COLORS[0], fmtCount, 'y', true),
      series('requests/s', COLORS[2], fmtRate, 'r'),
    ], [axis(fmtCount), axis((v) => fmtNum(v, 0), 'r', 1)], [x, S.vus, S.http_reqs]);
    drawChart('chart-failed', 'failed', [series('failed requests', COLORS[1], fmtPct)],
      [axis(fmtPct)], [x, S.http_req_failed], { y: { range: RATIO } });
    drawChart('chart-latency', 'latency', [
      series('p50', COLORS[2], fmtMs), series('p90', COLORS[0], fmtMs),
      series('p95', COLORS[4], fmtMs), series('p99', COLORS[1], fmtMs),
    ], [axis(fmtMs)], [x, S.p50, S.p90, S.p95, S.p99]);
    const eps = (s.endpoints || []).slice(0, 8);
    drawChart('chart-endpoints', 'ep:' + eps.map((e) => e.name).join('\n'),
      eps.map((e, i) => series(e.name, COLORS[i % COLORS.length], fmtMs)),
      [axis(fmtMs)], [x, ...eps.map((e) => e.p95)]);
    drawChart('chart-iterations', 'iterations', [
      series('iterations/s', COLORS[0], fmtRate),
      series('dropped/s', COLORS[1], fmtRate),
    ], [axis((v) => fmtNum(v, 1))], [x, S.iterations, S.dropped_iterations]);
    drawChart('chart-checks', 'checks', [
      series('passed', COLORS[2], fmtPct),
      series('failed/s', COLORS[1], fmtRate, 'r'),
    ], [axis(fmtPct), axis((v) => fmtNum(v, 1), 'r', 1)], [x, S.checks, S.checks_failed], { y: { range: () => [0, 1] } });
    if (s.ledger) {
      $('#ledger-panel').hidden = false;
      drawChart('chart-ledger', 'ledger', [
        series('ok', COLORS[2], fmtRate), series('insufficient', COLORS[6], fmtRate),
        series('unknown', COLORS[1], fmtRate), series('rejected', COLORS[3], fmtRate),
      ], [axis((v) => fmtNum(v, 1))], [x, S.ledger_ok, S.ledger_insufficient, S.ledger_unknown, S.ledger_rejected]);
      drawChart('chart-ledger-bad', 'ledger-bad', [
        series('online violations', COLORS[1], fmtCount), series('discrepancies', COLORS[3], fmtCount),
      ], [axis((v) => fmtNum(v, 0))], [x, S.ledger_violations, S.ledger_discrepancies]);
    }
  }
  window.addEventListener('resize', () => {
    for (const [id, c] of Object.entries(charts)) {
      const host = document.getElementById(id);
      if (host) c.plot.setSize({ width: Math.max(host.clientWidth, 300), height: 240 });
    }
  });

  // ---- ledger --------------------------------------------------------------
  function renderLedger(p) {
    const t = p.snapshot.totals, f = p.final;
    if (!p.snapshot.ledger) return;
    const verified = t.ledger_accounts > 0
      ? `${Math.round((t.ledger_verified || 0) * t.ledger_accounts)} of ${t.ledger_accounts}` : 'not yet';
    $('#ledger-tiles').replaceChildren(
      tile('Deductions ok', stat(null, '', '', t.ledger_ok, fmtCount)),
      tile('Insufficient funds', stat(null, '', '', t.ledger_insufficient, fmtCount)),
      tile('Unknown outcome', stat(null, '', '', t.ledger_unknown, fmtCount)),
      tile('Online violations', stat(f, 'ledger_online_violations', 'count', t.ledger_violations, fmtCount)),
      tile('Accounts verified', el('span', { text: verified })),
      tile('Discrepancies', stat(f, 'ledger_discrepancies', 'count', t.ledger_discrepancies, fmtCount)),
    );
  }
  function renderVerdicts(p) {
    const vs = (p.final && p.final.verdicts) || [];
    const panel = $('#verdict-panel');
    if (vs.length === 0) { panel.hidden = true; return; }
    panel.hidden = false;
    const parts = [];
    for (const v of vs) {
      parts.push(el('h2', { text: `Verdict: ${v.title}` }));
      parts.push(el('div', { class: `verdict ${v.outcome}`, id: `verdict-${v.title}`, 'data-outcome': v.outcome, text: v.headline }));
      if (v.figures && v.figures.length) parts.push(el('pre', { text: v.figures.join('\n') }));
      if (v.findings && v.findings.length) {
        const rows = v.findings.map((fd) => el('tr', {}, el('td', { text: fd.subject }),
          el('td', { text: fd.kind.replaceAll('_', ' ') }), el('td', { text: fd.text })));
        parts.push(el('h3', { text: 'Findings' }), el('table', { class: 'findings' },
          el('thead', {}, el('tr', {}, el('th', { text: 'Where' }), el('th', { text: 'What' }), el('th', { text: 'Expected and seen' }))),
          el('tbody', {}, ...rows)));
      } else {
        parts.push(el('p', { class: 'muted', text: 'No findings.' }));
      }
      if (v.omitted > 0) parts.push(el('p', { class: 'muted', text: `${v.omitted} more findings not listed (see the journal).` }));
      if (v.notes && v.notes.length) {
        parts.push(el('h3', { text: 'Notes' }), el('ul', {}, ...v.notes.slice(0, 100).map((n) => el('li', { text: n }))));
      }
    }
    panel.replaceChildren(...parts);
  }

  // ---- tables --------------------------------------------------------------
  function table(head, rows, numericFrom = 1) {
    return el('table', {},
      el('thead', {}, el('tr', {}, ...head.map((h, i) => el('th', { class: i >= numericFrom ? 'num' : null, text: h })))),
      el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c, i) => {
        const td = el('td', { class: i >= numericFrom ? 'num' : null });
        td.append(c);
        return td;
      })))));
  }
  function renderThresholds(p) {
    const ths = p.thresholds || [];
    if (ths.length === 0) { $('#thresholds').replaceChildren(el('p', { class: 'muted', text: 'No thresholds.' })); return; }
    const rows = ths.map((t) => {
      const state = !t.evaluated ? 'pending' : t.ok ? 'pass' : 'fail';
      return [t.metric, t.source, t.evaluated ? fmtNum(t.value, 4) : '–',
        el('span', { class: `badge ${state}`, 'data-threshold': `${t.metric} ${t.source}`, text: state })];
    });
    $('#thresholds').replaceChildren(table(['Metric', 'Threshold', 'Value', 'State'], rows, 2));
  }
  function renderEndpoints(p) {
    const eps = p.snapshot.endpoints || [];
    if (eps.length === 0) { $('#endpoints').replaceChildren(el('p', { class: 'muted', text: 'No HTTP requests yet.' })); return; }
    const rows = eps.map((e) => [e.name, fmtCount(e.requests), fmtPct(e.failed), fmtMs(e.avg), fmtMs(e.p50),
      fmtMs(e.p90), fmtMs(e.p95_total), fmtMs(e.p99), fmtMs(e.max)]);
    $('#endpoints').replaceChildren(table(['Endpoint (name tag)', 'Requests', 'Failed', 'Avg', 'p50', 'p90', 'p95', 'p99', 'Max'], rows),
      el('p', { class: 'muted', text: 'Percentiles per endpoint come from mergeable sketches (within 0.5 %).' }));
  }
  function metricValues(name, m, trendStats) {
    const parts = [];
    const add = (label, key, fmt, exportKey = key) => {
      if (!isNum(m.values[key])) return;
      if (parts.length) parts.push('  ');
      parts.push(label + '=', figure(fmt(m.values[key]), name, exportKey, m.values[key]));
    };
    const fmtV = m.contains === 'time' ? fmtMs : m.contains === 'data' ? fmtBytes : (v) => fmtNum(v, 4).replace(/\.?0+$/, '');
    switch (m.type) {
      case 'counter':
        add('count', 'count', m.contains === 'data' ? fmtBytes : fmtCount); add('rate', 'rate', fmtRate); break;
      case 'rate':
        add('rate', 'rate', fmtPct, 'value'); add('passes', 'passes', fmtCount); add('fails', 'fails', fmtCount); break;
      case 'gauge':
        add('value', 'value', fmtV); add('min', 'min', fmtV); add('max', 'max', fmtV); break;
      default:
        for (const k of trendStats) add(k, k, k === 'count' ? fmtCount : fmtV);
    }
    return el('span', {}, ...parts);
  }
  function renderSummary(p) {
    const f = p.final;
    if (!f) return;
    $('#summary-panel').hidden = false;
    const names = Object.keys(f.metrics).sort();
    const rows = names.map((n) => [n, f.metrics[n].type, metricValues(n, f.metrics[n], f.trend_stats || [])]);
    $('#summary').replaceChildren(
      el('p', {}, `Test run duration ${fmtDuration(f.duration_ms)}.`),
      table(['Metric', 'Type', 'Values'], rows, 9));
    if (f.checks && f.checks.length) {
      $('#checks-panel').hidden = false;
      const crows = f.checks.map((c) => [c.path || c.name, fmtCount(c.passes), fmtCount(c.fails),
        fmtPct(c.passes + c.fails > 0 ? c.passes / (c.passes + c.fails) : NaN)]);
      $('#checks').replaceChildren(table(['Check', 'Passes', 'Fails', 'Passed'], crows));
    }
  }

  // ---- page ----------------------------------------------------------------
  let finished = false;
  function setStatus(cls, text) {
    const s = $('#status');
    s.className = 'status ' + cls;
    s.textContent = text;
  }
  function render(p) {
    $('#script').textContent = p.run.script || '';
    document.title = `tally · ${p.run.script || 'run'}`;
    renderTiles(p);
    renderCharts(p);
    renderLedger(p);
    renderVerdicts(p);
    renderThresholds(p);
    renderEndpoints(p);
    renderSummary(p);
    const when = new Date(p.generated).toLocaleString();
    if (p.final) {
      finished = true;
      setStatus(p.final.status, p.final.status + (p.final.message ? ': ' + p.final.message : ''));
      document.body.dataset.state = 'final';
    } else {
      setStatus('running', 'running · ' + fmtClock(p.snapshot.totals.elapsed));
      document.body.dataset.state = 'live';
    }
    const started = p.snapshot.origin ? new Date(p.snapshot.origin).toLocaleString() : '–';
    $('#footer').textContent = `tally ${p.run.version || ''} · first sample ${started} · data of ${when}` +
      ` · ${p.snapshot.time.length} intervals of ${p.snapshot.width}s · charts by uPlot (MIT)`;
  }

  const embedded = JSON.parse($('#tally-data').textContent);
  if (embedded) {
    render(embedded);
    return;
  }
  const es = new EventSource('events');
  es.addEventListener('update', (e) => render(JSON.parse(e.data)));
  es.addEventListener('final', (e) => { es.close(); render(JSON.parse(e.data)); });
  es.onerror = () => {
    if (finished) return;
    if (es.readyState === EventSource.CLOSED) { setStatus('disconnected', 'disconnected'); return; }
    setStatus('disconnected', 'reconnecting…');
  };
})();
