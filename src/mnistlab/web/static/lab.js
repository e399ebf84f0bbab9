// The lab controls on the drawing: move it (x, y), rotate it, "centre like MNIST" on or off, and the
// pixel-permuted networks when the server has them. Every change asks POST /api/lab once; its answer
// feeds the answers and the inside view as /api/inside's does, the input each network really sees
// (scrambled, for a permuted one) and a chart of each network's confidence in its answer as the
// drawing slides from −6 to +6 px.

import { ApiError } from "./api.js";
import { percent, t } from "./i18n.js";

const CHART = { width: 320, height: 150, left: 36, right: 8, top: 10, bottom: 28 };
const SVG = "http://www.w3.org/2000/svg";

const controls = { dx: 0, dy: 0, angle: 0, centre: true, permuted: false };
let lastAnswer = null;

// An element `tag` with `attributes` (data-i18n and the like as they are) and `children` appended.
function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, "");
    else if (value !== false) element.setAttribute(name, String(value));
  }
  element.append(...children);
  return element;
}

function slider(key, min, max, step, i18n) {
  return el("label", {}, el("span", { "data-i18n": i18n }),
    el("input", { id: `lab-${key}`, type: "range", min, max, step, value: 0 }), el("output", { for: `lab-${key}` }));
}

function labControls() {
  return el("fieldset", { class: "lab-controls" },
    el("legend", { "data-i18n": "lab_title" }),
    slider("dx", -8, 8, 1, "lab_x"),
    slider("dy", -8, 8, 1, "lab_y"),
    slider("angle", -60, 60, 5, "lab_rotate"),
    el("label", { class: "check" }, el("input", { id: "lab-centre", type: "checkbox", checked: true }),
      el("span", { "data-i18n": "lab_centre" })),
    el("label", { id: "lab-variant-row", hidden: true }, el("span", { "data-i18n": "lab_networks" }),
      el("select", { id: "lab-variant" }, el("option", { value: "plain", "data-i18n": "lab_plain" }),
        el("option", { value: "permuted", "data-i18n": "lab_permuted" }))),
    el("button", { id: "lab-reset", type: "button", "data-i18n": "lab_reset" }));
}

function showValues() {
  document.querySelector("output[for=lab-dx]").textContent = `${controls.dx} px`;
  document.querySelector("output[for=lab-dy]").textContent = `${controls.dy} px`;
  document.querySelector("output[for=lab-angle]").textContent = `${controls.angle}°`;
}

// Builds the controls and the chart's card; `onChange` is the page's send() (it calls labInside).
export async function setupLab(onChange) {
  const host = document.getElementById("lab");
  host.replaceChildren(labControls());
  const sweep = document.getElementById("lab-sweep");
  const chart = document.createElementNS(SVG, "svg");
  chart.setAttribute("id", "lab-chart");
  chart.setAttribute("viewBox", `0 0 ${CHART.width} ${CHART.height}`);
  chart.setAttribute("role", "img");
  sweep.replaceChildren(el("h2", { "data-i18n": "lab_sweep" }), el("p", { class: "hint", "data-i18n": "lab_sweep_hint" }),
    chart, el("div", { id: "lab-legend", class: "lab-legend" }));
  for (const key of ["dx", "dy", "angle"]) {
    document.getElementById(`lab-${key}`).addEventListener("input", (event) => {
      controls[key] = Number(event.target.value);
      showValues();
      onChange();
    });
  }
  document.getElementById("lab-centre").addEventListener("change", (event) => {
    controls.centre = event.target.checked;
    onChange();
  });
  document.getElementById("lab-variant").addEventListener("change", (event) => {
    controls.permuted = event.target.value === "permuted";
    onChange();
  });
  document.getElementById("lab-reset").addEventListener("click", () => {
    Object.assign(controls, { dx: 0, dy: 0, angle: 0, centre: true });
    for (const key of ["dx", "dy", "angle"]) document.getElementById(`lab-${key}`).value = "0";
    document.getElementById("lab-centre").checked = true;
    showValues();
    onChange();
  });
  relabelLab();
  const info = await fetch("/api/lab").then((response) => response.json());
  document.getElementById("lab-variant-row").hidden = info.permuted.length === 0;
}

