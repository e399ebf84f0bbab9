// mnistlab's drawing page: pointer drawing on a canvas, a throttled POST of the canvas as PNG to
// /api/predict while drawing, and the answer of every network drawn as a digit, a confidence and bars.
"use strict";

const STROKE_WIDTH = 24;   // on the 280 px canvas; about MNIST's stroke once the digit is scaled to 20 px
const SEND_EVERY_MS = 150; // while drawing, at most one request per this many milliseconds

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const preview = document.getElementById("preview");
const status = document.getElementById("status");
const panels = {};         // network name -> its panel element

let hasInk = false;
let last = null;           // last pointer position while a stroke is drawn
let timer = null;          // pending send
let inFlight = false;
let sendAgain = false;     // the drawing changed while a request was in flight
let generation = 0;        // bumped by Clear, so late answers for an old drawing are dropped

function blank() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#111";
  ctx.fillStyle = "#111";
  ctx.lineWidth = STROKE_WIDTH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: (event.clientX - box.left) * (pad.width / box.width),
    y: (event.clientY - box.top) * (pad.height / box.height),
  };
}

function dot(p) {
  ctx.beginPath();
  ctx.arc(p.x, p.y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
  ctx.fill();
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  last = point(event);
  dot(last);
  hasInk = true;
  schedule(SEND_EVERY_MS);
});

pad.addEventListener("pointermove", (event) => {
  if (last === null) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  for (const e of events.length ? events : [event]) {
    last = point(e);
    ctx.lineTo(last.x, last.y);
  }
  ctx.stroke();
  schedule(SEND_EVERY_MS);
});

function endStroke() {
  if (last === null) return;
  last = null;
  schedule(0);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

document.getElementById("clear").addEventListener("click", () => {
  generation += 1;
  clearTimeout(timer);
  timer = null;
  hasInk = false;
  blank();
  showEmpty();
  status.textContent = "Draw a digit.";
  status.classList.remove("error");
});

// Throttle, not a pure debounce: a long stroke still gets answers while it is being drawn.
function schedule(delay) {
  if (!hasInk) return;
  if (delay === 0) clearTimeout(timer);
  else if (timer !== null) return;
  timer = setTimeout(() => { timer = null; send(); }, delay);
}

async function send() {
  if (inFlight) { sendAgain = true; return; }
  inFlight = true;
  const sentFor = generation;
  const started = performance.now();
  try {
    const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    const response = await fetch("/api/predict", {
      method: "POST", headers: { "Content-Type": "image/png" }, body: png,
    });
    const answer = await response.json();
    if (sentFor !== generation) return;
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    show(answer);
    status.classList.remove("error");
    status.textContent = `Answered in ${Math.round(performance.now() - started)} ms.`;
  } catch (err) {
    if (sentFor !== generation) return;
    status.classList.add("error");
    status.textContent = `Could not predict: ${err.message}`;
  } finally {
    inFlight = false;
    if (sendAgain) { sendAgain = false; send(); }
  }
}

function show(answer) {
  for (const [name, panel] of Object.entries(panels)) {
    const result = answer[name];
    if (!result) continue;
    panel.dataset.state = "ready";
    panel.querySelector(".digit").textContent = String(result.digit);
    panel.querySelector(".confidence").textContent = `${(100 * result.confidence).toFixed(1)}% sure`;
    panel.querySelectorAll(".bar").forEach((bar, digit) => {
      const p = result.probabilities[digit];
      bar.querySelector(".fill").style.height = `${(100 * p).toFixed(1)}%`;
      bar.classList.toggle("top", digit === result.digit);
      bar.title = `${digit}: ${(100 * p).toFixed(2)}%`;
    });
  }
  drawInput(answer.input);
}

function showEmpty() {
  for (const panel of Object.values(panels)) {
    panel.dataset.state = "empty";
    panel.querySelector(".digit").textContent = "\u2013";
    panel.querySelector(".confidence").textContent = "draw a digit";
    panel.querySelectorAll(".bar").forEach((bar, digit) => {
      bar.querySelector(".fill").style.height = "0";
      bar.classList.remove("top");
      bar.title = `${digit}`;
    });
  }
  drawInput(null);
}

// The 784 values in [0, 1] the networks received, as gray pixels (the canvas is enlarged by CSS).
function drawInput(values) {
  const image = preview.getContext("2d").createImageData(28, 28);
  for (let i = 0; i < 28 * 28; i++) {
    const level = values ? Math.round(255 * values[i]) : 0;
    image.data.set([level, level, level, 255], 4 * i);
  }
  preview.getContext("2d").putImageData(image, 0, 0);
}

function buildPanels(info) {
  const container = document.getElementById("networks");
  const template = document.getElementById("network-template");
  for (const net of info.networks) {
    const panel = template.content.firstElementChild.cloneNode(true);
    panel.id = `network-${net.name}`;
    panel.dataset.name = net.name;
    panel.querySelector(".network-name").textContent = net.display_name;
    const accuracy = net.test_accuracy == null ? "" : `${(100 * net.test_accuracy).toFixed(2)}% on the test set`;
    const folder = net.source.split(/[\\/]/).filter(Boolean).pop();  // the run folder's name; full path on hover
    const meta = panel.querySelector(".network-meta");
    meta.textContent = [accuracy, folder].filter(Boolean).join(" \u00b7 ");
    meta.title = net.source;
    const bars = panel.querySelector(".bars");
    for (let digit = 0; digit < 10; digit++) {
      bars.insertAdjacentHTML("beforeend", `<div class="bar"><div class="fill"></div><span class="label">${digit}</span></div>`);
    }
    panels[net.name] = panel;
    container.appendChild(panel);
  }
  for (const message of info.missing) {
    const note = document.createElement("section");
    note.className = "card network missing";
    note.textContent = `Not loaded: ${message}`;
    container.appendChild(note);
  }
}

async function start() {
  blank();
  drawInput(null);
  try {
    const response = await fetch("/api/info");
    buildPanels(await response.json());
    showEmpty();
    status.textContent = "Draw a digit.";
  } catch (err) {
    status.classList.add("error");
    status.textContent = `Could not reach the mnistlab server: ${err.message}`;
  }
}

start();
