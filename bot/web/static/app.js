// tunesmith playground. Everything shown is built with createElement/textContent, never parsed as HTML. The form is built from /api/options, so new request fields need no change here.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { options: null, fields: [], track: null, streams: new Map() };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, { credentials: "same-origin", ...init });
  let data = {};
  try { data = await response.json(); } catch (_) { data = {}; }
  if (!response.ok) throw new Error(data.error || `The server answered ${response.status}.`);
  return data;
}

function fmtSeconds(seconds) {
  const s = Math.round(Number(seconds) * 10) / 10;
  const m = Math.floor(s / 60);
  const rest = Math.round((s - m * 60) * 10) / 10;
  return m ? `${m}m${rest ? rest + "s" : ""}` : `${rest}s`;
}

function fileUrl(id, kind, download) {
  return `/files/${encodeURIComponent(id)}/${encodeURIComponent(kind)}${download ? "?download=1" : ""}`;
}

// --- the form ------------------------------------------------------------------------------------------------
function styleInfo(name) {
  return (state.options.styles || []).find((s) => s.name === name) || null;
}

function buildControl(spec) {
  const id = `f-${spec.name}`;
  let control;
  if (spec.control === "select") {
    control = el("select", { id, name: spec.name });
    const choices = spec.name === "style"
      ? state.options.styles.map((s) => [s.name, s.description ? `${s.name} — ${s.description}` : s.name])
      : spec.choices;
    for (const [value, label] of choices) control.append(el("option", { value, text: label }));
  } else if (spec.control === "checkbox") {
    control = el("input", { id, name: spec.name, type: "checkbox" });
  } else {
    const number = spec.control === "number";
    control = el("input", {
      id, name: spec.name, type: number ? "number" : "text", placeholder: spec.placeholder || null,
      min: spec.minimum, max: spec.maximum, step: spec.step, autocomplete: "off",
      list: spec.suggestions && spec.suggestions.length ? `${id}-list` : null,
    });
  }
  const label = el("label", { for: id, text: spec.label });
  const wrap = el("div", { class: `field field-${spec.control}`, dataset: { field: spec.name } }, label, control);
  if (spec.suggestions && spec.suggestions.length) {
    const list = el("datalist", { id: `${id}-list` });
    for (const value of spec.suggestions) list.append(el("option", { value }));
    wrap.append(list);
  }
  if (spec.help) wrap.append(el("small", { class: "muted", text: spec.help }));
  return wrap;
}

function updatePerStyle() {
  const style = styleInfo($("f-style") ? $("f-style").value : "");
  for (const spec of state.fields.filter((f) => f.per_style === "arches")) {
    const select = $(`f-${spec.name}`);
    if (!select) continue;
    const keep = select.value;
    clear(select);
    for (const [value, label] of spec.choices) select.append(el("option", { value, text: label }));
    for (const arch of style ? style.arches : []) {
      const label = arch === style.default_arch ? `${arch} (default)` : arch;
      select.append(el("option", { value: arch, text: label }));
    }
    select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
  }
  const meter = $("f-meter");  // only the meters the style's models learnt
  if (meter && style && style.meters) {
    const keep = meter.value;
    clear(meter);
    meter.append(el("option", { value: "", text: "style's own" }));
    for (const m of style.meters) meter.append(el("option", { value: m, text: m }));
    meter.value = style.meters.includes(keep) ? keep : "";
    meter.disabled = style.meters.length === 0;
  }
  const key = $("f-key");  // only keys in the modes the style supports (none: its models can't follow a key)
  const keys = $("f-key-list");
  if (key && keys && style && style.modes) {
    const spec = state.fields.find((f) => f.name === "key");
    clear(keys);
    for (const value of spec ? spec.suggestions : []) {
      if (style.modes.includes(value.split(" ")[1])) keys.append(el("option", { value }));
    }
    key.disabled = style.modes.length === 0;
    if (key.disabled) key.value = "";
    key.placeholder = key.disabled ? "not for this style's models" : spec ? spec.placeholder : "";
  }
  const tempo = $("f-tempo");
  if (tempo && style && style.tempo_range) {
    tempo.placeholder = style.tempo_range.map((t) => Math.round(t)).join("–");
  }
}

