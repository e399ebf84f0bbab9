// The inside view: every layer's output for the drawing, each map a small image labelled with its
// shape; hovering (or focusing, or tapping) a layer explains its size (O = (W − F + 2P)/S + 1) and
// parameter count. Also the learned filters of every convolution. What a layer is comes from its
// `role` in /api/architecture (input, conv, pool, flatten, hidden, logits), never from its name.

import { accent } from "./answers.js";
import { getWeights } from "./api.js";
import { number, t } from "./i18n.js";

const SCALE = 3;  // CSS pixels per activation: one scale for every map, so the sizes compare honestly
const NUMBERED_MAP_PX = 28;  // maps at least this wide carry their number (1, 2, ...) in a corner
const RAMP = [[0, 0, 4], [120, 28, 109], [237, 105, 37], [252, 255, 164]];  // dark to bright (inferno-like)
const SHOWN = (row) => row.role !== "input" && row.role !== "flatten";

let architecture = {};  // /api/architecture
let order = [];         // the networks in the order they are shown

function ramp(x) {
  const scaled = Math.min(Math.max(x, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(scaled), RAMP.length - 2);
  const f = scaled - i;
  return RAMP[i].map((c, k) => Math.round(c + f * (RAMP[i + 1][k] - c)));
}

// The text colour that reads best on a cell of colour [r, g, b]: dark ink or white, whichever has the
// higher contrast (WCAG's relative luminance; the page's ink #1f2430 is about 0.017).
function inkFor([r, g, b]) {
  const linear = (c) => { const s = c / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  const luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  return (luminance + 0.05) / (0.017 + 0.05) > 1.05 / (luminance + 0.05) ? "dark" : "light";
}

function paint(canvas, values, offset, count, low, high, color = ramp) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  const span = high - low || 1;
  for (let i = 0; i < count; i++) {
    image.data.set([...color((values[offset + i] - low) / span), 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function canvasOf(width, height, scale, className) {
  const canvas = element("canvas", className);
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  return canvas;
}

// A vector layer drawn as a grid of about 3:2 (512 units as 16 rows of 32, 120 as 10 of 12, 84 as
// 7 of 12): the number of columns is the divisor of `units` nearest √(1.5 · units).
function gridOf(units) {
  let columns = units;
  for (let d = 1; d <= units; d++) {
    if (units % d === 0 && Math.abs(d - Math.sqrt(1.5 * units)) < Math.abs(columns - Math.sqrt(1.5 * units))) columns = d;
  }
  return [units / columns, columns];
}

// The layer's explanation: how its size follows from its input, and what it learns.
function explanation(rows, index) {
  const row = rows[index];
  const before = rows[index - 1];
  const head = element("span");
  head.append(element("strong", "", row.name), ` · ${row.kind} · ${row.shape_text}`);
  const lines = [head];
  const line = (text) => lines.push(element("span", "", text));
  if (row.kernel != null) {
    line(t("formula"));
    line(t("formula_row", { working: row.working }));
  } else if (row.role === "hidden" || row.role === "logits") {
    if (before?.role === "flatten") line(t("flatten_row", { shape: rows[index - 2].shape_text, count: before.shape[0] }));
    line(t("dense_row", { working: row.working }));
  }
  const p = row.parameters;
  line(p ? t("parameters", { weights: number(p.weights), shape: p.weight_shape.join(" × "), biases: number(p.biases), total: number(p.total) })
         : t("no_parameters"));
  return lines;
}

function subtitle(row) {
  if (row.shape.length === 3) return t("layer_maps", { count: row.shape[0], side: row.shape[1] });
  return row.role === "logits" ? t("layer_logits") : t("layer_units", { count: row.shape[0] });
}

// Keeps the explanation inside the window: it opens under the layer, shifted left near the right edge.
function place(layer) {
  const explain = layer.querySelector(".explain");
  const width = Math.min(320, document.documentElement.clientWidth - 16);
  const left = layer.getBoundingClientRect().left;
  const shift = Math.max(8 - left, Math.min(0, document.documentElement.clientWidth - 8 - width - left));
  explain.style.width = `${width}px`;
  explain.style.left = `${shift}px`;
}

function buildLayer(row) {
  const layer = element("div", "layer");
  layer.tabIndex = 0;  // the explanation also shows on keyboard focus, and on a tap
  layer.dataset.layer = row.name;
  layer.dataset.role = row.role;
  const head = element("div", "layer-head");
  head.append(element("b", "", row.name), " ", element("span", "shape", row.shape_text));
  const maps = element("div", "maps");
  layer.append(head, element("div", "layer-sub"), maps, element("div", "explain"));
  layer.querySelector(".explain").setAttribute("role", "tooltip");
  layer.addEventListener("pointerenter", () => place(layer));
  layer.addEventListener("focusin", () => place(layer));
  const shape = row.shape;
  if (shape.length === 3) {
    const [channels, height, width] = shape;
    maps.style.gridTemplateColumns = `repeat(${channels <= 8 ? 2 : 4}, auto)`;
    for (let c = 0; c < channels; c++) {
      const cell = element("div", "map-cell");
      const canvas = canvasOf(width, height, SCALE, "map");
      canvas.title = t("map_title", { layer: row.name, index: c + 1 });
      cell.appendChild(canvas);
      if (width * SCALE >= NUMBERED_MAP_PX) cell.appendChild(element("span", "map-index", String(c + 1)));
      maps.appendChild(cell);
    }
  } else if (row.role === "logits") {
    maps.classList.add("outputs");
    for (let digit = 0; digit < shape[0]; digit++) maps.appendChild(element("span", "out", String(digit)));
  } else {
    const [height, width] = gridOf(shape[0]);
    maps.appendChild(canvasOf(width, height, Math.min(7, Math.max(3, Math.floor(128 / width))), "map units"));
  }
  return layer;
}

// `archi`: /api/architecture; `info`: /api/info (the networks' display names and colours).
export function buildInside(archi, info) {
  architecture = archi;
  const byName = Object.fromEntries(info.networks.map((net) => [net.name, net]));
  // The deeper network first: its feature maps are the picture this view is for.
  order = Object.keys(architecture).filter((name) => byName[name])
    .sort((a, b) => architecture[b].layers.filter(SHOWN).length - architecture[a].layers.filter(SHOWN).length);
  const container = document.getElementById("inside-networks");
  container.replaceChildren();
  for (const name of order) {
    const block = element("div", "inside-network");
    block.id = `inside-${name}`;
    accent(block, byName[name]);
    const layers = element("div", "layers");
    block.append(element("h3", "", byName[name].display_name), layers);
    for (const row of architecture[name].layers.filter(SHOWN)) layers.appendChild(buildLayer(row));
    container.appendChild(block);
  }
  relabelInside();
  clearInside();
}

export function relabelInside() {
  for (const name of order) {
    const rows = architecture[name].layers;
    rows.forEach((row, index) => {
      const layer = document.querySelector(`#inside-${name} .layer[data-layer="${row.name}"]`);
      if (!layer) return;
      layer.querySelector(".layer-sub").textContent = subtitle(row);
      layer.querySelector(".explain").replaceChildren(...explanation(rows, index));
      layer.querySelectorAll("canvas.map:not(.units)").forEach((canvas, c) => {
        canvas.title = t("map_title", { layer: row.name, index: c + 1 });
      });
    });
  }
  document.getElementById("inside-networks").dataset.empty = t("inside_empty");
  relabelFilters();
}

export function clearInside() {
  document.querySelectorAll("#inside-networks canvas.map").forEach((canvas) => {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  });
  document.querySelectorAll("#inside-networks .out").forEach((out) => {
    out.style.background = "";
    out.classList.remove("top");
    delete out.dataset.ink;
    out.removeAttribute("title");
  });
  document.getElementById("inside-networks").classList.add("empty");
}

// `networks`: /api/inside's {name: {digit, layers: [{name, shape, values}]}}.
export function showInside(networks) {
  document.getElementById("inside-networks").classList.remove("empty");
  for (const [name, answer] of Object.entries(networks)) {
    for (const layer of answer.layers) {
      const element = document.querySelector(`#inside-${name} .layer[data-layer="${layer.name}"]`);
      if (!element) continue;
      const values = layer.values;
      let high = Math.max(...values);
      if (element.dataset.role === "logits") {  // from the smallest to the largest
        const low = Math.min(...values);
        element.querySelectorAll(".out").forEach((out, digit) => {
          const colour = ramp((values[digit] - low) / (high - low || 1));
          out.style.background = `rgb(${colour.join(",")})`;
          out.dataset.ink = inkFor(colour);
          out.classList.toggle("top", digit === answer.digit);
          out.title = values[digit].toFixed(2);
        });
        continue;
      }
      const canvases = element.querySelectorAll("canvas.map");
      const size = values.length / canvases.length;
      canvases.forEach((canvas, c) => paint(canvas, values, c * size, size, 0, high));
    }
  }
}

function diverging(x) {  // x in [0, 1]; 0.5 is a zero weight (white), above red, below blue
  const a = Math.round(Math.min(Math.abs(x - 0.5) * 2, 1) * 255);
  return x >= 0.5 ? [255, 255 - a, 255 - a] : [255 - a, 255 - a, 255];
}

let filterCaptions = [];  // [{caption element, row, inputs, previous}] to re-label on a language change

function relabelFilters() {
  for (const { caption, row, shape, previous } of filterCaptions) {
    const [outputs, inputs, h, w] = shape;
    caption.textContent = inputs === 1
      ? t("filters_over_image", { layer: row.name, count: outputs, side: `${h}×${w}` })
      : t("filters_over_maps", { layer: row.name, count: outputs, slices: inputs, side: `${h}×${w}`, previous });
  }
}

// Every convolution's filters: one column per filter (numbered as its map is), one row per slice (one
// slice per map of the layer before).
export async function showFilters(archi) {
  const section = document.getElementById("filters");
  const groups = section.querySelector(".filter-groups");
  const convolutions = order.flatMap((name) => {
    const convs = archi[name].layers.filter((row) => row.role === "conv");
    return convs.map((row, i) => ({ name, row, previous: convs[i - 1]?.name }));
  });
  section.hidden = convolutions.length === 0;
  const weights = await Promise.all(convolutions.map(({ name, row }) => getWeights(name, row.name)));
  groups.replaceChildren();
  filterCaptions = [];
  convolutions.forEach(({ name, row, previous }, index) => {
    const { shape, values } = weights[index];
    const [outputs, inputs, h, w] = shape;
    const scale = inputs === 1 ? 8 : 5;
    const figure = element("figure");
    const caption = element("figcaption");
    const grid = element("div", "filter-grid");
    grid.id = `filters-${row.name}`;
    grid.dataset.network = name;
    grid.style.gridTemplateColumns = `repeat(${outputs}, minmax(0, ${w * scale + 2}px))`;
    figure.append(caption, grid);
    groups.appendChild(figure);
    filterCaptions.push({ caption, row, shape, previous });
    // Each filter scaled by its own largest weight: its pattern shows even where its weights are small.
    const size = inputs * h * w;
    const limits = Array.from({ length: outputs }, (_, o) =>
      Math.max(...values.slice(o * size, (o + 1) * size).map(Math.abs)) || 1);
    for (let o = 0; o < outputs; o++) grid.appendChild(element("span", "filter-index", String(o + 1)));
    for (let i = 0; i < inputs; i++) {
      for (let o = 0; o < outputs; o++) {
        const canvas = canvasOf(w, h, scale, "filter");
        canvas.style.width = "";
        canvas.style.height = "";
        canvas.style.aspectRatio = `${w} / ${h}`;
        canvas.title = `${row.name}[${o + 1}, ${i + 1}]`;
        paint(canvas, values, (o * inputs + i) * h * w, h * w, -limits[o], limits[o], diverging);
        grid.appendChild(canvas);
      }
    }
  });
  relabelFilters();
}
