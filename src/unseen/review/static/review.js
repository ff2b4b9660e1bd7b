// unseen review: the page is a view of the server's plans.  Every edit is sent to the server, which
// applies it, checks it and keeps the plan before it for undo; the page then shows what it answers.
// Coordinates are always the picture's own pixels; frames are always the plan's frame indices, shown
// as JPEGs the server rendered of exactly that frame.

const PAGE = document.querySelector('meta[name="unseen-page"]').content;
const main = document.getElementById("main");
const LOW = 0.5; // scores under this are drawn dashed

const S = {
  view: "grid", files: [], key: null, file: null, mode: "edit", selected: null, marked: null,
  frame: 0, boxes: [], playing: false, loupe: false, pointer: null, reason: "",
};

const KEYS = [
  ["?", "show or hide these keys"], ["g", "all files"], ["a", "attention queue (where misses are likely)"],
  ["b", "before Apply: what stays visible, contact sheet, Apply"], ["j / k", "next / previous file"],
  ["e / p / o", "view: edit, covered preview, original"], ["drag on the picture", "draw a new box (always covered)"],
  ["n", "new box under the pointer"], ["Tab / Shift+Tab", "select the next / previous region or track"],
  ["Delete", "delete the selected box or track"], ["v", "leave the selected one visible (type a reason, Enter)"],
  ["c", "cover the selected one again"], ["y", "accept the selected candidate (dashed yellow)"],
  ["l", "loupe for tiny faces"], [", / .", "video: previous / next frame"], ["< / >", "video: 10 frames back / on"],
  ["Space", "video: play / pause"], ["Home / End", "video: first / last frame"],
  ["[ / ]", "video: the selected track starts / ends on this frame"], ["s", "video: split the selected track here"],
  ["m", "video: mark the selected track, then m on another to merge them (by hand)"],
  ["z or Ctrl+Z", "undo the last edit"], ["Shift+A", "Apply (from Before Apply)"], ["Shift+D", "done: end the review"],
  ["Esc", "deselect, close"],
];

// ---- small helpers ------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") el.textContent = v;
    else if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, v);
  }
  return el;
}

async function answer(r) {
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || `the server answered ${r.status}`);
  return data;
}
const get = (url) => fetch(url, { cache: "no-store" }).then(answer);
const post = (url, body = {}) => fetch(url, {
  method: "POST", headers: { "content-type": "application/json", "x-unseen-page": PAGE }, body: JSON.stringify(body),
}).then(answer);

let toastTimer = null;
function toast(text, ok = false) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = ok ? "ok" : "";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

const guarded = (fn) => async (...args) => {
  try { return await fn(...args); } catch (err) { toast(err.message); return undefined; }
};

const isVideo = () => S.file && S.file.kind === "video";
const frameUrl = (key, n, view) => `/frame/${key}/${n}.jpg?view=${view}`;
const thumbUrl = (key, id) => `/thumb/${key}/${encodeURIComponent(id)}.jpg`;

// ---- navigation ---------------------------------------------------------------------------------

async function refresh() {
  const state = await get("/api/state");
  S.files = state.files;
  S.state = state;
  const todo = state.files.filter((f) => f.status === "to review").length;
  document.getElementById("status").textContent =
    `${state.files.length} file(s), ${todo} not opened yet` + (state.applying ? " · applying…" : "");
  return state;
}

async function go(view) {
  stop();
  if (view === "help") { toggleHelp(); return; }
  S.view = view;
  for (const b of document.querySelectorAll("header nav button")) b.classList.toggle("on", b.dataset.go === view);
  if (view === "grid") await showGrid();
  else if (view === "queue") await showQueue();
  else if (view === "apply") await showApply();
}

async function openFile(key, frame = 0, select = null) {
  stop();
  S.view = "file";
  S.key = key;
  S.frame = frame;
  S.selected = select;
  S.marked = null;
  S.mode = "edit";
  await loadFile();
  renderFile();
  if (isVideo()) await showFrame(frame);
}

async function loadFile() {
  S.file = await get(`/api/file/${S.key}`);
}

function step(files, by) {
  if (!S.files.length) return;
  const at = S.files.findIndex((f) => f.key === S.key);
  const next = S.files[(at + by + S.files.length) % S.files.length];
  openFile(next.key);
}

// ---- the grid -----------------------------------------------------------------------------------

