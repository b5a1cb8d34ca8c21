// The healthnn web page: sign in with an API key, choose a model, enter an input, see the
// prediction, its uncertainty and an explanation; de-identify a note. Text from the server is
// always inserted with textContent (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function key() { return sessionStorage.getItem("healthnn-key") || ""; }

async function api(path, options = {}) {
  options.headers = Object.assign({ Authorization: "Bearer " + key() }, options.headers || {});
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = { detail: res.statusText }; }
  if (!res.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(`${res.status}: ${detail}`);
  }
  return body;
}

async function login() {
  const k = $("api-key").value.trim();
  $("login-error").textContent = "";
  sessionStorage.setItem("healthnn-key", k);
  try {
    const data = await api("/models");
    models = data.models;
  } catch (e) {
    sessionStorage.removeItem("healthnn-key");
    $("login-error").textContent = "Sign-in failed: " + e.message;
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").textContent = "signed in";
  const sel = $("model");
  sel.textContent = "";
  for (const m of models) sel.appendChild(el("option", { value: m.name }, `${m.name} (${m.task}, ${m.version})`));
  showModel();
  document.body.dataset.ready = "1";
}

function current() { return models.find((m) => m.name === $("model").value); }

function showModel() {
  const m = current();
  const form = $("input-form");
  form.textContent = "";
  $("result").textContent = "No prediction yet.";
  $("explanation").textContent = "No explanation yet.";
  $("input-error").textContent = "";
  const metrics = Object.entries(m.metrics || {}).slice(0, 4)
    .map(([k, v]) => `${k} ${v === null ? "n/a" : v.toFixed(3)}`).join(", ");
  $("model-info").textContent = `task: ${m.task}; runtime: ${m.runtime}` + (metrics ? `; test: ${metrics}` : "");
  const inp = m.input;
  if (inp.kind === "image") {
    const d = el("div", { class: "field" });
    d.appendChild(el("label", { for: "f-file" }, "Image"));
    d.appendChild(el("input", { id: "f-file", type: "file", accept: (inp.accept || []).join(",") }));
    form.appendChild(d);
  } else if (inp.kind === "smiles" || inp.kind === "text") {
    const d = el("div", { class: "field" });
    d.appendChild(el("label", { for: "f-main" }, inp.kind === "smiles" ? "SMILES" : "Note"));
    d.appendChild(inp.kind === "smiles"
      ? el("input", { id: "f-main", type: "text", size: "60", placeholder: "e.g. CCO" })
      : el("textarea", { id: "f-main", rows: "6", cols: "80", placeholder: "Paste the note" }));
    form.appendChild(d);
  } else if (inp.columns.length) {
    inp.columns.forEach((c, i) => {
      const d = el("div", { class: "field" });
      d.appendChild(el("label", { for: `f-${i}` }, c.name));
      if (c.type === "category") {
        const s = el("select", { id: `f-${i}`, "data-column": c.name });
        s.appendChild(el("option", { value: "" }, "(missing)"));
        for (const lv of c.levels || []) s.appendChild(el("option", { value: lv }, lv));
        if ((c.levels || []).length) s.value = c.levels[0];
        d.appendChild(s);
      } else {
        d.appendChild(el("input", { id: `f-${i}`, "data-column": c.name, type: c.type === "number" ? "text" : "text",
          inputmode: c.type === "number" ? "decimal" : "text", value: c.default === null || c.default === undefined ? "" : String(c.default) }));
      }
      form.appendChild(d);
    });
  } else {
    const d = el("div", { class: "field" });
    d.appendChild(el("label", { for: "f-json" }, "Row (JSON object)"));
    d.appendChild(el("textarea", { id: "f-json", rows: "4", cols: "80", placeholder: '{"column": "value"}' }));
    form.appendChild(d);
  }
}

function row() {
  const m = current();
  const inp = m.input;
  if (inp.kind === "smiles" || inp.kind === "text") return { [inp.column]: $("f-main").value };
  if (!inp.columns.length) return JSON.parse($("f-json").value || "{}");
  const r = {};
  for (const e of document.querySelectorAll("#input-form [data-column]")) {
    r[e.dataset.column] = e.value === "" ? null : e.value;
  }
  return r;
}

async function send(kind) {
  const m = current();
  $("input-error").textContent = "";
  const target = kind === "predict" ? $("result") : $("explanation");
  target.textContent = "Working...";
  try {
    let body;
    if (m.input.kind === "image") {
      const f = $("f-file").files[0];
      if (!f) throw new Error("choose an image file first");
      const fd = new FormData();
      fd.append("file", f, f.name);
      body = await api(`/models/${encodeURIComponent(m.name)}/${kind}/upload`, { method: "POST", body: fd });
    } else {
      body = await api(`/models/${encodeURIComponent(m.name)}/${kind}`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ rows: [row()] }) });
    }
    if (kind === "predict") showPrediction(body); else showExplanation(body);
  } catch (e) {
    target.textContent = "";
    $("input-error").textContent = e.message;
  }
}

