package report

// timelineHTML is timeline.html: the data as JSON, and a script that draws
// one page of it as SVG (no other file, nothing fetched).
const timelineHTML = `
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>faultline: timeline of {{.Scenario}} {{.RunID}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; padding: 0 1em; }
h1 { font-size: 1.35em; margin-bottom: .2em; }
.muted { color: #666; }
#controls { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ddd; display: flex; flex-wrap: wrap; gap: .5em; align-items: center; z-index: 1; }
#controls select, #controls input, #controls button { font: inherit; }
#controls input { width: 6em; }
#where { font-weight: bold; }
#faults button { font: inherit; margin: .15em; }
#chart { overflow-x: auto; }
svg { display: block; }
.legend span { display: inline-block; width: .9em; height: .9em; vertical-align: -.1em; margin: 0 .2em 0 .8em; }
</style></head><body>
<h1>Timeline: {{.Scenario}}</h1>
<div class="muted">run {{.RunID}}{{if .Result.Verdict}}, verdict {{.Result.Verdict}}{{end}}; <a href="report.html">the report</a>; written {{.Generated}}</div>
<p>Every client operation as a bar from its invocation to its completion, one lane per logical client and the node it is pinned to (a client that goes on as a new process after an unknown outcome stays in its lane). {{plural .Ops "operation"}} in {{plural .Pages "page"}} of at most {{.PageOps}}, in order of invocation; a page draws every operation that overlaps its span of time, so a long one shows on each page it crosses. Times count from the workload's start, as everywhere in the run. Hover over a bar for the operation, its outcome and its record in history.jsonl.
<span class="legend"><span style="background:#2e8b57"></span>ok<span style="background:#e69f00"></span>fail<span style="background:#d62728"></span>info (unknown)<span style="background:#f49a9a88"></span>a fault in force</span></p>
<div id="controls">
<button id="prev" title="previous page (←)">◀</button>
<select id="page" aria-label="page"></select>
<button id="next" title="next page (→)">▶</button>
<label>go to <input id="at" type="number" step="0.1" min="0"> s</label>
<span id="where"></span>
</div>
<div id="faults"></div>
<div id="chart"></div>
<noscript><p>This page draws the timeline with a script; the operations are in history.jsonl.</p></noscript>
<script id="data" type="application/json">{{.Data}}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const n = D.ops.length, unit = D.unit;
const start = new Float64Array(n), dur = new Float64Array(n), rec = new Float64Array(n);
{ let t = 0, idx = 0;
  for (let i = 0; i < n; i++) { const o = D.ops[i]; t += o[1]; idx += o[7]; start[i] = t * unit; dur[i] = o[2] * unit; rec[i] = idx; } }
const colours = ["#2e8b57", "#e69f00", "#d62728"], outcome = ["ok", "fail", "info (unknown)"];
const nodeColours = ["#1f77b4", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2", "#393b79"];
const pages = D.pages.length ? D.pages : [0];
const pageSel = document.getElementById("page"), where = document.getElementById("where");
function span(p) {
  const t0 = n ? (p === 0 ? Math.min(start[0], D.span[0]) : start[pages[p]]) : D.span[0];
  const t1 = p + 1 < pages.length ? start[pages[p + 1]] : Math.max(D.span[1], t0 + 0.001);
  return [t0, t1];
}
for (let p = 0; p < pages.length; p++) {
  const [t0, t1] = span(p), o = document.createElement("option");
  o.value = p; o.textContent = "page " + (p + 1) + " of " + pages.length + ": " + t0.toFixed(2) + " s to " + t1.toFixed(2) + " s";
  pageSel.appendChild(o);
}
const fdiv = document.getElementById("faults");
D.faults.forEach(f => {
  const b = document.createElement("button");
  b.textContent = f[0].toFixed(1) + " s: " + f[2];
  b.onclick = () => goTo(f[0]);
  fdiv.appendChild(b);
});
if (D.faults.length) fdiv.insertAdjacentText("afterbegin", "faults: ");
const NS = "http://www.w3.org/2000/svg";
function el(name, attrs, parent, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function niceStep(range) {
  const raw = range / 10, p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
function fmt(s) { return s >= 1 ? s.toFixed(3) + " s" : (s * 1000).toFixed(1) + " ms"; }
let current = 0;
function draw(p) {
  current = p; pageSel.value = p;
  const chart = document.getElementById("chart");
  // Never narrower than 900 px: on a small screen the chart scrolls
  // sideways rather than shrinking its text.
  const [t0, t1] = span(p), W = Math.max(chart.clientWidth, 900), left = 130, right = 10, laneH = 18;
  const hasLeader = D.leader.length > 0;
  const top = 24 + (hasLeader ? laneH + 4 : 0);
  const H = top + D.lanes.length * laneH + 24;
  const X = t => left + (t - t0) / (t1 - t0) * (W - left - right);
  const svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "operations from " + t0.toFixed(2) + " s to " + t1.toFixed(2) + " s"});
  svg.style.font = "11px system-ui, sans-serif";
  for (const f of D.faults) {
    if (f[1] <= t0 || f[0] >= t1) continue;
    const x0 = X(Math.max(f[0], t0)), x1 = X(Math.min(f[1], t1));
    el("rect", {x: x0, y: 18, width: Math.max(1, x1 - x0), height: H - 40, fill: "#f49a9a", "fill-opacity": 0.35}, svg);
    el("text", {x: x0 + 2, y: 14, fill: "#b22"}, svg, f[2]);
  }
  if (hasLeader) {
    el("text", {x: left - 6, y: 24 + laneH - 4, "text-anchor": "end"}, svg, "leader");
    for (const l of D.leader) {
      if (l[1] <= t0 || l[0] >= t1) continue;
      const x0 = X(Math.max(l[0], t0)), x1 = X(Math.min(l[1], t1));
      const g = el("g", {}, svg);
      const c = l[2] ? nodeColours[[...l[2]].reduce((a, ch) => a + ch.charCodeAt(0), 0) % nodeColours.length] : "#ccc";
      el("rect", {x: x0, y: 24, width: Math.max(1, x1 - x0), height: laneH - 2, fill: c}, g);
      el("title", {}, g, (l[2] ? l[2] + " led" : "no leader named") + " from " + l[0].toFixed(2) + " s to " + l[1].toFixed(2) + " s");
      if (x1 - x0 > 30) el("text", {x: x0 + 3, y: 24 + laneH - 5, fill: "#fff"}, g, l[2] || "none");
    }
  }
  D.lanes.forEach((name, i) => {
    const y = top + i * laneH;
    if (i % 2 === 0) el("rect", {x: left, y: y, width: W - left - right, height: laneH, fill: "#f6f6f6"}, svg);
    el("text", {x: left - 6, y: y + laneH - 4, "text-anchor": "end"}, svg, name);
  });
  const step = niceStep(t1 - t0), axisY = top + D.lanes.length * laneH;
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
    el("line", {x1: X(t), x2: X(t), y1: 18, y2: axisY, stroke: "#ddd"}, svg);
    el("text", {x: X(t), y: axisY + 14, "text-anchor": "middle"}, svg, +t.toFixed(6) + " s");
  }
  const first = pages[p], last = p + 1 < pages.length ? pages[p + 1] : n;
  let from = first;
  while (from > 0 && start[from - 1] >= t0 - D.max_dur * unit) from--;
  let drawn = 0;
  for (let i = from; i < last; i++) {
    const s = start[i], e = s + dur[i];
    if (e < t0 || s >= t1) continue;
    const o = D.ops[i], x0 = X(Math.max(s, t0)), x1 = X(Math.min(e, t1)), y = top + o[0] * laneH + 2;
    const g = el("g", {}, svg);
    el("rect", {x: x0, y: y, width: Math.max(1.5, x1 - x0), height: laneH - 4, fill: colours[o[3]], rx: 2}, g);
    const what = D.fs[o[4]] + " " + D.keys[o[5]] + (o[6] ? " " + o[6] : "");
    el("title", {}, g, what + ": " + outcome[o[3]] + (o[8] ? " (" + o[8] + ")" : "") + "\n" + D.lanes[o[0]] + ", history record " + rec[i] +
      "\n" + s.toFixed(4) + " s to " + e.toFixed(4) + " s (" + fmt(dur[i]) + ")");
    if (x1 - x0 > what.length * 6 + 4) el("text", {x: x0 + 3, y: y + laneH - 7, fill: "#fff"}, g, what);
    drawn++;
  }
  chart.replaceChildren(svg);
  where.textContent = "operations " + (n ? first + 1 : 0) + " to " + last + " of " + n + " (" + drawn + " drawn, with those that overlap from the page before)";
  history.replaceState(null, "", "#p=" + (p + 1));
}
function goTo(t) {
  let lo = 0, hi = pages.length - 1;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (span(mid)[0] <= t) lo = mid; else hi = mid - 1; }
  draw(lo);
}
pageSel.onchange = () => draw(+pageSel.value);
let resized;
window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(() => draw(current), 200); });
document.getElementById("prev").onclick = () => draw(Math.max(0, current - 1));
document.getElementById("next").onclick = () => draw(Math.min(pages.length - 1, current + 1));
document.getElementById("at").onchange = e => goTo(+e.target.value);
document.addEventListener("keydown", e => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  if (e.key === "ArrowLeft") draw(Math.max(0, current - 1));
  if (e.key === "ArrowRight") draw(Math.min(pages.length - 1, current + 1));
});
const h = location.hash.match(/^#(p|t)=([0-9.]+)$/);
if (h && h[1] === "p") draw(Math.min(pages.length, Math.max(1, +h[2])) - 1);
else if (h) goTo(+h[2]);
else draw(0);
</script>
</body></html>
`