async function showGrid() {
  await refresh();
  const cards = S.files.map((f) => h("button", { class: "card", type: "button", onclick: () => openFile(f.key), dataset: { key: f.key } },
    h("img", { src: frameUrl(f.key, 0, "original"), alt: "" }),
    h("div", { class: "name", text: f.name }),
    h("span", { class: `badge ${f.status}`, text: f.status }), " ",
    h("span", { class: "hint", text: `${f.kind}, ${f.regions} ${f.kind === "video" ? "track" : "region"}(s)` +
      (f.visible ? `, ${f.visible} left visible` : "") + (f.candidates ? `, ${f.candidates} candidate(s)` : "") }),
    f.error ? h("div", { class: "hint", text: f.error }) : null));
  const failed = (S.state.failed || []).map((f) => h("li", { text: `${f.name}: ${f.error}` }));
  main.replaceChildren(
    h("p", { class: "hint", text: "Open each file and look at every box; start with the attention queue (a) where misses are likely. Press ? for keys." }),
    h("div", { class: "grid" }, cards),
    failed.length ? h("div", {}, h("h3", { text: "Not reviewable" }), h("ul", {}, failed)) : null);
}

// ---- one file -----------------------------------------------------------------------------------

function items() {
  // Regions in the order review time should go: candidates, then the lowest scores first.
  const f = S.file;
  if (f.kind === "video") return f.tracks.map((t) => ({ ...t, isTrack: true }));
  const score = (r) => (r.score === null ? 2 : r.score);
  return [
    ...f.candidates.map((c) => ({ ...c, candidate: true })),
    ...[...f.regions].sort((a, b) => score(a) - score(b)),
  ];
}

function findItem(id) {
  return items().find((i) => i.id === id) || null;
}

function renderFile() {
  const f = S.file;
  const views = [["edit", "Edit", "e"], ["covered", "Covered", "p"], ["original", "Original", "o"]].map(([v, label, key]) =>
    h("button", { type: "button", class: `btn ${S.mode === v ? "on" : ""}`, title: `${label} (${key})`, dataset: { view: v }, onclick: () => setMode(v) }, label));
  const toolbar = h("div", { class: "toolbar" },
    h("span", { class: "name", text: f.name }),
    h("span", { class: `badge ${f.status}`, text: f.status }),
    ...views,
    h("button", { type: "button", class: `btn ${S.loupe ? "on" : ""}`, title: "Loupe (l)", onclick: toggleLoupe }, "Loupe"),
    h("button", { type: "button", class: "btn", title: "Undo (z)", onclick: undo }, "Undo"),
    h("button", { type: "button", class: "btn", title: "Previous file (k)", onclick: () => step(S.files, -1) }, "◀ File"),
    h("button", { type: "button", class: "btn", title: "Next file (j)", onclick: () => step(S.files, 1) }, "File ▶"),
    f.locked ? h("span", { class: "hint", text: "written: this plan can no longer change" }) : null);
  const img = h("img", { class: "pic", alt: f.name, draggable: "false", src: frameUrl(S.key, S.frame, S.mode === "covered" ? "covered" : "original") });
  const overlay = svg("svg", { class: "overlay", viewBox: `0 0 ${f.width} ${f.height}`, preserveAspectRatio: "none" });
  const loupe = h("canvas", { class: "loupe", width: "180", height: "180", hidden: !S.loupe });
  const stage = h("div", { class: `stage view-${S.mode}` }, img, overlay, loupe);
  img.addEventListener("load", () => { fit(); drawOverlay(); });
  bindStage(stage, img, overlay, loupe);
  const left = h("div", { class: "left" }, toolbar, stage);
  if (f.kind === "video") left.append(transport(), lanes());
  main.replaceChildren(h("section", { class: "file" }, left, h("aside", { class: "side", id: "side" })));
  renderSide();
  if (f.kind === "video") renderLanes();
  fit();
  drawOverlay();
}

function fit() {
  // The picture as large as the column and 70% of the window allow, its shape kept, so the overlay
  // (stretched over it) maps picture pixels exactly.
  const img = main.querySelector("img.pic");
  const left = main.querySelector(".file .left");
  if (!img || !left) return;
  const f = S.file;
  const width = Math.min(left.clientWidth, (window.innerHeight * 0.7 * f.width) / f.height);
  img.style.width = `${Math.floor(width)}px`;
  img.style.height = `${Math.floor((width * f.height) / f.width)}px`;
}

function setMode(mode) {
  S.mode = mode;
  const stage = main.querySelector(".stage");
  if (!stage) return;
  stage.className = `stage view-${mode}`;
  for (const b of main.querySelectorAll("[data-view]")) b.classList.toggle("on", b.dataset.view === mode);
  main.querySelector("img.pic").src = frameUrl(S.key, S.frame, mode === "covered" ? "covered" : "original");
}