function buildForm() {
  state.fields = state.options.fields;
  const basic = $("fields");
  const advanced = $("advanced-fields");
  const keep = currentValues();
  clear(basic);
  clear(advanced);
  for (const spec of state.fields) (spec.advanced ? advanced : basic).append(buildControl(spec));
  if ($("f-length") && !$("f-length").value) $("f-length").value = "30s";
  if ($("f-style") && styleInfo("irish")) $("f-style").value = "irish";
  for (const [name, value] of Object.entries(keep)) {
    const control = $(`f-${name}`);
    if (!control) continue;
    if (control.type === "checkbox") control.checked = value === true;
    else control.value = value;
  }
  $("f-style") && $("f-style").addEventListener("change", updatePerStyle);
  updatePerStyle();
}

function currentValues() {
  const values = {};
  for (const spec of state.fields) {
    const control = $(`f-${spec.name}`);
    if (!control) continue;
    if (spec.control === "checkbox") values[spec.name] = control.checked;
    else if (control.value !== "") values[spec.name] = control.value;
  }
  return values;
}

function showFormError(message) {
  const box = $("form-error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function submitCompose(event) {
  event.preventDefault();
  showFormError("");
  const button = $("compose-button");
  button.disabled = true;
  try {
    const data = await api("/api/compose", currentValues());
    data.tracks.forEach((id, i) => follow(id, data.tracks.length > 1 ? `Take ${"AB"[i]}` : ""));
  } catch (error) {
    showFormError(error.message);
  } finally {
    button.disabled = false;
    refreshQuota();
  }
}

// --- following tracks as they are made ----------------------------------------------------------------------
function progressText(p) {
  if (p.status === "queued" || p.position) {
    const where = p.position ? `position ${p.position} in the queue` : "waiting for a worker";
    const eta = p.eta_s !== null && p.eta_s !== undefined ? ` · ready in about ${fmtSeconds(p.eta_s)}` : "";
    const none = p.workers === 0 ? " · no worker is online yet" : "";
    return `⏳ Queued: ${where}${eta}${none}`;
  }
  const pct = p.percent !== null && p.percent !== undefined ? ` ${Math.round(p.percent)}%` : "";
  const eta = p.eta_s ? ` · about ${fmtSeconds(p.eta_s)} left` : "";
  return `⚙️ ${p.stage || "working"}…${pct}${eta}`;
}

function follow(id, label) {
  if (state.streams.has(id)) return;
  $("jobs-panel").hidden = false;
  const text = el("span", { class: "job-text", text: "⏳ Queued…" });
  const bar = el("progress", { max: 100 });
  const item = el("li", { class: "job", dataset: { track: id } },
    el("code", { text: `${label ? label + " · " : ""}${id.slice(0, 8)}` }), text, bar);
  $("jobs").append(item);
  const source = new EventSource(`/api/tracks/${encodeURIComponent(id)}/events`);
  state.streams.set(id, source);
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    text.textContent = progressText(p);
    item.dataset.status = p.status;
    if (p.percent !== null && p.percent !== undefined) bar.value = p.percent; else bar.removeAttribute("value");
  });
  source.addEventListener("done", (event) => {
    source.close();
    state.streams.delete(id);
    item.remove();
    $("jobs-panel").hidden = $("jobs").children.length === 0;
    const track = JSON.parse(event.data);
    showTrack(track);
    if (track.status !== "done") note(`❌ Track ${id.slice(0, 8)} failed: ${track.reason || "no reason given"}`, true);
    refreshLists();
    refreshQuota();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      state.streams.delete(id);
      text.textContent = "⚠️ Lost the connection; reload the page to see how it went.";
    }
  });
}

// --- one track ----------------------------------------------------------------------------------------------
function note(message, isError) {
  const box = $("action-message");
  box.textContent = message || "";
  box.classList.toggle("error", Boolean(isError));
}

