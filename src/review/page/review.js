/* am_review page: the astronomer looks at the images of a run ranked by anomaly score,
 * labels them with the keyboard, and retrains. Talks to the server of src/review/server.c
 * (the HTTP API: labels, undo, remembered images, histogram, ROC/PR curves, retrain).
 *
 * Views: a paged gallery of thumbnails (48 a page) and a single view of one image on a
 * canvas (zoom, brightness, contrast, invert, channels). The side panel holds the score
 * histogram and, when the run has ground truth, the ROC and PR curves.
 *
 * Keys (ignored while focus is in a select or an input):
 *   a n u        label anomaly / normal / unsure, then go to the next image
 *   z            undo the last label
 *   r            remember / forget the image
 *   Left Right   previous / next image
 *   Up Down      one row up / down (gallery)
 *   PageUp/Down  previous / next page
 *   g            gallery <-> single view
 *   Enter        single view
 *   Escape       close the help, or back to the gallery
 *   + - 0        zoom in / out / 1x, which fits the image to the view (single view)
 *   i            invert
 *   1 2 3        red / green / blue channel on or off
 *   ?            help
 */
'use strict';

const PAGE = 48;
const LABELS = ['anomaly', 'normal', 'unsure', 'none'];
const TOKEN = document.querySelector('meta[name="am-token"]').content;
const $ = (id) => document.getElementById(id);

const S = {
  run: null,
  generation: -1,
  sort: 'anomalous',
  filter: 'all',
  stretch: '',                // '' for PNG/JPEG runs: no stretch argument
  seed: 1,                    // of the random order
  offset: 0,                  // of the page shown, in the server's order
  total: 0,
  items: [],                  // the page shown
  sel: -1,                    // the selected item's index in items
  load: 0,                    // counts page requests: an older answer is dropped
  loading: Promise.resolve(),
  keys: Promise.resolve(),
  placed: new Map(),          // image -> offset of the page it was labelled on (for undo)
  remembered: new Set(),
  view: 'gallery',
  zoom: 1,
  brightness: 0,
  contrast: 0,
  invert: false,
  channels: [true, true, true],
  imageUrl: '',               // the single view's image and its pixels
  image: null,
  queue: Promise.resolve(),   // the POSTs, in order
  retrainState: '',
  pollTimer: 0,
  histTimer: 0,
  toastTimer: 0,
};

/* ---- network ---- */

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function request(method, path) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (method === 'POST') opts.headers['X-AM-Token'] = TOKEN;
  let r = await fetch(path, opts);
  if (r.status === 429) {
    await sleep(300);
    r = await fetch(path, opts);
  }
  const body = await r.json().catch(() => null);
  if (!r.ok || (body && body.ok === false)) {
    const e = new Error((body && body.error) || `${method} ${path}: HTTP ${r.status}`);
    e.status = r.status;
    throw e;
  }
  return body;
}

const get = (path) => request('GET', path);

/* POSTs go one after another, so an undo always follows the label before it. */
function post(path) {
  const p = S.queue.then(() => request('POST', path));
  S.queue = p.catch(() => {});
  return p;
}

function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(S.toastTimer);
  S.toastTimer = setTimeout(() => { t.hidden = true; }, 3000);
}

const fail = (e) => toast(e.message);

function imageUrl(i, thumb) {
  let url = `/api/image?i=${i}`;
  if (thumb) url += '&thumb=1';
  if (S.stretch) url += `&stretch=${encodeURIComponent(S.stretch)}`;
  return url;
}

/* An <img> that failed (the server may answer 429) is asked again a few times. */
function setImage(img, url, gaveUp) {
  let tries = 0;
  img.onerror = () => {
    if (tries++ < 3) setTimeout(() => { img.src = url; }, 300 * tries);
    else if (gaveUp) gaveUp();
  };
  img.src = url;
}

function loadImage(url) {
  return new Promise((done, failed) => {
    const img = new Image();
    img.onload = () => done(img);
    setImage(img, url, () => failed(new Error(`cannot load ${url}`)));
  });
}

/* ---- run, counts, generation ---- */

function setGeneration(g) {
  S.generation = g;
  document.body.dataset.generation = g;
}