function shownBoxes() {
  // What the overlay draws: a photo's regions and candidates, or the video tracks' boxes on this frame.
  if (isVideo()) return S.boxes.map((b) => ({ ...b, isTrack: true }));
  return items();
}

function drawOverlay() {
  const overlay = main.querySelector("svg.overlay");
  const img = main.querySelector("img.pic");
  if (!overlay || !img) return;
  const f = S.file;
  const rect = img.getBoundingClientRect();
  const unit = rect.width ? f.width / rect.width : 1; // picture pixels per screen pixel
  overlay.replaceChildren();
  for (const r of shownBoxes()) {
    const [x0, y0, x1, y1] = r.box;
    const kept = r.decision === "keep";
    const cls = ["region", `kind-${r.kind}`, `source-${r.source}`];
    if (r.candidate) cls.push("candidate");
    if (r.score !== null && r.score !== undefined && r.score < LOW) cls.push("low");
    if (kept) cls.push("kept");
    if (r.isTrack && r.seen === false) cls.push("unseen-here");
    if (r.id === S.selected) cls.push("selected");
    const g = svg("g", { class: cls.join(" "), "data-id": r.id });
    g.append(svg("rect", { class: "box", x: x0, y: y0, width: x1 - x0, height: y1 - y0 }));
    const label = kept ? `visible${r.reason ? ": " + r.reason : ""}`
      : r.kind === "manual" ? `${r.id} drawn`
      : `${r.candidate ? "candidate " : ""}${r.source}${r.score !== null ? " " + r.score.toFixed(2) : ""}`;
    g.append(svg("text", { x: x0, y: Math.max(12 * unit, y0 - 4 * unit), "font-size": 12 * unit, text: label }));
    if (r.id === S.selected && !r.candidate && !f.locked) {
      const s = 8 * unit;
      for (const [name, cx, cy] of [["nw", x0, y0], ["ne", x1, y0], ["sw", x0, y1], ["se", x1, y1]]) {
        g.append(svg("rect", { class: `handle ${name}`, "data-corner": name, x: cx - s / 2, y: cy - s / 2, width: s, height: s }));
      }
    }
    overlay.append(g);
  }
}

function toPicture(overlay, event) {
  const rect = overlay.getBoundingClientRect();
  const f = S.file;
  return [
    Math.round(((event.clientX - rect.left) * f.width) / rect.width),
    Math.round(((event.clientY - rect.top) * f.height) / rect.height),
  ];
}

function bindStage(stage, img, overlay, loupe) {
  let drag = null;
  overlay.addEventListener("pointerdown", (event) => {
    if (S.file.locked || event.button !== 0) return;
    const [x, y] = toPicture(overlay, event);
    const g = event.target.closest("g.region");
    const id = g ? g.dataset.id : null;
    const item = id ? shownBoxes().find((r) => r.id === id) : null;
    overlay.setPointerCapture(event.pointerId);
    if (item && event.target.dataset.corner) {
      drag = { kind: "resize", id, corner: event.target.dataset.corner, box: [...item.box], start: [x, y] };
    } else if (item) {
      select(id);
      drag = item.candidate ? null : { kind: "move", id, box: [...item.box], start: [x, y] };
    } else {
      const rect = svg("rect", { class: "drawing", x, y, width: 0, height: 0 });
      overlay.append(rect);
      drag = { kind: "draw", start: [x, y], rect, box: [x, y, x, y] };
    }
  });
  overlay.addEventListener("pointermove", (event) => {
    S.pointer = toPicture(overlay, event);
    if (S.loupe) drawLoupe(img, loupe, event);
    if (!drag) return;
    const [x, y] = S.pointer;
    const [dx, dy] = [x - drag.start[0], y - drag.start[1]];
    const b = drag.box;
    let box;
    if (drag.kind === "draw") box = [Math.min(drag.start[0], x), Math.min(drag.start[1], y), Math.max(drag.start[0], x), Math.max(drag.start[1], y)];
    else if (drag.kind === "move") box = [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy];
    else {
      box = [...b];
      if (drag.corner.includes("w")) box[0] = b[0] + dx; else box[2] = b[2] + dx;
      if (drag.corner.includes("n")) box[1] = b[1] + dy; else box[3] = b[3] + dy;
      box = [Math.min(box[0], box[2]), Math.min(box[1], box[3]), Math.max(box[0], box[2]), Math.max(box[1], box[3])];
    }
    drag.now = box;
    const rect = drag.kind === "draw" ? drag.rect : overlay.querySelector(`g[data-id="${CSS.escape(drag.id)}"] rect.box`);
    if (rect) {
      rect.setAttribute("x", box[0]); rect.setAttribute("y", box[1]);
      rect.setAttribute("width", box[2] - box[0]); rect.setAttribute("height", box[3] - box[1]);
    }
  });
  const finish = guarded(async () => {
    const d = drag;
    drag = null;
    if (!d || !d.now) { if (d && d.rect) d.rect.remove(); return; }
    const [x0, y0, x1, y1] = d.now;
    if (d.kind === "draw") {
      d.rect.remove();
      if (x1 - x0 < 3 || y1 - y0 < 3) return;
      await edit({ op: "add", box: d.now, frame: S.frame });
      const made = isVideo() ? S.file.tracks.filter((t) => t.kind === "manual").at(-1) : S.file.regions.filter((r) => r.kind === "manual").at(-1);
      if (made) select(made.id);
    } else {
      await edit({ op: "box", id: d.id, box: d.now, frame: S.frame });
    }
  });
  overlay.addEventListener("pointerup", finish);
  overlay.addEventListener("pointercancel", () => { if (drag && drag.rect) drag.rect.remove(); drag = null; drawOverlay(); });
  overlay.addEventListener("pointerleave", () => { loupe.hidden = true; });
  overlay.addEventListener("pointerenter", () => { loupe.hidden = !S.loupe; });
}