function showTrack(track) {
  state.track = track;
  $("track-panel").hidden = false;
  const kind = { extend: "tune, extended", harmonize: "chorale" }[track.kind] || "tune";
  $("track-title").textContent = `🎶 ${track.style} ${kind} · ${fmtSeconds(track.seconds)}`;
  const meta = [`track ${track.id.slice(0, 8)}`, track.arch];
  if (track.tempo_qpm) meta.push(`${Math.round(track.tempo_qpm)} BPM`);
  if (track.bars) meta.push(`${track.bars} bars`);
  if (track.seed !== undefined && track.seed !== null) meta.push(`seed ${track.seed}`);
  if (track.parent_id) meta.push(`from ${track.parent_id.slice(0, 8)}`);
  if (track.own) meta.push("yours");
  $("track-meta").textContent = meta.filter(Boolean).join(" · ");
  $("track-reason").hidden = track.status !== "failed";
  $("track-reason").textContent = track.status === "failed" ? `Failed: ${track.reason || "no reason given"}` : "";
  if (history.replaceState) history.replaceState(null, "", `#track=${track.id}`);

  const player = $("player");
  delete player.dataset.duration;
  if (track.audio) {
    const url = fileUrl(track.id, "audio");
    if (player.getAttribute("src") !== url) player.src = url;
    player.hidden = false;
  } else {
    player.removeAttribute("src");
    player.hidden = true;
  }

  const images = $("images");
  clear(images);
  for (const image of track.images) {
    images.append(el("figure", {},
      el("img", { src: fileUrl(track.id, image.kind), alt: `${image.label} of track ${track.id.slice(0, 8)}`, loading: "lazy" }),
      el("figcaption", { text: image.label })));
  }

  const facts = $("facts");
  clear(facts);
  for (const [name, value] of Object.entries(track.facts || {})) {
    let text;
    if (Array.isArray(value)) {
      text = value.map((v) => (v && typeof v === "object" ? v.symbol || v.name || JSON.stringify(v) : String(v)))
        .slice(0, 32).join(name === "chords" ? " " : ", ");
    } else text = String(value);
    facts.append(el("dt", { text: name }), el("dd", { text }));
  }

  const downloads = $("downloads");
  clear(downloads);
  for (const file of track.files) {
    const size = file.size > 1024 * 1024 ? `${(file.size / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(file.size / 1024))} kB`;
    downloads.append(el("li", {},
      el("a", { href: fileUrl(track.id, file.kind, true), download: file.name, text: `⬇ ${file.label}` }),
      el("span", { class: "muted", text: ` ${file.name} · ${size}` })));
  }
  if (!track.files.length) downloads.append(el("li", { class: "muted", text: "No files (yet)." }));
  drawVotes(track.votes);

  const actions = track.actions || {};
  const offer = state.options ? state.options.actions : {};
  $("reroll").disabled = !actions.reroll;
  $("extend").disabled = !actions.extend;
  $("extend").textContent = `➕ Extend ${state.options ? state.options.extend_s : 30}s`;
  $("harmonize").disabled = !actions.harmonize;
  $("harmonize").title = offer.harmonize ? "Alto, tenor and bass under the melody"
    : "Needs the Coconet chorale model on a worker";
  for (const id of ["vary-subtle", "vary-strong"]) $(id).hidden = !actions.vary && !offer.vary;
  $("vary-subtle").disabled = $("vary-strong").disabled = !actions.vary;
  const done = track.status === "done";
  for (const id of ["make-score", "make-exports", "make-stems"]) $(id).disabled = !done;
  note("");
}

function drawVotes(votes) {
  $("up-count").textContent = String(votes.up);
  $("down-count").textContent = String(votes.down);
  $("vote-up").classList.toggle("mine", votes.mine === 1);
  $("vote-down").classList.toggle("mine", votes.mine === -1);
  $("vote-up").setAttribute("aria-pressed", String(votes.mine === 1));
  $("vote-down").setAttribute("aria-pressed", String(votes.mine === -1));
}

async function vote(value) {
  if (!state.track) return;
  try {
    const votes = await api(`/api/tracks/${encodeURIComponent(state.track.id)}/vote`, { value });
    state.track.votes = votes;
    drawVotes(votes);
    note(votes.mine === 0 ? "Vote taken back." : "Thanks for voting!");
    refreshLists();
  } catch (error) {
    note(error.message, true);
  }
}

async function act(action, body = {}) {
  if (!state.track) return;
  try {
    const data = await api(`/api/tracks/${encodeURIComponent(state.track.id)}/${action}`, body);
    data.tracks.forEach((id) => follow(id, action));
    note(`Queued: ${action}.`);
  } catch (error) {
    note(error.message, true);
  } finally {
    refreshQuota();
  }
}

