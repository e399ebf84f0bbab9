// The inside view: every layer's output for the drawing, each map a small image labelled with its
// shape; hovering a layer explains its size (O = (W − F + 2P)/S + 1) and parameter count. Also the
// learned conv1 and conv2 filters.

import { getWeights } from "./api.js";
import { number, t } from "./i18n.js";

const SCALE = 3;  // CSS pixels per activation: one scale for every map, so the sizes compare honestly
// Vector layers are drawn as grids: 512 units as 16 rows of 32, 120 as 10 of 12, 84 as 7 of 12.
const GRID = { 512: [16, 32], 120: [10, 12], 84: [7, 12] };
const RAMP = [[0, 0, 4], [120, 28, 109], [237, 105, 37], [252, 255, 164]];  // dark to bright (inferno-like)

let architecture = {};  // /api/architecture
let displayNames = {};

function ramp(x) {
  const scaled = Math.min(Math.max(x, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(scaled), RAMP.length - 2);
  const f = scaled - i;
  return RAMP[i].map((c, k) => Math.round(c + f * (RAMP[i + 1][k] - c)));
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

function canvasOf(width, height, scale, className) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.className = className;
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  return canvas;
}

// The layer's explanation: how its size follows from its input, and what it learns.
function explanation(rows, index) {
  const row = rows[index];
  const before = rows[index - 1];
  const lines = [`<strong>${row.name}</strong> · ${row.kind} · ${row.shape_text}`];
  if (row.kernel != null) {
    lines.push(t("formula"), t("formula_row", { working: row.working }));
  } else if (row.kind === "Linear") {
    if (before?.name === "flatten") lines.push(t("flatten_row", { shape: rows[index - 2].shape_text, count: before.shape[0] }));
    lines.push(t("dense_row", { working: row.working }));
  }
  const p = row.parameters;
  lines.push(p ? t("parameters", { weights: number(p.weights), shape: p.weight_shape.join(" × "), biases: number(p.biases), total: number(p.total) })
               : t("no_parameters"));
  return lines.map((line) => `<span>${line}</span>`).join("");
}

function subtitle(shape) {
  if (shape.length === 3) return t("layer_maps", { count: shape[0], side: shape[1] });
  return shape[0] === 10 ? t("layer_logits") : t("layer_units", { count: shape[0] });
}

function buildLayer(network, row, rows, index) {
  const layer = document.createElement("div");
  layer.className = "layer";
  layer.tabIndex = 0;  // the explanation also shows on keyboard focus
  layer.dataset.layer = row.name;
  layer.innerHTML = `<div class="layer-head"><b>${row.name}</b> <span class="shape">${row.shape_text}</span></div>
    <div class="layer-sub"></div><div class="maps"></div><div class="explain" role="tooltip"></div>`;
  const maps = layer.querySelector(".maps");
  const shape = row.shape;
  if (shape.length === 3) {
    maps.style.gridTemplateColumns = `repeat(${shape[0] === 6 ? 2 : 4}, auto)`;
    for (let c = 0; c < shape[0]; c++) maps.appendChild(canvasOf(shape[2], shape[1], SCALE, "map"));
  } else if (shape[0] === 10) {
    maps.classList.add("outputs");
    for (let digit = 0; digit < 10; digit++) maps.insertAdjacentHTML("beforeend", `<span class="out">${digit}</span>`);
  } else {
    const [height, width] = GRID[shape[0]] || [1, shape[0]];
    maps.appendChild(canvasOf(width, height, network === "mlp" ? 4 : 7, "map units"));
  }
  return layer;
}

export function buildInside(archi, networks) {
  architecture = archi;
  displayNames = Object.fromEntries(networks.map((net) => [net.name, net.display_name]));
  const container = document.getElementById("inside-networks");
  container.replaceChildren();
  for (const name of ["cnn", "mlp"]) {
    if (!architecture[name]) continue;
    const block = document.createElement("div");
    block.className = "inside-network";
    block.id = `inside-${name}`;
    block.dataset.name = name;
    block.innerHTML = `<h3>${displayNames[name]}</h3><div class="layers"></div>`;
    const rows = architecture[name].layers;
    rows.forEach((row, index) => {
      if (row.name === "input" || row.name === "flatten") return;
      block.querySelector(".layers").appendChild(buildLayer(name, row, rows, index));
    });
    container.appendChild(block);
  }
  relabelInside();
  clearInside();
}

export function relabelInside() {
  for (const [name, { layers: rows }] of Object.entries(architecture)) {
    rows.forEach((row, index) => {
      const layer = document.querySelector(`#inside-${name} .layer[data-layer="${row.name}"]`);
      if (!layer) return;
      layer.querySelector(".layer-sub").textContent = subtitle(row.shape);
      layer.querySelector(".explain").innerHTML = explanation(rows, index);
    });
  }
  const empty = document.getElementById("inside-networks");
  empty.dataset.empty = t("inside_empty");
}

export function clearInside() {
  document.querySelectorAll("#inside-networks canvas.map").forEach((canvas) => {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  });
  document.querySelectorAll("#inside-networks .out").forEach((out) => { out.style.background = ""; out.classList.remove("top"); });
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
      let low = 0;
      let high = Math.max(...values);
      if (layer.name === "fc3") {  // logits: from the smallest to the largest
        low = Math.min(...values);
        element.querySelectorAll(".out").forEach((out, digit) => {
          out.style.background = `rgb(${ramp((values[digit] - low) / (high - low || 1)).join(",")})`;
          out.classList.toggle("top", digit === answer.digit);
          out.title = values[digit].toFixed(2);
        });
        continue;
      }
      const canvases = element.querySelectorAll("canvas.map");
      const size = values.length / canvases.length;
      canvases.forEach((canvas, c) => paint(canvas, values, c * size, size, low, high));
    }
  }
}

function diverging(x) {  // x in [0, 1]; 0.5 is a zero weight (white), above red, below blue
  const a = Math.round(Math.min(Math.abs(x - 0.5) * 2, 1) * 255);
  return x >= 0.5 ? [255, 255 - a, 255 - a] : [255 - a, 255 - a, 255];
}

// conv1's 6 filters in a row; conv2's 16 filters as columns of their 6 slices.
export async function showFilters(hasCnn) {
  const section = document.getElementById("filters");
  section.hidden = !hasCnn;
  if (!hasCnn) return;
  for (const layer of ["conv1", "conv2"]) {
    const weights = await getWeights("cnn", layer);
    const [outputs, inputs, h, w] = weights.shape;
    // Each filter scaled by its own largest weight: its pattern shows even where its weights are small.
    const size = inputs * h * w;
    const limits = Array.from({ length: outputs }, (_, o) =>
      Math.max(...weights.values.slice(o * size, (o + 1) * size).map(Math.abs)) || 1);
    const grid = document.getElementById(`filters-${layer}`);
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `repeat(${outputs}, auto)`;
    for (let i = 0; i < inputs; i++) {
      for (let o = 0; o < outputs; o++) {
        const canvas = canvasOf(w, h, layer === "conv1" ? 8 : 5, "filter");
        canvas.title = `${layer}[${o}, ${i}]`;
        paint(canvas, weights.values, (o * inputs + i) * h * w, h * w, -limits[o], limits[o], diverging);
        grid.appendChild(canvas);
      }
    }
  }
}