function drawLoupe(img, loupe, event) {
  const rect = img.getBoundingClientRect();
  const zoom = 3;
  const natural = img.naturalWidth / rect.width;
  const px = (event.clientX - rect.left) * natural;
  const py = (event.clientY - rect.top) * natural;
  const span = (180 / zoom) * natural;
  const ctx = loupe.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#222";
  ctx.fillRect(0, 0, 180, 180);
  ctx.drawImage(img, px - span / 2, py - span / 2, span, span, 0, 0, 180, 180);
  ctx.strokeStyle = "#fff8";
  ctx.beginPath(); ctx.moveTo(90, 80); ctx.lineTo(90, 100); ctx.moveTo(80, 90); ctx.lineTo(100, 90); ctx.stroke();
  loupe.style.left = `${event.clientX - rect.left + 24}px`;
  loupe.style.top = `${event.clientY - rect.top - 90}px`;
  loupe.hidden = false;
}

function toggleLoupe() {
  S.loupe = !S.loupe;
  const loupe = main.querySelector("canvas.loupe");
  if (loupe) loupe.hidden = !S.loupe;
  for (const b of main.querySelectorAll(".toolbar button")) if (b.textContent === "Loupe") b.classList.toggle("on", S.loupe);
}

function select(id) {
  S.selected = id;
  drawOverlay();
  renderSide();
  if (isVideo()) markLanes();
}

function renderSide() {
  const side = document.getElementById("side");
  if (!side) return;
  const f = S.file;
  const chosen = S.selected ? findItem(S.selected) || S.boxes.find((b) => b.id === S.selected) : null;
  const parts = [];
  if (chosen) parts.push(selectedPanel(chosen));
  else parts.push(h("p", { class: "hint", text: f.kind === "video"
    ? "Click a box or a track to select it. Drag on the picture to add a box on this frame: the tracker carries it through the clip."
    : "Click a box to select it; drag on the picture to draw a box over anything missed." }));
  if (f.kind === "video") {
    parts.push(h("h3", { text: `Tracks (${f.tracks.length})` }));
    for (const t of f.tracks) parts.push(trackCard(t));
  } else {
    if (f.candidates.length) {
      parts.push(h("h3", { text: "Candidates just under the threshold (y accepts)" }));
      for (const c of f.candidates) parts.push(listItem({ ...c, candidate: true }));
    }
    parts.push(h("h3", { text: `Regions (${f.regions.length}), lowest score first` }));
    for (const r of items().filter((i) => !i.candidate)) parts.push(listItem(r));
  }
  side.replaceChildren(...parts);
}

function describe(r) {
  if (r.candidate) return `candidate, ${r.source} ${r.score.toFixed(2)}`;
  if (r.kind === "manual") return "drawn by hand: always covered";
  return `${r.kind}, ${r.source}${r.score !== null ? " " + r.score.toFixed(2) : ""}`;
}