async function makeOutputs(kind) {
  if (!state.track) return;
  const id = state.track.id;
  note(`Making the ${kind}…`);
  try {
    await api(`/api/tracks/${encodeURIComponent(id)}/outputs`, { kind });
    showTrack(await api(`/api/tracks/${encodeURIComponent(id)}`));
    note(`The ${kind} is ready: see it and download it below.`);
  } catch (error) {
    note(error.message, true);
  }
}

async function openTrack(id) {
  try {
    showTrack(await api(`/api/tracks/${encodeURIComponent(id)}`));
    if (state.track.status === "pending") follow(id, "");
  } catch (error) {
    note(error.message, true);
  }
}

// --- lists, quota, what the workers offer ------------------------------------------------------------------
function drawList(node, rows, empty) {
  clear(node);
  for (const row of rows) {
    const label = `${row.style} · ${fmtSeconds(row.seconds)} · ${row.arch || ""}${row.kind !== "compose" ? " · " + row.kind : ""}`;
    node.append(el("li", {},
      el("button", { type: "button", class: "link", dataset: { track: row.id }, onclick: () => openTrack(row.id), text: label }),
      el("span", { class: "muted", text: ` 👍 ${row.up} 👎 ${row.down}${row.own ? " · yours" : ""}` })));
  }
  if (!rows.length) node.append(el("li", { class: "muted", text: empty }));
}

async function refreshLists() {
  try {
    const [recent, top] = await Promise.all([
      api("/api/lists/recent"), api(`/api/lists/top?period=${encodeURIComponent($("top-period").value)}`)]);
    drawList($("recent"), recent.tracks, "Nothing composed yet.");
    drawList($("top"), top.tracks, "No votes in this period yet.");
  } catch (_) { /* shown again on the next refresh */ }
}

async function refreshQuota() {
  try {
    const q = await api("/api/me");
    const parts = [];
    if (q.inflight_limit) parts.push(`${q.inflight} of ${q.inflight_limit} in the works`);
    if (q.day_limit) parts.push(`${q.day} of ${q.day_limit} in the last 24 h`);
    $("quota").textContent = parts.join(" · ");
    for (const id of q.pending || []) follow(id, "");  // e.g. after a reload
  } catch (_) { /* not essential */ }
}

async function loadOptions() {
  try {
    const options = await api("/api/options");
    const changed = JSON.stringify(options) !== JSON.stringify(state.options);
    state.options = options;
    const n = options.styles.length;
    $("status-line").textContent = n
      ? `${n} style${n === 1 ? "" : "s"} · ${options.workers} worker${options.workers === 1 ? "" : "s"} online`
      : "Waiting for a worker to publish its styles…";
    $("compose-button").disabled = n === 0;
    if (changed) {
      buildForm();
      if (state.track) showTrack(state.track);
    }
  } catch (error) {
    $("status-line").textContent = `⚠️ ${error.message}`;
  }
  setTimeout(loadOptions, state.options && state.options.styles.length ? 15000 : 2000);
}

function init() {
  $("compose-form").addEventListener("submit", submitCompose);
  $("vote-up").addEventListener("click", () => vote(1));
  $("vote-down").addEventListener("click", () => vote(-1));
  $("reroll").addEventListener("click", () => act("reroll"));
  $("extend").addEventListener("click", () => act("extend"));
  $("harmonize").addEventListener("click", () => act("harmonize"));
  $("vary-subtle").addEventListener("click", () => act("vary", { strength: "subtle" }));
  $("vary-strong").addEventListener("click", () => act("vary", { strength: "strong" }));
  $("make-score").addEventListener("click", () => makeOutputs("score"));
  $("make-exports").addEventListener("click", () => makeOutputs("exports"));
  $("make-stems").addEventListener("click", () => makeOutputs("stems"));
  $("top-period").addEventListener("change", refreshLists);
  const player = $("player");
  player.addEventListener("loadedmetadata", () => { player.dataset.duration = String(player.duration); });
  loadOptions();
  refreshLists();
  refreshQuota();
  setInterval(refreshLists, 20000);
  const match = /^#track=([0-9a-f]{32})$/.exec(location.hash);
  if (match) openTrack(match[1]);
}

document.addEventListener("DOMContentLoaded", init);
