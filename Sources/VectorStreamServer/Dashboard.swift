/// The live dashboard: one page, no build step, polling `/status` and `/v1/analytics/*` every second.
enum Dashboard {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VectorStream</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#0f1419;color:#e6e6e6}
 header{padding:14px 24px;background:#1b2430;display:flex;gap:16px;align-items:baseline}
 h1{font-size:18px;margin:0} .muted{color:#8a96a3}
 main{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px;padding:16px 24px}
 .card{background:#1b2430;border-radius:8px;padding:14px 16px}
 .big{font-size:28px;font-weight:600} table{width:100%;border-collapse:collapse}
 td{padding:3px 4px;border-bottom:1px solid #263241} td.n{text-align:right;font-variant-numeric:tabular-nums}
 canvas{width:100%;height:90px} input{width:70%;padding:6px;background:#0f1419;color:#e6e6e6;border:1px solid #334}
 button{padding:6px 10px}
</style></head><body>
<header><h1>VectorStream</h1><span class="muted" id="model"></span><span class="muted" id="health"></span></header>
<main>
 <div class="card"><div class="muted">events/s</div><div class="big" id="eps">–</div><canvas id="spark" width="600" height="90"></canvas></div>
 <div class="card"><div class="muted">pipeline</div><table id="totals"></table></div>
 <div class="card"><div class="muted">funnel (60 min)</div><table id="funnel"></table></div>
 <div class="card"><div class="muted">top purchased (60 min)</div><table id="top"></table></div>
 <div class="card"><div class="muted">categories (60 min)</div><table id="cats"></table></div>
 <div class="card"><div class="muted">semantic search</div>
  <form id="f"><input id="q" placeholder="e.g. waterproof hiking tent"><button>Search</button></form><table id="hits"></table></div>
</main>
<script>
const key = new URLSearchParams(location.search).get('key');
const h = key ? {'Authorization': 'Bearer ' + key} : {};
const get = (u) => fetch(u, {headers: h}).then(r => r.json());
const rows = (id, list) => document.getElementById(id).innerHTML =
  list.map(r => '<tr>' + r.map((c, i) => `<td class="${i ? 'n' : ''}">${c}</td>`).join('') + '</tr>').join('');
const esc = (s) => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
let history = [], last = null;
async function tick() {
  try {
    const s = await get('/status');
    const w = s.local || Object.values(s.workers)[0] || {};
    document.getElementById('model').textContent = s.model_version + ' · ' + s.vectors + ' vectors';
    const now = Date.now();
    if (last) history.push(Math.max(0, (w.events_total - last.n) / ((now - last.t) / 1000)));
    last = {n: w.events_total || 0, t: now}; history = history.slice(-120);
    document.getElementById('eps').textContent = history.length ? Math.round(history[history.length - 1]).toLocaleString() : '–';
    const c = document.getElementById('spark').getContext('2d'), max = Math.max(1, ...history);
    c.clearRect(0, 0, 600, 90); c.strokeStyle = '#4fa3ff'; c.beginPath();
    history.forEach((v, i) => c.lineTo(i * 600 / 120, 88 - v / max * 84)); c.stroke();
    rows('totals', [['events', w.events_total], ['valid', w.events_valid], ['rejected', w.events_rejected],
      ['deduplicated', w.events_deduplicated], ['stored', w.events_stored], ['products embedded', w.products_embedded],
      ['latency p50 / p99 ms', (w.latency_p50_ms || 0).toFixed(1) + ' / ' + (w.latency_p99_ms || 0).toFixed(1)]]
      .map(([a, b]) => [a, (b ?? 0).toLocaleString()]));
    const hl = await fetch('/health').then(r => r.json()); document.getElementById('health').textContent = 'health: ' + hl.status;
    const f = await get('/v1/analytics/funnel?minutes=60');
    rows('funnel', [['views', f.views], ['carts', f.carts], ['purchases', f.purchases],
      ['view → cart', (100 * f.view_to_cart).toFixed(1) + '%'], ['cart → purchase', (100 * f.cart_to_purchase).toFixed(1) + '%']]);
    const t = await get('/v1/analytics/top-products?event_type=purchase&minutes=60&limit=8');
    rows('top', t.results.map(r => [esc(r.name), r.count]));
    const k = await get('/v1/analytics/categories?minutes=60');
    rows('cats', k.results.map(r => [esc(r.category), r.events.toLocaleString(), '$' + r.revenue.toLocaleString()]));
  } catch (e) { document.getElementById('health').textContent = 'unreachable'; }
}
document.getElementById('f').onsubmit = async (e) => {
  e.preventDefault();
  const r = await fetch('/v1/search', {method: 'POST', headers: {...h, 'Content-Type': 'application/json'},
    body: JSON.stringify({text: document.getElementById('q').value, k: 8})}).then(r => r.json());
  rows('hits', (r.results || []).map(x => [esc(x.name) + ' <span class="muted">' + esc(x.category) + '</span>', x.score.toFixed(3)]));
};
tick(); setInterval(tick, 1000);
</script></body></html>
"""#
}