function listItem(r) {
  const swatch = r.candidate ? "candidate" : r.decision === "keep" ? "kept" : r.kind;
  return h("button", { type: "button", class: `item ${r.id === S.selected ? "on" : ""}`, dataset: { id: r.id }, onclick: () => select(r.id) },
    h("img", { src: thumbUrl(S.key, r.id), alt: "", loading: "lazy" }),
    h("div", {}, h("div", { class: "what" }, h("span", { class: `swatch ${swatch}` }), `${r.id}: ${describe(r)}`),
      h("div", { class: "why", text: r.decision === "keep" ? `left visible${r.reason ? ": " + r.reason : ""}` : r.candidate ? "not covered unless accepted" : "covered" })));
}

function trackCard(t) {
  const span = `frames ${t.first}–${t.last}, ${t.count} frame(s)` + (t.filled ? `, ${t.filled} filled in by tracking` : "");
  return h("button", { type: "button", class: `item ${t.id === S.selected ? "on" : ""}`, dataset: { id: t.id },
    onclick: () => { select(t.id); showFrame(Math.min(Math.max(S.frame, t.first), t.last)); } },
    h("img", { src: thumbUrl(S.key, t.id), alt: "", loading: "lazy" }),
    h("div", {}, h("div", { class: "what" }, h("span", { class: `swatch ${t.decision === "keep" ? "kept" : t.kind}` }), `${t.id}: ${describe(t)}`),
      h("div", { class: "why", text: span }),
      h("div", { class: "why", text: t.decision === "keep" ? `left visible${t.reason ? ": " + t.reason : ""}` : "covered" + (S.marked === t.id ? " · marked for merge" : "") })));
}

function selectedPanel(r) {
  const locked = S.file.locked;
  const reason = h("input", { id: "reason", type: "text", placeholder: "why it may stay visible (consent)", value: r.reason || "", disabled: locked || r.candidate || r.kind === "manual" });
  reason.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); keep(reason.value); }
    if (event.key === "Escape") { event.preventDefault(); reason.blur(); }
  });
  const row = h("div", { class: "row" });
  if (r.candidate) {
    row.append(h("button", { type: "button", class: "btn primary", disabled: locked, onclick: accept }, "Accept and cover (y)"));
  } else {
    if (r.kind !== "manual") {
      row.append(reason,
        h("button", { type: "button", class: "btn", disabled: locked, onclick: () => keep(reason.value) }, "Leave visible (v)"),
        h("button", { type: "button", class: "btn", disabled: locked || r.decision !== "keep", onclick: cover }, "Cover (c)"));
    }
    row.append(h("button", { type: "button", class: "btn danger", disabled: locked, onclick: remove }, "Delete (Del)"));
    if (isVideo() && (r.isTrack || r.first !== undefined)) {
      row.append(
        h("button", { type: "button", class: "btn", disabled: locked, onclick: () => trim("first") }, "Starts here ([)"),
        h("button", { type: "button", class: "btn", disabled: locked, onclick: () => trim("last") }, "Ends here (])"),
        h("button", { type: "button", class: "btn", disabled: locked, onclick: split }, "Split here (s)"),
        h("button", { type: "button", class: "btn", disabled: locked, onclick: merge }, S.marked && S.marked !== r.id ? `Merge with ${S.marked} (m)` : "Mark to merge (m)"));
    }
  }
  return h("div", { class: "selected-panel" }, h("strong", { text: r.id }), " ", h("span", { text: describe(r) }), row);
}

// ---- edits --------------------------------------------------------------------------------------

async function edit(change) {
  S.file = await post(`/api/edit/${S.key}`, change);
  if (isVideo()) { await fetchBoxes(S.frame); renderLanes(); }
  if (S.selected && !findItem(S.selected) && !S.boxes.some((b) => b.id === S.selected)) S.selected = null;
  drawOverlay();
  renderSide();
  if (S.mode === "covered") setMode("covered");
}