function showRun(run) {
  S.run = run;
  $('run-name').textContent = run.run;
  $('run-name').title = `${run.run}: ${run.n} images, ${run.scored} scored, cycle ${run.cycle}`;
  showCounts(run.counts);
  $('stretch-label').hidden = !run.fits;
  const sel = $('stretch');
  if (run.fits && sel.options.length === 0) {
    for (const name of run.stretches) sel.add(new Option(name, name));
    sel.value = run.stretch;
    S.stretch = run.stretch;
  }
}

function showCounts(c) {
  $('counts').textContent =
    `anomaly ${c.anomaly} · normal ${c.normal} · unsure ${c.unsure} · unlabelled ${c.none}`;
}

const fmtScore = (s) => (s === null || s === undefined ? '—' : s.toFixed(3));

/* ---- gallery ---- */

/* S.loading is the page being loaded; keys that move or label wait for it. */
function loadItems(offset, sel) {
  const p = fetchItems(offset, sel);
  S.loading = p.catch(() => {});
  return p;
}

async function fetchItems(offset, sel) {
  const n = ++S.load;
  await S.queue;
  const q = new URLSearchParams({ sort: S.sort, filter: S.filter, offset, limit: PAGE, seed: S.seed });
  const r = await get(`/api/items?${q}`);
  if (n !== S.load) return;
  if (r.items.length === 0 && r.total > 0 && offset >= r.total) {
    return fetchItems(Math.floor((r.total - 1) / PAGE) * PAGE, PAGE - 1);
  }
  S.offset = offset;
  S.total = r.total;
  S.items = r.items;
  renderGallery();
  select(Math.min(sel, S.items.length - 1));
  document.body.dataset.ready = '1';
  if (r.generation > S.generation) poll();
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function makeTile(it, k) {
  const t = el('div', 'tile');
  t.dataset.i = it.i;
  t.dataset.pos = k;
  t.dataset.label = it.label;
  t.title = `${it.name}  score ${fmtScore(it.score)}`;
  t.classList.toggle('remembered', S.remembered.has(it.i));
  const img = el('img');
  img.alt = it.name;
  setImage(img, imageUrl(it.i, true));
  const cap = el('div', 'cap');
  cap.append(el('div', 'rank', `#${S.offset + k + 1} · ${fmtScore(it.score)}`), el('div', 'name', it.name));
  t.append(img, el('span', 'star', '★'), cap);
  return t;
}

function renderGallery() {
  const grid = $('grid');
  grid.replaceChildren(...S.items.map(makeTile));
  if (S.items.length === 0) grid.append(el('div', 'empty', 'No images match this filter.'));
  const pages = Math.max(1, Math.ceil(S.total / PAGE));
  $('pager').textContent = `page ${Math.floor(S.offset / PAGE) + 1} of ${pages}`;
  $('total').textContent = `${S.total} images`;
  $('prev').disabled = S.offset === 0;
  $('next').disabled = S.offset + S.items.length >= S.total;
}

const tileAt = (k) => (k >= 0 && k < S.items.length ? $('grid').children[k] : null);
const current = () => S.items[S.sel];

function select(k) {
  const old = $('grid').querySelector('.tile.selected');
  if (old) old.classList.remove('selected');
  S.sel = k;
  const t = tileAt(k);
  if (t) {
    t.classList.add('selected');
    t.scrollIntoView({ block: 'nearest' });
  }
  const it = current();
  document.body.dataset.selected = it ? it.i : '';
  showInfo();
  if (S.view === 'single') showSingle();
}

function selectImage(i) {
  const k = S.items.findIndex((it) => it.i === i);
  if (k >= 0) select(k);
}

function inFilter(it) {
  if (S.filter === 'all') return true;
  if (S.filter === 'labelled') return it.label !== 'none';
  if (S.filter === 'remembered') return S.remembered.has(it.i);
  return it.label === S.filter;
}

/* The next page starts after this one, less the images that left the filter meanwhile
 * (labelled while showing only unlabelled ones, say): the server's list no longer has them. */
function nextPage(k) {
  if (S.offset + S.items.length >= S.total) return select(S.items.length - 1);
  const gone = S.items.filter((it) => !inFilter(it)).length;
  loadItems(S.offset + S.items.length - gone, k).catch(fail);
}

function prevPage(k) {
  if (S.offset === 0) return select(0);
  loadItems(Math.max(0, S.offset - PAGE), k).catch(fail);
}

function move(delta) {
  if (S.items.length === 0) return;
  const k = S.sel + delta;
  if (k >= S.items.length) nextPage(k - S.items.length);
  else if (k < 0) prevPage(PAGE + k);
  else select(k);
}

function columns() {
  return getComputedStyle($('grid')).gridTemplateColumns.split(' ').length;
}

function reloadList() {
  S.placed.clear();
  loadItems(0, 0).catch(fail);
}

/* ---- labels, undo, remember ---- */

function setItemLabel(i, label) {
  S.items.forEach((it, k) => {
    if (it.i !== i) return;
    it.label = label;
    tileAt(k).dataset.label = label;
  });
  showInfo();
}

function setLabel(label) {
  const it = current();
  if (!it) return;
  const before = it.label;
  const p = post(`/api/label?i=${it.i}&label=${label}`);
  S.placed.set(it.i, S.offset);
  setItemLabel(it.i, label);
  move(1);
  p.then((r) => {
    setItemLabel(r.i, r.label);
    showCounts(r.counts);
    histSoon();
  }).catch((e) => {
    setItemLabel(it.i, before);
    fail(e);
  });
}

async function undo() {
  const r = await post('/api/undo');
  if (r.i < 0) return toast('Nothing to undo');
  showCounts(r.counts);
  histSoon();
  if (S.items.some((it) => it.i === r.i)) {
    setItemLabel(r.i, r.label);
    return selectImage(r.i);
  }
  const offset = S.placed.has(r.i) ? S.placed.get(r.i) : S.offset;
  await loadItems(offset, S.sel);
  selectImage(r.i);
}

async function toggleRemember() {
  const it = current();
  if (!it) return;
  const on = S.remembered.has(it.i) ? 0 : 1;
  const r = await post(`/api/remember?i=${it.i}&on=${on}`);
  S.remembered = new Set(r.items);
  S.items.forEach((x, k) => tileAt(k).classList.toggle('remembered', S.remembered.has(x.i)));
  showInfo();
}

/* ---- single view ---- */

function setView(v) {
  S.view = v;
  document.body.dataset.view = v;
  $('gallery').hidden = v !== 'gallery';
  $('single').hidden = v !== 'single';
  if (v === 'single') return showSingle();
  const t = tileAt(S.sel);
  if (t) t.scrollIntoView({ block: 'nearest' });
}

function showInfo() {
  const it = current();
  $('single-pos').textContent = it ? `${S.offset + S.sel + 1} of ${S.total}` : '';
  $('single-name').textContent = it ? it.name : 'No image';
  $('single-score').textContent = it ? `score ${fmtScore(it.score)}` : '';
  const chip = $('single-label');
  chip.dataset.label = it ? it.label : 'none';
  chip.textContent = !it ? '' : it.label === 'none' ? 'unlabelled' : it.label;
  $('single-star').hidden = !(it && S.remembered.has(it.i));
}

function showSingle() {
  const it = current();
  $('single-canvas').hidden = !it;
  if (!it) return;
  const url = imageUrl(it.i, false);
  if (url === S.imageUrl) return draw();
  S.imageUrl = url;
  loadImage(url).then((img) => {
    if (url !== S.imageUrl) return;
    S.image = pixels(img);
    draw();
  }).catch(fail);
}

function pixels(img) {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return ctx.getImageData(0, 0, c.width, c.height);
}

/* Invert, then contrast around mid grey, then brightness: one table for all channels. */
function toneTable() {
  const lut = new Uint8ClampedArray(256);
  const gain = Math.pow(2, S.contrast / 50);
  const shift = S.brightness * 1.28;
  for (let v = 0; v < 256; v++) {
    const x = S.invert ? 255 - v : v;
    lut[v] = (x - 128) * gain + 128 + shift;
  }
  return lut;
}

function draw() {
  const src = S.image;
  if (!src) return;
  const c = $('single-canvas');
  c.width = src.width;
  c.height = src.height;
  const out = new ImageData(src.width, src.height);
  const s = src.data;
  const d = out.data;
  const lut = toneTable();
  for (let p = 0; p < s.length; p += 4) {
    for (let ch = 0; ch < 3; ch++) d[p + ch] = S.channels[ch] ? lut[s[p + ch]] : 0;
    d[p + 3] = 255;
  }
  c.getContext('2d').putImageData(out, 0, 0);
  fitCanvas();
}

/* Zoom 1 fits the image to the view (in whole pixels when the image is smaller);
 * zoom k magnifies that k times, nearest neighbour. */
function fitCanvas() {
  const c = $('single-canvas');
  const area = $('single-area');
  $('zoom').textContent = `${S.zoom}×`;
  c.dataset.zoom = S.zoom;
  if (!S.image || area.offsetWidth === 0) return;
  const fit = Math.min((area.offsetWidth - 16) / c.width, (area.offsetHeight - 16) / c.height);
  const base = fit >= 1 ? Math.floor(fit) : fit;
  const fx = (area.scrollLeft + area.clientWidth / 2) / area.scrollWidth;
  const fy = (area.scrollTop + area.clientHeight / 2) / area.scrollHeight;
  c.style.width = `${Math.round(c.width * base * S.zoom)}px`;
  c.style.height = `${Math.round(c.height * base * S.zoom)}px`;
  area.scrollLeft = fx * area.scrollWidth - area.clientWidth / 2;
  area.scrollTop = fy * area.scrollHeight - area.clientHeight / 2;
}

function setZoom(z) {
  if (S.view !== 'single') return;
  S.zoom = Math.max(1, Math.min(8, z));
  fitCanvas();
}

function setInvert(on) {
  S.invert = on;
  $('invert').checked = on;
  draw();
}

function setChannel(ch, on) {
  S.channels[ch] = on;
  $(`ch-${ch}`).checked = on;
  draw();
}

function resetView() {
  S.brightness = 0;
  S.contrast = 0;
  $('brightness').value = 0;
  $('contrast').value = 0;
  [0, 1, 2].forEach((ch) => { S.channels[ch] = true; $(`ch-${ch}`).checked = true; });
  setInvert(false);
  setZoom(1);
}

/* ---- side panel: histogram and curves ---- */

async function loadHist() {
  drawHist(await get('/api/hist?bins=40'));
}

function histSoon() {
  clearTimeout(S.histTimer);
  S.histTimer = setTimeout(() => loadHist().catch(fail), 500);
}

/* Bars stacked by label state: anomaly at the bottom, unlabelled on top. */
function drawHist(h) {
  const W = 280, H = 150, L = 30, R = 6, T = 8, B = 18;
  const bins = h.edges.length - 1;
  const tot = h.edges.slice(0, bins).map((_, b) => LABELS.reduce((s, l) => s + h[l][b], 0));
  const max = Math.max(1, ...tot);
  const bw = (W - L - R) / bins;
  let svg = '';
  for (let b = 0; b < bins; b++) {
    let y = H - B;
    const tip = `${h.edges[b].toFixed(3)}–${h.edges[b + 1].toFixed(3)}: ` +
      LABELS.map((l) => `${l} ${h[l][b]}`).join(', ');
    svg += `<g><title>${tip}</title>`;
    for (const l of LABELS) {
      const hb = (h[l][b] / max) * (H - B - T);
      if (hb <= 0) continue;
      y -= hb;
      svg += `<rect class="${l}" x="${(L + b * bw).toFixed(2)}" y="${y.toFixed(2)}" ` +
        `width="${Math.max(0.5, bw - 1).toFixed(2)}" height="${hb.toFixed(2)}"/>`;
    }
    svg += '</g>';
  }
  const lo = h.edges[0], hi = h.edges[bins];
  svg += `<path class="axis" d="M${L} ${T}V${H - B}H${W - R}"/>` +
    `<text class="tick" x="${L}" y="${H - 5}" text-anchor="middle">${lo}</text>` +
    `<text class="tick" x="${(L + W - R) / 2}" y="${H - 5}" text-anchor="middle">score</text>` +
    `<text class="tick" x="${W - R}" y="${H - 5}" text-anchor="end">${hi}</text>` +
    `<text class="tick" x="${L - 3}" y="${T + 7}" text-anchor="end">${max}</text>` +
    `<text class="tick" x="${L - 3}" y="${H - B}" text-anchor="end">0</text>`;
  $('hist').innerHTML = svg;
}

async function loadCurves() {
  const none = (e) => {
    if (e.status === 404) return null;
    throw e;
  };
  const c = S.run.truth ? await get('/api/curves').catch(none) : null;
  $('curves').hidden = !c;
  if (!c) return;
  $('roc-title').textContent = `ROC · AUROC ${c.auroc.toFixed(3)}`;
  $('pr-title').textContent = `PR · AP ${c.ap.toFixed(3)}`;
  drawCurve($('roc'), c.roc, 'FPR', 'TPR', true);
  drawCurve($('pr'), c.pr, 'recall', 'precision', false);
}

function drawCurve(svg, c, xName, yName, diagonal) {
  const N = 140, L = 14, R = 4, T = 4, B = 16;
  const w = N - L - R, h = N - T - B;
  const px = (x) => (L + x * w).toFixed(1);
  const py = (y) => (T + (1 - y) * h).toFixed(1);
  const pts = c.x.map((x, k) => `${px(x)},${py(c.y[k])}`).join(' ');
  svg.innerHTML =
    `<rect class="axis" x="${L}" y="${T}" width="${w}" height="${h}"/>` +
    (diagonal ? `<path class="chance" d="M${px(0)} ${py(0)}L${px(1)} ${py(1)}"/>` : '') +
    `<polyline class="curve" points="${pts}"/>` +
    `<text class="tick" x="${L}" y="${N - 5}" text-anchor="middle">0</text>` +
    `<text class="tick" x="${L + w / 2}" y="${N - 5}" text-anchor="middle">${xName}</text>` +
    `<text class="tick" x="${L + w}" y="${N - 5}" text-anchor="middle">1</text>` +
    `<text class="tick" x="${L - 3}" y="${T + 7}" text-anchor="end">1</text>` +
    `<text class="tick" transform="translate(${L - 4} ${T + h / 2}) rotate(-90)" text-anchor="middle">${yName}</text>`;
}

/* ---- retrain ---- */

async function startRetrain() {
  try {
    await post('/api/retrain');
    S.retrainState = 'running';
  } catch (e) {
    fail(e);
    if (e.status !== 409) return;
  }
  poll();
}

function poll() {
  clearTimeout(S.pollTimer);
  pollRetrain().catch((e) => {
    fail(e);
    if (S.retrainState === 'running') S.pollTimer = setTimeout(poll, 2000);
  });
}

async function pollRetrain() {
  const r = await get('/api/retrain');
  const was = S.retrainState;
  S.retrainState = r.state;
  showRetrain(r);
  clearTimeout(S.pollTimer);
  if (r.state === 'running') S.pollTimer = setTimeout(poll, 500);
  if (r.state === 'failed' && was === 'running') toast('Retrain failed');
  if (r.state === 'done' && (was === 'running' || r.generation > S.generation)) {
    S.generation = r.generation;
    await afterRetrain();
  }
}

function showRetrain(r) {
  $('retrain-status').dataset.state = r.state;
  $('retrain-progress').value = r.percent || 0;
  const lines = {
    idle: '',
    running: r.line || 'starting',
    done: `done, generation ${r.generation}`,
    failed: `failed (exit ${r.exit})`,
  };
  $('retrain-line').textContent = r.state in lines ? lines[r.state] : r.state;
  $('retrain-line').title = r.line || '';
  $('retrain').disabled = r.state === 'running';
  const log = $('retrain-log');
  log.hidden = r.state !== 'failed';
  log.textContent = (r.log || []).join('\n');
  log.scrollTop = log.scrollHeight;
}

/* A new generation: new scores, so a new order; the labels and the filter stay. */
async function afterRetrain() {
  const run = await get('/api/run');
  showRun(run);
  S.generation = run.generation;
  S.placed.clear();
  await Promise.all([loadItems(0, 0), loadHist(), loadCurves()]);
  setGeneration(run.generation);
}

/* ---- help and keys ---- */

function toggleHelp(show) {
  $('help').hidden = show === undefined ? !$('help').hidden : !show;
}

const act = (f) => () => f().catch(fail);

/* Keys that act on the list run one after another, each after the page its
 * predecessor may have started loading. */
const LIST_KEYS = new Set(['a', 'n', 'u', 'z', 'r', 'ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'PageUp', 'PageDown']);

const KEYS = {
  a: () => setLabel('anomaly'),
  n: () => setLabel('normal'),
  u: () => setLabel('unsure'),
  z: act(undo),
  r: act(toggleRemember),
  ArrowLeft: () => move(-1),
  ArrowRight: () => move(1),
  ArrowUp: () => S.view === 'gallery' && move(-columns()),
  ArrowDown: () => S.view === 'gallery' && move(columns()),
  PageUp: () => prevPage(0),
  PageDown: () => nextPage(0),
  g: () => setView(S.view === 'gallery' ? 'single' : 'gallery'),
  Enter: () => setView('single'),
  Escape: () => ($('help').hidden ? setView('gallery') : toggleHelp(false)),
  '+': () => setZoom(S.zoom + 1),
  '=': () => setZoom(S.zoom + 1),
  '-': () => setZoom(S.zoom - 1),
  0: () => setZoom(1),
  i: () => setInvert(!S.invert),
  1: () => setChannel(0, !S.channels[0]),
  2: () => setChannel(1, !S.channels[1]),
  3: () => setChannel(2, !S.channels[2]),
  '?': () => toggleHelp(),
};

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = e.target.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') {
    if (e.key === 'Escape') e.target.blur();
    return;
  }
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const f = KEYS[key];
  if (!f || (!$('help').hidden && key !== '?' && key !== 'Escape')) return;
  e.preventDefault();
  if (!LIST_KEYS.has(key)) return f();
  S.keys = S.keys.then(f).then(() => S.loading).catch(fail);
}

/* ---- wiring ---- */

function bind() {
  document.addEventListener('keydown', onKey);
  document.addEventListener('change', (e) => e.target.blur());
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (b) b.blur();
  });
  $('sort').addEventListener('change', (e) => {
    S.sort = e.target.value;
    if (S.sort === 'random') S.seed = 1 + Math.floor(Math.random() * 1e9);
    reloadList();
  });
  $('filter').addEventListener('change', (e) => {
    S.filter = e.target.value;
    reloadList();
  });
  $('stretch').addEventListener('change', (e) => {
    S.stretch = e.target.value;
    renderGallery();
    select(S.sel);
  });
  $('retrain').addEventListener('click', startRetrain);
  $('help-button').addEventListener('click', () => toggleHelp());
  $('help').addEventListener('click', (e) => { if (e.target === $('help')) toggleHelp(false); });
  $('prev').addEventListener('click', () => prevPage(0));
  $('next').addEventListener('click', () => nextPage(0));
  $('grid').addEventListener('click', (e) => {
    const t = e.target.closest('.tile');
    if (t) select(Number(t.dataset.pos));
  });
  $('grid').addEventListener('dblclick', (e) => {
    if (e.target.closest('.tile')) setView('single');
  });
  for (const b of document.querySelectorAll('#single button[data-label]')) {
    b.addEventListener('click', () => setLabel(b.dataset.label));
  }
  $('zoom-in').addEventListener('click', () => setZoom(S.zoom + 1));
  $('zoom-out').addEventListener('click', () => setZoom(S.zoom - 1));
  $('reset-view').addEventListener('click', resetView);
  $('brightness').addEventListener('input', (e) => { S.brightness = Number(e.target.value); draw(); });
  $('contrast').addEventListener('input', (e) => { S.contrast = Number(e.target.value); draw(); });
  $('invert').addEventListener('change', (e) => setInvert(e.target.checked));
  [0, 1, 2].forEach((ch) => $(`ch-${ch}`).addEventListener('change', (e) => setChannel(ch, e.target.checked)));
  window.addEventListener('resize', fitCanvas);
}

async function init() {
  bind();
  const run = await get('/api/run');
  showRun(run);
  setGeneration(run.generation);
  S.remembered = new Set((await get('/api/remember')).items);
  setView('gallery');
  await loadItems(0, 0);
  loadHist().catch(fail);
  loadCurves().catch(fail);
  poll();
}

init().catch(fail);
