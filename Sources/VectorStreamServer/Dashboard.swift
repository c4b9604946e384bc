/// The operator's console: one page, no build step (HTML, CSS and JavaScript here), reading only API routes in
/// the OpenAPI document: `/v1/overview` every 2 s, `/v1/metrics/history` (charts that survive a reload),
/// `/v1/dead-letters` (paged), `/v1/analytics/*`, `/v1/search` and `/v1/products/{id}/similar`.
///
/// With an API key configured, the page asks for it (kept in sessionStorage for the tab, sent as `X-API-Key`);
/// `#key=KEY` in the address sets it and is removed from the address at once. For tests the page exposes its
/// state on `<html>`: `data-ticks` (completed refreshes), `data-scroll-width` and `data-viewport-width`,
/// `data-errors` (script errors caught), `data-auth` (`none`, `ok`, `required`).
enum Dashboard {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VectorStream console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root{--bg:#0d1117;--card:#161b22;--line:#262d36;--text:#e6edf3;--muted:#8b949e;--in:#58a6ff;--ok:#3fb950;--bad:#f85149;--warn:#d29922;--p99:#bc8cff}
*{box-sizing:border-box}
html,body{margin:0;background:var(--bg);color:var(--text);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
header{display:flex;flex-wrap:wrap;gap:6px 16px;align-items:center;padding:12px 20px;background:var(--card);border-bottom:1px solid var(--line)}
header h1{font-size:17px;margin:0;font-weight:650;letter-spacing:.2px} header h1 b{color:var(--in)}
.muted{color:var(--muted)} .small{font-size:12px}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:#30363d;white-space:nowrap}
.pill.ok{background:#1f3d2a;color:#7ee2a0}.pill.degraded,.pill.half_open{background:#3d3218;color:#f2cc60}.pill.down,.pill.open{background:#4a1d1f;color:#ff9b95}.pill.closed{background:#1f3d2a;color:#7ee2a0}
#keybar{display:none;padding:14px 20px;background:#2a1f10;border-bottom:1px solid #5a4316}
#keybar.show{display:block} #keybar form{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,380px),1fr));gap:14px;padding:14px 20px 28px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;min-width:0}
.card.wide{grid-column:1/-1}
.card h2{font-size:13px;font-weight:600;margin:0 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.6px;display:flex;justify-content:space-between;gap:8px;flex-wrap:wrap}
.kpis{display:flex;flex-wrap:wrap;gap:6px 22px;margin-bottom:6px}
.kpi .v{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}.kpi .l{font-size:12px;color:var(--muted)}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px;vertical-align:baseline}
table{width:100%;border-collapse:collapse;table-layout:fixed}
th{font-weight:500;color:var(--muted);text-align:left;font-size:12px;padding:3px 4px;border-bottom:1px solid var(--line)}
td{padding:4px;border-bottom:1px solid var(--line);overflow-wrap:anywhere;vertical-align:top} td.name{overflow-wrap:break-word}
.n{text-align:right;font-variant-numeric:tabular-nums}
.chart{position:relative;width:100%} .chart svg{display:block;width:100%;height:auto;overflow:visible}
.axis{font-size:10.5px;fill:var(--muted)} .grid{stroke:var(--line);stroke-width:1}
.tip{position:absolute;pointer-events:none;background:#0b0f14ee;border:1px solid var(--line);border-radius:6px;padding:6px 8px;font-size:12px;white-space:nowrap;display:none;z-index:5}
.empty{color:var(--muted);font-style:italic;padding:8px 0}
.err{color:#ff9b95}
input,select{background:var(--bg);color:var(--text);border:1px solid #30363d;border-radius:6px;padding:7px 9px;font:inherit;min-width:0}
button{background:#238636;color:#fff;border:0;border-radius:6px;padding:7px 12px;font:inherit;cursor:pointer}
button.ghost{background:#30363d} button:disabled{opacity:.45;cursor:default}
#f{display:flex;gap:8px} #f input{flex:1}
.excerpt{font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace;color:#c9d1d9;white-space:pre-wrap;overflow-wrap:anywhere;max-height:4.2em;overflow:hidden;margin-top:2px}
.reasons{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:8px}
.reasons button{background:#30363d;padding:3px 9px;font-size:12px}.reasons button.on{background:#1f6feb}
.bar{height:8px;border-radius:4px;background:var(--in)}
tr.hit{cursor:pointer} tr.hit:hover td{background:#1c2330}
.pager{display:flex;gap:8px;justify-content:flex-end;margin-top:8px;align-items:center}
@media (max-width:520px){header,main{padding-left:10px;padding-right:10px}.kpi .v{font-size:20px}}
</style></head><body>
<header>
 <h1><b>Vector</b>Stream console</h1>
 <span class="muted small" id="model">loading…</span>
 <span id="health" class="pill">…</span>
 <span class="muted small" id="updated"></span>
 <span class="muted small" id="auth"></span>
</header>
<div id="keybar"><strong id="keymsg">key required</strong> <span class="muted">This server requires an API key for its /v1 routes. It is kept in this tab only (sessionStorage).</span>
 <form id="keyform"><input id="keyinput" type="password" autocomplete="off" placeholder="API key"><button>Use key</button></form></div>
<main>
 <section class="card wide" data-panel="throughput"><h2><span>Throughput</span><span class="small">last 15 min · events/s</span></h2>
  <div class="kpis"><div class="kpi"><div class="v" id="k-in">–</div><div class="l"><span class="dot" style="background:var(--in)"></span>in</div></div>
   <div class="kpi"><div class="v" id="k-stored">–</div><div class="l"><span class="dot" style="background:var(--ok)"></span>stored</div></div>
   <div class="kpi"><div class="v" id="k-rejected">–</div><div class="l"><span class="dot" style="background:var(--bad)"></span>rejected</div></div>
   <div class="kpi"><div class="v" id="k-window">–</div><div class="l">rate window</div></div></div>
  <div class="muted small" id="k-note"></div>
  <div class="chart" id="c-throughput"></div></section>
 <section class="card" data-panel="latency"><h2><span>End-to-end latency</span><span class="small">ms · last minute</span></h2>
  <div class="kpis"><div class="kpi"><div class="v" id="k-p50">–</div><div class="l"><span class="dot" style="background:var(--in)"></span>p50</div></div>
   <div class="kpi"><div class="v" id="k-p99">–</div><div class="l"><span class="dot" style="background:var(--p99)"></span>p99</div></div></div>
  <div class="chart" id="c-latency"></div></section>
 <section class="card" data-panel="stages"><h2><span>Stage time per batch</span><span class="small">ms · last minute</span></h2>
  <div id="stages"></div></section>
 <section class="card" data-panel="lag"><h2><span>Consumer lag</span><span class="small">messages</span></h2>
  <div class="kpis"><div class="kpi"><div class="v" id="k-lag">–</div><div class="l">total</div></div></div>
  <div class="chart" id="c-lag"></div><table id="lag"></table></section>
 <section class="card" data-panel="workers"><h2><span>Workers</span><span class="small" id="workers-n"></span></h2>
  <table id="workers"></table></section>
 <section class="card" data-panel="dependencies"><h2><span>Dependencies</span><span class="small">health checks and breakers</span></h2>
  <table id="deps"></table></section>
 <section class="card" data-panel="stores"><h2><span>Stores and embedder</span></h2><table id="stores"></table></section>
 <section class="card wide" data-panel="deadletters"><h2><span>Dead letters</span><span class="small" id="dl-total"></span></h2>
  <div class="reasons" id="reasons"></div><table id="dl"></table>
  <div class="pager"><span class="muted small" id="dl-page"></span><button class="ghost" id="dl-newest">Newest</button><button class="ghost" id="dl-older">Older</button></div></section>
 <section class="card" data-panel="funnel"><h2><span>Shopping funnel</span><span class="small">distinct sessions · 60 min</span></h2><table id="funnel"></table></section>
 <section class="card" data-panel="categories"><h2><span>Categories</span><span class="small">events · 60 min</span></h2><table id="cats"></table></section>
 <section class="card" data-panel="top"><h2><span>Top purchased</span><span class="small">purchase events · 60 min</span></h2><table id="top"></table></section>
 <section class="card" data-panel="search"><h2><span>Semantic search</span></h2>
  <form id="f"><input id="q" placeholder="e.g. waterproof hiking tent" aria-label="search text"><button>Search</button></form>
  <div id="search-msg" class="muted small" style="margin:6px 0">Type what you look for; click a result for similar products.</div>
  <table id="hits"></table><div id="similar"></div></section>
</main>
<div class="tip" id="tip"></div>
<script>
'use strict';
const root = document.documentElement;
const errors = [];
window.addEventListener('error', e => { errors.push(String(e.message)); root.dataset.errors = errors.join(' | '); });
window.addEventListener('unhandledrejection', e => { errors.push(String(e.reason)); root.dataset.errors = errors.join(' | '); });
const $ = id => document.getElementById(id);
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const fin = v => typeof v === 'number' && isFinite(v);
// Names such as analytics_store break after their underscores in a narrow column, not inside a word.
const breakable = s => esc(s).replace(/[_-]/g, '$&<wbr>');
const intFmt = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});
const money = new Intl.NumberFormat('en-US', {style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2});
const int = v => fin(v) ? intFmt.format(v) : '–';
const dec = (v, d = 1) => fin(v) ? v.toLocaleString('en-US', {minimumFractionDigits: d, maximumFractionDigits: d}) : '–';
const rate = v => !fin(v) ? '–' : v >= 100 ? int(v) : dec(v, v >= 10 ? 1 : 2);
const ms = v => !fin(v) ? '–' : v >= 100 ? int(v) : dec(v, v >= 10 ? 1 : 2);
const usd = v => fin(v) ? money.format(v) : '–';
const pct = (a, b) => fin(a) && fin(b) && b > 0 ? dec(100 * a / b, 1) + '%' : '–';
const bytes = v => { if (!fin(v)) return '–'; const u = ['B','KB','MB','GB','TB']; let i = 0; while (v >= 1024 && i < 4) { v /= 1024; i++; } return dec(v, i ? 1 : 0) + ' ' + u[i]; };
const ago = iso => { if (!iso) return '–'; const s = (Date.now() - Date.parse(iso)) / 1000; if (!fin(s)) return '–';
  return s < 2 ? 'just now' : s < 90 ? Math.round(s) + ' s ago' : s < 5400 ? Math.round(s / 60) + ' min ago' : s < 172800 ? Math.round(s / 3600) + ' h ago' : Math.round(s / 86400) + ' d ago'; };
const clock = t => new Date(t).toLocaleTimeString('en-GB', {hour: '2-digit', minute: '2-digit'});
const clockS = t => new Date(t).toLocaleTimeString('en-GB');
const empty = (id, text, cls = 'empty') => { $(id).innerHTML = `<tr><td class="${cls}">${esc(text)}</td></tr>`; };
const table = (id, head, rows) => { $(id).innerHTML = (head ? '<tr>' + head.map(([h, c]) => `<th class="${c || ''}">${esc(h)}</th>`).join('') + '</tr>' : '') +
  rows.map(r => '<tr>' + r.map(c => Array.isArray(c) ? `<td class="${c[1]}">${c[0]}</td>` : `<td>${c}</td>`).join('') + '</tr>').join(''); };

// ---- the key: sessionStorage, set from #key=... or the form; sent as X-API-Key ----
// The key lives in sessionStorage (this tab); where storage is refused (a sandboxed frame), in memory.
let memoryKey = null;
const keyStore = {
  get() { try { return sessionStorage.getItem('vectorstream.key'); } catch (e) { return memoryKey; } },
  set(k) { memoryKey = k; try { sessionStorage.setItem('vectorstream.key', k); } catch (e) { /* kept in memory */ } },
};
// #q=TEXT runs a search on load (a link to a search), #open=1 also opens the first hit's similar products.
const fragment = new URLSearchParams(location.hash.slice(1));
(function takeKeyFromAddress() {
  const query = new URLSearchParams(location.search);
  const k = fragment.get('key') || query.get('key');
  if (k) { keyStore.set(k); }
  if (fragment.has('key') || query.has('key')) {
    fragment.delete('key');
    try { history.replaceState(null, '', location.pathname + (fragment.toString() ? '#' + fragment : '')); } catch (e) { location.hash = fragment.toString(); }
  }
})();
let authState = 'none';
class KeyRequired extends Error {}
function setAuth(state) {
  authState = state; root.dataset.auth = state;
  $('keybar').classList.toggle('show', state === 'required');
  $('auth').textContent = state === 'ok' ? 'key: set for this tab' : state === 'required' ? '' : '';
  if (state === 'required') {
    $('keymsg').textContent = keyStore.get() ? 'key required: the key given was refused' : 'key required';
    for (const p of document.querySelectorAll('[data-panel]')) p.dataset.state = 'key';
  }
}
async function api(path, options = {}) {
  const key = keyStore.get();
  const headers = Object.assign({}, options.headers || {}, key ? {'X-API-Key': key} : {});
  const r = await fetch(path, Object.assign({}, options, {headers}));
  if (r.status === 401) { setAuth('required'); throw new KeyRequired('key required'); }
  let body = null; try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && (body.detail || body.error)) || ('HTTP ' + r.status));
  if (path.startsWith('/v1') && authState !== 'ok') setAuth(key ? 'ok' : 'none');
  return body;
}
$('keyform').onsubmit = e => { e.preventDefault(); const k = $('keyinput').value.trim(); if (!k) return;
  keyStore.set(k); $('keyinput').value = ''; setAuth('none'); refreshAll(); };
function panelState(name, state) { const p = document.querySelector(`[data-panel="${name}"]`); if (p) p.dataset.state = state; }
function failed(name, id, e) {
  panelState(name, e instanceof KeyRequired ? 'key' : 'error');
  if (id) empty(id, e instanceof KeyRequired ? 'key required' : 'could not load: ' + e.message, e instanceof KeyRequired ? 'empty' : 'err');
}

// ---- charts: inline SVG with axes, units and a tooltip ----
const tip = $('tip');
function niceMax(v) { if (!(v > 0)) return 1; const p = Math.pow(10, Math.floor(Math.log10(v))); for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p; return 10 * p; }
function lineChart(id, series, opts) {
  const el = $(id), W = Math.max(260, el.clientWidth || 300), H = opts.height || 170, L = 46, R = 8, T = 18, B = 22;
  const all = series.flatMap(s => s.points.filter(p => fin(p[1])).map(p => p[1]));
  const ts = series.flatMap(s => s.points.map(p => p[0]));
  if (!ts.length) { el.innerHTML = '<div class="empty">no points yet</div>'; return false; }
  const t0 = Math.min(...ts), t1 = Math.max(...ts), ymax = Math.max(opts.integer ? 4 : 0, niceMax(Math.max(0, ...all) * 1.1));
  const x = t => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (W - L - R), y = v => T + (1 - v / ymax) * (H - T - B);
  let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(opts.label)}">`;
  for (let i = 0; i <= 4; i++) { const v = ymax * i / 4, yy = y(v);
    svg += `<line class="grid" x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}"/><text class="axis" x="${L - 6}" y="${yy + 3.5}" text-anchor="end">${esc(opts.fmt(v))}</text>`; }
  svg += `<text class="axis" x="2" y="10">${esc(opts.unit)}</text>`;
  const nx = Math.max(2, Math.min(6, Math.floor((W - L) / 70)));
  for (let i = 0; i <= nx; i++) { const t = t0 + (t1 - t0) * i / nx;
    svg += `<text class="axis" x="${x(t)}" y="${H - 6}" text-anchor="${i === 0 ? 'start' : i === nx ? 'end' : 'middle'}">${clock(t)}</text>`; }
  for (const s of series) {
    let d = '', pen = false;
    let dots = '';
    s.points.forEach(([t, v], i) => { if (!fin(v)) { pen = false; return; }
      d += (pen ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y(v).toFixed(1); pen = true;
      // A point with no neighbour draws no line: a dot (one sample in the window).
      if (!fin((s.points[i - 1] || [])[1]) && !fin((s.points[i + 1] || [])[1])) dots += `<circle cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.6" fill="${s.color}"/>`; });
    svg += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8" stroke-linejoin="round"/>` + dots;
  }
  svg += `<line id="${id}-cursor" x1="0" x2="0" y1="${T}" y2="${H - B}" stroke="#8b949e" stroke-dasharray="3 3" visibility="hidden"/></svg>`;
  el.innerHTML = svg;
  const svgEl = el.querySelector('svg'), cursor = el.querySelector('line[id$="-cursor"]');
  svgEl.onmousemove = ev => {
    const box = svgEl.getBoundingClientRect(), px = (ev.clientX - box.left) * W / box.width;
    const base = series[0].points; if (!base.length) return;
    let best = 0; base.forEach((p, i) => { if (Math.abs(x(p[0]) - px) < Math.abs(x(base[best][0]) - px)) best = i; });
    const t = base[best][0]; cursor.setAttribute('x1', x(t)); cursor.setAttribute('x2', x(t)); cursor.setAttribute('visibility', 'visible');
    tip.innerHTML = `<div class="muted">${clockS(t)}</div>` + series.map(s => { const p = s.points.find(q => q[0] === t);
      return `<div><span class="dot" style="background:${s.color}"></span>${esc(s.name)}: <b>${p && fin(p[1]) ? esc(opts.fmt(p[1])) : 'no data'}</b> ${esc(opts.unit)}</div>`; }).join('');
    tip.style.display = 'block';
    const tx = Math.min(ev.pageX + 12, window.innerWidth + window.scrollX - tip.offsetWidth - 8);
    tip.style.left = Math.max(4, tx) + 'px'; tip.style.top = (ev.pageY + 12) + 'px';
  };
  svgEl.onmouseleave = () => { tip.style.display = 'none'; cursor.setAttribute('visibility', 'hidden'); };
  return all.length > 0;
}
function bars(id, rows, opts) {
  const max = Math.max(1e-9, ...rows.flatMap(r => r.values.map(v => v[1])));
  $(id).innerHTML = '<table>' + `<tr><th style="width:30%">${esc(opts.head)}</th><th></th>` + opts.cols.map(c => `<th class="n" style="width:18%">${esc(c)}</th>`).join('') + '</tr>' +
    rows.map(r => `<tr><td>${esc(r.name)}</td><td>` + r.values.map(([c, v]) => `<div class="bar" title="${esc(opts.fmt(v))} ${esc(opts.unit)}" style="width:${(100 * v / max).toFixed(1)}%;background:${c};margin:2px 0"></div>`).join('') +
      '</td>' + r.values.map(([, v]) => `<td class="n">${esc(opts.fmt(v))}</td>`).join('') + '</tr>').join('') + '</table>';
}

// ---- panels ----
let overview = null;
async function loadOverview() {
  try {
    const o = overview = await api('/v1/overview');
    const p = o.pipeline || {};
    $('model').textContent = (o.model_version || '') + ' · ' + int(o.stores && o.stores.vectors) + ' vectors';
    $('k-in').textContent = rate(p.recent_events_per_second); $('k-stored').textContent = rate(p.recent_stored_per_second);
    $('k-rejected').textContent = rate(p.recent_rejected_per_second);
    $('k-window').textContent = fin(p.recent_window_seconds) && p.recent_window_seconds > 0 ? int(p.recent_window_seconds) + ' s' : '–';
    $('k-p50').textContent = ms(p.recent_latency_p50_ms); $('k-p99').textContent = ms(p.recent_latency_p99_ms);
    $('k-lag').textContent = int(p.lag);
    $('updated').textContent = 'updated ' + clockS(Date.parse(o.generated_at));
    // stages
    const order = ['parse', 'dead_letters', 'dedup', 'embed', 'upsert', 'store', 'acknowledge'];
    const st = p.recent_stage_ms || {};
    const stageRows = order.filter(s => st[s]).map(s => ({name: s.replace('_', ' '), values: [['var(--in)', st[s].p50_ms], ['var(--p99)', st[s].p99_ms]]}));
    if (stageRows.length) { bars('stages', stageRows, {head: 'stage', cols: ['p50', 'p99'], fmt: ms, unit: 'ms'}); panelState('stages', 'ok'); }
    else { $('stages').innerHTML = '<div class="empty">no batch in the last minute</div>'; panelState('stages', 'empty'); }
    // lag table: partition, owner, lag
    const owners = {}; for (const [w, s] of Object.entries(o.workers || {})) for (const part of s.partitions || []) owners[part] = w;
    const lag = Object.entries(p.lag_by_partition || {}).sort((a, b) => a[0].localeCompare(b[0], 'en', {numeric: true}));
    if (lag.length) table('lag', [['partition'], ['worker'], ['lag', 'n']], lag.map(([k, v]) => [esc(k), esc(owners[k] || '–'), [int(v), 'n']]));
    else empty('lag', 'no partitions: this source has no consumer lag (files, stdin or the generator)');
    // workers
    const ws = Object.entries(o.workers || {}).sort();
    $('workers-n').textContent = ws.length + (ws.length === 1 ? ' worker' : ' workers');
    // Every worker stale (a demo that has run its events, a stopped group): the figures are its last ones.
    const last = ws.map(([, s]) => s.last_heartbeat).filter(Boolean).sort().pop();
    $('k-note').textContent = ws.length && ws.every(([, s]) => s.stale) ? 'no worker is running: figures as last published, ' + ago(last) : '';
    if (ws.length) { table('workers', [['worker'], ['partitions'], ['events/s', 'n'], ['heartbeat', 'n']], ws.map(([name, s]) => [
      esc(name) + (s.stale ? ' <span class="pill down">stale</span>' : ''), esc((s.partitions || []).join(', ') || '–'),
      [rate(s.recent_events_per_second), 'n'], [`<span title="${esc(s.last_heartbeat || '')}">${esc(ago(s.last_heartbeat))}</span>`, 'n']])); panelState('workers', 'ok'); }
    else { empty('workers', 'no worker has published its state'); panelState('workers', 'empty'); }
    // dependencies: checks then breakers
    const rows = [];
    for (const [name, c] of Object.entries(o.checks || {}).sort())
      rows.push([[breakable(name) + ' <span class="muted small">check</span>', 'name'], `<span class="pill ${esc(c.status)}">${esc(c.status)}</span>`, [ms(c.latency_ms) + ' ms', 'n'],
        `<span title="${esc(c.since)}">since ${esc(ago(c.since))}</span>` + (c.reason ? `<div class="err small">${esc(c.reason)}</div>` : '')]);
    for (const [name, b] of Object.entries(o.breakers || {}).sort())
      rows.push([[breakable(name) + ' <span class="muted small">breaker</span>', 'name'], `<span class="pill ${esc(b.state)}">${esc(b.state.replace('_', ' '))}</span>`,
        [fin(b.last_latency_ms) ? ms(b.last_latency_ms) + ' ms' : '–', 'n'],
        `<span title="${esc(b.since)}">since ${esc(ago(b.since))}</span>` + (b.last_error ? `<div class="err small">last error: ${esc(b.last_error)}</div>` : '')]);
    table('deps', [['dependency'], ['state'], ['latency', 'n'], ['since / last error']], rows);
    const worst = Object.values(o.checks || {}).some(c => c.status === 'down') ? 'down' :
      Object.values(o.checks || {}).some(c => c.status === 'degraded') || Object.values(o.breakers || {}).some(b => b.state !== 'closed') ? 'degraded' : 'ok';
    $('health').className = 'pill ' + worst; $('health').textContent = 'health: ' + worst;
    panelState('dependencies', rows.length ? 'ok' : 'empty');
    // stores
    const s = o.stores || {}, e = o.embedder || {};
    table('stores', null, [
      ['events stored', [int(s.events), 'n']], ['product vectors', [int(s.vectors), 'n']], ['dead letters kept', [int(s.dead_letters), 'n']],
      ['embedded store (in use / on disk)', [bytes(s.embedded_bytes_in_use) + ' / ' + bytes(s.embedded_bytes_on_disk), 'n']],
      ['embedder model', [esc(e.model_version), 'n']], ['precision · kernel', [esc((e.precision || '–') + ' · ' + (e.matrix_kernel || '–')), 'n']],
      ['sentences/s (while embedding)', [fin(e.sentences_per_second) ? rate(e.sentences_per_second) : 'not measured yet', 'n']],
      ['sentences embedded', [int(e.sentences_embedded), 'n']]]);
    panelState('stores', 'ok');
    $('dl-total').textContent = int(s.dead_letters) + ' kept';
    return true;
  } catch (e) {
    if (!(e instanceof KeyRequired)) { $('health').className = 'pill down'; $('health').textContent = 'API error'; $('model').textContent = e.message; }
    for (const [n, id] of [['stages', null], ['lag', 'lag'], ['workers', 'workers'], ['dependencies', 'deps'], ['stores', 'stores']]) failed(n, id, e);
    if (e instanceof KeyRequired) $('stages').innerHTML = '<div class="empty">key required</div>';
    return false;
  }
}
async function fetchHistory(metric) {
  const h = await api(`/v1/metrics/history?metric=${metric}&minutes=15&step=10`);
  return h.points.map(p => [p.t, p.value]);
}
async function loadCharts() {
  try {
    const [i, s, r, p50, p99, lag] = await Promise.all(['events_in_per_second', 'events_stored_per_second', 'events_rejected_per_second',
      'latency_p50_ms', 'latency_p99_ms', 'consumer_lag'].map(fetchHistory));
    const any1 = lineChart('c-throughput', [{name: 'in', color: 'var(--in)', points: i}, {name: 'stored', color: 'var(--ok)', points: s},
      {name: 'rejected', color: 'var(--bad)', points: r}], {unit: 'events/s', fmt: rate, label: 'events per second over 15 minutes'});
    panelState('throughput', any1 ? 'ok' : 'empty');
    const any2 = lineChart('c-latency', [{name: 'p50', color: 'var(--in)', points: p50}, {name: 'p99', color: 'var(--p99)', points: p99}],
      {unit: 'ms', fmt: ms, label: 'end-to-end latency over 15 minutes', height: 150});
    panelState('latency', any2 ? 'ok' : 'empty');
    lineChart('c-lag', [{name: 'lag', color: 'var(--warn)', points: lag}], {unit: 'messages', fmt: int, integer: true, label: 'consumer lag over 15 minutes', height: 120});
    panelState('lag', 'ok');
  } catch (e) {
    for (const [n, id] of [['throughput', 'c-throughput'], ['latency', 'c-latency'], ['lag', 'c-lag']]) {
      panelState(n, e instanceof KeyRequired ? 'key' : 'error');
      $(id).innerHTML = `<div class="${e instanceof KeyRequired ? 'empty' : 'err'}">${e instanceof KeyRequired ? 'key required' : esc('could not load the history: ' + e.message)}</div>`;
    }
  }
}
// dead letters: counts by reason (click filters), newest samples, paged by cursor
const dl = {reason: null, cursors: [null], page: 0};
async function loadDeadLetters() {
  try {
    const before = dl.cursors[dl.page];
    const q = new URLSearchParams({limit: '8'}); if (dl.reason) q.set('reason', dl.reason); if (before) q.set('before', before);
    const d = await api('/v1/dead-letters?' + q);
    const counts = Object.entries(d.counts || {}).sort((a, b) => b[1] - a[1]);
    $('reasons').innerHTML = `<button data-r="" class="${dl.reason ? '' : 'on'}">all</button>` +
      counts.map(([k, v]) => `<button data-r="${esc(k)}" class="${dl.reason === k ? 'on' : ''}">${esc(k)} · ${int(v)}</button>`).join('');
    if (d.items.length) table('dl', [['when'], ['reason'], ['source position']], d.items.map(x => [
      `<span title="${esc(new Date(x.rejected_at).toISOString())}">${esc(clockS(x.rejected_at))}</span>`,
      `<span class="pill">${esc(x.code)}</span> ${esc(x.reason)}<div class="excerpt">${esc(x.excerpt)}</div>`,
      `${esc(x.position.topic)}[${int(x.position.partition)}] @ ${int(x.position.offset)}<div class="muted small">${int(x.bytes)} bytes</div>`]));
    else empty('dl', dl.reason ? 'no dead letter with this reason' : 'no dead letters: every record was valid');
    dl.next = d.next; $('dl-older').disabled = !d.next; $('dl-newest').disabled = dl.page === 0;
    $('dl-page').textContent = 'page ' + (dl.page + 1);
    panelState('deadletters', d.items.length ? 'ok' : 'empty');
  } catch (e) { failed('deadletters', 'dl', e); }
}
$('reasons').onclick = e => { const b = e.target.closest('button'); if (!b) return; dl.reason = b.dataset.r || null; dl.cursors = [null]; dl.page = 0; loadDeadLetters(); };
$('dl-older').onclick = () => { if (!dl.next) return; dl.cursors[dl.page + 1] = dl.next; dl.page++; loadDeadLetters(); };
$('dl-newest').onclick = () => { dl.cursors = [null]; dl.page = 0; loadDeadLetters(); };

async function loadShop() {
  const jobs = [
    api('/v1/analytics/funnel?minutes=60').then(f => {
      table('funnel', [['sessions that…'], ['sessions', 'n'], ['of previous', 'n']], [
        ['viewed a product', [int(f.views), 'n'], ['', 'n']], ['added to cart', [int(f.carts), 'n'], [pct(f.carts, f.views), 'n']],
        ['purchased', [int(f.purchases), 'n'], [pct(f.purchases, f.carts), 'n']]]);
      panelState('funnel', 'ok'); }).catch(e => failed('funnel', 'funnel', e)),
    api('/v1/analytics/categories?minutes=60').then(k => {
      if (k.results.length) table('cats', [['category'], ['events', 'n'], ['purchases', 'n'], ['revenue', 'n']],
        k.results.map(r => [esc(r.category), [int(r.events), 'n'], [int(r.purchases), 'n'], [usd(r.revenue), 'n']]));
      else empty('cats', 'no events in the last hour');
      panelState('categories', k.results.length ? 'ok' : 'empty'); }).catch(e => failed('categories', 'cats', e)),
    api('/v1/analytics/top-products?event_type=purchase&minutes=60&limit=8').then(t => {
      if (t.results.length) table('top', [['product'], ['bought', 'n'], ['revenue', 'n']],
        t.results.map(r => [esc(r.name) + `<div class="muted small">${esc(r.category)}</div>`, [int(r.count), 'n'], [usd(r.revenue), 'n']]));
      else empty('top', 'no purchase in the last hour');
      panelState('top', t.results.length ? 'ok' : 'empty'); }).catch(e => failed('top', 'top', e)),
  ];
  await Promise.all(jobs);
}
// search, and similar products on a click
function hitRows(list) {
  return list.map(x => [`<span>${esc(x.name)}</span><div class="muted small">${esc(x.category)}</div>`, [usd(x.price), 'n'], [dec(x.score, 3), 'n']]);
}
let lastHits = [];
$('f').onsubmit = async e => {
  e.preventDefault();
  const text = $('q').value.trim(); $('similar').innerHTML = '';
  if (!text) { $('search-msg').textContent = 'Type something to search for (the query is empty).'; $('hits').innerHTML = ''; return; }
  $('search-msg').textContent = 'searching…';
  try {
    const r = await api('/v1/search', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({text, k: 8})});
    lastHits = r.results || [];
    if (!lastHits.length) { $('search-msg').textContent = 'No product matches "' + text + '".'; $('hits').innerHTML = ''; return; }
    $('search-msg').textContent = lastHits.length + ' results for "' + text + '" · click one for similar products';
    table('hits', [['product'], ['price', 'n'], ['score', 'n']], hitRows(lastHits));
    $('hits').querySelectorAll('tr').forEach((tr, i) => { if (i > 0) { tr.className = 'hit'; tr.onclick = () => similar(lastHits[i - 1]); } });
    panelState('search', 'ok');
    if (fragment.get('open') === '1') { fragment.delete('open'); await similar(lastHits[0]); }
  } catch (err) { $('search-msg').innerHTML = `<span class="err">${esc(err instanceof KeyRequired ? 'key required' : 'search failed: ' + err.message)}</span>`; $('hits').innerHTML = ''; }
};
async function similar(hit) {
  $('similar').innerHTML = '<div class="muted small" style="margin-top:10px">loading similar products…</div>';
  try {
    const r = await api('/v1/products/' + encodeURIComponent(hit.product_id) + '/similar?k=5');
    $('similar').innerHTML = `<h2 style="margin-top:12px"><span>Similar to ${esc(hit.name)}</span></h2><table id="sim"></table>`;
    if (r.results.length) table('sim', [['product'], ['price', 'n'], ['score', 'n']], hitRows(r.results)); else empty('sim', 'no similar product');
  } catch (err) { $('similar').innerHTML = `<div class="err small">${esc(err instanceof KeyRequired ? 'key required' : 'similar products failed: ' + err.message)}</div>`; }
}

// ---- refresh loop; layout figures for tests ----
function measure() {
  const width = Math.max((document.scrollingElement || root).scrollWidth, document.body.scrollWidth), viewport = window.innerWidth;
  root.dataset.scrollWidth = width; root.dataset.viewportWidth = viewport;
  // In a frame (a test harness at phone width), the same figures for the parent page, with each panel's state
  // and the elements that reach past the right edge.
  if (window.parent === window) return;
  const panels = {}; for (const p of document.querySelectorAll('[data-panel]')) panels[p.dataset.panel] = p.dataset.state || '';
  const wide = [...document.querySelectorAll('header *, main *')].filter(e => e.getClientRects().length && e.getBoundingClientRect().right > viewport + 0.5)
    .slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ')[0] : ''));
  window.parent.postMessage({vectorstream: {scrollWidth: width, viewportWidth: viewport, ticks, auth: authState, errors: errors.length, panels, wide}}, '*');
}
let ticks = 0, slow = 0;
async function refreshAll() {
  await loadOverview();
  if (authState !== 'required') { await Promise.all([loadCharts(), loadDeadLetters(), loadShop()]); }
  ticks++; root.dataset.ticks = ticks; measure();
}
async function loop() {
  await loadOverview();
  if (authState !== 'required' && ++slow % 3 === 0) await Promise.all([loadCharts(), loadShop(), dl.page === 0 ? loadDeadLetters() : null]);
  ticks++; root.dataset.ticks = ticks; measure();
}
window.addEventListener('resize', () => { loadCharts().then(measure); });
measure();
refreshAll().then(() => {
  if (fragment.get('q') && authState !== 'required') { $('q').value = fragment.get('q'); $('f').requestSubmit(); }
  else panelState('search', authState === 'required' ? 'key' : 'ok');
  setInterval(loop, 2000);
});
</script></body></html>
"""#
}
