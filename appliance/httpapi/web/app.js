// Status page: renders the status snapshots that /events pushes. Everything
// from the server goes in through textContent, never as HTML.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function ago(iso, now) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  function duration(sec) {
    if (sec < 120) return sec.toFixed(0) + " s";
    if (sec < 7200) return (sec / 60).toFixed(0) + " min";
    return (sec / 3600).toFixed(1) + " h";
  }

  function formatValue(p) {
    if (p.value === null || p.value === undefined) return "—";
    // Six significant digits: a sensor's float noise is not information.
    const v = typeof p.value === "number" && !Number.isInteger(p.value) ? Number(p.value.toPrecision(6)) : p.value;
    return String(v) + (p.unit ? " " + p.unit : "");
  }

  function renderPoints(td, points) {
    td.replaceChildren();
    for (const p of points) {
      const span = el("span", "point " + p.quality);
      span.dataset.point = p.point;
      span.title = p.quality + (p.reason ? ": " + p.reason : "") + " · seq " + p.seq + " · " + p.time;
      span.append(el("span", "name", p.point + " "), el("span", "value", formatValue(p)));
      td.append(span);
    }
  }

  function renderDevices(devices, now) {
    const tbody = $("#devices tbody");
    $("#no-devices").hidden = devices.length > 0;
    const rows = new Map();
    for (const tr of tbody.querySelectorAll("tr")) rows.set(tr.dataset.device, tr);
    const seen = new Set();
    for (const d of devices) {
      seen.add(d.id);
      let tr = rows.get(d.id);
      if (!tr) {
        tr = el("tr");
        tr.dataset.device = d.id;
        for (const f of ["id", "protocol", "state", "polls", "errors", "lastgood", "values"]) {
          const td = el("td");
          td.dataset.col = f;
          tr.append(td);
        }
      }
      tbody.append(tr); // keeps the server's order
      const col = (f) => $('td[data-col="' + f + '"]', tr);
      col("id").textContent = d.id;
      col("protocol").textContent = d.protocol + " / " + d.interval_seconds + " s";
      const state = col("state");
      state.className = "state " + d.state;
      state.textContent = d.state;
      state.title = d.health.last_error || "";
      col("polls").textContent = d.health.polls;
      col("errors").textContent = d.health.errors +
        (d.health.consecutive_errors ? " (" + d.health.consecutive_errors + " in a row)" : "");
      col("lastgood").textContent = ago(d.health.last_good, now);
      renderPoints(col("values"), d.points || []);
    }
    for (const [id, tr] of rows) if (!seen.has(id)) tr.remove();
  }

  function setField(root, name, text) {
    $('[data-field="' + name + '"]', root).textContent = text;
  }

  function renderPipeline(p, err) {
    const card = $("#pipeline");
    // A status error first; else why anchoring stalls (the ledger's
    // refusal, e.g. a revoked key).
    const msg = err || (p && p.last_anchor_error ? "Anchoring failed: " + p.last_anchor_error : "");
    const e = $("#pipeline-error");
    e.hidden = !msg;
    e.textContent = msg;
    if (!p) return;
    setField(card, "readings_stored", p.readings_stored);
    setField(card, "blocks_sealed", p.blocks_sealed);
    setField(card, "blocks_uploaded", p.blocks_uploaded);
    setField(card, "blocks_anchored", p.blocks_anchored);
    setField(card, "outbox_depth", p.outbox_depth);
    const age = $('[data-field="outbox_oldest_age"]', card);
    age.textContent = p.outbox_depth ? duration(p.outbox_oldest_age_seconds) : "none pending";
    age.classList.toggle("lag", p.outbox_oldest_age_seconds > 300);
    setField(card, "storage_errors", p.storage_errors);
    setField(card, "ledger_errors", p.ledger_errors);

    const b = p.last_anchored;
    $("#no-anchored").hidden = !!b;
    const fields = $("#anchored-fields");
    fields.hidden = !b;
    if (!b) return;
    setField(fields, "height", b.height);
    setField(fields, "id", b.id);
    setField(fields, "seqs", b.first_seq + " … " + b.last_seq + " (" + b.count + ")");
    setField(fields, "times", b.first_time + " … " + b.last_time);
    setField(fields, "devices", b.devices.join(", "));
    setField(fields, "location", b.location || b.object_hash);
  }


  // Trend charts: one SVG per device point, from api/series (downsampled
  // on the appliance). The live view is the hour up to now and follows it;
  // a zoom (range buttons, drag, wheel) fixes the window until a
  // double-click returns to live.
  const SVGNS = "http://www.w3.org/2000/svg";
  const W = 600, H = 180, L = 48, R = 8, T = 8, B = 22;
  const view = { live: true, span: 3600, from: 0, to: 0 };
  const charts = new Map(); // "device/point" -> chart
  let clockSkew = 0; // server time minus this browser's

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function windowOf() {
    if (!view.live) return [view.from, view.to];
    const to = Date.now() + clockSkew;
    return [to - view.span * 1000, to];
  }

  function fmtTime(ms, span) {
    const d = new Date(ms);
    return span > 86400e3 ? d.toLocaleDateString() + " " + d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: span < 1200e3 ? "2-digit" : undefined });
  }

  function fmtNum(v) {
    const a = Math.abs(v);
    return a >= 1000 || a === 0 ? String(Math.round(v * 100) / 100) : String(Number(v.toPrecision(4)));
  }

  function drawChart(c, series, from, to) {
    const g = c.svg;
    g.replaceChildren();
    const pts = series ? series.points : [];
    g.dataset.points = pts.length;
    const x = (t) => L + ((t - from) / (to - from)) * (W - L - R);
    for (const t of [from, (from + to) / 2, to]) {
      g.append(svg("text", { x: x(t), y: H - 6, "text-anchor": t === from ? "start" : t === to ? "end" : "middle", class: "axis" }, fmtTime(t, to - from)));
    }
    if (!pts.length) {
      g.append(svg("text", { x: (L + W) / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no numeric readings in this window"));
      c.span.textContent = "";
      return;
    }
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) { lo = Math.min(lo, p.min); hi = Math.max(hi, p.max); }
    if (lo === hi) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    for (const v of [lo + pad, (lo + hi) / 2, hi - pad]) {
      g.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      g.append(svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end", class: "axis" }, fmtNum(v)));
    }
    const px = pts.map((p) => [x(Date.parse(p.t) + (series.bucket_seconds * 500)), p]);
    if (series.bucket_seconds > 0) {
      const top = px.map(([X, p]) => X.toFixed(1) + "," + y(p.max).toFixed(1));
      const bottom = px.slice().reverse().map(([X, p]) => X.toFixed(1) + "," + y(p.min).toFixed(1));
      g.append(svg("polygon", { points: top.concat(bottom).join(" "), class: "band" }));
    }
    g.append(svg("polyline", { points: px.map(([X, p]) => X.toFixed(1) + "," + y(p.mean).toFixed(1)).join(" "), class: "line" }));
    if (pts.length <= 150) {
      for (const [X, p] of px) {
        const dot = svg("circle", { cx: X.toFixed(1), cy: y(p.mean).toFixed(1), r: 2.2, class: "pt" + (p.not_good ? " notgood" : "") });
        dot.append(svg("title", {}, fmtNum(p.mean) + (series.unit ? " " + series.unit : "") + " at " + p.t + (p.n > 1 ? " (mean of " + p.n + ")" : "")));
        g.append(dot);
      }
    }
    c.span.textContent = series.readings + " readings" + (series.bucket_seconds > 0 ? ", " + pts.length + " buckets of " + duration(series.bucket_seconds) : "") +
      (series.truncated ? " (truncated)" : "");
  }

  async function loadChart(c) {
    const [from, to] = windowOf();
    const q = new URLSearchParams({ device: c.device, point: c.point, from: new Date(from).toISOString(), to: new Date(to).toISOString(), points: "300" });
    try {
      const r = await fetch("api/series?" + q, { headers: { Accept: "application/json" } });
      if (!r.ok) throw new Error("HTTP " + r.status);
      drawChart(c, await r.json(), from, to);
    } catch (e) {
      console.error("chart " + c.device + "/" + c.point, e);
    }
  }

  function zoomTo(from, to) {
    if (to - from < 10e3) return; // ten seconds at least
    view.live = false;
    view.from = from;
    view.to = to;
    for (const b of document.querySelectorAll(".ranges button")) b.classList.remove("active");
    for (const c of charts.values()) loadChart(c);
  }

  function setRange(span, live) {
    view.live = live;
    view.span = span;
    for (const b of document.querySelectorAll(".ranges button")) b.classList.toggle("active", Number(b.dataset.range) === span);
    for (const c of charts.values()) loadChart(c);
  }

  function chartTime(c, ev) {
    const box = c.svg.getBoundingClientRect();
    const X = ((ev.clientX - box.left) / box.width) * W;
    const [from, to] = windowOf();
    return from + Math.min(1, Math.max(0, (X - L) / (W - L - R))) * (to - from);
  }

  function interact(c) {
    let start = null, sel = null;
    c.svg.addEventListener("mousedown", (ev) => {
      start = chartTime(c, ev);
      const box = c.svg.getBoundingClientRect();
      sel = svg("rect", { x: ((ev.clientX - box.left) / box.width) * W, y: T, width: 0, height: H - T - B, class: "sel" });
      sel.dataset.x0 = sel.getAttribute("x");
      c.svg.append(sel);
    });
    c.svg.addEventListener("mousemove", (ev) => {
      if (!sel) return;
      const box = c.svg.getBoundingClientRect();
      const X = ((ev.clientX - box.left) / box.width) * W, x0 = Number(sel.dataset.x0);
      sel.setAttribute("x", Math.min(X, x0));
      sel.setAttribute("width", Math.abs(X - x0));
    });
    window.addEventListener("mouseup", (ev) => {
      if (start === null) return;
      const end = chartTime(c, ev);
      sel.remove();
      sel = null;
      const a = Math.min(start, end), b = Math.max(start, end);
      start = null;
      zoomTo(a, b);
    });
    c.svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const [from, to] = windowOf();
      const at = chartTime(c, ev), f = ev.deltaY < 0 ? 0.8 : 1.25;
      zoomTo(at - (at - from) * f, at + (to - at) * f);
    }, { passive: false });
    c.svg.addEventListener("dblclick", () => setRange(3600, true));
  }

  function renderCharts(devices) {
    const box = $("#charts");
    const seen = new Set();
    for (const d of devices) {
      for (const p of d.points || []) {
        const key = d.id + "/" + p.point;
        seen.add(key);
        let c = charts.get(key);
        if (!c) {
          const card = el("div", "chart");
          card.dataset.device = d.id;
          card.dataset.point = p.point;
          const h = el("h3");
          c = { device: d.id, point: p.point, card, last: el("span", "last"), quality: el("span", "quality"), span: el("div", "span muted") };
          h.append(el("span", "name", key), c.last, c.quality);
          c.svg = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "trend of " + key });
          card.append(h, c.svg, c.span);
          box.append(card);
          charts.set(key, c);
          interact(c);
          loadChart(c);
        }
        c.last.textContent = formatValue(p);
        c.quality.className = "quality " + p.quality;
        c.quality.textContent = p.quality + (p.reason ? ": " + p.reason : "");
      }
    }
    for (const [key, c] of charts) if (!seen.has(key)) { c.card.remove(); charts.delete(key); }
    $("#no-trends").hidden = charts.size > 0;
  }

  // Blocks: the latest blocks with their state; admins may run the chain
  // check of a block on the appliance and download a reading's proof.
  let admin = false;
  const checks = new Map(); // block id -> last chain check, kept across refreshes

  function renderChecks(td, res) {
    td.replaceChildren();
    const head = el("div", "verdict " + (res.ok ? "ok" : "failed"), res.ok ? "chain check ok (reading " + res.seq + ")" : res.error || "chain check FAILED (reading " + res.seq + ")");
    head.dataset.ok = String(!!res.ok);
    const ol = el("ol");
    for (const c of res.checks || []) {
      const li = el("li", "check " + (c.ok ? "ok" : "failed"));
      li.dataset.check = c.name;
      li.append(el("span", "status", c.ok ? "ok " : "FAILED "), el("span", "name", c.name + ": "), el("span", "detail", c.detail));
      ol.append(li);
    }
    td.append(head, ol);
  }

  async function verifyBlock(b, td) {
    td.replaceChildren(el("span", "muted", "checking…"));
    try {
      const r = await fetch("api/blocks/" + b.id + "/verify", { headers: { Accept: "application/json" } });
      const res = await r.json();
      if (!r.ok) res.error = res.error || "HTTP " + r.status;
      checks.set(b.id, res);
      renderChecks(td, res);
    } catch (e) {
      renderChecks(td, { ok: false, error: String(e) });
    }
  }

  function proofCell(b) {
    const td = el("td", "admin proof");
    const input = el("input");
    input.type = "number";
    input.min = b.first_seq;
    input.max = b.last_seq;
    input.value = b.first_seq;
    input.setAttribute("aria-label", "reading of block " + b.height);
    const a = el("a", "download", "download");
    const link = () => {
      a.href = "api/blocks/" + b.id + "/proof?seq=" + input.value;
      a.download = "proof-" + b.height + "-" + input.value + ".json";
    };
    input.addEventListener("input", link);
    link();
    td.append(input, document.createTextNode(" "), a);
    return td;
  }

  function timeRange(b) {
    const t = (iso) => new Date(iso).toLocaleTimeString();
    const td = el("td", "", t(b.first_time) + " … " + t(b.last_time));
    td.title = b.first_time + " … " + b.last_time;
    return td;
  }

  // Each block is a row, and below it a row for its chain check, shown
  // once run.
  function blockRows(b) {
    const tr = el("tr", "block");
    tr.dataset.id = b.id;
    tr.dataset.height = b.height;
    tr.dataset.state = b.state;
    const state = el("td", "blockstate " + b.state, b.state);
    state.title = b.state === "sealed" ? "sealed " + b.sealed_at : b.location || "";
    const detail = el("tr", "detail admin");
    detail.dataset.id = b.id;
    detail.dataset.height = b.height;
    const res = el("td", "result");
    res.colSpan = 7;
    detail.append(res);
    detail.hidden = !checks.has(b.id);
    if (checks.has(b.id)) renderChecks(res, checks.get(b.id));
    const btn = el("button", "verify", "verify");
    btn.type = "button";
    btn.title = "run the whole chain check of this block's first reading on the appliance";
    btn.addEventListener("click", () => {
      detail.hidden = false;
      verifyBlock(b, res);
    });
    const check = el("td", "admin checks");
    check.append(btn);
    tr.append(el("td", "", String(b.height)), state, el("td", "", b.first_seq + " … " + b.last_seq + " (" + b.count + ")"),
      timeRange(b), el("td", "", b.devices.join(", ")), proofCell(b), check);
    return [tr, detail];
  }

  function renderBlocks(list) {
    const tbody = $("#block-list tbody");
    $("#no-blocks").hidden = list.length > 0;
    $("#block-list").hidden = list.length === 0;
    const old = new Map();
    for (const tr of tbody.querySelectorAll("tr.block")) old.set(tr.dataset.id, [tr, tr.nextElementSibling]);
    tbody.replaceChildren();
    for (const b of list.slice().reverse()) {
      const kept = old.get(b.id);
      // A row whose state did not change keeps a typed seq and a shown check.
      tbody.append(...(kept && kept[0].dataset.state === b.state ? kept : blockRows(b)));
    }
  }

  async function loadBlocks() {
    try {
      const r = await fetch("api/blocks?limit=20", { headers: { Accept: "application/json" } });
      if (!r.ok) throw new Error("HTTP " + r.status);
      renderBlocks((await r.json()).blocks || []);
    } catch (e) {
      console.error("blocks", e);
    }
  }

  let blocksKey = "";

  function render(s) {
    const now = Date.parse(s.time) || Date.now();
    $("#appliance").textContent = s.appliance || "";
    $("#user").textContent = s.user || "";
    $("#logout").hidden = !s.user;
    $("#updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    renderDevices(s.devices || [], now);
    renderPipeline(s.pipeline, s.error);
    clockSkew = now - Date.now();
    admin = !s.user || s.role === "admin"; // no user: authentication is off
    document.body.classList.toggle("viewer", !admin);
    renderCharts(s.devices || []);
    // Reload the block list when the pipeline moved.
    const p = s.pipeline || {};
    const key = [p.blocks_sealed, p.blocks_uploaded, p.blocks_anchored, p.outbox_depth].join(",");
    if (key !== blocksKey) {
      blocksKey = key;
      loadBlocks();
    }
  }

  function setConn(live) {
    const c = $("#conn");
    c.className = "conn " + (live ? "live" : "down");
    c.dataset.state = live ? "live" : "down";
    c.textContent = live ? "live" : "reconnecting…";
  }

  function start() {
    const es = new EventSource("events");
    es.addEventListener("status", (ev) => {
      setConn(true);
      try {
        render(JSON.parse(ev.data));
      } catch (e) {
        console.error("bad status event", e);
      }
    });
    // EventSource reconnects by itself; show that it is trying.
    es.onerror = () => setConn(false);
  }

  for (const b of document.querySelectorAll(".ranges button")) {
    b.addEventListener("click", () => setRange(Number(b.dataset.range), true));
  }
  // The live window follows the clock.
  setInterval(() => {
    if (view.live) for (const c of charts.values()) loadChart(c);
  }, 15000);
  start();
})();
