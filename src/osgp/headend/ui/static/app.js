// osgp head-end web UI: a hash-routed single page over the REST API (/api/v1).
// Plain JavaScript, no build step, no network beyond the head-end; maps and charts are inline SVG.
"use strict";

const API = "/api/v1";
const SVGNS = "http://www.w3.org/2000/svg";
const view = document.getElementById("view");
const tip = document.createElement("div");
tip.className = "tip";
document.body.appendChild(tip);

// ---------------------------------------------------------------------------------------------
// API key: from "#key=..." in the address (then kept in sessionStorage), else a form.
function takeKeyFromHash() {
  const m = location.hash.match(/^#key=([^&]+)/);
  if (m) {
    sessionStorage.setItem("osgp-key", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + "#/");
  }
}
function apiKey() { return sessionStorage.getItem("osgp-key"); }

class ApiError extends Error {
  constructor(status, detail) { super(`${status}: ${detail}`); this.status = status; this.detail = detail; }
}

async function api(path, options = {}) {
  const headers = { "X-API-Key": apiKey() || "" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (_e) { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res.json();
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers.
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}
function s(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}
function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
}
function append(e, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}
function pill(text) { return h("span", { class: `pill ${text}` }, text); }
function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").slice(0, 16);
}
function fmtNum(v, digits = 1) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
function esc(id) { return encodeURIComponent(id); }
function hover(el, text) {
  el.addEventListener("mousemove", (ev) => {
    tip.textContent = text; tip.style.display = "block";
    tip.style.left = `${ev.clientX + 12}px`; tip.style.top = `${ev.clientY + 12}px`;
  });
  el.addEventListener("mouseleave", () => { tip.style.display = "none"; });
}
function render(...nodes) {
  tip.style.display = "none";
  view.replaceChildren(...nodes.flat().filter(Boolean));
}
function qualityColor(margin) {
  if (margin === null || margin === undefined) return "var(--off)";
  if (margin >= 10) return "var(--good)";
  if (margin >= 3) return "var(--fair)";
  return "var(--poor)";
}
const PHASE_COLORS = ["#555", "var(--l1)", "var(--l2)", "var(--l3)"];

// ---------------------------------------------------------------------------------------------
// Charts (inline SVG).
function axes(g, x0, y0, w, hgt, yTicks, yFmt, xTicks, xFmt) {
  const ax = s("g", { class: "axis" });
  for (const t of yTicks) {
    const y = t.y;
    ax.appendChild(s("line", { x1: x0, x2: x0 + w, y1: y, y2: y, class: "gridline" }));
    ax.appendChild(s("text", { x: x0 - 6, y: y + 4, "text-anchor": "end" }, yFmt(t.v)));
  }
  for (const t of xTicks) {
    ax.appendChild(s("line", { x1: t.x, x2: t.x, y1: y0 + hgt, y2: y0 + hgt + 4 }));
    ax.appendChild(s("text", { x: t.x, y: y0 + hgt + 16, "text-anchor": "middle" }, xFmt(t.v)));
  }
  ax.appendChild(s("line", { x1: x0, x2: x0 + w, y1: y0 + hgt, y2: y0 + hgt }));
  g.appendChild(ax);
}
function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((k) => k >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

// Load profile: one bar per interval of the day (96 at 15 minutes).
function loadProfileChart(intervals, dayStart, unit) {
  const W = 900, H = 260, L = 56, R = 26, T = 12, B = 30;
  const w = W - L - R, hgt = H - T - B;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-testid": "load-profile-chart", role: "img" });
  const max = Math.max(1, ...intervals.map((x) => x.value));
  const ticks = niceTicks(0, max);
  const top = ticks[ticks.length - 1] || max;
  const yOf = (v) => T + hgt - (v / top) * hgt;
  const day = 86400000;
  const xOf = (ms) => L + ((ms - dayStart) / day) * w;
  axes(svg, L, T, w, hgt, ticks.map((v) => ({ v, y: yOf(v) })), (v) => fmtNum(v, 0),
    [0, 3, 6, 9, 12, 15, 18, 21, 24].map((k) => {
      // ticks on whole UTC hours divisible by 3, whatever hour the window starts at
      const t = Math.ceil(dayStart / 10800000) * 10800000 + k * 3600000;
      return { v: t, x: xOf(t) };
    }).filter((t) => t.v <= dayStart + day),
    (v) => (v === dayStart + day && new Date(v).getUTCHours() === 0 ? "24:00" : new Date(v).toISOString().slice(11, 16)));
  svg.appendChild(s("text", { x: 4, y: T + 8 }, unit));
  const g = s("g", { class: "bars" });
  for (const it of intervals) {
    const end = Date.parse(it.end);
    const width = Math.max(1, (w / 96) - 1.5);
    const x = xOf(end) - width - 0.75;
    const y = yOf(it.value);
    const r = s("rect", {
      class: it.status ? "lp-bar flag" : "lp-bar", x: x.toFixed(2), y: y.toFixed(2),
      width: width.toFixed(2), height: Math.max(0, T + hgt - y).toFixed(2),
      "data-end": it.end, "data-value": it.value,
    });
    hover(r, `${fmtTime(new Date(end - 900000).toISOString())} – ${fmtTime(it.end).slice(11)}\n${fmtNum(it.value, 0)} ${unit}${it.status ? `\nstatus 0x${it.status.toString(16)}` : ""}`);
    g.appendChild(r);
  }
  svg.appendChild(g);
  return svg;
}

// Lines over time: series = [{name, color, points: [[ms, value], ...]}], optional band [lo, hi].
function timeChart(series, opts = {}) {
  const W = opts.width || 900, H = opts.height || 220, L = 56, R = 26, T = 12, B = 30;
  const w = W - L - R, hgt = H - T - B;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-testid": opts.testid });
  const pts = series.flatMap((x) => x.points);
  if (!pts.length) {
    svg.appendChild(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data"));
    return svg;
  }
  let t0 = opts.t0 ?? Math.min(...pts.map((p) => p[0]));
  let t1 = opts.t1 ?? Math.max(...pts.map((p) => p[0]));
  if (t1 <= t0) t1 = t0 + 3600000;
  let lo = Math.min(...pts.map((p) => p[1])), hi = Math.max(...pts.map((p) => p[1]));
  if (opts.band) { lo = Math.min(lo, opts.band[0]); hi = Math.max(hi, opts.band[1]); }
  if (opts.min !== undefined) lo = Math.min(lo, opts.min);
  if (opts.max !== undefined) hi = Math.max(hi, opts.max);
  const pad = (hi - lo) * 0.05 || 1;
  lo -= pad; hi += pad;
  const ticks = niceTicks(lo, hi);
  const xOf = (ms) => L + ((ms - t0) / (t1 - t0)) * w;
  const yOf = (v) => T + hgt - ((v - lo) / (hi - lo)) * hgt;
  const span = t1 - t0;
  const stepH = span > 3 * 86400000 ? 24 : span > 86400000 ? 6 : 3;
  const xt = [];
  for (let t = Math.ceil(t0 / (stepH * 3600000)) * stepH * 3600000; t <= t1; t += stepH * 3600000) xt.push({ v: t, x: xOf(t) });
  axes(svg, L, T, w, hgt, ticks.filter((v) => v >= lo && v <= hi).map((v) => ({ v, y: yOf(v) })),
    (v) => fmtNum(v, 1), xt, (v) => new Date(v).toISOString().slice(11, 16));
  if (opts.band) {
    const [a, b] = opts.band;
    svg.appendChild(s("rect", { x: L, width: w, y: yOf(b), height: yOf(a) - yOf(b), fill: "#1a985014" }));
    for (const v of [a, b]) svg.appendChild(s("line", { x1: L, x2: L + w, y1: yOf(v), y2: yOf(v), stroke: "#1a985066", "stroke-dasharray": "4 3" }));
  }
  if (opts.unit) svg.appendChild(s("text", { x: 4, y: T + 8 }, opts.unit));
  for (const se of series) {
    const p = se.points.slice().sort((a, b) => a[0] - b[0]);
    if (!p.length) continue;
    const d = p.map((q, i) => `${i ? "L" : "M"}${xOf(q[0]).toFixed(1)},${yOf(q[1]).toFixed(1)}`).join("");
    svg.appendChild(s("path", { d, fill: "none", stroke: se.color, "stroke-width": 1.8, "data-series": se.name }));
    for (const q of p) {
      const c = s("circle", { cx: xOf(q[0]).toFixed(1), cy: yOf(q[1]).toFixed(1), r: 2.2, fill: se.color, class: "pt" });
      hover(c, `${se.name}\n${fmtTime(new Date(q[0]).toISOString())}\n${fmtNum(q[1], 2)} ${opts.unit || ""}`);
      svg.appendChild(c);
    }
  }
  return svg;
}

function legend(items) {
  return h("div", { class: "legend" }, items.map(([color, label]) => h("span", {}, h("i", { style: `background:${color}` }), label)));
}

// ---------------------------------------------------------------------------------------------
// Views.
async function overview() {
  const [concs, alarms] = await Promise.all([api("/concentrators"), api("/alarms?limit=1000")]);
  const activeBy = {};
  for (const a of alarms) activeBy[a.concentrator_id] = (activeBy[a.concentrator_id] || 0) + 1;
  const devices = concs.reduce((n, c) => n + c.devices, 0);
  const online = concs.filter((c) => c.status === "online").length;
  const rows = concs.map((c) => h("tr", { "data-testid": `conc-row-${c.id}` },
    h("td", {}, h("a", { href: `#/segment/${esc(c.id)}`, "data-testid": `conc-link-${c.id}` }, c.name || c.id)),
    h("td", {}, c.transformer || "–"),
    h("td", {}, pill(c.status)),
    h("td", { class: "num" }, c.devices),
    h("td", { class: "num" }, activeBy[c.id] ? h("a", { href: "#/alarms" }, String(activeBy[c.id])) : "0"),
    h("td", {}, fmtTime(c.last_seen)),
    h("td", {}, h("a", { href: `#/segment/${esc(c.id)}` }, "map"), " · ",
      h("a", { href: `#/health/${esc(c.id)}`, "data-testid": `health-link-${c.id}` }, "grid health"))));
  render(
    h("h1", {}, "Concentrators"),
    h("div", { class: "stats" },
      stat(concs.length, "concentrators"), stat(online, "online"), stat(devices, "devices"),
      stat(alarms.length, "active alarms")),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("table", { "data-testid": "concentrators" },
        h("thead", {}, h("tr", {}, ["Concentrator", "Transformer", "Status", "Devices", "Alarms", "Last data", ""].map((t) => h("th", { class: t === "Devices" || t === "Alarms" ? "num" : "" }, t)))),
        h("tbody", {}, rows))),
      h("div", { class: "card" }, h("h2", {}, "Area"), areaMap(concs, activeBy))),
  );
}
function stat(v, label) { return h("div", { class: "stat" }, h("b", {}, fmtNum(v, 0)), h("span", {}, label)); }

function areaMap(concs, activeBy) {
  const placed = concs.filter((c) => c.latitude !== null && c.longitude !== null);
  const W = 420, H = 360, P = 30;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-testid": "area-map" });
  if (!placed.length) { svg.appendChild(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no coordinates")); return svg; }
  const proj = projector(placed.map((c) => [c.longitude, c.latitude]), W, H, P);
  for (const c of placed) {
    const [x, y] = proj(c.longitude, c.latitude);
    const a = s("a", { href: `#/segment/${esc(c.id)}`, class: "map-node" });
    a.appendChild(s("rect", { x: x - 7, y: y - 7, width: 14, height: 14, rx: 3, fill: activeBy[c.id] ? "var(--poor)" : "var(--accent)" }));
    const right = x > W * 0.7;  // labels near the right edge go to the left of their mark
    a.appendChild(s("text", { x: right ? x - 10 : x + 10, y: y + 4, "text-anchor": right ? "end" : "start" }, c.transformer || c.id));
    hover(a, `${c.name}\n${c.devices} devices\n${activeBy[c.id] || 0} active alarms`);
    svg.appendChild(a);
  }
  return svg;
}

// lon/lat -> SVG x/y with equal scale on both axes (local equirectangular projection).
function projector(points, W, H, P) {
  const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
  const lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
  const k = Math.cos((lat0 * Math.PI) / 180);
  const x0 = Math.min(...lons) * k, x1 = Math.max(...lons) * k;
  const y0 = Math.min(...lats), y1 = Math.max(...lats);
  const scale = Math.min((W - 2 * P) / Math.max(x1 - x0, 1e-9), (H - 2 * P) / Math.max(y1 - y0, 1e-9));
  const ox = (W - (x1 - x0) * scale) / 2, oy = (H - (y1 - y0) * scale) / 2;
  return (lon, lat) => [ox + (lon * k - x0) * scale, H - (oy + (lat - y0) * scale)];
}

async function segment(cid) {
  const [conc, devPage] = await Promise.all([
    api(`/concentrators/${esc(cid)}`), api(`/devices?concentrator=${esc(cid)}&limit=5000`)]);
  let topo = null;
  try { topo = await api(`/concentrators/${esc(cid)}/topology`); } catch (e) { if (e.status !== 404) throw e; }
  const devs = Object.fromEntries(devPage.items.map((d) => [d.id, d]));
  const geo = devPage.items.length > 0 && devPage.items.every((d) => d.attributes && d.attributes.x !== undefined);
  const mode = sessionStorage.getItem("osgp-layout") || (geo ? "geo" : "layers");
  const layoutMode = mode === "geo" && !geo ? "layers" : mode;
  const mapBox = h("div", {});
  const draw = () => mapBox.replaceChildren(segmentMap(conc, topo, devs, layoutMode));
  const levels = topo ? Math.max(0, ...topo.nodes.map((n) => n.level)) : 0;
  const repeaters = topo ? topo.nodes.filter((n) => n.proxy && n.level > 0).length : 0;
  const reached = topo ? topo.nodes.length - 1 : 0;
  const unreachable = devPage.items.filter((d) => d.status === "unreachable").length;
  draw();
  const rows = devPage.items.map((d) => h("tr", {},
    h("td", {}, h("a", { href: `#/device/${esc(d.id)}`, "data-testid": `device-link-${d.id}` }, d.id)),
    h("td", {}, d.kind), h("td", {}, d.feeder || "–"), h("td", {}, d.phases === 3 ? "L1-L3" : d.phase ? `L${d.phase}` : "–"),
    h("td", { class: "num" }, fmtNum(d.distance_m, 0)), h("td", {}, pill(d.status))));
  render(
    h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Concentrators"), " / ", conc.name),
    h("h1", {}, `${conc.name} — segment map`),
    h("div", { class: "stats" }, stat(devPage.total, "devices"), stat(reached, "in topology"),
      stat(repeaters, "repeaters"), stat(levels, "levels"), stat(unreachable, "unreachable")),
    h("div", { class: "grid2" },
      h("div", { class: "card" },
        h("div", { class: "toolbar" },
          h("button", { class: layoutMode === "geo" ? "" : "secondary", disabled: !geo, "data-testid": "layout-geo",
            onclick: () => { sessionStorage.setItem("osgp-layout", "geo"); route(); } }, "Grid coordinates"),
          h("button", { class: layoutMode === "layers" ? "" : "secondary", "data-testid": "layout-layers",
            onclick: () => { sessionStorage.setItem("osgp-layout", "layers"); route(); } }, "Repeater levels"),
          h("button", { class: sessionStorage.getItem("osgp-heard") === "1" ? "" : "secondary", "data-testid": "toggle-heard",
            onclick: () => { sessionStorage.setItem("osgp-heard", sessionStorage.getItem("osgp-heard") === "1" ? "0" : "1"); route(); } }, "All heard links"),
          h("span", { class: "sep" }),
          h("a", { href: `#/health/${esc(cid)}` }, "grid health →")),
        mapBox,
        legend([["var(--good)", "link margin ≥ 10 dB"], ["var(--fair)", "3–10 dB"], ["var(--poor)", "< 3 dB"],
          ["#14213d", "■ concentrator, ◎ repeater"], [PHASE_COLORS[1], "meter on L1"], [PHASE_COLORS[2], "L2"],
          [PHASE_COLORS[3], "L3"], [PHASE_COLORS[0], "three-phase"], ["var(--off)", "not reached"]]),
        h("p", { class: "muted" }, topo ? `Topology of ${fmtTime(topo.taken_at)}. Lines join each device to the node that repeats for it; hover a device to see its path.` : "This concentrator has reported no topology yet."),
        topo ? h("p", { class: "muted" }, `${topo.links.length} links heard between nodes; "All heard links" draws them faintly.`) : null),
      h("div", { class: "card scroll" }, h("h2", {}, "Devices"), h("table", { "data-testid": "device-list" },
        h("thead", {}, h("tr", {}, ["Device", "Kind", "Feeder", "Phase", "m", "Status"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)))),
  );
}

function segmentMap(conc, topo, devs, mode) {
  const W = 900, H = 620, P = 26;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-testid": "segment-map", "data-layout": mode });
  const nodes = topo ? topo.nodes : [];
  const pos = {};
  if (mode === "geo") {
    const pts = [];
    if (conc.longitude !== null) pts.push([conc.longitude, conc.latitude]);
    for (const d of Object.values(devs)) pts.push([d.attributes.x, d.attributes.y]);
    const proj = projector(pts, W, H, P);
    if (conc.longitude !== null) pos[conc.id] = proj(conc.longitude, conc.latitude);
    for (const d of Object.values(devs)) pos[d.id] = proj(d.attributes.x, d.attributes.y);
    if (!pos[conc.id]) pos[conc.id] = [W / 2, P];
  } else {
    // Layered layout: one row per repeater level, children ordered under their parent.
    const byLevel = {};
    for (const n of nodes) (byLevel[n.level] = byLevel[n.level] || []).push(n);
    const levels = Object.keys(byLevel).map(Number).sort((a, b) => a - b);
    const rows = Math.max(1, levels.length);
    const order = {};
    for (const lv of levels) {
      const list = byLevel[lv];
      list.sort((a, b) => (order[a.parent] ?? 0) - (order[b.parent] ?? 0) || a.device.localeCompare(b.device));
      list.forEach((n, i) => {
        order[n.device] = i / Math.max(1, list.length - 1);
        const x = list.length === 1 ? W / 2 : P + i * ((W - 2 * P) / (list.length - 1));
        pos[n.device] = [x, P + 10 + (lv * (H - 2 * P - 20)) / Math.max(1, rows - 1)];
      });
    }
    if (!pos[conc.id]) pos[conc.id] = [W / 2, P];
    const lost = Object.keys(devs).filter((id) => !pos[id]);
    lost.forEach((id, i) => { pos[id] = [P + (i % 40) * ((W - 2 * P) / 40), H - 8 - Math.floor(i / 40) * 10]; });
  }
  const paths = Object.fromEntries((topo ? topo.paths : []).map((p) => [p.device, p.hops]));
  const linkEls = {};
  const gl = s("g", { class: "links" });
  // Every link the concentrator heard (faint, on request), then the tree of chosen repeater hops.
  const heard = {};
  for (const lk of topo ? topo.links : []) { heard[`${lk.a}|${lk.b}`] = lk; heard[`${lk.b}|${lk.a}`] = lk; }
  if (sessionStorage.getItem("osgp-heard") === "1") {
    for (const lk of topo ? topo.links : []) {
      const a = pos[lk.a], b = pos[lk.b];
      if (!a || !b) continue;
      gl.appendChild(s("line", { x1: a[0].toFixed(1), y1: a[1].toFixed(1), x2: b[0].toFixed(1), y2: b[1].toFixed(1), class: "heard", stroke: qualityColor(lk.margin_db), "stroke-width": 0.6, opacity: 0.35 }));
    }
  }
  for (const n of nodes) {
    if (!n.parent) continue;
    const a = pos[n.parent], b = pos[n.device];
    if (!a || !b) continue;
    const lk = heard[`${n.parent}|${n.device}`];
    const margin = lk ? lk.margin_db : null;
    const ln = s("line", {
      x1: a[0].toFixed(1), y1: a[1].toFixed(1), x2: b[0].toFixed(1), y2: b[1].toFixed(1),
      class: "map-link", stroke: qualityColor(margin), "stroke-width": 2,
      "data-a": n.parent, "data-b": n.device, "data-margin": margin,
    });
    hover(ln, `${n.parent} → ${n.device}\n${lk ? `signal ${fmtNum(lk.signal_db, 1)} dB, margin ${fmtNum(lk.margin_db, 1)} dB` : "no link figures"}`);
    linkEls[`${n.parent}|${n.device}`] = ln;
    gl.appendChild(ln);
  }
  svg.appendChild(gl);
  const highlight = (id) => {
    const chain = [conc.id, ...(paths[id] || []), id];
    const on = new Set();
    for (let i = 1; i < chain.length; i++) on.add(`${chain[i - 1]}|${chain[i]}`);
    for (const [key, el] of Object.entries(linkEls)) {
      el.classList.toggle("hl", id !== null && on.has(key));
      el.classList.toggle("dim", id !== null && !on.has(key));
    }
  };
  const gn = s("g", { class: "nodes" });
  const nodeBy = Object.fromEntries(nodes.map((n) => [n.device, n]));
  const dc = pos[conc.id];
  const dcEl = s("g", { "data-testid": `node-${conc.id}` },
    s("rect", { x: dc[0] - 9, y: dc[1] - 9, width: 18, height: 18, rx: 3, fill: "#14213d" }));
  hover(dcEl, `${conc.name}\ntransformer ${conc.transformer}`);
  gn.appendChild(dcEl);
  for (const d of Object.values(devs)) {
    const p = pos[d.id];
    if (!p) continue;
    const n = nodeBy[d.id];
    const a = s("a", { href: `#/device/${esc(d.id)}`, class: "map-node", "data-testid": `node-${d.id}`, "data-level": n ? n.level : "" });
    const fill = d.status === "unreachable" || !n ? "var(--off)" : PHASE_COLORS[d.phases === 3 ? 0 : d.phase || 0];
    if (n && n.proxy) a.appendChild(s("circle", { cx: p[0], cy: p[1], r: 8, fill: "#fff", stroke: "#14213d", "stroke-width": 2 }));
    a.appendChild(s("circle", { cx: p[0].toFixed(1), cy: p[1].toFixed(1), r: n && n.proxy ? 4.5 : 4, fill }));
    const hops = paths[d.id];
    hover(a, `${d.id} (${d.kind})\n${n ? `level ${n.level}${n.proxy ? ", repeater" : ""}` : d.status}\n${hops && hops.length ? `via ${hops.join(" → ")}` : n ? "direct" : ""}\nfeeder ${d.feeder || "–"}, ${fmtNum(d.distance_m, 0)} m`);
    a.addEventListener("mouseenter", () => highlight(d.id));
    a.addEventListener("mouseleave", () => highlight(null));
    gn.appendChild(a);
  }
  svg.appendChild(gn);
  return svg;
}

async function device(did) {
  const d = await api(`/devices/${esc(did)}`);
  const [events, pq, lq, lpAll] = await Promise.all([
    api(`/devices/${esc(did)}/events?limit=200`),
    api(`/devices/${esc(did)}/power-quality?limit=5000`),
    api(`/devices/${esc(did)}/link-quality?limit=5000`),
    api(`/devices/${esc(did)}/load-profile?limit=100000`),
  ]);
  const conc = d.concentrator_id;
  // The day shown: the one of the newest interval, or the one asked for in the address.
  const ivs = lpAll.intervals;
  const lastEnd = ivs.length ? Date.parse(ivs[ivs.length - 1].end) - 1 : Date.now();
  // The window shown: 24 hours ending with the newest interval, or the calendar day (UTC) asked
  // for in the address (?day=YYYY-MM-DD), or the 24 hours ending at ?end=ISO.
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const dayStart = q.get("day") ? Date.parse(`${q.get("day")}T00:00:00Z`)
    : q.get("end") ? Date.parse(q.get("end")) - 86400000
      : Math.floor(lastEnd / 900000) * 900000 + 900000 - 86400000;
  const windowText = `${fmtTime(new Date(dayStart).toISOString())} – ${fmtTime(new Date(dayStart + 86400000).toISOString())}`;
  const lpBox = h("div", {});
  const channelSel = { value: lpAll.channel };
  const drawLp = async () => {
    const since = new Date(dayStart + 1000).toISOString(), until = new Date(dayStart + 86400000).toISOString();
    const lp = await api(`/devices/${esc(did)}/load-profile?channel=${esc(channelSel.value)}&since=${since}&until=${until}&limit=200`);
    const total = lp.intervals.reduce((n, x) => n + x.value, 0);
    lpBox.replaceChildren(
      h("div", { class: "toolbar" },
        h("button", { class: "secondary", "data-testid": "day-prev", onclick: () => go(-1) }, "◀"),
        h("b", { "data-testid": "lp-day" }, windowText),
        h("button", { class: "secondary", "data-testid": "day-next", onclick: () => go(1) }, "▶"),
        h("span", { class: "sep" }),
        ...lpAll.channels.map((c) => h("button", { class: c === channelSel.value ? "" : "secondary",
          onclick: () => { channelSel.value = c; drawLp(); } }, c)),
      ),
      loadProfileChart(lp.intervals, dayStart, channelSel.value.endsWith("_wh") ? "Wh" : ""),
      h("p", { class: "muted", "data-testid": "lp-summary" },
        `${lp.intervals.length} intervals, ${fmtNum(total / 1000, 2)} kWh from ${windowText} UTC`),
    );
  };
  const go = (delta) => {
    const end = new Date(dayStart + 86400000 + delta * 86400000).toISOString();
    location.hash = `#/device/${esc(did)}?end=${end}`;
  };
  const phases = [1, 2, 3].filter((p) => pq.some((x) => x.kind === "sample" && x.phase === p));
  const pqSeries = phases.map((p) => ({ name: `L${p}`, color: PHASE_COLORS[p],
    points: pq.filter((x) => x.kind === "sample" && x.phase === p && x.voltage_v !== null).map((x) => [Date.parse(x.recorded_at), x.voltage_v]) }));
  const pqEvents = pq.filter((x) => x.kind !== "sample");
  const lqSeries = [{ name: "margin", color: "var(--accent)", points: lq.filter((x) => x.margin_db !== null).map((x) => [Date.parse(x.sampled_at), x.margin_db]) }];
  const actionMsg = h("p", { class: "muted", "data-testid": "action-result" });
  const act = async (path, body) => {
    actionMsg.textContent = "sending…";
    try {
      const c = await api(`/devices/${esc(did)}/${path}`, { method: "POST", body: body || {} });
      actionMsg.textContent = `command ${c.id} (${c.kind}) ${c.status}`;
      pollCommand(c.id, actionMsg);
    } catch (e) { actionMsg.textContent = e.status === 403 ? "an operator key is needed for this" : e.message; actionMsg.className = "error"; }
  };
  render(
    h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Concentrators"), " / ",
      conc ? h("a", { href: `#/segment/${esc(conc)}` }, conc) : "–", " / ", d.id),
    h("h1", { "data-testid": "device-title" }, `${d.kind} ${d.id}`),
    h("div", { class: "grid2", "data-testid": "device-page" },
      h("div", {},
        h("div", { class: "card" }, h("h2", {}, "Load profile"), lpBox),
        h("div", { class: "card" }, h("h2", {}, "Power quality — voltage per phase"),
          timeChart(pqSeries, { unit: "V", band: [207, 253], testid: "pq-chart" }),
          legend([...phases.map((p) => [PHASE_COLORS[p], `L${p}`]), ["#1a985066", "230 V ± 10 % (EN 50160)"]]),
          pqEvents.length ? h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Kind", "Phase", "V", "Duration s"].map((t) => h("th", {}, t)))),
            h("tbody", {}, pqEvents.map((x) => h("tr", {}, h("td", {}, fmtTime(x.recorded_at)), h("td", {}, pill(x.kind)), h("td", {}, `L${x.phase}`), h("td", {}, fmtNum(x.voltage_v)), h("td", {}, fmtNum(x.duration_s)))))) : null),
        h("div", { class: "card" }, h("h2", {}, "Events"), events.length
          ? h("table", { "data-testid": "events" }, h("thead", {}, h("tr", {}, ["Time", "Event", "Code", "Severity", "Details"].map((t) => h("th", {}, t)))),
            h("tbody", {}, events.map((e) => h("tr", {}, h("td", {}, fmtTime(e.occurred_at)), h("td", {}, e.name), h("td", {}, e.code), h("td", {}, pill(e.severity)), h("td", { class: "muted" }, JSON.stringify(e.details))))))
          : h("p", { class: "muted", "data-testid": "events" }, "No events."))),
      h("div", {},
        h("div", { class: "card" }, h("h2", {}, "Device"),
          h("dl", { class: "kv" },
            ...kv("Status", pill(d.status)), ...kv("Relay", pill(d.relay)), ...kv("Serial", d.serial || "–"),
            ...kv("Model", d.model || "–"), ...kv("Firmware", d.firmware || "–"),
            ...kv("Phase", d.phases === 3 ? "three-phase" : d.phase ? `L${d.phase}` : "–"),
            ...kv("Feeder", d.feeder || "–"), ...kv("Distance", d.distance_m === null ? "–" : `${fmtNum(d.distance_m, 0)} m`),
            ...kv("Path", d.path === null ? "–" : d.path.length ? [conc, ...d.path, d.id].join(" → ") : `${conc} → ${d.id} (direct)`),
            ...kv("Last seen", fmtTime(d.last_seen))),
          h("div", { class: "toolbar", style: "margin-top:10px" },
            h("button", { "data-testid": "action-read", onclick: () => act("read", { registers: [] }) }, "Read now"),
            h("button", { class: "secondary", onclick: () => act("disconnect") }, "Disconnect"),
            h("button", { class: "secondary", onclick: () => act("connect") }, "Connect"),
            h("button", { class: "secondary", onclick: () => act("time-sync", {}) }, "Time sync")),
          actionMsg),
        h("div", { class: "card" }, h("h2", {}, "Registers"),
          h("table", { "data-testid": "registers" }, h("thead", {}, h("tr", {}, h("th", {}, "Register"), h("th", { class: "num" }, "Value"), h("th", {}, "Unit"), h("th", {}, "Read"))),
            h("tbody", {}, d.registers.map((r) => h("tr", {}, h("td", {}, r.register), h("td", { class: "num" }, fmtNum(r.value, 1)), h("td", {}, r.unit), h("td", { class: "muted" }, fmtTime(r.read_at))))))),
        h("div", { class: "card" }, h("h2", {}, "Power-line link margin"),
          timeChart(lqSeries, { unit: "dB", height: 180, width: 480, min: 0, testid: "device-lq-chart" })))),
  );
  await drawLp();
}
function kv(k, v) { return [h("dt", {}, k), h("dd", {}, v)]; }

async function pollCommand(id, el) {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const c = await api(`/commands/${id}`);
    el.textContent = `command ${c.id} (${c.kind}) ${c.status}${c.result ? ` ${JSON.stringify(c.result)}` : ""}${c.error ? ` — ${c.error}` : ""}`;
    if (c.status === "succeeded" || c.status === "failed") return;
  }
}

async function alarmsView() {
  const state = new URLSearchParams(location.hash.split("?")[1] || "").get("state") || "active";
  const alarms = await api(`/alarms?state=${state}&limit=1000`);
  const msg = h("p", { class: "muted" });
  const ack = async (a, btn) => {
    try { await api(`/alarms/${a.id}/ack`, { method: "POST", body: { note: "acknowledged in the web UI" } }); btn.replaceWith(pill("acknowledged")); }
    catch (e) { msg.textContent = e.status === 403 ? "an operator key is needed to acknowledge" : e.message; msg.className = "error"; }
  };
  render(
    h("h1", {}, "Alarms"),
    h("div", { class: "toolbar" }, ["active", "acknowledged", "all"].map((st) =>
      h("button", { class: st === state ? "" : "secondary", onclick: () => { location.hash = `#/alarms?state=${st}`; } }, st)), msg),
    h("div", { class: "card" }, alarms.length
      ? h("table", { "data-testid": "alarms" }, h("thead", {}, h("tr", {}, ["Time", "Alarm", "Source", "Concentrator", "Details", "State"].map((t) => h("th", {}, t)))),
        h("tbody", {}, alarms.map((a) => {
          const btn = a.state === "active" ? h("button", { class: "secondary" }, "acknowledge") : pill("acknowledged");
          if (a.state === "active") btn.addEventListener("click", () => ack(a, btn));
          return h("tr", { "data-testid": `alarm-${a.id}` }, h("td", {}, fmtTime(a.occurred_at)), h("td", {}, h("b", {}, a.name)),
            h("td", {}, a.source && a.source !== a.concentrator_id ? h("a", { href: `#/device/${esc(a.source)}` }, a.source) : a.source),
            h("td", {}, h("a", { href: `#/segment/${esc(a.concentrator_id)}` }, a.concentrator_id)),
            h("td", { class: "muted" }, JSON.stringify(a.details)), h("td", {}, btn));
        })))
      : h("p", { class: "muted", "data-testid": "alarms" }, `No ${state === "all" ? "" : state + " "}alarms.`)),
  );
}

const CAMPAIGN_STATES = [["activated", "var(--good)"], ["verifying", "#66a61e"], ["downloading", "var(--fair)"], ["pending", "#c4c9d0"], ["failed", "var(--poor)"]];
function stateBar(counts, n) {
  return h("div", { class: "progress" }, CAMPAIGN_STATES.filter(([st]) => counts[st]).map(([st, color]) =>
    h("div", { style: `width:${(100 * counts[st]) / Math.max(1, n)}%;background:${color}`, title: `${st}: ${counts[st]}` })));
}
async function campaignsView() {
  const list = await api("/campaigns");
  const details = await Promise.all(list.map((c) => api(`/campaigns/${c.id}`)));
  render(
    h("h1", {}, "Firmware campaigns"),
    legend(CAMPAIGN_STATES.map(([st, c]) => [c, st])),
    list.length ? details.map((c) => {
      const n = (c.devices || []).length;
      return h("div", { class: "card", "data-testid": `campaign-${c.id}` },
        h("h2", {}, `#${c.id} ${c.name} (version ${c.version}) `, pill(c.status)),
        h("p", { class: "muted" }, `${n} devices, image ${fmtNum(c.image_size, 0)} bytes in ${Math.ceil(c.image_size / c.block_size)} blocks of ${c.block_size}, sha256 ${c.image_sha256.slice(0, 16)}…, started ${fmtTime(c.created_at)} by ${c.created_by}`),
        h("div", { class: "toolbar" }, h("b", { "data-testid": "campaign-progress" }, `${fmtNum(c.progress_pct, 1)} %`),
          h("span", { class: "muted" }, Object.entries(c.counts).map(([k, v]) => `${k} ${v}`).join(" · "))),
        stateBar(c.counts, n),
        h("details", {}, h("summary", {}, "devices"),
          h("table", {}, h("thead", {}, h("tr", {}, ["Device", "Concentrator", "State", "Blocks", "Updated", "Error"].map((t) => h("th", {}, t)))),
            h("tbody", {}, (c.devices || []).map((d) => h("tr", {}, h("td", {}, h("a", { href: `#/device/${esc(d.device_id)}` }, d.device_id)),
              h("td", {}, d.concentrator_id), h("td", {}, pill(d.state)), h("td", { class: "num" }, `${d.blocks_done}/${d.blocks_total}`),
              h("td", {}, fmtTime(d.updated_at)), h("td", { class: "error" }, d.error || "")))))));
    }) : h("div", { class: "card muted", "data-testid": "campaigns-empty" }, "No firmware campaign yet (POST /api/v1/campaigns starts one)."),
  );
}

async function health(cid) {
  const conc = await api(`/concentrators/${esc(cid)}`);
  const until = conc.last_seen ? new Date(conc.last_seen) : new Date();
  const since = new Date(until.getTime() - 86400000);
  const gh = await api(`/concentrators/${esc(cid)}/grid-health?since=${since.toISOString()}&until=${until.toISOString()}&bucket_minutes=60`);
  // Voltage along the feeders: distance from the transformer vs min/mean/max per device & phase.
  const feeders = [...new Set(gh.voltages.map((v) => v.feeder || "?"))].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  const color = (f) => palette[feeders.indexOf(f) % palette.length];
  const W = 900, H = 300, L = 56, R = 26, T = 12, B = 34, w = W - L - R, hgt = H - T - B;
  const vs = gh.voltages;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-testid": "feeder-voltage-chart" });
  if (vs.length) {
    const dmax = Math.max(10, ...vs.map((v) => v.distance_m || 0));
    const lo = Math.min(207, ...vs.map((v) => v.voltage_min)) - 2, hi = Math.max(253, ...vs.map((v) => v.voltage_max)) + 2;
    const xOf = (d) => L + (d / dmax) * w, yOf = (v) => T + hgt - ((v - lo) / (hi - lo)) * hgt;
    axes(svg, L, T, w, hgt, niceTicks(lo, hi).filter((v) => v >= lo && v <= hi).map((v) => ({ v, y: yOf(v) })), (v) => `${v}`,
      niceTicks(0, dmax).map((v) => ({ v, x: xOf(v) })), (v) => `${v} m`);
    svg.appendChild(s("rect", { x: L, width: w, y: yOf(253), height: yOf(207) - yOf(253), fill: "#1a985010" }));
    for (const v of [207, 230, 253]) svg.appendChild(s("line", { x1: L, x2: L + w, y1: yOf(v), y2: yOf(v), stroke: v === 230 ? "#9ca3af" : "#1a985066", "stroke-dasharray": "4 3" }));
    svg.appendChild(s("text", { x: 4, y: T + 8 }, "V"));
    for (const v of vs) {
      const x = xOf(v.distance_m || 0), c = color(v.feeder || "?");
      const g = s("g", { class: "vpt" });
      g.appendChild(s("line", { x1: x, x2: x, y1: yOf(v.voltage_min), y2: yOf(v.voltage_max), stroke: c, "stroke-width": 1, opacity: 0.6 }));
      g.appendChild(s("circle", { cx: x.toFixed(1), cy: yOf(v.voltage_mean).toFixed(1), r: 2.6, fill: c }));
      hover(g, `${v.device} L${v.phase}, feeder ${v.feeder}\n${fmtNum(v.distance_m, 0)} m from the transformer\nmin ${fmtNum(v.voltage_min)} / mean ${fmtNum(v.voltage_mean)} / max ${fmtNum(v.voltage_max)} V (${v.samples} samples)`);
      svg.appendChild(g);
    }
  } else svg.appendChild(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no voltage samples in this window"));
  // Phase balance.
  const pb = gh.phase_balance;
  const emax = Math.max(1, ...pb.map((p) => p.energy_wh));
  const pbSvg = s("svg", { viewBox: "0 0 420 170", "data-testid": "phase-balance-chart" });
  pb.forEach((p, i) => {
    const bw = (p.energy_wh / emax) * 300;
    pbSvg.appendChild(s("text", { x: 4, y: 34 + i * 48 }, `L${p.phase}`));
    const r = s("rect", { x: 30, y: 18 + i * 48, width: bw.toFixed(1), height: 26, fill: PHASE_COLORS[p.phase], rx: 3 });
    hover(r, `L${p.phase}: ${fmtNum(p.energy_wh / 1000, 1)} kWh, ${p.devices} devices`);
    pbSvg.appendChild(r);
    pbSvg.appendChild(s("text", { x: 36 + bw, y: 35 + i * 48 }, `${fmtNum(p.energy_wh / 1000, 1)} kWh`));
  });
  const lqSeries = [
    { name: "success rate %", color: "var(--good)", points: gh.link_quality.filter((b) => b.success_rate !== null).map((b) => [Date.parse(b.start), 100 * b.success_rate]) },
    { name: "mean margin dB", color: "var(--accent)", points: gh.link_quality.filter((b) => b.margin_db !== null).map((b) => [Date.parse(b.start), b.margin_db]) },
  ];
  render(
    h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Concentrators"), " / ", h("a", { href: `#/segment/${esc(cid)}` }, conc.name), " / grid health"),
    h("h1", { "data-testid": "grid-health" }, `Grid health — transformer ${gh.transformer || conc.name}`),
    h("p", { class: "muted" }, `${fmtTime(gh.since)} to ${fmtTime(gh.until)} UTC`),
    h("div", { class: "stats" }, stat(vs.length, "voltage series"), stat(gh.outages.length, "outages"),
      h("div", { class: "stat" }, h("b", {}, gh.imbalance_pct === null ? "–" : `${fmtNum(gh.imbalance_pct, 1)} %`), h("span", {}, "phase imbalance")),
      stat(vs.filter((v) => v.voltage_min < 207 || v.voltage_max > 253).length, "outside 230 V ± 10 %")),
    h("div", { class: "card" }, h("h2", {}, "Voltage along the feeders (min–max, dot = mean)"), svg, legend(feeders.map((f) => [color(f), `feeder ${f}`]))),
    h("div", { class: "grid2e" },
      h("div", { class: "card" }, h("h2", {}, "Power-line link quality over time"),
        timeChart(lqSeries, { height: 220, width: 560, min: 0, testid: "lq-chart" }), legend(lqSeries.map((x) => [x.color, x.name]))),
      h("div", { class: "card" }, h("h2", {}, "Phase balance (energy)"), pbSvg)),
    h("div", { class: "card" }, h("h2", {}, "Outages"), gh.outages.length
      ? h("table", { "data-testid": "outages" }, h("thead", {}, h("tr", {}, ["Device", "Start", "End", "Minutes", "From"].map((t) => h("th", {}, t)))),
        h("tbody", {}, gh.outages.map((o) => h("tr", {}, h("td", {}, h("a", { href: `#/device/${esc(o.device)}` }, o.device)), h("td", {}, fmtTime(o.start)), h("td", {}, fmtTime(o.end)),
          h("td", { class: "num" }, o.duration_s === null ? "ongoing" : fmtNum(o.duration_s / 60, 1)), h("td", { class: "muted" }, o.source)))))
      : h("p", { class: "muted", "data-testid": "outages" }, "No outage in this window.")),
  );
}

// ---------------------------------------------------------------------------------------------
// Router.
function askForKey(message) {
  const form = document.getElementById("key-form-template").content.cloneNode(true);
  render(form);
  const f = document.getElementById("key-form");
  if (message) document.getElementById("key-error").textContent = message;
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("osgp-key", document.getElementById("key-input").value.trim());
    route();
  });
}

async function refreshAlarmBadge() {
  try {
    const a = await api("/alarms?limit=1000");
    const b = document.getElementById("alarm-count");
    b.textContent = String(a.length);
    b.hidden = a.length === 0;
  } catch (_e) { /* shown by the view */ }
}

async function route() {
  takeKeyFromHash();
  if (!apiKey()) { askForKey(); return; }
  const [path] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const who = document.getElementById("whoami");
  who.replaceChildren(h("a", { href: "#/", "data-testid": "change-key",
    onclick: (ev) => { ev.preventDefault(); sessionStorage.removeItem("osgp-key"); route(); } }, "change API key"));
  try {
    if (parts.length === 0) await overview();
    else if (parts[0] === "segment" && parts[1]) await segment(parts[1]);
    else if (parts[0] === "device" && parts[1]) await device(parts[1]);
    else if (parts[0] === "alarms") await alarmsView();
    else if (parts[0] === "campaigns") await campaignsView();
    else if (parts[0] === "health" && parts[1]) await health(parts[1]);
    else render(h("p", {}, "Unknown page. ", h("a", { href: "#/" }, "Back to the concentrators.")));
    refreshAlarmBadge();
  } catch (e) {
    if (e.status === 401) { sessionStorage.removeItem("osgp-key"); askForKey(`The head-end refused the key (${e.detail}).`); return; }
    render(h("div", { class: "card error", "data-testid": "error" }, `Could not load this page: ${e.message}`));
  }
}

window.addEventListener("hashchange", route);
route();