function showPrediction(body) {
  const out = $("result");
  out.textContent = "";
  const r = body.rows[0];
  if (r.error) { out.appendChild(el("p", { class: "error", id: "row-error" }, "This input could not be predicted: " + r.error)); return; }
  const t = el("table", { id: "prediction-table" });
  t.appendChild(el("tr")).append(el("th", {}, "output"), el("th", {}, "value"), el("th", {}, "uncertainty"));
  const vals = r.values;
  const level = body.conformal_level ? Math.round(body.conformal_level * 100) + "%" : "";
  const fmt = (v) => (typeof v === "number" ? v.toFixed(4) : v === null ? "unbounded" : String(v));
  const isConformal = (k) => k === "set" || k === "lo" || k === "hi" || k.startsWith("lo_") || k.startsWith("hi_");
  // which output each conformal column belongs to: 'set' to the predicted class, 'lo'/'hi'
  // to the one predicted value, 'lo_<t>'/'hi_<t>' to 'pred_<t>'
  const firstValue = Object.keys(vals).find((k) => k === "prediction" || k.startsWith("pred_"));
  let sds = 0, conformal = 0;
  for (const [k, v] of Object.entries(vals)) {
    if (k.endsWith("_sd") || isConformal(k)) continue;
    const notes = [];
    const sd = vals[k + "_sd"];
    if (sd !== undefined && sd !== null) { sds += 1; notes.push("± " + sd.toFixed(4)); }
    if (k === "prediction" && "set" in vals) {
      conformal += 1;
      notes.push(`${level} set: {${vals.set ? vals.set.split("|").join(", ") : "no class"}}`);
    }
    const t2 = k.startsWith("pred_") ? k.slice(5) : null;
    const lo = t2 !== null && ("lo_" + t2) in vals ? vals["lo_" + t2] : k === firstValue && "lo" in vals ? vals.lo : undefined;
    const hi = t2 !== null && ("hi_" + t2) in vals ? vals["hi_" + t2] : k === firstValue && "hi" in vals ? vals.hi : undefined;
    if (lo !== undefined) {
      conformal += 1;
      notes.push(`${level} interval: [${fmt(lo)}, ${fmt(hi)}]`);
    }
    const tr = el("tr");
    tr.append(el("td", {}, k), el("td", {}, fmt(v)), el("td", { class: "uncertainty" }, notes.join("; ")));
    t.appendChild(tr);
  }
  out.appendChild(t);
  const said = [];
  if (conformal) said.push(`The ${level} set or interval is split-conformal: calibrated on validation patients, it holds the true outcome for at least ${level} of patients like them (on average over patients, not a guarantee for each one).`);
  if (sds) said.push("± is the standard deviation across the ensemble's members.");
  else said.push("Single model: train with [train] ensemble > 1 for a spread across models too.");
  out.appendChild(el("p", { class: "muted", id: "uncertainty-note" }, said.join(" ")));
  out.appendChild(el("p", { class: "muted" }, `model ${body.model}, version ${body.version}`));
}