const keep = guarded(async (reason) => { if (S.selected) await edit({ op: "keep", id: S.selected, reason }); });
const cover = guarded(async () => { if (S.selected) await edit({ op: "cover", id: S.selected }); });
const remove = guarded(async () => { if (S.selected) { const id = S.selected; S.selected = null; await edit({ op: "delete", id }); } });
const accept = guarded(async () => {
  const item = S.selected && findItem(S.selected);
  if (!item || !item.candidate) return;
  const before = new Set(S.file.regions.map((r) => r.id));
  await edit({ op: "accept", id: item.id });
  const made = S.file.regions.find((r) => !before.has(r.id));
  select(made ? made.id : null);
});
const trim = guarded(async (end) => {
  const t = S.selected && S.file.tracks.find((x) => x.id === S.selected);
  if (!t) return;
  const [first, last] = end === "first" ? [S.frame, t.last] : [t.first, S.frame];
  await edit({ op: "trim", id: t.id, first, last });
});
const split = guarded(async () => { if (S.selected) await edit({ op: "split", id: S.selected, frame: S.frame }); });
const merge = guarded(async () => {
  if (!S.selected) return;
  if (!S.marked || S.marked === S.selected) { S.marked = S.selected; renderSide(); toast(`${S.marked} marked: select another track and press m to merge`, true); return; }
  const other = S.selected;
  S.selected = S.marked;
  S.marked = null;
  await edit({ op: "merge", id: S.selected, other });
});
const undo = guarded(async () => {
  const { key } = await post("/api/undo");
  if (!key) { toast("nothing to undo"); return; }
  if (S.view === "file" && key === S.key) {
    await loadFile();
    if (isVideo()) { await fetchBoxes(S.frame); renderLanes(); }
    if (S.selected && !findItem(S.selected)) S.selected = null;
    drawOverlay(); renderSide();
    if (S.mode === "covered") setMode("covered");
  } else {
    const f = S.files.find((x) => x.key === key);
    toast(`undid an edit in ${f ? f.name : "another file"}`, true);
  }
});

function newBoxAtPointer() {
  if (!S.pointer || S.file.locked) return;
  const side = Math.max(16, Math.round(Math.min(S.file.width, S.file.height) / 10));
  const [x, y] = S.pointer;
  guarded(edit)({ op: "add", box: [x - side / 2, y - side / 2, x + side / 2, y + side / 2].map(Math.round), frame: S.frame });
}

// ---- video --------------------------------------------------------------------------------------

function transport() {
  const f = S.file;
  const frameno = h("input", { id: "frameno", type: "number", min: "0", max: String(f.frames - 1), value: String(S.frame), title: "frame index" });
  frameno.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); showFrame(Number(frameno.value)); frameno.blur(); }
  });
  return h("div", { class: "transport" },
    h("button", { type: "button", class: "btn", title: "First frame (Home)", onclick: () => showFrame(0) }, "◀◀ first"),
    h("button", { type: "button", class: "btn", title: "Previous frame (,)", onclick: () => showFrame(S.frame - 1) }, "‹ frame"),
    h("button", { type: "button", class: "btn", id: "play", title: "Play / pause (Space)", onclick: togglePlay }, "▶"),
    h("button", { type: "button", class: "btn", title: "Next frame (.)", onclick: () => showFrame(S.frame + 1) }, "frame ›"),
    h("span", {}, "frame ", frameno, ` of 0–${f.frames - 1}`),
    h("span", { class: "hint", id: "clock" }));
}

async function fetchBoxes(n) {
  const boxes = await get(`/api/boxes/${S.key}/${n}`);
  if (n === S.frame) S.boxes = boxes;
}

const showFrame = guarded(async (n) => {
  const f = S.file;
  if (!f || f.kind !== "video") return;
  n = Math.max(0, Math.min(f.frames - 1, Math.round(n)));
  S.frame = n;
  const img = main.querySelector("img.pic");
  if (img) img.src = frameUrl(S.key, n, S.mode === "covered" ? "covered" : "original");
  const frameno = document.getElementById("frameno");
  if (frameno && document.activeElement !== frameno) frameno.value = String(n);
  const clock = document.getElementById("clock");
  // The file's clock, as a player and --cover count it: the first frame's time, then the average rate.
  if (clock) clock.textContent = f.fps ? `${(f.start + n / f.fps).toFixed(2)} s` : "";
  markLanes();
  await fetchBoxes(n);
  if (n === S.frame) drawOverlay();
});

function togglePlay() {
  if (S.playing) { stop(); return; }
  S.playing = true;
  const button = document.getElementById("play");
  if (button) button.textContent = "❚❚";
  const delay = 1000 / (S.file.fps || 25);
  const tick = async () => {
    if (!S.playing) return;
    if (S.frame >= S.file.frames - 1) { stop(); return; }
    const started = performance.now();
    await showFrame(S.frame + 1);
    S.timer = setTimeout(tick, Math.max(0, delay - (performance.now() - started)));
  };
  tick();
}

function stop() {
  S.playing = false;
  clearTimeout(S.timer);
  const button = document.getElementById("play");
  if (button) button.textContent = "▶";
}

