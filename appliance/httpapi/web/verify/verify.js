// Offline proof verifier: loads verify.wasm (bridge/proof compiled with
// GOOS=js GOARCH=wasm) and shows its report. Everything goes in through
// textContent, never as HTML; nothing leaves the browser.
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const build = "The verifier's WebAssembly is not built into this copy. Build it with `make build` " +
    "(GOOS=js GOARCH=wasm go build -o appliance/httpapi/web/verify/verify.wasm ./appliance/cmd/verifywasm, " +
    "and wasm_exec.js copied from $(go env GOROOT)/lib/wasm), then rebuild the appliance.";

  function setStatus(state, text) {
    const s = $("#wasm-status");
    s.dataset.state = state;
    s.textContent = text;
  }

  function missing(why) {
    setStatus("missing", "verifier not available");
    const m = $("#wasm-missing");
    m.hidden = false;
    m.textContent = why ? why + " " + build : build;
  }

  async function start(bytes) {
    const go = new Go();
    const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
    go.run(instance); // returns only when the program exits; it waits for calls
    if (typeof globalThis.wotchainVerify !== "function") throw new Error("verify.wasm did not register wotchainVerify");
    $("#wasm-pick").hidden = true;
    $("#run").disabled = false;
    setStatus("ready", "verifier ready (offline)");
  }

  async function load() {
    if (typeof Go === "undefined") {
      missing("wasm_exec.js is missing.");
      return;
    }
    let resp;
    try {
      resp = await fetch("verify.wasm");
    } catch (e) {
      if (location.protocol !== "file:") {
        missing("verify.wasm could not be loaded (" + e + ").");
        return;
      }
      // file:// pages may not fetch their neighbours: let the user pick it.
      setStatus("pick", "pick verify.wasm");
      $("#wasm-pick").hidden = false;
      return;
    }
    if (!resp.ok) {
      missing("verify.wasm: HTTP " + resp.status + ".");
      return;
    }
    await start(await resp.arrayBuffer());
  }

  function item(tag, text, status) {
    const li = document.createElement(tag);
    if (status) {
      li.dataset.status = status;
      const s = document.createElement("span");
      s.className = "status";
      s.textContent = status;
      li.append(s);
    }
    li.append(document.createTextNode(text));
    return li;
  }

  function show(rep) {
    $("#result").hidden = false;
    const v = $("#verdict");
    v.dataset.ok = String(!!rep.ok);
    const failed = (rep.links || []).find((l) => l.status === "failed");
    v.textContent = rep.ok ? "Proof OK" : rep.error ? "Could not check: " + rep.error : "Proof FAILED at " + (failed ? failed.name : "?");
    $("#block").textContent = rep.block || "—";
    $("#keyused").textContent = rep.key || "—";
    const r = rep.reading;
    $("#reading").textContent = r ? r.device + "/" + r.point + " = " + String(r.value) + (r.unit ? " " + r.unit : "") +
      " (" + r.quality + ") at " + r.time + ", seq " + r.seq : "—";
    const links = $("#links");
    links.replaceChildren();
    for (const l of rep.links || []) {
      const li = item("li", l.name + ": " + l.detail, l.status);
      li.dataset.link = l.name;
      links.append(li);
    }
    const nc = $("#notchecked");
    nc.replaceChildren();
    for (const t of rep.not_checked || []) nc.append(item("li", t));
  }

  async function run(ev) {
    ev.preventDefault();
    // An earlier result goes first, so it cannot be taken for this one.
    $("#result").hidden = true;
    $("#links").replaceChildren();
    const f = $("#bundle").files[0];
    if (!f) {
      show({ ok: false, error: "pick a proof bundle file first", links: [] });
      return;
    }
    const text = await f.text();
    show(JSON.parse(globalThis.wotchainVerify(text, $("#key").value)));
  }

  $("#check").addEventListener("submit", (ev) => {
    run(ev).catch((e) => show({ ok: false, error: String(e), links: [] }));
  });
  $("#wasm-file").addEventListener("change", async () => {
    const f = $("#wasm-file").files[0];
    if (f) start(await f.arrayBuffer()).catch((e) => missing(String(e)));
  });
  load().catch((e) => missing(String(e)));
})();
