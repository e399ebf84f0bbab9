// The answers: one panel per network (digit, confidence, a bar per digit) and the 28×28 input the
// networks received.

import { percent, t } from "./i18n.js";

const panels = {};  // network name -> its panel element
let networks = [];  // /api/info's networks, kept to re-label the panels when the language changes
let missing = [];   // /api/info's models that no network is loaded for

// The network's colour where the server names one (else the page's colour for its name, in CSS).
export function accent(element, net) {
  element.dataset.name = net.name;
  if (net.color) element.style.setProperty("--accent", net.color);
}

export function buildPanels(info) {
  const container = document.getElementById("networks");
  const template = document.getElementById("network-template");
  container.replaceChildren();
  for (const key of Object.keys(panels)) delete panels[key];
  networks = info.networks;
  // a network outside the lesson (the lab's same-budget MLP) is shown when loaded, never asked for
  missing = info.models.filter((model) => model.lesson && !networks.some((net) => net.name === model.name));
  for (const net of networks) {
    const panel = template.content.firstElementChild.cloneNode(true);
    panel.id = `network-${net.name}`;
    accent(panel, net);
    panel.querySelector(".network-name").textContent = net.display_name;
    const bars = panel.querySelector(".bars");
    for (let digit = 0; digit < 10; digit++) {
      const bar = document.createElement("div");
      bar.className = "bar";
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = String(digit);
      bar.append(Object.assign(document.createElement("div"), { className: "fill" }), label);
      bars.appendChild(bar);
    }
    panels[net.name] = panel;
    container.appendChild(panel);
  }
  for (const model of missing) {
    const note = document.createElement("section");
    note.className = "card network missing";
    note.dataset.missing = model.name;
    container.appendChild(note);
  }
  relabel();
  showEmpty();
}

// Where the network's weights come from: its run folder's (or file's) name; the full path on hover.
export const sourceName = (path) => path.split(/[\\/]/).filter(Boolean).pop();

// The texts that depend on the language.
export function relabel() {
  for (const net of networks) {
    const meta = panels[net.name].querySelector(".network-meta");
    const accuracy = net.test_accuracy == null ? "" : t("on_test_set", { percent: percent(net.test_accuracy, 2) });
    meta.textContent = [accuracy, sourceName(net.source)].filter(Boolean).join(" \u00b7 ");
    meta.title = net.source;
  }
  for (const model of missing) {
    const note = document.querySelector(`.network.missing[data-missing="${model.name}"]`);
    note.textContent = t("not_loaded", { network: model.display_name });
  }
  document.querySelectorAll(".network[data-state='empty'] .confidence").forEach((el) => { el.textContent = t("draw_a_digit"); });
  document.querySelectorAll(".network[data-state='ready']").forEach((panel) => {
    panel.querySelector(".confidence").textContent = t("sure", { percent: percent(Number(panel.dataset.confidence)) });
  });
}

// `answers`: {name: {digit, probabilities}} as /api/inside gives them.
export function show(answers, input) {
  for (const [name, panel] of Object.entries(panels)) {
    const result = answers[name];
    if (!result) continue;
    const confidence = result.probabilities[result.digit];
    panel.dataset.state = "ready";
    panel.dataset.confidence = String(confidence);
    panel.querySelector(".digit").textContent = String(result.digit);
    panel.querySelector(".confidence").textContent = t("sure", { percent: percent(confidence) });
    panel.querySelectorAll(".bar").forEach((bar, digit) => {
      const p = result.probabilities[digit];
      bar.querySelector(".fill").style.height = `${(100 * p).toFixed(1)}%`;
      bar.classList.toggle("top", digit === result.digit);
      bar.title = `${digit}: ${percent(p, 2)}`;
    });
  }
  drawInput(input);
}

export function showEmpty() {
  for (const panel of Object.values(panels)) {
    panel.dataset.state = "empty";
    panel.querySelector(".digit").textContent = "\u2013";
    panel.querySelector(".confidence").textContent = t("draw_a_digit");
    panel.querySelectorAll(".bar").forEach((bar, digit) => {
      bar.querySelector(".fill").style.height = "0";
      bar.classList.remove("top");
      bar.title = `${digit}`;
    });
  }
  drawInput(null);
}

// The 784 values in [0, 1] the networks received, as gray pixels (the canvas is enlarged by CSS).
export function drawInput(values) {
  const preview = document.getElementById("preview");
  const image = preview.getContext("2d").createImageData(28, 28);
  for (let i = 0; i < 28 * 28; i++) {
    const level = values ? Math.round(255 * values[i]) : 0;
    image.data.set([level, level, level, 255], 4 * i);
  }
  preview.getContext("2d").putImageData(image, 0, 0);
}