function lanes() {
  return h("div", { class: "lanes", id: "lanes" });
}

function renderLanes() {
  const box = document.getElementById("lanes");
  if (!box) return;
  const f = S.file;
  const rows = f.tracks.map((t) => {
    const lane = svg("svg", { viewBox: `0 0 ${f.frames} 10`, preserveAspectRatio: "none" });
    lane.append(svg("rect", { class: "span", x: t.first, y: 2, width: t.last - t.first + 1, height: 6 }));
    for (const k of t.keys) lane.append(svg("rect", { class: "key", x: k, y: 3, width: Math.max(0.4, f.frames / 400), height: 4 }));
    lane.append(svg("line", { class: "cursor", x1: S.frame + 0.5, x2: S.frame + 0.5, y1: 0, y2: 10 }));
    const row = h("div", { class: `lane ${t.decision === "keep" ? "kept" : ""} ${t.kind} ${t.id === S.selected ? "on" : ""}`, dataset: { id: t.id } },
      h("span", { class: "label", text: t.id }), lane);
    row.addEventListener("click", (event) => {
      const rect = lane.getBoundingClientRect();
      const n = Math.floor(((event.clientX - rect.left) / rect.width) * f.frames);
      select(t.id);
      showFrame(event.target.closest("svg") ? n : Math.min(Math.max(S.frame, t.first), t.last));
    });
    return row;
  });
  box.replaceChildren(...(rows.length ? rows : [h("p", { class: "hint", text: "No tracks: draw a box to add one." })]));
}

function markLanes() {
  for (const row of document.querySelectorAll(".lane")) {
    row.classList.toggle("on", row.dataset.id === S.selected);
    const line = row.querySelector("line.cursor");
    if (line) { line.setAttribute("x1", S.frame + 0.5); line.setAttribute("x2", S.frame + 0.5); }
  }
}

// ---- the attention queue ------------------------------------------------------------------------

async function showQueue() {
  const queue = await get("/api/attention");
  const rows = queue.map((i) => h("button", { type: "button", class: "item", onclick: () => openFile(i.key, i.frame, i.target) },
    h("img", { src: thumbUrl(i.key, i.target), alt: "", loading: "lazy" }),
    h("div", {}, h("div", { class: "what", text: `${i.name} · ${i.target}${i.frame ? " · frame " + i.frame : ""}` }), h("div", { class: "why", text: i.why }))));
  main.replaceChildren(h("div", { class: "list" },
    h("h2", { text: "Attention queue" }),
    h("p", { class: "hint", text: "Ordered by how likely a missed face hides there, not by file: candidates under the threshold, faces that flash through, frames the tracker filled in, low scores. A miss exposes a person; a false box only covers a patch." }),
    rows.length ? rows : h("p", { text: "Nothing stands out. Still look at every file." })));
}

// ---- before Apply -------------------------------------------------------------------------------

async function showApply() {
  const [state, exposure] = await Promise.all([refresh(), get("/api/exposure")]);
  const names = Object.fromEntries(state.files.map((f) => [f.key, f.name]));
  const visible = exposure.visible.map((i) => h("div", { class: "item" },
    h("img", { src: thumbUrl(i.key, i.target), alt: "" }),
    h("div", {}, h("div", { class: "what", text: `${names[i.key]} · ${i.target}` }), h("div", { class: "why", text: i.why }))));
  const sheet = exposure.sheet.map((s) => h("div", {}, h("h3", { text: names[s.key] }),
    h("div", { class: "sheet" }, s.frames.map((n) => h("img", { src: frameUrl(s.key, n, "covered"), alt: `${names[s.key]} frame ${n}`, loading: "lazy", title: `frame ${n}` })))));
  main.replaceChildren(h("div", { class: "list" },
    h("h2", { text: "Before Apply" }),
    h("h3", { text: "Will stay visible" }),
    visible.length ? visible : h("p", { text: "Nothing: every region found is covered." }),
    h("h3", { text: "Contact sheet of the covered output" }),
    h("p", { class: "hint", text: "Each photo, and a frame a second of each video, as the plan covers them. Do you still see a face?" }),
    sheet,
    h("div", { class: "row" },
      h("button", { type: "button", class: "btn primary", id: "apply", disabled: state.applying, onclick: apply }, "Apply (Shift+A)"), " ",
      h("span", { class: "hint", text: `renders every file not written yet through protect --plan, with its self-check; plans are saved in ${state.plans}` })),
    h("div", { id: "results" })));
  if (state.applied || state.applying) await pollApply();
}