function showExplanation(body) {
  const out = $("explanation");
  out.textContent = "";
  for (const f of body.files) {
    if (f.data) {
      const img = el("img", { class: "explain-img", alt: f.name, src: `data:${f.media_type};base64,${f.data}` });
      out.appendChild(img);
    } else if (f.rows) {
      const rows = f.rows;
      if (rows.length && "contribution" in rows[0]) out.appendChild(bars(rows));
      else if (rows.length && "token" in rows[0]) out.appendChild(highlighted(rows));
      else out.appendChild(table(rows, f.name));
    }
  }
  if (!out.childNodes.length) out.textContent = "No explanation for this input.";
}

function bars(rows) {
  const d = el("div", { id: "contributions" });
  const good = rows.filter((r) => !r.error);
  if (!good.length) { d.appendChild(el("p", { class: "error" }, rows[0].error)); return d; }
  d.appendChild(el("p", {}, `Contributions to ${good[0].output} = ${Number(good[0].prediction).toFixed(4)} ` +
    "(change when the value is replaced by a typical one; red raises, blue lowers):"));
  const max = Math.max(...good.map((r) => Math.abs(r.contribution)), 1e-12);
  good.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
  for (const r of good) {
    const line = el("div", { class: "bar-row" });
    line.appendChild(el("span", { class: "bar-label" }, r.feature));
    const track = el("span", { class: "bar-track" });
    const b = el("span", { class: "bar " + (r.contribution >= 0 ? "up" : "down") });
    b.style.width = (50 * Math.abs(r.contribution) / max).toFixed(1) + "%";
    track.appendChild(b);
    line.appendChild(track);
    line.appendChild(el("span", { class: "bar-value" }, (r.contribution >= 0 ? "+" : "") + r.contribution.toFixed(4)));
    d.appendChild(line);
  }
  return d;
}

function highlighted(rows) {
  const p = el("p", { id: "highlighted-text" });
  const w = (r) => r.attribution ?? r.weight ?? 0;
  const max = Math.max(...rows.map((r) => Math.abs(w(r))), 1e-12);
  for (const r of rows) {
    const m = el("mark", { class: w(r) < 0 ? "neg" : "" }, r.token);
    m.style.opacity = (0.25 + 0.75 * Math.abs(w(r)) / max).toFixed(2);
    p.append(m, " ");
  }
  return p;
}

function table(rows, name) {
  const t = el("table", { "data-name": name });
  const cols = Object.keys(rows[0] || {});
  const head = el("tr");
  for (const c of cols) head.appendChild(el("th", {}, c));
  t.appendChild(head);
  for (const r of rows.slice(0, 50)) {
    const tr = el("tr");
    for (const c of cols) tr.appendChild(el("td", {}, r[c] === null ? "" : String(r[c])));
    t.appendChild(tr);
  }
  return t;
}

async function deid() {
  $("deid-error").textContent = "";
  $("deid-result").textContent = "Working...";
  try {
    const body = await api("/deid", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: $("deid-text").value, mode: $("deid-mode").value }) });
    $("deid-result").textContent = body.text;
    const counts = {};
    for (const s of body.spans) counts[s.label] = (counts[s.label] || 0) + 1;
    $("deid-spans").textContent = body.spans.length
      ? "Removed: " + Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")
      : "No protected health information found.";
  } catch (e) {
    $("deid-result").textContent = "";
    $("deid-error").textContent = e.message;
  }
}

$("login-button").addEventListener("click", login);
$("api-key").addEventListener("keydown", (e) => { if (e.key === "Enter") login(); });
$("model").addEventListener("change", showModel);
$("predict-button").addEventListener("click", () => send("predict"));
$("explain-button").addEventListener("click", () => send("explain"));
$("deid-button").addEventListener("click", deid);
if (key()) { $("api-key").value = key(); login(); }