export function relabelLab() {
  document.querySelectorAll("#lab [data-i18n], #lab-sweep [data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  showValues();
  if (lastAnswer) showLab(lastAnswer);
}

// The drawing (a PNG blob) under the current controls: /api/lab's answer, shaped like /api/inside's.
export async function labInside(png, signal) {
  const query = new URLSearchParams(Object.entries(controls).map(([key, value]) => [key, String(value)]));
  let response;
  try {
    response = await fetch(`/api/lab?${query}`, { method: "POST", headers: { "Content-Type": "image/png" }, body: png, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;  // cleared meanwhile: the page drops it
    throw new ApiError(err.message, "unreachable", 0);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(body?.error || `HTTP ${response.status}`, body?.code, response.status);
  return body;
}

// What /api/lab adds to the page: each network's own input at the head of its inside view, a note on
// its panel when it is a permuted one, and the confidence chart.
export function showLab(answer) {
  lastAnswer = answer;
  for (const [name, net] of Object.entries(answer.networks)) {
    const layers = document.querySelector(`#inside-${name} .layers`);
    if (layers) {
      let input = layers.querySelector(".lab-input");
      if (!input) {
        input = el("div", { class: "layer lab-input" }, el("div", { class: "layer-head" }, el("b")),
          el("div", { class: "layer-sub" }), el("canvas", { width: 28, height: 28, class: "map seen" }));
        layers.prepend(input);
      }
      input.querySelector("b").textContent = t("lab_input");
      input.querySelector(".layer-sub").textContent = net.permuted ? t("lab_input_scrambled") : t("lab_input_plain");
      paintInput(input.querySelector("canvas"), net.input);
    }
    const head = document.querySelector(`#network-${name} .network-head`);
    if (head) {
      let badge = head.querySelector(".lab-badge");
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "lab-badge";
        head.appendChild(badge);
      }
      badge.hidden = !net.permuted;
      badge.textContent = t("lab_badge");
    }
  }
  drawChart(answer);
}

export function clearLab() {
  lastAnswer = null;
  document.querySelectorAll(".lab-input").forEach((el) => el.remove());
  document.getElementById("lab-chart")?.replaceChildren();
  document.getElementById("lab-legend")?.replaceChildren();
}

function paintInput(canvas, values) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(28, 28);
  for (let i = 0; i < 28 * 28; i++) {
    const level = Math.round(255 * values[i]);
    image.data.set([level, level, level, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// Confidence (0–100 %) against the slide (px): one line per network, the current position marked.
function drawChart(answer) {
  const chart = document.getElementById("lab-chart");
  const legend = document.getElementById("lab-legend");
  chart.replaceChildren();
  legend.replaceChildren();
  const shifts = answer.sweep;
  const x = (s) => CHART.left + ((s - shifts[0]) / (shifts.at(-1) - shifts[0])) * (CHART.width - CHART.left - CHART.right);
  const y = (p) => CHART.top + (1 - p) * (CHART.height - CHART.top - CHART.bottom);
  for (const p of [0, 0.5, 1]) {
    chart.append(svg("line", { x1: CHART.left, x2: CHART.width - CHART.right, y1: y(p), y2: y(p), class: "grid" }));
    chart.append(svg("text", { x: CHART.left - 4, y: y(p) + 4, "text-anchor": "end" }, percent(p, 0)));
  }
  for (const s of shifts.filter((s) => s % 3 === 0)) {
    chart.append(svg("text", { x: x(s), y: CHART.height - CHART.bottom + 14, "text-anchor": "middle" }, String(s)));
  }
  chart.append(svg("text", { x: (CHART.left + CHART.width) / 2, y: CHART.height - 2, "text-anchor": "middle" }, t("lab_sweep_axis")));
  chart.append(svg("line", { x1: x(0), x2: x(0), y1: y(1), y2: y(0), class: "now" }));
  for (const [name, net] of Object.entries(answer.networks)) {
    const points = net.sweep.map((p, i) => `${x(shifts[i]).toFixed(1)},${y(p).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points, class: "line", "data-name": name }));
    const item = document.createElement("span");
    item.className = "lab-key";
    item.dataset.name = name;
    item.textContent = `${net.display_name}: ${net.digit}`;  // a name and a digit: nothing to translate
    legend.append(item);
  }
}
