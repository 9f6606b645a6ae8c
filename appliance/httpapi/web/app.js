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
    return String(p.value) + (p.unit ? " " + p.unit : "");
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

  function render(s) {
    const now = Date.parse(s.time) || Date.now();
    $("#appliance").textContent = s.appliance || "";
    $("#user").textContent = s.user || "";
    $("#logout").hidden = !s.user;
    $("#updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    renderDevices(s.devices || [], now);
    renderPipeline(s.pipeline, s.error);
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

  start();
})();