const apply = guarded(async () => {
  if (S.view !== "apply") await go("apply");
  await post("/api/apply");
  await pollApply();
});

async function pollApply() {
  for (;;) {
    const state = await refresh();
    renderResults(state);
    if (!state.applying) return;
    await new Promise((r) => setTimeout(r, 400));
  }
}

function renderResults(state) {
  const box = document.getElementById("results");
  if (!box) return;
  const button = document.getElementById("apply");
  if (button) button.disabled = state.applying;
  const rows = state.files.filter((f) => ["protected", "failed", "unverified", "refused"].includes(f.status)).map((f) =>
    h("tr", { dataset: { key: f.key } }, h("td", { text: f.name }), h("td", {}, h("span", { class: `badge ${f.status}`, text: f.status })),
      h("td", { class: "check", text: f.status === "protected" ? "self-check passed" : `self-check not passed: ${f.error || ""}` })));
  const parts = [h("h3", { text: state.applying ? `Applying… ${state.progress[0]} of ${state.progress[1]}` : "Results" }),
    h("table", { class: "results" }, rows)];
  if (!state.applying) {
    if (state.report) parts.push(h("p", { text: `The report goes to ${state.report} when you press Done.` }));
    parts.push(h("button", { type: "button", class: "btn", id: "done", onclick: done }, "Done: end the review (Shift+D)"));
  }
  box.replaceChildren(...parts);
}

const done = guarded(async () => {
  await post("/api/done");
  stop();
  main.replaceChildren(h("h2", { text: "The review has ended." }), h("p", { text: "Previews were deleted. You can close this tab." }));
});

// ---- keys ---------------------------------------------------------------------------------------

function toggleHelp(force) {
  const help = document.getElementById("help");
  help.hidden = force === undefined ? !help.hidden : !force;
}

function cycle(by) {
  const list = isVideo() ? S.file.tracks : items();
  if (!list.length) return;
  const at = list.findIndex((i) => i.id === S.selected);
  const next = list[(at + by + list.length) % list.length];
  select(next.id);
  if (isVideo()) showFrame(Math.min(Math.max(S.frame, next.first), next.last));
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (typing || event.altKey || event.metaKey) return;
  const k = event.key;
  if ((event.ctrlKey && k === "z") || k === "z") { event.preventDefault(); undo(); return; }
  if (event.ctrlKey) return;
  const inFile = S.view === "file" && S.file;
  const video = inFile && isVideo();
  const acts = {
    "?": () => toggleHelp(), Escape: () => { toggleHelp(false); if (inFile) select(null); },
    g: () => go("grid"), a: () => go("queue"), b: () => go("apply"), A: () => apply(), D: () => done(),
  };
  if (inFile) Object.assign(acts, {
    e: () => setMode("edit"), p: () => setMode("covered"), o: () => setMode("original"), l: toggleLoupe,
    j: () => step(S.files, 1), k: () => step(S.files, -1), n: newBoxAtPointer,
    Tab: () => cycle(event.shiftKey ? -1 : 1), Delete: remove, Backspace: remove,
    v: () => { const input = document.getElementById("reason"); if (input && !input.disabled) input.focus(); },
    c: cover, y: accept, Enter: accept,
  });
  if (video) Object.assign(acts, {
    ",": () => showFrame(S.frame - 1), ".": () => showFrame(S.frame + 1),
    "<": () => showFrame(S.frame - 10), ">": () => showFrame(S.frame + 10),
    " ": togglePlay, Home: () => showFrame(0), End: () => showFrame(S.file.frames - 1),
    "[": () => trim("first"), "]": () => trim("last"), s: split, m: merge,
  });
  const act = acts[k];
  if (!act) return;
  event.preventDefault();
  if (k !== " " && k !== "," && k !== "." && k !== "<" && k !== ">") stop();
  act();
});

// ---- start --------------------------------------------------------------------------------------

document.getElementById("keys").append(...KEYS.map(([key, what]) => h("tr", {}, h("td", {}, h("kbd", { text: key })), h("td", { text: what }))));
document.getElementById("help").addEventListener("click", (event) => { if (event.target.id === "help") toggleHelp(false); });
for (const b of document.querySelectorAll("header nav button")) b.addEventListener("click", () => go(b.dataset.go));
window.addEventListener("resize", () => { if (S.view === "file") { fit(); drawOverlay(); } });
go("grid").catch((err) => toast(err.message));
